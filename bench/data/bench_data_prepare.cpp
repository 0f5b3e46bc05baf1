// End-to-end prepare-data benchmark on the real files in shared/data.
//   bench_data_prepare [--quick] [--shared DIR] [--tokenizer DIR]
// Runs the whole pipeline (decompress, parse, clean, tokenize, pack, write) into a scratch
// directory for each workload x {1 thread, all cores} and prints one Markdown row per run:
// input bytes (compressed and decompressed), cleaned text, tokens, wall seconds, MB/s of
// decompressed input, tokens/s, CPU seconds (user+sys, less sensitive to a busy machine than wall
// time) and the process's peak RSS so far. A first table times the reader stage alone
// (decompress + parse + clean, no tokenizer) on each workload.
// Workloads: "intros" = the two TSV intro files (~73 MB of cleaned text; target <= 3 min on the
// 2-core dev box), "all" = every source in shared/data with the default --max_bytes 100 MB.
// --quick runs only the intros with all cores.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "data/document.h"
#include "data/prepare.h"
#include "data/sources.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;

static double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int main(int argc, char** argv) {
  fs::path shared = TT_SHARED_DATA_DIR;
  fs::path tok_dir = fs::path(TT_SOURCE_DIR) / "assets/qwen3-tokenizer";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick")
      quick = true;
    else if (a == "--shared" && i + 1 < argc)
      shared = argv[++i];
    else if (a == "--tokenizer" && i + 1 < argc)
      tok_dir = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--shared DIR] [--tokenizer DIR]\n", argv[0]);
      return 2;
    }
  }
  tt::set_log_level(tt::LogLevel::Warn);
  try {
    auto tok = tt::Tokenizer::load(tok_dir);
    struct Workload {
      std::string name;
      std::vector<std::string> sources;
    };
    std::vector<Workload> workloads = {
        {"intros",
         {(shared / "enwiki-2014-intros.tsv.xz").string(), (shared / "enwiki-2015-intros.tsv.xz").string()}},
        {"all", {shared.string()}}};
    if (quick) workloads.resize(1);
    std::vector<int> thread_counts = {1, 0};
    if (quick) thread_counts = {0};
    std::printf(
        "Reader stage only (decompress + parse + clean, one thread):\n\n"
        "| workload | input MB (decompressed) | documents kept | cleaned MB | s | CPU s | MB/s |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n");
    for (const auto& w : workloads) {
      auto t0 = std::chrono::steady_clock::now();
      double c0 = cpu_seconds();
      double in_d = 0, cleaned = 0, kept = 0;
      tt::data::SkipCounter skips;
      for (const auto& f : tt::data::expand_sources(w.sources)) {
        auto reader = tt::data::DocumentReader::open(f, skips);
        tt::data::RawDocument doc;
        while (reader->next(doc) && cleaned < 1e8) {
          auto e = tt::data::extract_document(doc, 40);
          if (!e.skip) {
            cleaned += double(e.text.size());
            kept += 1;
          }
        }
        in_d += double(reader->stream().decompressed_offset());
        if (cleaned >= 1e8) break;
      }
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("| %s | %.1f | %.0f | %.1f | %.1f | %.1f | %.1f |\n", w.name.c_str(), in_d / 1e6, kept,
                  cleaned / 1e6, s, cpu_seconds() - c0, in_d / 1e6 / s);
    }
    std::printf("\nEnd to end (prepare_data):\n\n");
    const fs::path scratch = fs::temp_directory_path() / ("bench_data_prepare." + std::to_string(getpid()));
    std::printf(
        "| workload | threads | input MB (compressed) | input MB (decompressed) | cleaned MB | tokens | s | "
        "CPU s | MB/s (decompressed in) | tokens/s | peak RSS MB "
        "|\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const auto& w : workloads) {
      for (int threads : thread_counts) {
        tt::PrepareDataOptions o;
        o.sources = w.sources;
        o.out_dir = (scratch / "out").string();
        o.threads = threads;
        auto t0 = std::chrono::steady_clock::now();
        double c0 = cpu_seconds();
        auto meta = tt::prepare_data(o, *tok);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        double in_c = 0, in_d = 0;
        for (const auto& src : meta["sources"]) {
          if (src.contains("decompressed_bytes_read")) {
            in_c += src["bytes"].get<double>();
            in_d += src["decompressed_bytes_read"].get<double>();
          }
        }
        double tokens =
            meta["train"]["document_tokens"].get<double>() + meta["val"]["document_tokens"].get<double>();
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        int shown_threads = threads ? threads : int(std::thread::hardware_concurrency());
        std::printf("| %s | %d | %.1f | %.1f | %.1f | %.0f | %.1f | %.1f | %.2f | %.0f | %.0f |\n",
                    w.name.c_str(), shown_threads, in_c / 1e6, in_d / 1e6,
                    meta["cleaned_text_bytes"].get<double>() / 1e6, tokens, s, cpu_seconds() - c0,
                    in_d / 1e6 / s, tokens / s, double(ru.ru_maxrss) / 1024.0);
        std::fflush(stdout);
      }
    }
    std::error_code ec;
    fs::remove_all(scratch, ec);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

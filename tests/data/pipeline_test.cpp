// prepare-data end to end: packing, split, determinism, limits, atomic outputs, bad inputs, and the
// TokenDataset reader's validation. Most tests use a byte-level stand-in tokenizer (token = byte)
// so the expected tokens are known exactly; one test runs the real Qwen3 tokenizer.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "byte_tokenizer.h"
#include "common/check.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/stop_signal.h"
#include "data/dataset.h"
#include "data/interrupt.h"
#include "data/prepare.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

using namespace tt::data::test;
using tt::PrepareDataOptions;
using tt::TokenDataset;
using tt::data::test::ByteTokenizer;

namespace {

std::vector<uint32_t> read_u32(const fs::path& p) {
  std::string s = tt::read_file(p);
  std::vector<uint32_t> v(s.size() / 4);
  std::memcpy(v.data(), s.data(), v.size() * 4);
  return v;
}

// Documents that end inside the file (between eos markers; the first one may be cut at the start
// only if it continued from a dropped row, which cannot happen: rows are written in order).
std::vector<std::string> complete_docs(const std::vector<uint32_t>& toks) {
  std::vector<std::string> docs;
  std::string cur;
  for (uint32_t t : toks) {
    if (t == 256) {
      docs.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(char(t));
    }
  }
  return docs;
}

// Many distinct documents as a TSV source.
std::string tsv_docs(int n, int repeat_every = 0) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    int k = repeat_every ? i % repeat_every : i;
    s += std::to_string(1000 + i) + "\tTitle " + std::to_string(k) + "\tDocument number " +
         std::to_string(k) + " is a paragraph long enough to be kept by the cleaner.\n";
  }
  return s;
}

PrepareDataOptions options(const fs::path& out, std::vector<std::string> sources, int64_t seq_len = 64) {
  PrepareDataOptions o;
  o.sources = std::move(sources);
  o.out_dir = out.string();
  o.seq_len = seq_len;
  o.val_fraction = 0.05;
  o.batch_bytes = 1000;  // many batches, to exercise the overlap
  return o;
}

}  // namespace

TEST(Pipeline, PacksRowsSplitsAndWritesMeta) {
  ScratchDir dir;
  auto src = dir.write("docs.tsv", tsv_docs(400));
  const fs::path out = dir.path / "out";
  ByteTokenizer tok;
  auto meta = tt::prepare_data(options(out, {src.string(), fixture("new_schema.xml").string()}), tok);

  auto train = read_u32(out / "train.bin");
  auto val = read_u32(out / "val.bin");
  EXPECT_EQ(train.size() % 64, 0u);
  EXPECT_EQ(int64_t(train.size()), meta["train"]["rows"].get<int64_t>() * 64);
  EXPECT_EQ(int64_t(val.size()), meta["val"]["rows"].get<int64_t>() * 64);
  EXPECT_GE(meta["val"]["rows"].get<int64_t>(), 1);
  EXPECT_EQ(meta["documents_kept"].get<int64_t>(), 402);
  EXPECT_EQ(meta["train"]["documents"].get<int64_t>() + meta["val"]["documents"].get<int64_t>(), 402);
  EXPECT_EQ(meta["seq_len"], 64);
  EXPECT_EQ(meta["dtype"], "uint32");
  EXPECT_EQ(meta["eos_id"], 256);
  EXPECT_EQ(meta["vocab_size"], 257);
  EXPECT_EQ(meta["tokenizer"]["sha256"], tok.sha256());
  EXPECT_EQ(meta["skipped"]["redirect"], 1);
  EXPECT_EQ(meta["sources"].size(), 2u);
  EXPECT_EQ(meta["sources"][0]["format"], "tsv");
  // Every token in the files is part of a document that ends in eos; text plus eos count adds up.
  int64_t doc_tokens =
      meta["train"]["document_tokens"].get<int64_t>() + meta["val"]["document_tokens"].get<int64_t>();
  EXPECT_EQ(doc_tokens, meta["cleaned_text_bytes"].get<int64_t>() + 402);
  EXPECT_EQ(meta["train"]["dropped_tail_tokens"].get<int64_t>(),
            meta["train"]["document_tokens"].get<int64_t>() - int64_t(train.size()));
  // No document in both splits; the val split holds roughly val_fraction of them.
  auto tdocs = complete_docs(train), vdocs = complete_docs(val);
  std::set<std::string> tset(tdocs.begin(), tdocs.end());
  for (const auto& d : vdocs) EXPECT_FALSE(tset.count(d)) << d;
  EXPECT_GT(meta["val"]["documents"].get<int64_t>(), 5);
  EXPECT_LT(meta["val"]["documents"].get<int64_t>(), 60);
  // Same on disk as in the returned object; samples written.
  auto disk = nlohmann::json::parse(tt::read_file(out / "meta.json"));
  EXPECT_EQ(disk["train"]["rows"], meta["train"]["rows"]);
  EXPECT_TRUE(contains(tt::read_file(out / "samples.txt"), "Document number 0 is a paragraph"));
  // No temporary directories left beside the output.
  for (auto& e : fs::directory_iterator(dir.path))
    EXPECT_FALSE(contains(e.path().filename().string(), ".tmp."));
}

TEST(Pipeline, DeterministicAcrossRunsThreadsAndBatchSizes) {
  ScratchDir dir;
  auto src = dir.write("docs.tsv", tsv_docs(300));
  ByteTokenizer tok;
  auto a = options(dir.path / "a", {src.string()});
  auto b = options(dir.path / "b", {src.string()});
  b.threads = 1;
  b.batch_bytes = 1 << 20;
  tt::prepare_data(a, tok);
  tt::prepare_data(b, tok);
  for (const char* f : {"train.bin", "val.bin", "samples.txt"})
    EXPECT_EQ(tt::read_file(dir.path / "a" / f), tt::read_file(dir.path / "b" / f)) << f;
}

TEST(Pipeline, ReadsAPipeAsAFile) {
  // `--source <(xzcat a.xz)` or /dev/stdin: no size to show progress against, the same rows
  ScratchDir dir;
  auto src = dir.write("docs.tsv", tsv_docs(200));
  const fs::path fifo = dir.path / "fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] { std::ofstream(fifo, std::ios::binary) << tt::read_file(src); });
  ByteTokenizer tok;
  tt::prepare_data(options(dir.path / "piped", {fifo.string()}), tok);
  writer.join();
  tt::prepare_data(options(dir.path / "file", {src.string()}), tok);
  EXPECT_EQ(tt::read_file(dir.path / "piped/train.bin"), tt::read_file(dir.path / "file/train.bin"));
}

TEST(Pipeline, ASymlinkedOutDirReplacesTheDirectoryItPointsTo) {
  // data kept on a larger disk and linked in: the next run's data lands there, and the link stays
  ScratchDir dir;
  auto src = dir.write("docs.tsv", tsv_docs(200));
  ByteTokenizer tok;
  tt::prepare_data(options(dir.path / "big" / "data", {src.string()}, 64), tok);
  fs::create_directory_symlink(dir.path / "big" / "data", dir.path / "data");
  tt::prepare_data(options(dir.path / "data", {src.string()}, 32), tok);
  EXPECT_TRUE(fs::is_symlink(dir.path / "data"));
  EXPECT_EQ(nlohmann::json::parse(tt::read_file(dir.path / "big" / "data" / "meta.json"))["seq_len"], 32);
  // a link to a directory not made yet: made there (was: an error after all the work)
  fs::create_directory_symlink(dir.path / "big" / "later", dir.path / "later");
  tt::prepare_data(options(dir.path / "later", {src.string()}, 32), tok);
  EXPECT_TRUE(fs::is_symlink(dir.path / "later"));
  EXPECT_TRUE(fs::exists(dir.path / "big" / "later" / "meta.json"));
}

TEST(Pipeline, MaxBytesDedupAndMinChars) {
  ScratchDir dir;
  auto src = dir.write("docs.tsv", tsv_docs(600, 100));  // each document 6 times
  ByteTokenizer tok;
  auto o = options(dir.path / "d", {src.string()});
  o.dedup = true;
  auto meta = tt::prepare_data(o, tok);
  EXPECT_EQ(meta["documents_kept"], 100);
  EXPECT_EQ(meta["skipped"]["duplicate"], 500);

  o.out_dir = (dir.path / "m").string();
  o.dedup = false;
  o.max_bytes = 3000;
  meta = tt::prepare_data(o, tok);
  EXPECT_TRUE(meta["stopped_at_max_bytes"].get<bool>());
  EXPECT_GE(meta["cleaned_text_bytes"].get<int64_t>(), 3000);
  EXPECT_LT(meta["cleaned_text_bytes"].get<int64_t>(), 3100);

  o.out_dir = (dir.path / "c").string();
  o.max_bytes = 100000000;
  o.min_chars = 200;  // every document is shorter than that
  std::string e = error_of([&] { tt::prepare_data(o, tok); });
  EXPECT_TRUE(contains(e, "no documents kept")) << e;
  EXPECT_TRUE(contains(e, "too_short=600")) << e;
}

TEST(Pipeline, TinyInputStillGetsOneValRowOrFailsClearly) {
  ScratchDir dir;
  ByteTokenizer tok;
  auto src = dir.write("docs.tsv", tsv_docs(4));
  auto o = options(dir.path / "t", {src.string()}, 32);
  o.val_fraction = 0;  // even with no hash-selected documents, val gets one row
  auto meta = tt::prepare_data(o, tok);
  EXPECT_GE(meta["val"]["rows"].get<int64_t>(), 1);
  EXPECT_GE(meta["train"]["rows"].get<int64_t>(), 1);

  o.out_dir = (dir.path / "u").string();
  o.seq_len = 4096;
  std::string e = error_of([&] { tt::prepare_data(o, tok); });
  EXPECT_TRUE(contains(e, "not enough text")) << e;
  EXPECT_FALSE(fs::exists(dir.path / "u"));
}

// val's first row is filled with the first documents whatever their length; when that makes val far larger
// than
// --val_fraction (a long first document in a small corpus), the run says so and meta.json records it.
TEST(Pipeline, ValFilledFarBeyondItsFractionIsAWarning) {
  ScratchDir dir;
  ByteTokenizer tok;
  std::string long_first = "999\tLong\t";
  for (int i = 0; i < 400; ++i) long_first += "A sentence of a very long first document. ";
  auto src = dir.write("docs.tsv", long_first + "\n" + tsv_docs(300));
  auto meta = tt::prepare_data(options(dir.path / "long", {src.string()}), tok);
  ASSERT_EQ(meta["warnings"].size(), 1u) << meta["warnings"];
  const std::string w = meta["warnings"][0];
  EXPECT_TRUE(contains(w, "the val split holds") && contains(w, "not the 5 % of --val_fraction") &&
              contains(w, "first 1 document(s), 16800 tokens ("))
      << w;
  EXPECT_EQ(nlohmann::json::parse(tt::read_file(dir.path / "long/meta.json"))["warnings"], meta["warnings"]);
  src = dir.write("short.tsv", tsv_docs(300));  // short first documents: val near its fraction, no warning
  EXPECT_TRUE(tt::prepare_data(options(dir.path / "short", {src.string()}), tok)["warnings"].empty());
}

TEST(Pipeline, FailedRunLeavesOldOutputAndNoTemporaries) {
  ScratchDir dir;
  ByteTokenizer tok;
  auto good = dir.write("docs.tsv", tsv_docs(200));
  const fs::path out = dir.path / "out";
  tt::prepare_data(options(out, {good.string()}), tok);
  const std::string before = tt::read_file(out / "train.bin");

  // A truncated xz file after a good one: the run fails mid-way.
  std::string packed = xz(tsv_docs(3000));
  auto bad = dir.write("bad.tsv.xz", packed.substr(0, packed.size() / 2));
  std::string e = error_of([&] { tt::prepare_data(options(out, {good.string(), bad.string()}), tok); });
  EXPECT_TRUE(contains(e, "bad.tsv.xz") && contains(e, "offset")) << e;
  EXPECT_EQ(tt::read_file(out / "train.bin"), before);
  for (auto& f : fs::directory_iterator(dir.path))
    EXPECT_FALSE(contains(f.path().string(), ".tmp.")) << f.path();

  // Other bad inputs, each a clear error naming the culprit.
  e = error_of(
      [&] { tt::prepare_data(options(dir.path / "x", {(dir.path / "missing.xml").string()}), tok); });
  EXPECT_TRUE(contains(e, "missing.xml")) << e;
  e = error_of([&] { tt::prepare_data(options(dir.path / "x", {fixture("unbalanced.xml").string()}), tok); });
  EXPECT_TRUE(contains(e, "unbalanced.xml:7:")) << e;
  e = error_of([&] { tt::prepare_data(options(good / "sub", {good.string()}), tok); });  // parent is a file
  EXPECT_TRUE(contains(e, "docs.tsv")) << e;
  dir.write("notmine/precious.txt", "do not delete");
  e = error_of([&] { tt::prepare_data(options(dir.path / "notmine", {good.string()}), tok); });
  EXPECT_TRUE(contains(e, "refusing")) << e;
  EXPECT_TRUE(fs::exists(dir.path / "notmine/precious.txt"));
  EXPECT_FALSE(fs::exists(dir.path / "x"));

  // A meta.json alone does not make a directory ours: another tool's, or ours with a file beside it.
  dir.write("theirs/meta.json", "{\"name\": \"my project\"}");
  dir.write("theirs/notes.txt", "important");
  e = error_of([&] { tt::prepare_data(options(dir.path / "theirs", {good.string()}), tok); });
  EXPECT_TRUE(contains(e, "theirs/meta.json: not a prepare-data meta.json") && contains(e, "refusing")) << e;
  EXPECT_EQ(tt::read_file(dir.path / "theirs/notes.txt"), "important");
  dir.write("out/notes.txt", "important too");
  e = error_of([&] { tt::prepare_data(options(out, {good.string()}), tok); });
  EXPECT_TRUE(contains(e, "holds notes.txt, which prepare-data does not write")) << e;
  EXPECT_EQ(tt::read_file(out / "train.bin"), before);
  fs::remove(out / "notes.txt");
  tt::prepare_data(options(out, {good.string()}), tok);  // an earlier output of ours alone is replaced
  EXPECT_EQ(tt::read_file(out / "train.bin"), before);

  // The working directory, or a directory that contains it, is never swapped out from under the shell.
  e = error_of([&] { tt::prepare_data(options(fs::current_path(), {good.string()}), tok); });
  EXPECT_TRUE(contains(e, "is the working directory or contains it")) << e;
  e = error_of([&] { tt::prepare_data(options("/", {good.string()}), tok); });
  EXPECT_TRUE(contains(e, "is the working directory or contains it")) << e;

  // "out/" and "out/." name the directory "out" (the temporary sibling and the swap need its name).
  for (const char* spelling : {"slash/", "dot/."}) {
    tt::prepare_data(options(dir.path / spelling, {good.string()}), tok);
    const std::string name = std::string(spelling).substr(0, std::string(spelling).find('/'));
    EXPECT_EQ(tt::read_file(dir.path / name / "train.bin"), before) << spelling;
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path / name), fs::directory_iterator()), 4)
        << spelling;
  }
  for (auto& f : fs::directory_iterator(dir.path))
    EXPECT_FALSE(contains(f.path().string(), ".tmp.")) << f.path();
}

// Sends its process `signals` SIGTERMs from inside the first encode_batch call, as a user pressing
// Ctrl-C / a scheduler's kill would, at a point where the run has written part of its output. Each is
// waited for until the handler has seen it (on the "tt-signals" thread: common/stop_signal.h), so that
// two never merge into one pending signal and the pipeline's next poll sees the first (deterministic).
class SignallingTokenizer : public ByteTokenizer {
 public:
  explicit SignallingTokenizer(int signals) : signals_(signals) { TT_CHECK(signals == 1 || signals == 2); }
  std::vector<std::vector<int32_t>> encode_batch(
      const std::vector<std::string>& texts, int threads, tt::EncodeStats* stats = nullptr,
      tt::SpecialTokens special = tt::SpecialTokens::kMatch) const override {
    if (!sent_.exchange(true)) {
      kill(getpid(), SIGTERM);
      for (int t = 0; t < 1000 && tt::StopSignal::signal_number() != SIGTERM; ++t)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (signals_ > 1) {
        kill(getpid(), SIGTERM);
        std::this_thread::sleep_for(
            std::chrono::seconds(60));  // the second signal ends the process long before
      }
    }
    return ByteTokenizer::encode_batch(texts, threads, stats, special);
  }

 private:
  int signals_;
  mutable std::atomic<bool> sent_{false};
};

std::vector<std::string> temp_dirs_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(dir))
    if (contains(e.path().filename().string(), ".tmp.")) names.push_back(e.path().filename().string());
  return names;
}

TEST(Pipeline, SignalRemovesPartialOutputAndKeepsOldOutput) {
  ScratchDir dir;
  auto src = dir.write("docs.tsv", tsv_docs(400));
  const fs::path out = dir.path / "out";
  ByteTokenizer plain;
  tt::prepare_data(options(out, {src.string()}), plain);
  const std::string before = tt::read_file(out / "train.bin");
  struct sigaction old_term {};
  sigaction(SIGTERM, nullptr, &old_term);

  // The first SIGTERM arrives while batches are being tokenized (batch_bytes 1000: ~36 batches);
  // the next document read sees the flag and the run stops with an error, removing its temp dir.
  SignallingTokenizer once(1);
  int signo = 0;
  std::string e = error_of([&] {
    try {
      tt::prepare_data(options(out, {src.string()}), once);
    } catch (const tt::data::InterruptedError& ie) {
      signo = ie.signal_number();
      throw;
    }
  });
  EXPECT_TRUE(contains(e, "interrupted by SIGTERM") && contains(e, out.string())) << e;
  EXPECT_EQ(signo, SIGTERM);
  EXPECT_TRUE(temp_dirs_in(dir.path).empty()) << temp_dirs_in(dir.path)[0];
  EXPECT_EQ(tt::read_file(out / "train.bin"), before);
  // The previous SIGTERM disposition is back, and a later run is not affected by the old request.
  struct sigaction now {};
  sigaction(SIGTERM, nullptr, &now);
  EXPECT_EQ(now.sa_handler, old_term.sa_handler);
  EXPECT_NO_THROW(tt::prepare_data(options(out, {src.string()}), plain));
}

TEST(Pipeline, SecondSignalExitsAtOnceAndNextRunRemovesItsTempDir) {
  ScratchDir dir;
  auto src = dir.write("docs.tsv", tsv_docs(400));
  const fs::path out = dir.path / "out";
  // Two signals: the child exits with 128 + SIGTERM without unwinding, like a SIGKILL would leave it.
  EXPECT_EXIT(
      {
        SignallingTokenizer twice(2);
        tt::prepare_data(options(out, {src.string()}), twice);
      },
      testing::ExitedWithCode(128 + SIGTERM), "interrupted");
  auto left = temp_dirs_in(dir.path);
  ASSERT_EQ(left.size(), 1u) << "the killed run should have left its temp dir behind";
  // ... emptied of the files it was writing (their temporaries are removed on the way out), but not removed:
  // directories are left to the next run.
  EXPECT_TRUE(fs::is_empty(dir.path / left[0]));
  ByteTokenizer plain;
  tt::prepare_data(options(out, {src.string()}), plain);
  EXPECT_TRUE(temp_dirs_in(dir.path).empty()) << temp_dirs_in(dir.path)[0];
  EXPECT_TRUE(fs::exists(out / "meta.json"));
}

TEST(Pipeline, StartupRemovesStaleTempDirsOfDeadProcessesOnly) {
  ScratchDir dir;
  auto src = dir.write("docs.tsv", tsv_docs(100));
  // A pid that is certainly dead: a child that has exited and been reaped.
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  const std::string dead = std::to_string(child), alive = std::to_string(getpid());
  dir.write(".out.tmp." + dead + ".123456/train.bin.tmp.1", std::string(4096, 'x'));  // stale: removed
  dir.write(".out.tmp." + alive + ".42/train.bin", "live run");  // a running process's: kept
  dir.write(".other.tmp." + dead + ".7/x", "another output's");  // not beside --out_dir out: kept
  dir.write(".out.tmp.notapid.7/x", "not our name pattern");     // kept
  ByteTokenizer tok;
  tt::prepare_data(options(dir.path / "out", {src.string()}), tok);
  EXPECT_FALSE(fs::exists(dir.path / (".out.tmp." + dead + ".123456")));
  EXPECT_TRUE(fs::exists(dir.path / (".out.tmp." + alive + ".42/train.bin")));
  EXPECT_TRUE(fs::exists(dir.path / (".other.tmp." + dead + ".7/x")));
  EXPECT_TRUE(fs::exists(dir.path / ".out.tmp.notapid.7/x"));
  EXPECT_TRUE(fs::exists(dir.path / "out/meta.json"));
}

TEST(Pipeline, JsonlWithOnlyBadLinesFails) {
  ScratchDir dir;
  ByteTokenizer tok;
  auto src = dir.write("bad.jsonl", "not json\n{\"no\": \"text\"}\n");
  std::string e = error_of([&] { tt::prepare_data(options(dir.path / "o", {src.string()}), tok); });
  EXPECT_TRUE(contains(e, "no documents kept")) << e;
  EXPECT_TRUE(contains(e, "bad_json_line=1") && contains(e, "json_without_text=1")) << e;
}

// ---- TokenDataset ---------------------------------------------------------------------------

namespace {
// The TokenDataset tests' input: 200 TSV documents prepared into 32-token rows in dir/d.
fs::path prepare_tsv_rows(const ScratchDir& dir) {
  ByteTokenizer tok;
  const fs::path out = dir.path / "d";
  tt::prepare_data(options(out, {dir.write("docs.tsv", tsv_docs(200)).string()}, 32), tok);
  return out;
}
}  // namespace

TEST(TokenDataset, OpensRowsAndValidates) {
  ScratchDir dir;
  ByteTokenizer tok;  // the one prepare_tsv_rows used (stateless): its sha256 is checked below
  const fs::path out = prepare_tsv_rows(dir);
  auto raw = read_u32(out / "train.bin");

  TokenDataset train = TokenDataset::open(out, "train");
  EXPECT_EQ(train.seq_len(), 32);
  EXPECT_EQ(train.rows() * 32, int64_t(raw.size()));
  EXPECT_TRUE(std::equal(train.row(1), train.row(1) + 32, raw.begin() + 32));
  EXPECT_EQ(train.meta().eos_id, 256);
  EXPECT_EQ(train.meta().tokenizer_sha256, tok.sha256());
  TokenDataset moved = std::move(train);
  EXPECT_EQ(moved.row(0)[0], raw[0]);
  TokenDataset val = TokenDataset::open(out, "val");
  EXPECT_GE(val.rows(), 1);

  EXPECT_NO_THROW(moved.check_compatible(257, 32, tok.sha256()));
  EXPECT_NO_THROW(moved.check_compatible(1000, 4096));
  std::string e = error_of([&] { moved.check_compatible(257, 16); });
  EXPECT_TRUE(contains(e, "seq_len 32") && contains(e, "max_position_embeddings 16")) << e;
  e = error_of([&] { moved.check_compatible(200, 32); });
  EXPECT_TRUE(contains(e, "vocab_size 257") && contains(e, "200")) << e;
  e = error_of([&] { moved.check_compatible(257, 32, std::string(64, 'c')); });
  EXPECT_TRUE(contains(e, "sha256")) << e;
  e = error_of([&] { TokenDataset::open(out, "test"); });
  EXPECT_TRUE(contains(e, "test")) << e;
}

TEST(TokenDataset, RejectsDamagedFiles) {
  ScratchDir dir;
  const fs::path out = prepare_tsv_rows(dir);
  {
    TokenDataset ok = TokenDataset::open(out, "train");
    std::string train = tt::read_file(out / "train.bin");
    tt::write_file_atomic(out / "train.bin", train.substr(0, train.size() - 4));
    // The mapping stays valid, but the size check now fails.
    std::string e = error_of([&] { ok.check_compatible(257, 32); });
    EXPECT_TRUE(contains(e, "train.bin")) << e;
  }
  std::string e = error_of([&] { TokenDataset::open(out, "train"); });
  EXPECT_TRUE(contains(e, "train.bin") && contains(e, "meta.json says")) << e;

  auto meta = nlohmann::json::parse(tt::read_file(out / "meta.json"));
  meta.erase("seq_len");
  tt::write_file_atomic(out / "meta.json", meta.dump());
  e = error_of([&] { TokenDataset::open(out, "val"); });
  EXPECT_TRUE(contains(e, "meta.json") && contains(e, "seq_len")) << e;
  meta["seq_len"] = 32;
  meta["dtype"] = "uint16";
  tt::write_file_atomic(out / "meta.json", meta.dump());
  e = error_of([&] { TokenDataset::open(out, "val"); });
  EXPECT_TRUE(contains(e, "uint16")) << e;
  // another format or byte order (was: read as token ids all the same)
  meta["dtype"] = "uint32";
  meta["byte_order"] = "big";
  tt::write_file_atomic(out / "meta.json", meta.dump());
  e = error_of([&] { TokenDataset::open(out, "val"); });
  EXPECT_TRUE(contains(e, "byte_order \"big\"")) << e;
  meta["byte_order"] = "little";
  meta["format"] = "x";
  tt::write_file_atomic(out / "meta.json", meta.dump());
  e = error_of([&] { TokenDataset::open(out, "val"); });
  EXPECT_TRUE(contains(e, "format \"x\" is not")) << e;
  meta["format"] = tt::kPackedTokensFormat;
  // rows whose byte count wraps around 64 bits to the real file's size (it was then read past its end)
  meta["dtype"] = "uint32";
  const int64_t val_rows = meta["val"]["rows"];
  meta["val"]["rows"] = (int64_t(1) << 62) + val_rows;
  tt::write_file_atomic(out / "meta.json", meta.dump());
  e = error_of([&] { TokenDataset::open(out, "val"); });
  EXPECT_TRUE(contains(e, "meta.json: val.rows 461168601842738") && contains(e, "larger than any file")) << e;
  meta["val"]["rows"] = val_rows;
  meta["eos_id"] = int64_t(1) << 40;
  tt::write_file_atomic(out / "meta.json", meta.dump());
  e = error_of([&] { TokenDataset::open(out, "val"); });
  EXPECT_TRUE(contains(e, "does not fit a 32-bit token id")) << e;
  e = error_of([&] { TokenDataset::open(dir.path / "nowhere", "val"); });
  EXPECT_TRUE(contains(e, "nowhere")) << e;

  // A truncated or garbled meta.json: the parse error with its byte offset, naming the file.
  tt::write_file_atomic(out / "meta.json", "{\"seq_len\": 64");
  e = error_of([&] { TokenDataset::open(out, "val"); });
  EXPECT_TRUE(contains(e, "meta.json") && contains(e, "byte offset 14 of 14") && contains(e, "truncated"))
      << e;
  tt::write_file_atomic(out / "meta.json", "{\"seq_len\": 6x4}");
  e = error_of([&] { TokenDataset::open(out, "val"); });
  EXPECT_TRUE(contains(e, "meta.json") && contains(e, "byte offset 13 of 16") && !contains(e, "truncated"))
      << e;
  tt::write_file_atomic(out / "meta.json", "[1, 2]");
  e = error_of([&] { TokenDataset::open(out, "val"); });
  EXPECT_TRUE(contains(e, "meta.json") && contains(e, "expected a JSON object, got a JSON array")) << e;
}

TEST(TokenDataset, RejectsOutOfRangeTokenIdsBeforeTraining) {
  ScratchDir dir;
  const fs::path out = prepare_tsv_rows(dir);
  {
    TokenDataset ds = TokenDataset::open(out, "train");
    ASSERT_GE(ds.rows(), 5);
    EXPECT_NO_THROW(ds.check_compatible(257, 32));  // every id (bytes and eos 256) is < 257
    EXPECT_NO_THROW(ds.check_token_ids(257));
    // The data's vocab_size (257) fits the model's, but the largest id may not: 256 is eos.
    std::string e = error_of([&] { ds.check_token_ids(256); });
    EXPECT_TRUE(contains(e, "train.bin") && contains(e, "token id 256") && contains(e, "vocab_size 256"))
        << e;
  }
  // Patch ids in rows 3 and 4 (as a damaged or foreign file would have) and reopen.
  std::string bytes = tt::read_file(out / "train.bin");
  const size_t pos = 3 * 32 + 5, later = 4 * 32 + 1;
  for (size_t p : {pos, later}) {
    const uint32_t bad = p == pos ? 999999u : 257u;
    for (int b = 0; b < 4; ++b) bytes[p * 4 + size_t(b)] = char((bad >> (8 * b)) & 0xff);  // little-endian
  }
  tt::write_file_atomic(out / "train.bin", bytes);
  TokenDataset ds = TokenDataset::open(out, "train");
  std::string e = error_of([&] { ds.check_compatible(257, 32); });
  EXPECT_TRUE(contains(e, "train.bin") && contains(e, "token id 999999") && contains(e, "row 3") &&
              contains(e, "position 5") && contains(e, "byte offset " + std::to_string(pos * 4)) &&
              contains(e, "vocab_size 257") && contains(e, "2 such id"))
      << e;
  EXPECT_NO_THROW(ds.check_compatible(1000000, 32));
  // The val split is untouched and still passes.
  EXPECT_NO_THROW(TokenDataset::open(out, "val").check_compatible(257, 32));
}

// ---- with the real Qwen3 tokenizer ------------------------------------------------------------

TEST(PipelineQwen3, ADocumentQuotingTheSeparatorDoesNotFakeIt) {
  // <|endoftext|> separates documents in the rows; a document that spells it (an article about
  // tokenizers) keeps it as text, so exactly one separator follows each document
  const fs::path tok_dir = fs::path(TT_SOURCE_DIR) / "assets/qwen3-tokenizer";
  if (!fs::exists(tok_dir / "tokenizer.json")) GTEST_SKIP() << "run scripts/setup.sh --no-build first";
  auto tok = tt::Tokenizer::load(tok_dir);
  ScratchDir dir;
  std::string jsonl;
  for (int i = 0; i < 40; ++i)
    jsonl += "{\"text\": \"Document " + std::to_string(i) +
             " says that GPT-2 ends each text with <|endoftext|> and starts a chat with <|im_start|>.\"}\n";
  PrepareDataOptions o = options(dir.path / "q", {dir.write("docs.jsonl", jsonl).string()}, 16);
  o.val_fraction = 0.2;
  auto meta = tt::prepare_data(o, *tok);
  EXPECT_EQ(meta["special_tokens_as_text"], 80);
  int64_t separators = 0, chat_starts = 0;
  for (const char* split : {"train.bin", "val.bin"})
    for (uint32_t id : read_u32(dir.path / "q" / split)) {
      separators += id == 151643;
      chat_starts += id == 151644;
    }
  // One per document. Each split drops its last partial row (under 16 tokens: at most one separator, as
  // every document is longer); a separator faked inside each document would double the count.
  EXPECT_LE(separators, 40);
  EXPECT_GE(separators, 38);
  EXPECT_EQ(chat_starts, 0);
}

TEST(PipelineQwen3, SharedXmlWithRealTokenizer) {
  const fs::path tok_dir = fs::path(TT_SOURCE_DIR) / "assets/qwen3-tokenizer";
  const fs::path xml = shared("enwiki-2016-pages-articles1-shortened-206pages.xml.xz");
  if (!fs::exists(tok_dir / "tokenizer.json")) GTEST_SKIP() << "run scripts/setup.sh --no-build first";
  if (!fs::exists(xml)) GTEST_SKIP() << "shared data not present: " << xml;
  auto tok = tt::Tokenizer::load(tok_dir);
  ScratchDir dir;
  PrepareDataOptions o = options(dir.path / "q", {xml.string(), fixture("old_schema.xml").string()}, 128);
  auto meta = tt::prepare_data(o, *tok);
  EXPECT_EQ(meta["eos_id"], 151643);
  EXPECT_EQ(meta["tokenizer"]["sha256"], tt::sha256_hex_file(tok_dir / "tokenizer.json"));
  TokenDataset train = TokenDataset::open(dir.path / "q", "train");
  EXPECT_NO_THROW(train.check_compatible(tok->vocab_size(), 128, tok->sha256()));
  // The first train document decodes back to a cleaned paragraph of the dump.
  std::vector<int32_t> ids;
  for (int64_t r = 0; r < train.rows() && ids.size() < 4096; ++r)
    for (int64_t i = 0; i < 128; ++i) ids.push_back(int32_t(train.row(r)[i]));
  auto eos = std::find(ids.begin(), ids.end(), 151643);
  ASSERT_NE(eos, ids.end());
  auto next = std::find(eos + 1, ids.end(), 151643);
  ASSERT_NE(next, ids.end());
  std::string doc = tok->decode(std::vector<int32_t>(eos + 1, next));
  EXPECT_FALSE(doc.empty());
  EXPECT_TRUE(contains(tt::read_file(dir.path / "q/samples.txt"), doc)) << doc;
  for (const char* bad : {"{{", "[[", "<ref", "&amp;"}) EXPECT_FALSE(contains(doc, bad)) << doc;
}

// `tiny-transformer tokenize` end to end: runs the built binary on the golden set (ids must equal
// the JS reference), decodes back, plain-text mode (same ids for any --threads), --tokens, and error
// reporting (file:line, blank JSONL lines, the user's --output path, --threads range).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "subprocess.h"
#include "test_util.h"

namespace tt::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct RunResult {
  int code;
  std::string out, err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tt_cli_test_" + std::to_string(getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return dir_ / name;
  }
  static std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  RunResult run(const std::string& args, const std::string& stdin_file = "") {
    std::string cmd = std::string("TT_TOKENIZER_DIR='") + tokenizer_dir().string() + "' '" + TT_BINARY_DIR +
                      "/tiny-transformer' " + args + " > '" + (dir_ / "stdout").string() + "' 2> '" +
                      (dir_ / "stderr").string() + "'";
    if (!stdin_file.empty()) cmd += " < '" + stdin_file + "'";
    int status = std::system(cmd.c_str());
    return {WEXITSTATUS(status), slurp(dir_ / "stdout"), slurp(dir_ / "stderr")};
  }
  static std::vector<std::string> lines(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    std::string l;
    while (std::getline(in, l)) out.push_back(l);
    return out;
  }
  fs::path dir_;
};

TEST_F(CliTest, JsonlEqualsReferenceOnGoldenSet) {
  std::vector<GoldenCase> cases;
  for (auto& c : load_golden())
    if (c.available) cases.push_back(std::move(c));
  std::string in;
  for (const auto& c : cases) in += json({{"text", c.text}, {"name", c.name}}).dump() + "\n";
  auto input = write("in.jsonl", in);
  auto output = dir_ / "out.jsonl";
  RunResult r =
      run("tokenize --jsonl '" + input.string() + "' --output '" + output.string() + "' --threads 2");
  ASSERT_EQ(r.code, 0) << r.err;
  auto got = lines(slurp(output));
  ASSERT_EQ(got.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(json::parse(got[i]).get<std::vector<int32_t>>(), cases[i].ids) << cases[i].name;

  // ...and back: --decode gives the normalized text.
  std::string ids_in;
  for (const auto& c : cases) ids_in += json({{"ids", c.ids}}).dump() + "\n";
  auto ids_file = write("ids.jsonl", ids_in);
  r = run("tokenize --decode --jsonl '" + ids_file.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  auto texts = lines(r.out);
  ASSERT_EQ(texts.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(json::parse(texts[i])["text"].get<std::string>(), qwen().normalize(cases[i].text))
        << cases[i].name;
}

TEST_F(CliTest, PlainTextIdsAndTokens) {
  auto input = write("in.txt", "Hello world<|im_end|>");
  RunResult r = run("tokenize --input '" + input.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "9707 1879 151645\n");
  r = run("tokenize", input.string());  // stdin
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "9707 1879 151645\n");
  r = run("tokenize --tokens --input '" + input.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello \xC4\xA0world <|im_end|>\n");  // byte-level form: U+0120 for the space
  auto ids = write("ids.txt", "9707 1879\n151645\n");
  r = run("tokenize --decode --input '" + ids.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello world<|im_end|>");
  auto jl = write("t.jsonl", "{\"text\": \"Hello world\"}\n");
  r = run("tokenize --tokens --jsonl '" + jl.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out), json::parse("[\"Hello\", \"\xC4\xA0world\"]"));
}

TEST_F(CliTest, InvalidUtf8IsReportedOnce) {
  auto input = write("bad.txt",
                     "a\xFF"
                     "b\xFE");
  RunResult r = run("tokenize --input '" + input.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("2 invalid UTF-8"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "64 5691 65 5691\n");  // a U+FFFD b U+FFFD
}

TEST_F(CliTest, InvalidUtf8InJsonlIsReplacedAndReported) {
  auto input = write("bad.jsonl", "{\"text\": \"a\xFF\"}\n{\"text\": \"ok\"}\n");
  RunResult r = run("tokenize --jsonl '" + input.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("1 invalid UTF-8"), std::string::npos) << r.err;
  auto got = lines(r.out);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(json::parse(got[0]).get<std::vector<int32_t>>(), qwen().encode("a\xEF\xBF\xBD"));
  EXPECT_EQ(json::parse(got[1]).get<std::vector<int32_t>>(), qwen().encode("ok"));
}

TEST_F(CliTest, ErrorsNameFileAndLine) {
  auto bad = write("bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"broken\"\n{\"text\": \"ok\"}\n");
  auto out = dir_ / "out.jsonl";
  RunResult r = run("tokenize --jsonl '" + bad.string() + "' --output '" + out.string() + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("bad.jsonl:2"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out)) << "no complete-looking output on error";

  auto notext = write("notext.jsonl", "{\"text\": \"ok\"}\n{\"txt\": 1}\n");
  r = run("tokenize --jsonl '" + notext.string() + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("notext.jsonl:2: expected a JSON object with a string \"text\""), std::string::npos)
      << r.err;

  auto badids = write("badids.jsonl", "{\"ids\": [1, 2]}\n{\"ids\": [1, 999999]}\n");
  r = run("tokenize --decode --jsonl '" + badids.string() + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("badids.jsonl:2"), std::string::npos) << r.err;

  r = run("tokenize --jsonl '" + (dir_ / "missing.jsonl").string() + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing.jsonl"), std::string::npos) << r.err;

  fs::create_directories(dir_ / "emptytok");
  auto txt = write("x.txt", "x");
  r = run("tokenize --tokenizer '" + (dir_ / "emptytok").string() + "' --input '" + txt.string() + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find((dir_ / "emptytok" / "tokenizer.json").string()), std::string::npos) << r.err;

  fs::create_directories(dir_ / "corrupt");
  write("corrupt/tokenizer.json", "{\"model\": ");
  r = run("tokenize --tokenizer '" + (dir_ / "corrupt").string() + "' --input '" + txt.string() + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("corrupt/tokenizer.json"), std::string::npos) << r.err;
}

TEST_F(CliTest, PlainTextThreadsGiveTheSameIds) {
  // > 2 * 64 KiB so encode_parallel really cuts it; Wikipedia documents with blank lines.
  const std::string& wiki = shared_prefix("enwiki-2015-wikiextractor-p12-p60633.partial.txt.xz", 1 << 20);
  if (wiki.empty()) GTEST_SKIP() << "shared Wikipedia text not available";
  auto in = write("big.txt", wiki);
  RunResult one = run("tokenize --threads 1 --input '" + in.string() + "'");
  ASSERT_EQ(one.code, 0) << one.err;
  std::string want;
  for (int32_t id : qwen().encode(wiki)) want += (want.empty() ? "" : " ") + std::to_string(id);
  EXPECT_EQ(one.out, want + "\n");
  for (const char* threads : {"2", "0"}) {
    RunResult many = run(std::string("tokenize --threads ") + threads + " --input '" + in.string() + "'");
    ASSERT_EQ(many.code, 0) << many.err;
    EXPECT_EQ(many.out, one.out) << "--threads " << threads;
  }
}

TEST_F(CliTest, UnwritableOutputNamesTheGivenPath) {
  auto txt = write("x.txt", "hello");
  std::string out = (dir_ / "no_such_dir" / "o.txt").string();
  RunResult r = run("tokenize --input '" + txt.string() + "' --output '" + out + "'");
  EXPECT_EQ(r.code, 1);
  // The user's path is the subject (AtomicFile may mention its temporary as a detail).
  EXPECT_NE(r.err.find("error: " + out + ": cannot open"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(out + ".tmp"), std::string::npos) << "names the temp file: " << r.err;
}

// A few ids stay in stdio's buffer until exit: a full disk must still fail the command (it exited 0).
TEST_F(CliTest, FailedWriteToStdoutIsAnError) {
  auto txt = write("x.txt", "hello world");
  auto jsonl = write("x.jsonl", "{\"text\": \"hello\"}\n");
  for (const std::string args :
       {"tokenize --input '" + txt.string() + "'", "tokenize --jsonl '" + jsonl.string() + "'"}) {
    const std::string cmd = std::string("TT_TOKENIZER_DIR='") + tokenizer_dir().string() + "' '" +
                            TT_BINARY_DIR + "/tiny-transformer' " + args + " > /dev/full 2> '" +
                            (dir_ / "stderr").string() + "'";
    const int status = std::system(cmd.c_str());
    EXPECT_EQ(WEXITSTATUS(status), 1) << args;
    EXPECT_NE(slurp(dir_ / "stderr").find("cannot write to stdout: No space left on device"),
              std::string::npos)
        << args << ": " << slurp(dir_ / "stderr");
  }
}

// A signal that ends `tokenize --output F` while it waits for input removes F's temporary (F.tmp.<pid> was
// left behind): the process still ends as by the signal.
TEST_F(CliTest, SignalLeavesNoTemporaryOutput) {
  for (int signo : {SIGTERM, SIGINT}) {
    const fs::path fifo = dir_ / "in.fifo", out = dir_ / "out" / "ids.jsonl";
    fs::remove_all(dir_ / "out");
    fs::create_directories(dir_ / "out");
    fs::remove(fifo);
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    tt::test::Subprocess tok({std::string(TT_BINARY_DIR) + "/tiny-transformer", "tokenize", "--jsonl",
                              fifo.string(), "--output", out.string()},
                             dir_ / "stdout", dir_ / "stderr",
                             {"TT_TOKENIZER_DIR=" + tokenizer_dir().string()});
    std::ofstream feed(fifo);  // opens once the command opened its end
    feed << "{\"text\": \"hello\"}" << std::endl;
    bool temporary = false;  // the output's temporary exists once the command started writing
    for (int i = 0; i < 500 && !temporary; ++i) {
      for (const auto& e : fs::directory_iterator(dir_ / "out")) temporary = true;
      if (!temporary) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(temporary);
    ::kill(tok.pid(), signo);
    const tt::test::Exit e = tok.wait(60);
    EXPECT_TRUE(e.signalled) << e.rc;
    EXPECT_EQ(e.rc, 128 + signo);
    EXPECT_TRUE(fs::is_empty(dir_ / "out")) << "signal " << signo;
  }
}

TEST_F(CliTest, BlankJsonlLinesAreRefusedExceptAtTheEnd) {
  auto expect_refused = [&](const std::string& name, const std::string& content, const std::string& flags,
                            const std::string& message) {
    auto file = write(name, content);
    RunResult r = run("tokenize " + flags + "--jsonl '" + file.string() + "'");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find(name + message), std::string::npos) << r.err;
  };
  expect_refused("blank.jsonl", "{\"text\": \"a\"}\n\n{\"text\": \"b\"}\n", "",
                 ":2: empty line; expected a JSON object with a `text` field");
  expect_refused("spaces.jsonl", "{\"ids\": [1]}\n  \t\n{\"ids\": [2]}\n", "--decode ",
                 ":2: empty line; expected a JSON object with an `ids` array");
  // Trailing blank lines shift nothing: accepted, one output line per JSON line.
  auto trailing = write("trailing.jsonl", "{\"text\": \"a\"}\r\n{\"text\": \"b\"}\n\n\r\n");
  RunResult r = run("tokenize --jsonl '" + trailing.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  auto got = lines(r.out);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(json::parse(got[1]).get<std::vector<int32_t>>(), qwen().encode("b"));
}

TEST_F(CliTest, NegativeThreadsGiveAShortMessage) {
  auto txt = write("x.txt", "hello");
  RunResult r = run("tokenize --threads -1 --input '" + txt.string() + "'");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("-1"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("179769313"), std::string::npos) << "prints DBL_MAX: " << r.err;
}

TEST_F(CliTest, UnknownCommandNamesTheWordAndTheCommands) {
  // CLI11 alone said "A subcommand is required" for a typo
  for (const auto& [word, meant] : std::vector<std::pair<std::string, std::string>>{
           {"trian", "train"}, {"prepare_data", "prepare-data"}, {"Sample", "sample"}, {"frobnicate", ""}}) {
    RunResult r = run("--log_level warn " + word + " --steps 3");
    EXPECT_EQ(r.code, 1) << word;
    EXPECT_NE(r.err.find("unknown command \"" + word + "\""), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("prepare-data, train, eval, sample, tokenize"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("did you mean"),
              meant.empty() ? std::string::npos : r.err.find("did you mean " + meant))
        << r.err;
  }
}

TEST_F(CliTest, AnOptionBeforeTheCommandIsNamedAsSuch) {
  // was: unknown command "cpu"
  RunResult r = run("--log_level warn --device cpu tokenize --input x.txt");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("\"--device cpu\" comes before the command tokenize"), std::string::npos) << r.err;
  // a mistyped command whose option's value happens to be a command is still a mistyped command
  r = run("evaluate --split train");
  EXPECT_NE(r.err.find("unknown command \"evaluate\""), std::string::npos) << r.err;
}

TEST_F(CliTest, DecodeWithTokensIsRefusedNotIgnored) {
  auto ids = write("ids.jsonl", "{\"ids\": [9707]}\n");
  RunResult r = run("tokenize --decode --tokens --jsonl '" + ids.string() + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--tokens"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

}  // namespace
}  // namespace tt::test

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <thread>

#include "common/check.h"
#include "common/cores.h"
#include "common/env.h"
#include "common/fs.h"
#include "common/host_memory.h"
#include "common/options.h"
#include "common/progress.h"
#include "common/sha256.h"
#include "common/stop_signal.h"
#include "subprocess.h"

namespace fs = std::filesystem;

TEST(Check, UserErrorCarriesMessageAndHint) {
  try {
    TT_CHECK(1 + 1 == 3) << "file x.bin, offset " << 42 << ": expected a header"
                         << tt::hint("re-run prepare-data");
    FAIL() << "TT_CHECK did not throw";
  } catch (const tt::Error& e) {
    std::string m = e.what();
    EXPECT_EQ(m, "file x.bin, offset 42: expected a header\n  hint: re-run prepare-data");
  }
}

TEST(Check, PassingCheckDoesNotEvaluateMessage) {
  int evaluated = 0;
  auto side = [&] { return ++evaluated; };
  TT_CHECK(true) << side();
  EXPECT_EQ(evaluated, 0);
}

TEST(Check, InternalAssertNamesFileAndLine) {
  try {
    TT_ASSERT(false) << "boom";
    FAIL();
  } catch (const tt::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("common_test.cpp:"), std::string::npos) << m;
    EXPECT_NE(m.find("boom"), std::string::npos) << m;
  }
}

TEST(Options, DeclareOnceDrivesParsingAndJson) {
  CLI::App app;
  int64_t steps = 2000;
  double lr = 3e-4;
  bool bf16 = false;
  std::string out = "runs";
  std::string input;
  tt::OptionSet os(&app);
  os.add("--steps", steps, "steps");
  os.add("--lr", lr, "learning rate");
  os.add("--bf16", bf16, "bf16");
  os.add("--out_dir", out, "output");
  const char* argv[] = {"x", "--steps", "7", "--bf16", "--out_dir", "r2"};
  app.parse(6, const_cast<char**>(argv));
  EXPECT_EQ(steps, 7);
  EXPECT_TRUE(bf16);
  auto j = os.to_json();
  EXPECT_EQ(j["steps"], 7);
  EXPECT_DOUBLE_EQ(j["lr"].get<double>(), 3e-4);
  EXPECT_EQ(j["out_dir"], "r2");
  EXPECT_TRUE(os.given("steps"));
  EXPECT_FALSE(os.given("lr"));
  EXPECT_EQ(os.given_names(), (std::vector<std::string>{"steps", "bf16", "out_dir"}));
  EXPECT_NE(os.summary().find("steps=7"), std::string::npos);
  EXPECT_NE(app.help().find("learning rate"), std::string::npos);

  // assign() reads a to_json() value back (a resumed run's saved flags); a value of another type is refused,
  // naming where it came from, and leaves the option as it was.
  EXPECT_TRUE(os.assign("lr", nlohmann::json(0.05), "state.json: flags"));
  EXPECT_DOUBLE_EQ(lr, 0.05);
  EXPECT_TRUE(os.assign("bf16", nlohmann::json(false), "state.json: flags"));
  EXPECT_FALSE(bf16);
  EXPECT_FALSE(os.assign("no_such_flag", nlohmann::json(1), "state.json: flags"));
  try {
    os.assign("out_dir", nlohmann::json(5), "state.json: flags");
    ADD_FAILURE() << "a number was assigned to a string option";
  } catch (const tt::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "state.json: flags: out_dir is 5, not a value of --out_dir (like \"r2\")");
  }
  EXPECT_EQ(out, "r2");
  // Numbers keep their kind: no truncation of 20.7 to an integer, no wrap of -1 into an unsigned one.
  EXPECT_THROW(os.assign("steps", nlohmann::json(20.7), "state.json: flags"), tt::Error);
  EXPECT_EQ(steps, 7);
  uint64_t seed = 3;
  os.add("--seed", seed, "seed");
  EXPECT_THROW(os.assign("seed", nlohmann::json(-1), "state.json: flags"), tt::Error);
  EXPECT_EQ(seed, 3u);
  EXPECT_TRUE(os.assign("lr", nlohmann::json(1), "state.json: flags"));  // an integer is a number
  EXPECT_DOUBLE_EQ(lr, 1.0);
}

namespace {

struct RuleOptions {
  int64_t rows = 8;
  double fraction = 0.1;
  std::string split = "val";
  std::string ckpt;
  uint64_t seed = 1;
  std::vector<std::string> prompts;
  std::string out = "runs";
  std::string input;
  void declare(tt::OptionSet& o) {
    o.add("--rows", rows, "rows").positive();
    o.add("--fraction", fraction, "fraction").at_least(0).below(0.5);
    o.add("--split", split, "split").one_of({"train", "val"});
    o.add("--ckpt", ckpt, "checkpoint").required();
    o.add("--seed", seed, "seed");
    o.add("--prompts", prompts, "prompts");
    o.add("--out", out, "output directory").non_empty();
    o.add("--input", input, "a file name, recorded nowhere").any_bytes();
  }
};

std::string rule_error(const RuleOptions& o) {
  try {
    tt::check_declared_rules(o);
  } catch (const tt::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Options, DeclaredRulesAreCheckedOnAPlainStructAndWhenParsing) {
  RuleOptions ok;
  ok.ckpt = "c";
  EXPECT_EQ(rule_error(ok), "");
  auto with = [&](auto change) {
    RuleOptions o = ok;
    change(o);
    return rule_error(o);
  };
  EXPECT_EQ(with([](RuleOptions& o) { o.rows = 0; }), "--rows must be positive, got 0");
  EXPECT_EQ(with([](RuleOptions& o) { o.fraction = 0.5; }), "--fraction must be in [0, 0.5), got 0.5");
  EXPECT_EQ(with([](RuleOptions& o) { o.fraction = -0.1; }), "--fraction must be in [0, 0.5), got -0.1");
  EXPECT_EQ(with([](RuleOptions& o) { o.fraction = std::nan(""); }),
            "--fraction must be in [0, 0.5), got nan");
  // the value as it reads back: 0.5000001 is not "0.5"
  EXPECT_EQ(with([](RuleOptions& o) { o.fraction = 0.5000001; }),
            "--fraction must be in [0, 0.5), got 0.5000001");
  EXPECT_EQ(with([](RuleOptions& o) { o.rows = -7; }), "--rows must be positive, got -7");
  EXPECT_EQ(with([](RuleOptions& o) { o.split = "test"; }), "--split must be train or val, got \"test\"");
  EXPECT_EQ(with([](RuleOptions& o) { o.ckpt.clear(); }), "--ckpt is required");

  // The same rules once the command line is parsed; CLI11's own checks (required) come first.
  auto parse = [](std::vector<std::string> args) {
    RuleOptions o;
    CLI::App app;
    tt::OptionSet os(&app);
    o.declare(os);
    std::reverse(args.begin(), args.end());  // CLI::App::parse(vector) takes argv reversed
    try {
      app.parse(args);
    } catch (const tt::Error& e) {
      return std::string(e.what());
    } catch (const CLI::ParseError& e) {
      return std::string("CLI11: ") + e.what();
    }
    return std::string();
  };
  EXPECT_EQ(parse({"--ckpt", "c", "--rows", "3"}), "");
  EXPECT_EQ(parse({"--ckpt", "c", "--rows", "-3"}), "--rows must be positive, got -3");
  EXPECT_EQ(parse({"--ckpt", "c", "--split", "tr"}), "--split must be train or val, got \"tr\"");
  EXPECT_NE(parse({"--rows", "3"}).find("CLI11: --ckpt is required"), std::string::npos);

  // Numbers CLI11 would take as something else: empty (read as 0), negative unsigned (wrapped), too large
  // (saturated).
  EXPECT_EQ(parse({"--ckpt", "c", "--rows", ""}), "CLI11: --rows: a number is required, got an empty value");
  EXPECT_EQ(parse({"--ckpt", "c", "--fraction", ""}),
            "CLI11: --fraction: a number is required, got an empty value");
  EXPECT_EQ(parse({"--ckpt", "c", "--seed", "-1"}), "CLI11: --seed: must not be negative, got -1");
  EXPECT_EQ(parse({"--ckpt", "c", "--seed", "18446744073709551616"}),
            "CLI11: --seed: out of range, got 18446744073709551616");
  EXPECT_EQ(parse({"--ckpt", "c", "--rows", "9223372036854775808"}),
            "CLI11: --rows: out of range, got 9223372036854775808");
  EXPECT_EQ(parse({"--ckpt", "c", "--seed", "18446744073709551615"}), "");
  // Every value goes into JSON files: it must be UTF-8, each string of a list too.
  EXPECT_NE(parse({"--ckpt", "c\xff"}).find("--ckpt is not valid UTF-8 (byte 0xFF at offset 1)"),
            std::string::npos);
  EXPECT_NE(parse({"--ckpt", "c", "--prompts", "ok", "\xC3("})
                .find("--prompts is not valid UTF-8 (byte 0xC3 at offset 0)"),
            std::string::npos);
  EXPECT_EQ(parse({"--ckpt", "c", "--prompts", "caf\xC3\xA9"}), "");
  EXPECT_EQ(parse({"--ckpt", "c", "--input", "caf\xE9.txt"}), "");  // any_bytes()
  RuleOptions bad = ok;
  bad.out = "";
  EXPECT_EQ(rule_error(bad), "--out must not be empty");
  bad = ok;
  bad.split = "\xFF";
  EXPECT_NE(rule_error(bad).find("--split is not valid UTF-8"), std::string::npos);
}

TEST(Env, SwitchesAreZeroOneOrANumberInRangeAndAnythingElseNamesTheVariable) {
  ::unsetenv("TT_TEST_SWITCH");
  EXPECT_TRUE(tt::env_flag("TT_TEST_SWITCH", true));
  ::setenv("TT_TEST_SWITCH", "", 1);
  EXPECT_FALSE(tt::env_flag("TT_TEST_SWITCH", false));
  ::setenv("TT_TEST_SWITCH", "0", 1);
  EXPECT_FALSE(tt::env_flag("TT_TEST_SWITCH", true));
  ::setenv("TT_TEST_SWITCH", "1", 1);
  EXPECT_TRUE(tt::env_flag("TT_TEST_SWITCH", false));
  ::setenv("TT_TEST_SWITCH", "yes", 1);  // was: on for one switch, off for another
  try {
    tt::env_flag("TT_TEST_SWITCH", false);
    ADD_FAILURE() << "accepted yes";
  } catch (const tt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("TT_TEST_SWITCH=\"yes\": expected 0 or 1"), std::string::npos)
        << e.what();
  }
  ::setenv("TT_TEST_SWITCH", "64", 1);
  EXPECT_EQ(tt::env_int("TT_TEST_SWITCH", 7, 0, 100, "MiB"), 64);
  for (const char* bad : {"12x", "-1", "101", "1e3"}) {
    ::setenv("TT_TEST_SWITCH", bad, 1);
    try {
      tt::env_int("TT_TEST_SWITCH", 7, 0, 100, "MiB");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const tt::Error& e) {
      EXPECT_NE(std::string(e.what()).find("expected a whole number in [0, 100] (MiB); unset, it is 7"),
                std::string::npos)
          << e.what();
    }
  }
  ::unsetenv("TT_TEST_SWITCH");
  EXPECT_EQ(tt::env_int("TT_TEST_SWITCH", 7, 0, 100, "MiB"), 7);
}

TEST(Fs, AtomicFileNotVisibleUntilCommit) {
  fs::path dir = fs::temp_directory_path() / ("tt_fs_test_" + std::to_string(getpid()));
  fs::create_directories(dir);
  fs::path p = dir / "out.bin";
  {
    tt::AtomicFile f(p);
    f.write("hello");
    EXPECT_FALSE(fs::exists(p));
    // destroyed without commit: nothing appears, no temporary left
  }
  EXPECT_FALSE(fs::exists(p));
  EXPECT_TRUE(fs::is_empty(dir));
  tt::write_file_atomic(p, "data");
  EXPECT_EQ(tt::read_file(p), "data");
  fs::remove_all(dir);
}

TEST(Fs, AtomicFileWritesThroughLinksKeepsModesAndWritesPipesDirectly) {
  fs::path dir = fs::temp_directory_path() / ("tt_fs_special_" + std::to_string(getpid()));
  fs::create_directories(dir);
  // a symlink: the file it points to is replaced, the link stays a link
  tt::write_file_atomic(dir / "real.txt", "old");
  fs::create_symlink("real.txt", dir / "link.txt");
  tt::write_file_atomic(dir / "link.txt", "new");
  EXPECT_TRUE(fs::is_symlink(dir / "link.txt"));
  EXPECT_EQ(tt::read_file(dir / "real.txt"), "new");
  // an existing file keeps its permissions (was: 0600 came back 0644)
  fs::permissions(dir / "real.txt", fs::perms::owner_read | fs::perms::owner_write);
  tt::write_file_atomic(dir / "real.txt", "newer");
  EXPECT_EQ(fs::status(dir / "real.txt").permissions(), fs::perms::owner_read | fs::perms::owner_write);
  // a FIFO is written directly and stays a FIFO (was: replaced by a regular file, the reader got nothing)
  const fs::path fifo = dir / "fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] { got = tt::read_file(fifo); });
  tt::write_file_atomic(fifo, "through the pipe");
  reader.join();
  EXPECT_EQ(got, "through the pipe");
  EXPECT_TRUE(fs::is_fifo(fifo));
  // the process's own descriptors are written through, never reopened or renamed over: a file the shell
  // appends to keeps what it held (was: replaced), a pipe gets the bytes (was: "cannot resolve the symlink")
  {
    const fs::path log = dir / "log.txt";
    tt::write_file_atomic(log, "earlier\n");
    const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    tt::write_file_atomic("/proc/self/fd/" + std::to_string(fd), "appended\n");
    ::close(fd);
    EXPECT_EQ(tt::read_file(log), "earlier\nappended\n");
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    tt::write_file_atomic("/dev/fd/" + std::to_string(p[1]), "piped");
    // behind a symlink too (was: "cannot resolve the symlink")
    fs::create_symlink("/dev/fd/" + std::to_string(p[1]), dir / "to_pipe");
    tt::write_file_atomic(dir / "to_pipe", "+linked");
    ::close(p[1]);
    char buf[32] = {};
    EXPECT_EQ(::read(p[0], buf, sizeof buf - 1), 12);
    EXPECT_EQ(std::string(buf), "piped+linked");
    ::close(p[0]);
  }
  // another user's symlink in a sticky world-writable directory (/tmp/out -> ~/.bashrc) is not followed,
  // as the kernel's protected_symlinks would refuse it (setting a link's owner needs root)
  if (::geteuid() == 0) {
    const fs::path shared = dir / "shared";
    fs::create_directories(shared);
    fs::permissions(shared, fs::perms::all | fs::perms::sticky_bit);
    tt::write_file_atomic(dir / "victim", "keep");
    fs::create_symlink(dir / "victim", shared / "out");
    ASSERT_EQ(::lchown((shared / "out").c_str(), 12345, 12345), 0);
    try {
      tt::write_file_atomic(shared / "out", "planted");
      ADD_FAILURE() << "followed another user's link in a sticky directory";
    } catch (const tt::Error& e) {
      EXPECT_NE(std::string(e.what()).find("a symlink that another user owns"), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(tt::read_file(dir / "victim"), "keep");
    // nor when the planted link is reached through a link of one's own: each link is checked
    fs::create_symlink(shared / "out", dir / "mine");
    EXPECT_THROW(tt::write_file_atomic(dir / "mine", "planted"), tt::Error);
    EXPECT_EQ(tt::read_file(dir / "victim"), "keep");
  }
  // a directory swapped in at a symlink replaces the link, never what it points to (a checkpoint saved at a
  // symlinked runs/b/last must not overwrite run a's; prepare-data resolves its --out_dir itself)
  fs::create_directories(dir / "a" / "last");
  tt::write_file_atomic(dir / "a" / "last" / "w", "run a");
  fs::create_directories(dir / "b");
  fs::create_directory_symlink(dir / "a" / "last", dir / "b" / "last");
  fs::path tmp = tt::make_temp_dir_beside(dir / "b" / "last");
  EXPECT_EQ(tmp.parent_path(), dir / "b");
  tt::write_file_atomic(tmp / "w", "run b");
  tt::replace_dir_atomic(tmp, dir / "b" / "last");
  EXPECT_EQ(tt::read_file(dir / "a" / "last" / "w"), "run a");
  EXPECT_EQ(tt::read_file(dir / "b" / "last" / "w"), "run b");
  EXPECT_FALSE(fs::is_symlink(dir / "b" / "last"));
  // at a dangling symlink too (was: "cannot rename into place: Not a directory", after the work)
  fs::create_directory_symlink(dir / "gone", dir / "b" / "best");
  tmp = tt::make_temp_dir_beside(dir / "b" / "best");
  tt::write_file_atomic(tmp / "w", "best");
  tt::replace_dir_atomic(tmp, dir / "b" / "best");
  EXPECT_EQ(tt::read_file(dir / "b" / "best" / "w"), "best");
  EXPECT_FALSE(fs::exists(dir / "gone"));
  fs::remove_all(dir);
}

TEST(Fs, ReplaceDirSwapsContents) {
  fs::path dir = fs::temp_directory_path() / ("tt_fs_dir_" + std::to_string(getpid()));
  fs::create_directories(dir / "ckpt");
  tt::write_file_atomic(dir / "ckpt" / "a", "old");
  fs::path tmp = tt::make_temp_dir_beside(dir / "ckpt");
  tt::write_file_atomic(tmp / "a", "new");
  tt::replace_dir_atomic(tmp, dir / "ckpt");
  EXPECT_EQ(tt::read_file(dir / "ckpt" / "a"), "new");
  EXPECT_FALSE(fs::exists(tmp));
  fs::remove_all(dir);
}

TEST(Fs, DirectoryPathEndsInTheDirectorysName) {
  EXPECT_EQ(tt::directory_path("out/"), "out");
  EXPECT_EQ(tt::directory_path("out/."), "out");
  EXPECT_EQ(tt::directory_path("a/out/x/.."), "a/out");
  EXPECT_EQ(tt::directory_path("/abs/out//"), "/abs/out");
  EXPECT_EQ(tt::directory_path("."), fs::current_path());
  EXPECT_EQ(tt::directory_path(".."), fs::current_path().parent_path());
  // "out/" is swapped in as "out" (was: the temporary made inside it, then "cannot move aside")
  fs::path dir = fs::temp_directory_path() / ("tt_fs_slash_" + std::to_string(getpid()));
  fs::create_directories(dir / "ckpt");
  tt::write_file_atomic(dir / "ckpt" / "a", "old");
  const fs::path slashed = (dir / "ckpt").string() + "/";
  fs::path tmp = tt::make_temp_dir_beside(slashed);
  EXPECT_EQ(tmp.parent_path(), dir);
  tt::write_file_atomic(tmp / "a", "new");
  tt::replace_dir_atomic(tmp, slashed);
  EXPECT_EQ(tt::read_file(dir / "ckpt" / "a"), "new");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

TEST(Fs, FailedRenameSaysWhyItFailed) {
  fs::path dir = fs::temp_directory_path() / ("tt_fs_rename_" + std::to_string(getpid()));
  fs::create_directories(dir / "taken" / "child");  // a non-empty directory cannot be replaced by a file
  try {
    tt::write_file_atomic(dir / "taken", "x");
    FAIL() << "renamed a file over a non-empty directory";
  } catch (const tt::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("cannot rename temporary file into place: Is a directory"), std::string::npos) << m;
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);  // no temporary left
  fs::remove_all(dir);
}

TEST(Fs, DirLockRefusesASecondHolderUntilReleased) {
  fs::path dir = fs::temp_directory_path() / ("tt_fs_lock_" + std::to_string(getpid()));
  fs::create_directories(dir);
  {
    tt::DirLock first(dir, "wait for it");
    try {
      tt::DirLock second(dir, "wait for it");  // flock: another open file description conflicts
      FAIL() << "locked twice";
    } catch (const tt::Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(dir.string() + " is in use by another process (pid " + std::to_string(getpid()) + ")"),
                std::string::npos)
          << m;
      EXPECT_NE(m.find("hint: wait for it"), std::string::npos) << m;
    }
  }
  tt::DirLock again(dir, "");  // released with the first holder
  fs::remove_all(dir);
}

TEST(Fs, ReadMissingFileNamesPath) {
  try {
    tt::read_file("/nonexistent/dir/file.json");
    FAIL();
  } catch (const tt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/file.json"), std::string::npos);
  }
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(tt::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(tt::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Progress, Formatting) {
  using P = tt::Progress;
  EXPECT_EQ(P::format_duration(5), "5s");
  EXPECT_EQ(P::format_duration(125), "2m05s");
  EXPECT_EQ(P::format_duration(3725), "1h02m");
  EXPECT_EQ(P::format_amount(1500000, P::Unit::Bytes), "1.5 MB");
  EXPECT_EQ(P::format_rate(2.5e6, P::Unit::Bytes), "2.5 MB/s");
}

TEST(Fs, UnwritableTargetsNameTheUserPathAndTheReason) {
  fs::path dir = fs::temp_directory_path() / ("tt_fs_unwritable_" + std::to_string(getpid()));
  fs::create_directories(dir);
  tt::write_file_atomic(dir / "plainfile", "x");
  fs::path target = dir / "plainfile" / "out.bin";  // parent is a file: cannot be created by anyone
  try {
    tt::AtomicFile f(target);
    FAIL() << "opened a file under a regular file";
  } catch (const tt::Error& e) {
    std::string m = e.what();
    // The user's path, as given, followed by the reason (not just the temporary's name).
    EXPECT_NE(m.find(target.string() + ": cannot open for writing"), std::string::npos) << m;
    EXPECT_NE(m.find("Not a directory"), std::string::npos) << m;
  }
  try {
    tt::make_temp_dir_beside(dir / "plainfile" / "ckpt");
    FAIL() << "made a directory under a regular file";
  } catch (const tt::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("plainfile"), std::string::npos) << m;
    EXPECT_NE(m.find("Not a directory"), std::string::npos) << m;
  }
  fs::remove_all(dir);
}

TEST(Fs, RemoveStaleTempDirsOnlyTakesThoseOfDeadProcesses) {
  fs::path dir = fs::temp_directory_path() / ("tt_fs_stale_" + std::to_string(getpid()));
  fs::create_directories(dir);
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);  // reaped: its pid now names no live process
  const std::string dead = std::to_string(child), live = std::to_string(getpid());
  for (const std::string n :
       {".last.tmp." + dead + ".1", ".best.tmp." + dead + ".2", ".last.tmp." + live + ".3",
        "last.tmp." + dead + ".4", ".last.tmp.x" + dead + ".5"})
    fs::create_directories(dir / n);
  EXPECT_EQ(tt::remove_stale_temp_dirs(dir, "last"), 1);  // only the dead run's temp of `last`
  EXPECT_FALSE(fs::exists(dir / (".last.tmp." + dead + ".1")));
  EXPECT_TRUE(fs::exists(dir / (".best.tmp." + dead + ".2")));
  EXPECT_EQ(tt::remove_stale_temp_dirs(dir), 1);                // any name: now `best` too
  EXPECT_TRUE(fs::exists(dir / (".last.tmp." + live + ".3")));  // a live process's
  EXPECT_TRUE(fs::exists(dir / ("last.tmp." + dead + ".4")));   // not our naming
  EXPECT_TRUE(fs::exists(dir / (".last.tmp.x" + dead + ".5")));
  // The names make_temp_dir_beside gives carry the host: this host's dead run's is removed, another host's
  // (whose pid says nothing here, on a shared filesystem) is left alone.
  const fs::path made = tt::make_temp_dir_beside(dir / "last");
  const std::string name = made.filename().string();
  const std::string host = name.substr(name.find('.', name.find(".tmp.") + 5 + live.size() + 1) + 1);
  EXPECT_FALSE(host.empty()) << name;
  fs::create_directories(dir / (".last.tmp." + dead + ".6." + host));
  fs::create_directories(dir / (".last.tmp." + dead + ".7.another_host"));
  EXPECT_EQ(tt::remove_stale_temp_dirs(dir, "last"), 1);
  EXPECT_FALSE(fs::exists(dir / (".last.tmp." + dead + ".6." + host)));
  EXPECT_TRUE(fs::exists(dir / (".last.tmp." + dead + ".7.another_host")));
  EXPECT_TRUE(fs::exists(made));  // this process's own
  fs::remove_all(dir);
}

TEST(Cores, FollowTheAffinityMask) {
  // The default thread count is the CPUs this process may run on, not the machine's: pinned to one CPU
  // (as taskset, a cpuset or a Slurm binding would), available_cores() is 1.
  cpu_set_t all;
  ASSERT_EQ(sched_getaffinity(0, sizeof(all), &all), 0);
  EXPECT_EQ(tt::available_cores(), CPU_COUNT(&all));
  int first = 0;
  while (!CPU_ISSET(first, &all)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  const int pinned = tt::available_cores();
  ASSERT_EQ(sched_setaffinity(0, sizeof(all), &all), 0);
  EXPECT_EQ(pinned, 1);
}

namespace {
bool blocks_stop_signals() {  // in the calling thread
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, SIGINT) == 1 && sigismember(&mask, SIGTERM) == 1;
}
}  // namespace

// common/stop_signal.h: SIGINT and SIGTERM never interrupt a thread that may run oneDNN's GEMMs. Blocked in
// the thread that routes them and in every thread started after; accepted by "tt-signals" alone of those;
// a StopSignal still sees them.
TEST(StopSignal, IsHandledOnAThreadOfItsOwn) {
  tt::route_stop_signals();
  EXPECT_TRUE(blocks_stop_signals()) << "the routing thread";
  bool later_blocks = false;
  std::thread([&] { later_blocks = blocks_stop_signals(); }).join();
  EXPECT_TRUE(later_blocks) << "a thread started after the routing";
  EXPECT_EQ(tt::test::stop_signal_takers(::getpid()), 1);
  tt::StopSignal stop("");
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  for (int i = 0; i < 500 && !stop.requested(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(stop.signal_number(), SIGTERM);
}

namespace {
// A fake root with the files host_memory() reads, each given as {relative path, content}.
fs::path fake_root(const std::string& name,
                   std::initializer_list<std::pair<std::string, std::string>> files) {
  const fs::path root = fs::temp_directory_path() / ("tt_mem_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(root);
  for (const auto& [rel, content] : files) {
    fs::create_directories((root / rel).parent_path());
    tt::write_file_atomic(root / rel, content);
  }
  return root;
}
constexpr uint64_t kGiB = uint64_t(1) << 30;
}  // namespace

TEST(HostMemory, CgroupV2TakesTheTightestLimitUpTheTreeAndCountsInactiveFilePagesAsFree) {
  // MemAvailable 20 GiB; the process's cgroup /a/b: no limit itself ("max"), its parent /a 8 GiB with
  // 7 GiB charged of which 2 GiB is inactive page cache: 3 GiB of room. The root cgroup has no files.
  const fs::path root = fake_root(
      "v2", {{"proc/meminfo", "MemTotal:       24000000 kB\nMemAvailable:   20971520 kB\n"},
             {"proc/self/cgroup", "0::/a/b\n"},
             {"sys/fs/cgroup/cgroup.controllers", "cpu memory\n"},
             {"sys/fs/cgroup/a/memory.max", std::to_string(8 * kGiB) + "\n"},
             {"sys/fs/cgroup/a/memory.current", std::to_string(7 * kGiB) + "\n"},
             {"sys/fs/cgroup/a/memory.stat", "anon 1\ninactive_file " + std::to_string(2 * kGiB) + "\n"},
             {"sys/fs/cgroup/a/b/memory.max", "max\n"},
             {"sys/fs/cgroup/a/b/memory.current", std::to_string(6 * kGiB) + "\n"}});
  const tt::HostMemory m = tt::host_memory(root);
  ASSERT_TRUE(m.mem_available && m.cgroup_room);
  EXPECT_EQ(*m.mem_available, 20 * kGiB);
  EXPECT_EQ(*m.cgroup_room, 3 * kGiB);
  EXPECT_FALSE(m.rlimit_room);  // the limit is this process's, not the fake tree's
  EXPECT_EQ(m.least(), 3 * kGiB);
  EXPECT_EQ(m.least(/*sharing=*/2), 3 * kGiB / 2);  // two ranks on the host share the cgroup's room
  EXPECT_NE(m.describe().find("3.00 GiB left under the memory cgroup's limit"), std::string::npos)
      << m.describe();
  fs::remove_all(root);
}

TEST(HostMemory, CgroupV1UsesTheHierarchicalLimitAndNoLimitIsNone) {
  auto v1 = [](const std::string& name, uint64_t limit) {
    return fake_root(
        name, {{"proc/meminfo", "MemAvailable:   4194304 kB\n"},
               {"proc/self/cgroup", "5:cpu:/\n4:memory:/jobs/42\n0::/\n"},
               {"sys/fs/cgroup/memory/jobs/42/memory.stat",
                "cache 5\nhierarchical_memory_limit " + std::to_string(limit) + "\ntotal_inactive_file " +
                    std::to_string(kGiB / 2) + "\n"},
               {"sys/fs/cgroup/memory/jobs/42/memory.usage_in_bytes", std::to_string(kGiB) + "\n"}});
  };
  const fs::path limited = v1("v1", 2 * kGiB);
  tt::HostMemory m = tt::host_memory(limited);
  ASSERT_TRUE(m.cgroup_room);
  EXPECT_EQ(*m.cgroup_room, 2 * kGiB - kGiB / 2);  // 1 GiB charged, half of it reclaimable page cache
  EXPECT_EQ(m.least(), 1536 * (uint64_t(1) << 20));
  const fs::path unlimited = v1("v1_nolimit", 9223372036854771712ull);
  m = tt::host_memory(unlimited);
  EXPECT_FALSE(m.cgroup_room);
  EXPECT_EQ(m.least(), 4 * kGiB);  // MemAvailable alone
  // free swap counts: a run that swaps is slow, not killed
  tt::write_file_atomic(unlimited / "proc/meminfo",
                        "MemAvailable:   4194304 kB\nSwapTotal: 9 kB\nSwapFree:   1048576 kB\n");
  m = tt::host_memory(unlimited);
  EXPECT_EQ(m.least(), 5 * kGiB);
  EXPECT_NE(m.describe().find("5.00 GiB available on the machine (MemAvailable + SwapFree)"),
            std::string::npos)
      << m.describe();
  const fs::path empty = fake_root("empty", {});
  EXPECT_FALSE(tt::host_memory(empty).least());  // nothing readable: unknown
  for (const fs::path& p : {limited, unlimited, empty}) fs::remove_all(p);
}

TEST(HostMemory, UlimitVBoundsWhatIsAvailable) {
  // In a child: RLIMIT_AS set to the address space in use plus 256 MiB leaves at most that much.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const tt::HostMemory before = tt::host_memory();
    if (!before.mem_available) _exit(2);
    uint64_t vm_kb = 0;
    FILE* f = std::fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f || std::fscanf(f, "%lu", &pages) != 1) _exit(3);
    std::fclose(f);
    vm_kb = pages * uint64_t(sysconf(_SC_PAGESIZE)) / 1024;
    const rlimit limit{(vm_kb << 10) + (256u << 20), RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(4);
    const tt::HostMemory after = tt::host_memory();
    if (!after.rlimit_room || *after.rlimit_room > (256u << 20) || *after.rlimit_room < (200u << 20))
      _exit(5);
    if (!after.least() || *after.least() > (256u << 20)) _exit(6);
    if (after.least(1000000) != std::min(*after.rlimit_room, *after.mem_available / 1000000)) _exit(8);
    if (after.least(2) != after.rlimit_room) _exit(9);  // each rank's own ulimit -v is not divided
    if (after.describe().find("ulimit -v") == std::string::npos) _exit(7);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child's check that failed (see the test's exit codes)";
}

TEST(HostMemory, FormatBytesPicksAUnit) {
  EXPECT_EQ(tt::format_bytes(512), "512 bytes");
  EXPECT_EQ(tt::format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(tt::format_bytes(300ull << 20), "300.0 MiB");
  EXPECT_EQ(tt::format_bytes(3ull << 40), "3.00 TiB");
}

#include "tokenizer/tokenize_command.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "common/check.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/paths.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace tt {

void TokenizeOptions::declare(OptionSet& o) {
  o.add("--jsonl", jsonl,
        "JSON-lines input: {\"text\": ...} per line (or {\"ids\": [...]} with --decode); output line i "
        "is the result for input line i, so blank lines are refused except at the end of the file")
      .any_bytes();  // tokenize records none of its flags: file names may be any bytes
  o.add("--input", input, "plain-text input file (default: stdin)").any_bytes();
  o.add("--output", output, "output file (default: stdout)").any_bytes();
  o.add("--tokenizer", tokenizer,
        "tokenizer directory or tokenizer.json (default: $TT_TOKENIZER_DIR or assets/qwen3-tokenizer)")
      .any_bytes();
  o.add("--decode", decode, "decode ids to text instead of encoding");
  o.add("--tokens", tokens, "print token strings instead of ids");
  o.add("--threads", threads,
        "encoding threads, for --jsonl and plain text alike (0 = all cores; plain text is cut only "
        "where the ids cannot change)")
      .in_range(0, 4096);
}

void TokenizeOptions::validate() const {
  check_declared_rules(*this);
  TT_CHECK(jsonl.empty() || input.empty()) << "give either --jsonl or --input, not both";
  TT_CHECK(!(decode && tokens)) << "--tokens prints the token strings of an encoding; --decode prints text"
                                << hint("give one of them");
}

namespace {

// stdout, or an AtomicFile committed at the end.
class Output {
 public:
  explicit Output(const std::string& path) {
    if (!path.empty()) file_ = std::make_unique<AtomicFile>(path);
  }
  void write(std::string_view s) {
    if (file_) {
      file_->write(s);
    } else {
      TT_CHECK(std::fwrite(s.data(), 1, s.size(), stdout) == s.size())
          << "cannot write to stdout: " << std::strerror(errno);
    }
  }
  // stdout is flushed and checked by main() after every command (a full disk shows up there).
  void commit() {
    if (file_) file_->commit();
  }

 private:
  std::unique_ptr<AtomicFile> file_;
};

void append_ids(std::string& out, const std::vector<int32_t>& ids, char sep) {
  char buf[16];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out.push_back(sep);
    auto r = std::to_chars(buf, buf + sizeof buf, ids[i]);
    out.append(buf, r.ptr);
  }
}

std::string render(const Tokenizer& tok, const std::vector<int32_t>& ids, bool tokens, bool as_json) {
  std::string out;
  if (as_json) {
    if (tokens) {
      nlohmann::json arr = nlohmann::json::array();
      for (int32_t id : ids) arr.push_back(tok.token_text(id));
      return arr.dump();
    }
    out.push_back('[');
    append_ids(out, ids, ',');
    out.push_back(']');
    return out;
  }
  if (tokens) {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out.push_back(' ');
      out += tok.token_text(ids[i]);
    }
    return out;
  }
  append_ids(out, ids, ' ');
  return out;
}

void warn_invalid(const EncodeStats& stats, const std::string& what) {
  if (stats.invalid_utf8)
    log_warn(what, ": ", stats.invalid_utf8, " invalid UTF-8 sequence(s) replaced by U+FFFD");
}

std::string read_input(const std::string& path) {
  if (!path.empty()) return read_file(path);
  std::ostringstream s;
  s << std::cin.rdbuf();
  return s.str();
}

int run_jsonl(const Tokenizer& tok, const TokenizeOptions& o) {
  std::ifstream in(o.jsonl, std::ios::binary);
  TT_CHECK(in) << o.jsonl << ": cannot open JSONL input";
  Output out(o.output);
  constexpr size_t kBatchLines = 4096;
  std::vector<std::string> texts;
  EncodeStats stats;
  uint64_t line_no = 0, done = 0;
  auto flush = [&] {
    if (texts.empty()) return;
    auto ids = tok.encode_batch(texts, o.threads, &stats);
    std::string buf;
    for (const auto& v : ids) {
      buf += render(tok, v, o.tokens, true);
      buf.push_back('\n');
    }
    out.write(buf);
    done += texts.size();
    texts.clear();
  };
  std::string line, sanitized;
  std::string decoded;
  // Blank lines keep no output line, which would shift every later result against its input
  // line; so they are allowed only at the end of the file (an editor's trailing newline).
  uint64_t first_blank_line = 0;
  const char* expected = o.decode ? "a JSON object with an `ids` array" : "a JSON object with a `text` field";
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      if (!first_blank_line) first_blank_line = line_no;
      continue;
    }
    TT_CHECK(!first_blank_line) << o.jsonl << ":" << first_blank_line << ": empty line; expected " << expected
                                << hint(
                                       "output line i answers input line i; blank lines are allowed "
                                       "only at the end of the file");
    if (!unicode::is_valid_utf8(line)) {
      // Raw invalid bytes would make the JSON invalid; treat them like invalid UTF-8 in plain text.
      stats.invalid_utf8 += unicode::sanitize_utf8(line, sanitized);
      line.swap(sanitized);
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      TT_FAIL() << o.jsonl << ":" << line_no << ": not valid JSON: " << e.what();
    }
    if (o.decode) {
      TT_CHECK(j.is_object() && j.contains("ids") && j["ids"].is_array())
          << o.jsonl << ":" << line_no << ": expected a JSON object with an \"ids\" array";
      std::vector<int32_t> ids;
      for (const auto& v : j["ids"]) {
        TT_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < tok.vocab_size())
            << o.jsonl << ":" << line_no << ": \"ids\" must hold token ids in [0, " << tok.vocab_size()
            << "), got " << v.dump();
        ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
      }
      decoded = nlohmann::json{{"text", tok.decode(ids)}}.dump();
      decoded.push_back('\n');
      out.write(decoded);
      ++done;
    } else {
      TT_CHECK(j.is_object() && j.contains("text") && j["text"].is_string())
          << o.jsonl << ":" << line_no << ": expected a JSON object with a string \"text\"";
      texts.push_back(j["text"].get<std::string>());
      if (texts.size() >= kBatchLines) flush();
    }
  }
  TT_CHECK(!in.bad()) << o.jsonl << ": read error";
  flush();
  out.commit();
  warn_invalid(stats, o.jsonl);
  log_info("tokenize: ", done, " line(s) from ", o.jsonl);
  return 0;
}

int run_plain(const Tokenizer& tok, const TokenizeOptions& o) {
  std::string name = o.input.empty() ? "<stdin>" : o.input;
  std::string text = read_input(o.input);
  Output out(o.output);
  if (o.decode) {
    std::vector<int32_t> ids;
    std::istringstream s(text);
    std::string word;
    uint64_t index = 0;
    while (s >> word) {
      int64_t v = -1;
      auto r = std::from_chars(word.data(), word.data() + word.size(), v);
      TT_CHECK(r.ec == std::errc() && r.ptr == word.data() + word.size() && v >= 0 && v < tok.vocab_size())
          << name << ": item " << index << " (\"" << word << "\") is not a token id in [0, "
          << tok.vocab_size() << ")";
      ids.push_back(static_cast<int32_t>(v));
      ++index;
    }
    out.write(tok.decode(ids));
  } else {
    EncodeStats stats;
    auto ids = tok.encode_parallel(text, o.threads, &stats);
    out.write(render(tok, ids, o.tokens, false) + "\n");
    warn_invalid(stats, name);
  }
  out.commit();
  return 0;
}

}  // namespace

int run_tokenize(const TokenizeOptions& o) {
  o.validate();
  auto tok = Tokenizer::load(tokenizer_json_file(o.tokenizer));
  log_debug("tokenizer ", tok->json_path().string(), " loaded in ", tok->load_seconds(), " s");
  return o.jsonl.empty() ? run_plain(*tok, o) : run_jsonl(*tok, o);
}

}  // namespace tt

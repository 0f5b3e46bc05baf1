#include "data/wikimedia_dumps.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include "common/check.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/text.h"
#include "net/url.h"

namespace tt::data::wikimedia {

namespace {

// The names and listings below are parsed by hand, not with std::regex: libstdc++'s matcher recurses once per
// character, so a long enough --source argument or server reply (~30 kB) overflowed the stack.
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool all_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), is_digit);
}

bool is_run_date(std::string_view s) {
  return s.size() == 8 && all_digits(s);
}

// s without `prefix` at its start; false (s unchanged) when it does not start with it.
bool eat(std::string_view& s, std::string_view prefix) {
  if (!s.starts_with(prefix)) return false;
  s.remove_prefix(prefix.size());
  return true;
}

// The leading digits of s, removed from it ("" when it starts with none).
std::string_view eat_digits(std::string_view& s) {
  const size_t n = size_t(std::find_if_not(s.begin(), s.end(), is_digit) - s.begin());
  const std::string_view digits = s.substr(0, n);
  s.remove_prefix(n);
  return digits;
}

// [a-z] followed by characters of `rest`.
bool is_lower_name(std::string_view s, std::string_view rest) {
  return !s.empty() && s[0] >= 'a' && s[0] <= 'z' && std::all_of(s.begin() + 1, s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || is_digit(c) || rest.find(c) != std::string_view::npos;
  });
}

// A decimal number of a dump file's name, or an error naming the file: a part number or page id too large for
// its type.
template <class T>
T file_number(std::string_view digits, const std::string& where, const std::string& name, const char* what) {
  T v{};
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  TT_CHECK(ec == std::errc() && end == digits.data() + digits.size())
      << where << ": file " << name << ": its " << what << " " << digits.substr(0, 30)
      << (digits.size() > 30 ? "..." : "") << " is out of range";
  return v;
}

bool is_hex(const std::string& s, size_t len) {
  return s.size() == len && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// A short description of text that should have been JSON, for messages.
std::string text_start(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 60)) out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
  return "\"" + out + (s.size() > 60 ? "...\"" : "\"");
}

fs::path index_dir(const fs::path& cache, const std::string& wiki, const std::string& run) {
  return cache / "wikimedia" / wiki / run;
}

std::string status_url(const std::string& mirror, const std::string& wiki, const std::string& run) {
  return net::join_url(mirror, wiki + "/" + run + "/dumpstatus.json");
}

std::string sha1sums_url(const std::string& mirror, const std::string& wiki, const std::string& run) {
  return net::join_url(mirror, wiki + "/" + run + "/" + wiki + "-" + run + "-sha1sums.txt");
}

}  // namespace

std::string mirror_url(const std::string& flag) {
  std::string m = flag;
  if (m.empty()) {
    const char* env = std::getenv("TT_WIKIMEDIA_MIRROR");
    m = env && *env ? env : kDefaultMirror;
  }
  while (!m.empty() && m.back() == '/') m.pop_back();
  net::parse_url(m);  // tt::Error for a malformed or non-http(s) mirror
  return m;
}

std::optional<DumpName> parse_dump_name(std::string_view spec) {
  // "<wiki>[:<run>]" with <wiki> = [a-z][a-z0-9_]*wiki, or "wikipedia:<lang>[:<run>]" with <lang> =
  // [a-z][a-z0-9-]*; <run> = 8 digits or "latest".
  std::string_view head = spec, run;
  bool wikipedia = eat(head, "wikipedia:");
  if (const size_t colon = head.find(':'); colon != std::string_view::npos) {
    run = head.substr(colon + 1);
    head = head.substr(0, colon);
    if (!is_run_date(run) && run != "latest") return std::nullopt;
  }
  DumpName name;
  if (wikipedia) {
    if (!is_lower_name(head, "-")) return std::nullopt;
    name.wiki = std::string(head) + "wiki";
    std::replace(name.wiki.begin(), name.wiki.end(), '-', '_');  // "zh-yue" -> "zh_yuewiki"
  } else {
    if (head.size() < 5 || !head.ends_with("wiki") || !is_lower_name(head, "_")) return std::nullopt;
    name.wiki = head;
  }
  if (run != "latest") name.run = run;
  return name;
}

std::vector<std::string> parse_run_listing(std::string_view html) {
  // Every href="[...]/YYYYMMDD[/]" (any case, quoted or not): the runs a dump directory's listing links to.
  std::set<std::string, std::greater<>> runs;
  const std::string text = lower(std::string(html));
  const auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  for (size_t at = text.find("href"); at != std::string::npos; at = text.find("href", at + 1)) {
    size_t i = at + 4;
    while (i < text.size() && space(text[i])) ++i;
    if (i == text.size() || text[i] != '=') continue;
    ++i;
    while (i < text.size() && space(text[i])) ++i;
    if (i < text.size() && (text[i] == '"' || text[i] == '\'')) ++i;
    const size_t end = text.find_first_of("\"' >", i);
    if (end == std::string::npos) continue;  // a link must end in a quote, a space or '>'
    std::string_view value = std::string_view(text).substr(i, end - i);
    if (value.ends_with('/')) value.remove_suffix(1);
    const size_t slash = value.rfind('/');
    const std::string_view last = slash == std::string_view::npos ? value : value.substr(slash + 1);
    if (is_run_date(last)) runs.insert(std::string(last));
  }
  return {runs.begin(), runs.end()};
}

uint64_t DumpRun::total_bytes() const {
  uint64_t t = 0;
  for (const auto& f : files) t += f.size;
  return t;
}

RunStatus parse_dump_status(std::string_view text, const std::string& wiki, const std::string& run,
                            const std::string& where) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  TT_CHECK(!j.is_discarded() && j.is_object())
      << where << ": not a dump status file (" << (j.is_discarded() ? "not JSON" : "not a JSON object")
      << "; it starts with " << text_start(text) << ")"
      << hint("check --mirror: it must serve the dump layout");
  auto jobs = j.find("jobs");
  TT_CHECK(jobs != j.end() && jobs->is_object()) << where << ": not a dump status file (no \"jobs\" object)";
  RunStatus out;
  std::string statuses;
  for (const char* job : {"articlesdump", "articlesmultistreamdump"}) {
    auto it = jobs->find(job);
    std::string status = "absent";
    if (it != jobs->end() && it->is_object()) {
      auto st = it->find("status");
      status = st != it->end() && st->is_string() ? st->get<std::string>() : "unknown";
    }
    statuses += std::string(statuses.empty() ? "" : ", ") + job + " " + status;
    if (status != "done") continue;
    auto files = it->find("files");
    TT_CHECK(files != it->end() && files->is_object())
        << where << ": job " << job << " is done but has no \"files\" object";
    DumpRun r;
    r.wiki = wiki;
    r.run = run;
    r.job = job;
    for (auto& [name, meta] : files->items()) {
      // <wiki>-<run>-pages-articles[-multistream][N].xml[-p<first>p<last>].bz2; index files and other names
      // are skipped
      std::string_view rest = name, part, first, last;
      if (!eat(rest, wiki + "-" + run + "-pages-articles")) continue;
      if (eat(rest, "-multistream") != (std::string(job) == "articlesmultistreamdump")) continue;
      part = eat_digits(rest);
      if (!eat(rest, ".xml")) continue;
      if (eat(rest, "-p")) {
        first = eat_digits(rest);
        if (first.empty() || !eat(rest, "p") || (last = eat_digits(rest)).empty()) continue;
      }
      if (rest != ".bz2") continue;
      TT_CHECK(meta.is_object()) << where << ": " << job << " file " << name << ": expected an object";
      DumpFile f;
      f.name = name;
      auto size = meta.find("size");
      TT_CHECK(size != meta.end() && size->is_number_unsigned() && size->get<uint64_t>() > 0)
          << where << ": " << job << " file " << name << " has no positive \"size\"";
      f.size = size->get<uint64_t>();
      for (auto [key, len, dst] :
           {std::tuple{"sha1", size_t(40), &f.sha1}, std::tuple{"md5", size_t(32), &f.md5}}) {
        auto v = meta.find(key);
        if (v == meta.end() || v->is_null()) continue;
        TT_CHECK(v->is_string() && is_hex(lower(v->get<std::string>()), len))
            << where << ": " << job << " file " << name << ": \"" << key << "\" is not " << len
            << " hex digits";
        *dst = lower(v->get<std::string>());
      }
      f.part = part.empty() ? 0 : file_number<int>(part, where, name, "part number");
      if (!first.empty()) {
        f.first_page = file_number<uint64_t>(first, where, name, "first page id");
        f.last_page = file_number<uint64_t>(last, where, name, "last page id");
      }
      r.files.push_back(std::move(f));
    }
    if (r.files.empty()) {
      statuses += " (but lists no article files)";
      continue;
    }
    std::sort(r.files.begin(), r.files.end(), [](const DumpFile& a, const DumpFile& b) {
      return std::tie(a.first_page, a.part, a.name) < std::tie(b.first_page, b.part, b.name);
    });
    out.run = std::move(r);
    return out;
  }
  out.why_not = statuses;
  return out;
}

std::map<std::string, std::string> parse_sha1sums(std::string_view text, const std::string& where) {
  std::map<std::string, std::string> sums;
  int64_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string line(text.substr(pos, nl - pos));
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    // sha1sum's format: 40 hex digits, a space, a space or "*" (binary mode), the file name.
    const std::string sha = line.size() > 41 ? lower(line.substr(0, 40)) : "";
    TT_CHECK(is_hex(sha, 40) && line[40] == ' ' && (line[41] == ' ' || line[41] == '*') && line.size() > 42)
        << where << ":" << line_no << ": expected \"<40 hex digits>  <file name>\", got " << text_start(line);
    sums[line.substr(42)] = sha;
  }
  return sums;
}

void apply_sha1sums(DumpRun& run, const std::map<std::string, std::string>& sums, const std::string& where) {
  for (auto& f : run.files) {
    auto it = sums.find(f.name);
    if (it == sums.end()) continue;
    TT_CHECK(f.sha1.empty() || f.sha1 == it->second)
        << f.name << ": dumpstatus.json gives sha1 " << f.sha1 << " but " << where << " gives " << it->second
        << hint("the mirror's index is inconsistent; try another --mirror");
    f.sha1 = it->second;
  }
}

std::string file_url(const std::string& mirror, const DumpRun& run, const DumpFile& f) {
  return net::join_url(mirror, run.wiki + "/" + run.run + "/" + f.name);
}

fs::path file_cache_path(const fs::path& cache_dir, const DumpRun& run, const DumpFile& f) {
  return index_dir(cache_dir, run.wiki, run.run) / f.name;
}

namespace {

// The run's index from the cache, if it was kept there (only finished runs are kept). A kept index that no
// longer parses (damaged on disk, edited by hand) is removed, with a warning, and counts as not kept: the
// caller fetches it again, as it refetches a damaged part.
std::optional<DumpRun> cached_run(const fs::path& cache, const std::string& wiki, const std::string& run) {
  const fs::path dir = index_dir(cache, wiki, run);
  std::error_code ec;
  if (!fs::exists(dir / "dumpstatus.json", ec)) return std::nullopt;
  // Read errors (permissions, I/O) are errors; only what does not parse is removed.
  const std::string status = read_file(dir / "dumpstatus.json");
  const std::optional<std::string> sums =
      fs::exists(dir / "sha1sums.txt", ec) ? std::optional(read_file(dir / "sha1sums.txt")) : std::nullopt;
  try {
    RunStatus st = parse_dump_status(status, wiki, run, (dir / "dumpstatus.json").string());
    if (!st.run) return std::nullopt;
    if (sums)
      apply_sha1sums(*st.run, parse_sha1sums(*sums, (dir / "sha1sums.txt").string()),
                     (dir / "sha1sums.txt").string());
    return st.run;
  } catch (const Error& e) {
    log_warn(message_without_hint(e), "; removing the cached index of ", wiki, " ", run,
             " (it is fetched again when needed)");
    fs::remove(dir / "dumpstatus.json", ec);
    fs::remove(dir / "sha1sums.txt", ec);
    return std::nullopt;
  }
}

// The newest run whose index is in the cache (for when the mirror cannot be reached).
std::optional<DumpRun> newest_cached_run(const fs::path& cache, const std::string& wiki) {
  std::error_code ec;
  std::vector<std::string> runs;
  for (auto& e : fs::directory_iterator(cache / "wikimedia" / wiki, ec))
    if (is_run_date(e.path().filename().string())) runs.push_back(e.path().filename().string());
  std::sort(runs.rbegin(), runs.rend());
  for (const auto& r : runs)
    if (auto run = cached_run(cache, wiki, r)) return run;
  return std::nullopt;
}

// dumpstatus.json and sha1sums.txt of one run from the mirror; nullopt (with `why_not`) when the run
// has no finished article job or no dumpstatus.json.
std::optional<DumpRun> fetch_run(const ResolveOptions& o, const std::string& wiki, const std::string& run,
                                 std::string* why_not) {
  const std::string url = status_url(o.mirror, wiki, run);
  std::string text;
  try {
    text = net::http_get(url, o.http);
  } catch (const net::HttpStatusError& e) {
    if (e.status() != 404 && e.status() != 403) throw;
    *why_not = "no dumpstatus.json (" + net::http_status_text(e.status()) + ")";
    return std::nullopt;
  }
  RunStatus st = parse_dump_status(text, wiki, run, net::without_credentials(url));
  if (!st.run) {
    *why_not = st.why_not;
    return std::nullopt;
  }
  const std::string sums_url = sha1sums_url(o.mirror, wiki, run);
  const std::string shown_sums_url = net::without_credentials(sums_url);
  std::string sums;
  try {
    sums = net::http_get(sums_url, o.http);
    apply_sha1sums(*st.run, parse_sha1sums(sums, shown_sums_url), shown_sums_url);
  } catch (const net::HttpStatusError& e) {
    log_warn(shown_sums_url, ": ", net::http_status_text(e.status()),
             "; using the checksums of dumpstatus.json only");
    sums.clear();
  }
  // A finished run never changes: keep its index, so later runs need not ask the mirror again.
  const fs::path dir = index_dir(o.cache_dir, wiki, run);
  std::error_code ec;
  fs::create_directories(dir, ec);
  TT_CHECK(!ec) << dir.string() << ": cannot create the cache directory: " << ec.message();
  write_file_atomic(dir / "dumpstatus.json", text);
  if (!sums.empty()) write_file_atomic(dir / "sha1sums.txt", sums);
  return st.run;
}

}  // namespace

DumpRun resolve_dump(const DumpName& name, const ResolveOptions& o) {
  std::optional<DumpRun> run;
  const std::string mirror = net::without_credentials(o.mirror);  // what messages name
  std::string from = "the mirror " + mirror;
  if (!name.run.empty()) {
    run = cached_run(o.cache_dir, name.wiki, name.run);
    if (run) {
      from = "the cached index in " + index_dir(o.cache_dir, name.wiki, name.run).string();
    } else {
      std::string why;
      run = fetch_run(o, name.wiki, name.run, &why);
      TT_CHECK(run) << name.wiki << ":" << name.run << ": the run on " << mirror
                    << " has no finished article dump (" << why << ")"
                    << hint("leave out the date to use the newest finished run");
    }
  } else {
    const std::string listing_url = net::join_url(o.mirror, name.wiki) + "/";
    std::vector<std::string> runs;
    net::HttpOptions listing_http = o.http;
    if (newest_cached_run(o.cache_dir, name.wiki)) listing_http.retries = std::min(listing_http.retries, 1);
    try {
      runs = parse_run_listing(net::http_get(listing_url, listing_http));
      TT_CHECK(!runs.empty()) << net::without_credentials(listing_url)
                              << ": the listing links no dated dump runs (YYYYMMDD/)"
                              << hint("check --mirror (" + mirror + ") and the wiki name " + name.wiki);
    } catch (const net::HttpStatusError&) {
      throw;
    } catch (const Error& e) {
      // The mirror cannot be reached: a run fetched before is still a complete, verified source.
      run = newest_cached_run(o.cache_dir, name.wiki);
      if (!run) throw;
      log_warn(message_without_hint(e), "; using the newest dump run in the cache instead: ", name.wiki, " ",
               run->run);
      from = "the cache (offline)";
    }
    std::string notes;
    for (size_t i = 0; !run && i < runs.size() && int(i) < o.max_runs_checked; ++i) {
      run = cached_run(o.cache_dir, name.wiki, runs[i]);
      if (run) {
        from = "the cached index in " + index_dir(o.cache_dir, name.wiki, runs[i]).string();
        break;
      }
      std::string why;
      run = fetch_run(o, name.wiki, runs[i], &why);
      if (!run) notes += (notes.empty() ? "" : "; ") + runs[i] + ": " + why;
    }
    TT_CHECK(run) << name.wiki << ": none of the newest "
                  << std::min<size_t>(runs.size(), size_t(o.max_runs_checked)) << " runs on " << mirror
                  << " has a finished article dump (" << notes << ")"
                  << hint("name an older run with --source " + name.wiki +
                          ":YYYYMMDD, or try another --mirror");
  }
  size_t unchecked = 0;
  for (const auto& f : run->files) unchecked += f.sha1.empty() && f.md5.empty();
  if (unchecked)
    log_warn(name.wiki, " ", run->run, ": ", unchecked, " of ", run->files.size(),
             " article files have no checksum in the index; only their sizes are checked");
  log_info(name.wiki, ": dump run ", run->run, " from ", from, " (", run->job, ", ", run->files.size(),
           " parts, ", Progress::format_amount(run->total_bytes(), Progress::Unit::Bytes),
           "); parts are downloaded in page order only as far as --max_bytes needs");
  return *run;
}

}  // namespace tt::data::wikimedia

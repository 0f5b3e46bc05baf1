#include "data/wikitext.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "common/text.h"
#include "data/html_entities.h"

namespace tt::data {

namespace {

constexpr size_t npos = std::string_view::npos;

inline bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
inline bool is_space(char c) {
  return is_ascii_space(c);
}

bool starts_with_ci(std::string_view s, size_t i, std::string_view what) {
  if (i > s.size() || s.size() - i < what.size()) return false;
  for (size_t k = 0; k < what.size(); ++k)
    if (ascii_lower(s[i + k]) != what[k]) return false;
  return true;
}

bool at_line_start(std::string_view s, size_t i) {
  size_t j = i;
  while (j > 0 && (s[j - 1] == ' ' || s[j - 1] == '\t')) --j;
  return j == 0 || s[j - 1] == '\n';
}

// Removes balanced open...close regions (two-character tokens) in O(n): one stack pass matches
// the pairs, a second pass copies everything outside matched regions. Unmatched opens either
// cut the rest of the text (`unclosed_to_end`, like MediaWiki's auto-closed tables) or are
// dropped as tokens; unmatched closes are dropped.
using Renderer = std::string (*)(std::string_view inner, bool* rendered);

// Matches balanced two-character open...close tokens with one stack pass: position of each matched
// open -> position of its close. Unmatched opens and closes are left out.
std::unordered_map<size_t, size_t> match_balanced_pairs(std::string_view s, const char* open,
                                                        const char* close, bool line_start_only) {
  const size_t n = s.size();
  auto is_tok = [&](size_t i, const char* t) {
    return i + 1 < n && s[i] == t[0] && s[i + 1] == t[1] && (!line_start_only || at_line_start(s, i));
  };
  std::unordered_map<size_t, size_t> match;
  std::vector<size_t> stack;
  for (size_t i = 0; i < n;) {
    if (is_tok(i, open)) {
      stack.push_back(i);
      i += 2;
    } else if (is_tok(i, close)) {
      if (!stack.empty()) {
        match[stack.back()] = i;
        stack.pop_back();
      }
      i += 2;
    } else {
      ++i;
    }
  }
  return match;
}

std::string remove_balanced(std::string_view s, const char* open, const char* close, bool line_start_only,
                            bool unclosed_to_end, Renderer render = nullptr) {
  const size_t n = s.size();
  auto is_tok = [&](size_t i, const char* t) {
    return i + 1 < n && s[i] == t[0] && s[i + 1] == t[1] && (!line_start_only || at_line_start(s, i));
  };
  // Fast path: no open token at all.
  if (s.find(open) == npos && s.find(close) == npos) return std::string(s);
  const std::unordered_map<size_t, size_t> match = match_balanced_pairs(s, open, close, line_start_only);
  std::string out;
  out.reserve(n);
  for (size_t i = 0; i < n;) {
    if (is_tok(i, open)) {
      auto it = match.find(i);
      if (it != match.end()) {
        if (render) {
          bool rendered = false;
          std::string text = render(s.substr(i + 2, it->second - i - 2), &rendered);
          if (rendered) out.append(text);
        }
        i = it->second + 2;
        continue;
      }
      if (unclosed_to_end) break;
      i += 2;
      continue;
    }
    if (is_tok(i, close)) {
      i += 2;
      continue;
    }
    out.push_back(s[i++]);
  }
  return out;
}

// --- tags -------------------------------------------------------------------------------------

enum class TagKind { Unknown, DropContent, KeepContent, Space };

TagKind tag_kind(const std::string& name) {
  static const std::unordered_map<std::string, TagKind> kinds = [] {
    std::unordered_map<std::string, TagKind> m;
    for (const char* t :
         {"ref",          "references", "gallery",      "timeline",        "imagemap",       "math",
          "chem",         "ce",         "score",        "syntaxhighlight", "source",         "graph",
          "mapframe",     "maplink",    "templatedata", "hiero",           "includeonly",    "inputbox",
          "categorytree", "charinsert", "section",      "indicator",       "templatestyles", "style",
          "script",       "table"})
      m[t] = TagKind::DropContent;
    for (const char* t :
         {"b",           "i",     "u",   "s",      "strike", "em",         "strong", "span",   "sub",
          "sup",         "small", "big", "center", "font",   "abbr",       "cite",   "code",   "del",
          "ins",         "dfn",   "kbd", "q",      "samp",   "tt",         "var",    "nowiki", "noinclude",
          "onlyinclude", "mark",  "bdi", "bdo",    "ruby",   "rb",         "rp",     "rt",     "rtc",
          "time",        "data",  "a",   "img",    "poem",   "blockquote", "pre"})
      m[t] = TagKind::KeepContent;
    for (const char* t :
         {"br", "hr", "wbr",     "p",     "div",   "li",    "ul", "ol", "dl", "dt", "dd", "tr",
          "td", "th", "caption", "thead", "tbody", "tfoot", "h1", "h2", "h3", "h4", "h5", "h6"})
      m[t] = TagKind::Space;
    return m;
  }();
  auto it = kinds.find(name);
  return it == kinds.end() ? TagKind::Unknown : it->second;
}

// Finds "</name" (case-insensitive) at or after `from`. Memoised per name so repeated searches
// for a close that does not exist (e.g. many unclosed <ref>) stay linear overall.
class CloseTagFinder {
 public:
  explicit CloseTagFinder(std::string_view s) : s_(s) {}
  size_t find(size_t from, const std::string& name) {
    auto it = memo_.find(name);
    if (it != memo_.end() && from >= it->second.from &&
        (it->second.found == npos || it->second.found >= from))
      return it->second.found;
    size_t found = npos;
    for (size_t i = s_.find("</", from); i != npos; i = s_.find("</", i + 2)) {
      if (starts_with_ci(s_, i + 2, name)) {
        size_t e = i + 2 + name.size();
        if (e >= s_.size() || !is_alpha(s_[e])) {
          found = i;
          break;
        }
      }
    }
    memo_[name] = {from, found};
    return found;
  }

 private:
  struct Entry {
    size_t from, found;
  };
  std::string_view s_;
  std::unordered_map<std::string, Entry> memo_;
};

bool is_url_start(std::string_view s, size_t i) {
  for (const char* scheme : {"http://", "https://", "ftp://", "ftps://", "//", "mailto:", "news:", "irc://",
                             "ircs://", "gopher://", "sftp://"})
    if (starts_with_ci(s, i, scheme)) return true;
  return false;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

std::string drop_apostrophe_runs(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '\'') {
      size_t j = i;
      while (j < s.size() && s[j] == '\'') ++j;
      if (j - i == 1) out.push_back('\'');
      i = j;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

std::string drop_magic_words(std::string_view s) {
  if (s.find("__") == npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '_' && i + 1 < s.size() && s[i + 1] == '_') {
      size_t j = i + 2;
      while (j < s.size() && s[j] >= 'A' && s[j] <= 'Z') ++j;
      if (j - i >= 4 && j + 1 < s.size() && s[j] == '_' && s[j + 1] == '_') {
        i = j + 2;
        continue;
      }
    }
    out.push_back(s[i++]);
  }
  return out;
}

bool is_heading_line(std::string_view line) {
  std::string_view t = trim_ascii_space(line);
  return t.size() >= 3 && t.front() == '=' && t.back() == '=';
}

// ---- templates that carry text ----------------------------------------------------------------

// Splits template content at top-level '|' (pipes inside [[links]] do not split).
std::vector<std::string_view> split_params(std::string_view inner) {
  std::vector<std::string_view> parts;
  int depth = 0;
  size_t b = 0;
  for (size_t i = 0; i < inner.size(); ++i) {
    if (i + 1 < inner.size() && inner[i] == '[' && inner[i + 1] == '[') {
      ++depth;
      ++i;
    } else if (i + 1 < inner.size() && inner[i] == ']' && inner[i + 1] == ']') {
      depth = std::max(0, depth - 1);
      ++i;
    } else if (inner[i] == '|' && depth == 0) {
      parts.push_back(inner.substr(b, i - b));
      b = i + 1;
    }
  }
  parts.push_back(inner.substr(b));
  return parts;
}

bool is_named_param(std::string_view p) {
  size_t eq = p.find('=');
  if (eq == std::string_view::npos || eq == 0) return false;
  for (char c : p.substr(0, eq))
    if (!(is_alpha(c) || is_digit(c) || c == ' ' || c == '_' || c == '-')) return false;
  return true;
}

std::string date_text(const std::vector<std::string_view>& p, bool day_first) {
  static const char* const kMonths[] = {"January",   "February", "March",    "April",
                                        "May",       "June",     "July",     "August",
                                        "September", "October",  "November", "December"};
  auto num = [](std::string_view v) {
    v = trim_ascii_space(v);
    if (v.empty() || v.size() > 4) return -1;
    int n = 0;
    for (char c : v) {
      if (!is_digit(c)) return -1;
      n = n * 10 + (c - '0');
    }
    return n;
  };
  int y = p.size() > 0 ? num(p[0]) : -1, m = p.size() > 1 ? num(p[1]) : -1, d = p.size() > 2 ? num(p[2]) : -1;
  if (y < 0) return "";
  if (m < 1 || m > 12) return std::to_string(y);
  if (d < 1 || d > 31) return std::string(kMonths[m - 1]) + " " + std::to_string(y);
  return day_first ? std::to_string(d) + " " + kMonths[m - 1] + " " + std::to_string(y)
                   : std::string(kMonths[m - 1]) + " " + std::to_string(d) + ", " + std::to_string(y);
}

// Text for the few common templates whose output is part of the sentence ({{convert|5|km}} ->
// "5 km", {{lang|fr|mot}} -> "mot", {{birth date|1950|1|2}} -> "January 2, 1950", ...). Everything
// else (infoboxes, citations, pronunciations, navboxes) renders as nothing. Templates with nested
// templates are not rendered.
std::string render_template(std::string_view inner, bool* rendered) {
  *rendered = false;
  if (inner.find("{{") != npos || inner.size() > 2000) return "";
  std::vector<std::string_view> parts = split_params(inner);
  std::string name = ascii_lower(trim_ascii_space(parts[0]));
  std::replace(name.begin(), name.end(), '_', ' ');
  std::vector<std::string_view> p;
  bool day_first = false;
  for (size_t i = 1; i < parts.size(); ++i) {
    if (is_named_param(parts[i])) {
      std::string key = ascii_lower(trim_ascii_space(parts[i].substr(0, parts[i].find('='))));
      if (key == "df")
        day_first = ascii_lower(trim_ascii_space(parts[i].substr(parts[i].find('=') + 1))) != "n";
      continue;
    }
    p.push_back(trim_ascii_space(parts[i]));
  }
  auto done = [&](std::string text) {
    *rendered = true;
    return text;
  };
  if (name == "convert" || name == "cvt") {
    if (p.size() >= 4 && (p[1] == "-" || p[1] == "–" || p[1] == "to" || p[1] == "and" || p[1] == "or" ||
                          p[1] == "x" || p[1] == "by" || p[1] == "×"))
      return done(std::string(p[0]) + (p[1] == "-" ? "–" : " " + std::string(p[1]) + " ") +
                  std::string(p[2]) + " " + std::string(p[3]));
    if (p.size() >= 2) return done(std::string(p[0]) + " " + std::string(p[1]));
    return "";
  }
  if (name == "lang" || name == "audio" || name == "transl" || name == "transliteration")
    return p.size() >= 2 ? done(std::string(p.back())) : "";
  if (name.rfind("lang-", 0) == 0 || name == "nowrap" || name == "nobr" || name == "small" || name == "big" ||
      name == "nihongo" || name == "sic" || name == "smallcaps" || name == "sc" || name == "em" ||
      name == "strong" || name == "nobold" || name == "noitalic" || name == "math" || name == "mvar" ||
      name == "abbr" || name == "keypress" || name == "not a typo" || name == "linktext")
    return p.empty() ? "" : done(std::string(p[0]));
  if (name == "frac" || name == "fraction") {
    if (p.size() == 2) return done(std::string(p[0]) + "/" + std::string(p[1]));
    if (p.size() == 3) return done(std::string(p[0]) + " " + std::string(p[1]) + "/" + std::string(p[2]));
    return "";
  }
  if (name == "ndash" || name == "snd" || name == "spaced ndash") return done(name == "ndash" ? "–" : " – ");
  if (name == "mdash") return done("—");
  if (name == "circa" || name == "c.") return p.empty() ? "" : done("c. " + std::string(p[0]));
  if (name == "as of") return p.empty() ? "" : done("As of " + date_text(p, day_first));
  if (name == "birth date" || name == "birth date and age" || name == "death date" ||
      name == "death date and age" || name == "start date" || name == "end date" || name == "dob" ||
      name == "bda" || name == "dda" || name == "start date and age" || name == "birth year and age" ||
      name == "death year and age") {
    std::string d = date_text(p, day_first);
    return d.empty() ? "" : done(d);
  }
  return "";
}

}  // namespace

std::string expand_templates(std::string_view s) {
  return remove_balanced(s, "{{", "}}", false, false, &render_template);
}

namespace {

std::string clean_inline_wikitext(std::string_view block) {
  std::string s = resolve_links(block);
  s = drop_apostrophe_runs(s);
  s = drop_magic_words(s);
  s = decode_html_entities(s);
  s = normalize_whitespace(s);
  return tidy_text(s);
}

}  // namespace

std::string remove_comments(std::string_view s) {
  if (s.find("<!--") == npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t b = s.find("<!--", i);
    if (b == npos) {
      out.append(s.substr(i));
      break;
    }
    out.append(s.substr(i, b - i));
    size_t e = s.find("-->", b + 4);
    if (e == npos) break;  // unclosed comment: MediaWiki hides the rest too
    i = e + 3;
  }
  return out;
}

std::string remove_templates(std::string_view s) {
  return remove_balanced(s, "{{", "}}", false, false);
}

std::string remove_tables(std::string_view s) {
  return remove_balanced(s, "{|", "|}", true, true);
}

std::string strip_tags(std::string_view s) {
  if (s.find('<') == npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  CloseTagFinder closes(s);
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    if (s[i] != '<') {
      out.push_back(s[i++]);
      continue;
    }
    size_t j = i + 1;
    bool closing = j < n && s[j] == '/';
    if (closing) ++j;
    size_t name_begin = j;
    if (j < n && is_alpha(s[j]))
      while (j < n && (is_alpha(s[j]) || is_digit(s[j]))) ++j;
    std::string name = ascii_lower(s.substr(name_begin, j - name_begin));
    TagKind kind = name.empty() ? TagKind::Unknown : tag_kind(name);
    if (kind == TagKind::Unknown || j >= n || !(s[j] == '>' || s[j] == '/' || is_space(s[j]))) {
      out.push_back(s[i++]);
      continue;
    }
    // Find the end of the tag, not crossing another '<' and within a sane distance.
    size_t gt = npos;
    for (size_t k = j; k < n && k < j + 4096; ++k) {
      if (s[k] == '>') {
        gt = k;
        break;
      }
      if (s[k] == '<') break;
    }
    if (gt == npos) {
      out.push_back(s[i++]);
      continue;
    }
    bool self_closing = s[gt - 1] == '/';
    size_t next = gt + 1;
    if (kind == TagKind::DropContent && !closing && !self_closing) {
      size_t c = closes.find(next, name);
      if (c != npos) {
        size_t cgt = s.find('>', c);
        next = cgt == npos ? n : cgt + 1;
      }
    }
    if (kind == TagKind::Space) out.push_back(' ');
    i = next;
  }
  return out;
}

std::string resolve_links(std::string_view s) {
  const size_t n = s.size();
  if (s.find('[') == npos && s.find("]]") == npos) return std::string(s);
  const std::unordered_map<size_t, size_t> match = match_balanced_pairs(s, "[[", "]]", false);
  std::string out;
  out.reserve(n);
  std::vector<size_t> pending;  // "]]" positions of links whose label is being copied
  size_t open_brackets = 0;     // single "[" copied to the output and not yet closed
  for (size_t i = 0; i < n;) {
    while (!pending.empty() && pending.back() < i) pending.pop_back();
    if (!pending.empty() && i == pending.back()) {
      pending.pop_back();
      i += 2;
      continue;
    }
    if (s[i] == '[' && i + 1 < n && s[i + 1] == '[') {
      auto it = match.find(i);
      if (it == match.end()) {
        // Unmatched "[[", e.g. enwik8's "[[Germany|German]- Jewish]": the link runs to the first "]"
        // (or the line / next bracket / enclosing link's end). Keep the label after the last "|" (or
        // the whole text when there is none), then drop the "]".
        // The scan stops at any bracket, so the regions of successive "[[" never overlap: O(n).
        const size_t limit = pending.empty() ? n : pending.back();
        size_t e = i + 2;
        while (e < limit && s[e] != ']' && s[e] != '[' && s[e] != '\n') ++e;
        size_t b = i + 2;
        const size_t pipe = s.substr(b, e - b).rfind('|');
        if (pipe != npos) b += pipe + 1;
        out.append(s.substr(b, e - b));
        i = e < limit && s[e] == ']' ? e + 1 : e;
        continue;
      }
      size_t c = it->second;
      std::string_view content = s.substr(i + 2, c - i - 2);
      size_t pipe = content.find('|');
      std::string_view target = trim_ascii_space(content.substr(0, pipe));
      bool leading_colon = !target.empty() && target[0] == ':';
      if (!leading_colon) {
        size_t colon = target.find(':');
        if (colon != npos) {
          std::string prefix = ascii_lower(trim_ascii_space(target.substr(0, colon)));
          bool drop = prefix == "file" || prefix == "image" || prefix == "category" || prefix == "media";
          if (!drop && pipe == npos && prefix.size() >= 2 && prefix.size() <= 12) {
            // Interlanguage link such as [[de:Albedo]] or [[zh-min-nan:...]]: not part of the text.
            bool lang = prefix.size() <= 3 || prefix.find('-') != npos;
            for (char ch : prefix) lang = lang && ((ch >= 'a' && ch <= 'z') || ch == '-');
            drop = lang;
          }
          if (drop) {
            i = c + 2;
            continue;
          }
        }
      }
      if (pipe != npos) {
        size_t label_begin = i + 2 + pipe + 1;
        if (trim_ascii_space(s.substr(label_begin, c - label_begin)).empty()) {  // pipe trick [[Foo (bar)|]]
          std::string_view t = leading_colon ? target.substr(1) : target;
          size_t paren = t.find(" (");
          out.append(trim_ascii_space(t.substr(0, paren)));
          i = c + 2;
          continue;
        }
        pending.push_back(c);
        i = label_begin;
        continue;
      }
      // [[target]]: copy the target text (nested content is processed by this same loop).
      size_t b = i + 2;
      while (b < c && is_space(s[b])) ++b;
      if (b < c && s[b] == ':') ++b;
      pending.push_back(c);
      i = b;
      continue;
    }
    if (s[i] == ']' && i + 1 < n && s[i + 1] == ']') {  // stray "]]"
      i += 2;
      continue;
    }
    if (s[i] == ']') {  // a "]" that closes no "[" (the tail of a broken link): dropped
      if (open_brackets == 0) {
        ++i;
        continue;
      }
      --open_brackets;
    }
    if (s[i] == '[' && is_url_start(s, i + 1)) {
      size_t limit = pending.empty() ? n : pending.back();
      size_t e = i + 1;
      while (e < limit && s[e] != ']' && s[e] != '\n' && s[e] != '[') ++e;
      if (e < limit && s[e] == ']') {
        std::string_view inner = s.substr(i + 1, e - i - 1);
        size_t sp = inner.find_first_of(" \t");
        if (sp != npos) out.append(trim_ascii_space(inner.substr(sp + 1)));
        i = e + 1;
        continue;
      }
    }
    if (s[i] == '[') ++open_brackets;
    out.push_back(s[i++]);
  }
  return out;
}

std::string decode_html_entities(std::string_view s) {
  if (s.find('&') == npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    if (s[i] != '&') {
      out.push_back(s[i++]);
      continue;
    }
    size_t j = i + 1;
    uint32_t cp = 0;
    bool ok = false;
    if (j < n && s[j] == '#') {
      ++j;
      bool hex = j < n && (s[j] == 'x' || s[j] == 'X');
      if (hex) ++j;
      size_t digits_begin = j;
      uint64_t v = 0;
      while (j < n && j - digits_begin < 8 &&
             (is_digit(s[j]) || (hex && ((s[j] >= 'a' && s[j] <= 'f') || (s[j] >= 'A' && s[j] <= 'F'))))) {
        int d = is_digit(s[j]) ? s[j] - '0' : (ascii_lower(s[j]) - 'a' + 10);
        v = v * (hex ? 16 : 10) + d;
        ++j;
      }
      if (j > digits_begin && j < n && s[j] == ';' && v > 0 && v <= 0x10FFFF &&
          !(v >= 0xD800 && v <= 0xDFFF)) {
        cp = uint32_t(v);
        ok = true;
      }
    } else {
      size_t name_begin = j;
      while (j < n && j - name_begin < 10 && (is_alpha(s[j]) || is_digit(s[j]))) ++j;
      if (j > name_begin && j < n && s[j] == ';') {
        std::string_view name = s.substr(name_begin, j - name_begin);
        auto it = std::lower_bound(std::begin(kNamedEntities), std::end(kNamedEntities), name,
                                   [](const NamedEntity& e, std::string_view k) { return e.name < k; });
        if (it != std::end(kNamedEntities) && it->name == name) {
          cp = it->codepoint;
          ok = true;
        }
      }
    }
    if (ok) {
      append_utf8(out, cp);
      i = j + 1;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

std::string normalize_whitespace(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (is_space(char(c))) {
      pending_space = true;
    } else if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0) {
      pending_space = true;  // U+00A0 no-break space
      ++i;
    } else if (c < 0x20 || c == 0x7F) {
      // control characters are dropped
    } else {
      if (pending_space && !out.empty()) out.push_back(' ');
      pending_space = false;
      out.push_back(char(c));
    }
  }
  return out;
}

std::string tidy_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto next_is_boundary = [&](size_t i) {  // after position i: end, space, or closing punctuation
    if (i + 1 >= s.size()) return true;
    char c = s[i + 1];
    return c == ' ' || c == ')' || c == ']' || c == '"' || c == '\'' || c == ',' || c == '.' || c == ';';
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ' ') {
      if (out.empty() || out.back() == ' ' || out.back() == '(') continue;
      out.push_back(c);
    } else if (c == ',' || c == ';') {
      if (next_is_boundary(i) && !out.empty() && out.back() == ' ') out.pop_back();
      if (!out.empty() && (out.back() == '(' || out.back() == c)) continue;  // "(, " "(; " ",,"
      out.push_back(c);
    } else if (c == '.' || c == ':' || c == '!' || c == '?') {
      if (next_is_boundary(i) && !out.empty() && out.back() == ' ') out.pop_back();
      if (c == '.' && !out.empty() && out.back() == ',') out.pop_back();  // ",." left by a removed item
      out.push_back(c);
    } else if (c == ')') {
      while (!out.empty() && (out.back() == ' ' || out.back() == ',' || out.back() == ';')) out.pop_back();
      if (!out.empty() && out.back() == '(') {  // empty "()" (a removed pronunciation, ...)
        out.pop_back();
        while (!out.empty() && out.back() == ' ') out.pop_back();
        if (i + 1 < s.size() && s[i + 1] != ' ' && s[i + 1] != ',' && s[i + 1] != '.' && s[i + 1] != ';' &&
            s[i + 1] != ':' && !out.empty())
          out.push_back(' ');
        continue;
      }
      out.push_back(c);
    } else {
      out.push_back(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string clean_wikitext(std::string_view text) {
  std::string s = remove_comments(text);
  s = expand_templates(s);
  s = remove_tables(s);
  s = strip_tags(s);
  return clean_inline_wikitext(s);
}

std::string clean_plain_text(std::string_view text) {
  std::string s = remove_comments(text);
  s = remove_templates(s);
  s = strip_tags(s);
  s = resolve_links(s);
  s = decode_html_entities(s);
  if (s.find('&') != npos) s = decode_html_entities(s);
  s = normalize_whitespace(s);
  return tidy_text(s);
}

std::string wikitext_lead_paragraph(std::string_view page) {
  std::string s = remove_comments(page);
  s = expand_templates(s);
  s = remove_tables(s);
  s = strip_tags(s);
  std::string_view v = s;
  std::string block;
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t nl = v.find('\n', pos);
    std::string_view line = v.substr(pos, nl == npos ? npos : nl - pos);
    pos = nl == npos ? v.size() + 1 : nl + 1;
    if (is_heading_line(line)) break;  // end of the lead section
    std::string_view t = trim_ascii_space(line);
    bool breaks =
        t.empty() || t[0] == '*' || t[0] == '#' || t[0] == ':' || t[0] == ';' || t[0] == '|' || t[0] == '!';
    if (breaks) {
      if (!block.empty()) {
        std::string p = clean_inline_wikitext(block);
        if (!p.empty()) return p;
        block.clear();
      }
      continue;
    }
    block.append(line);
    block.push_back('\n');
  }
  if (!block.empty()) return clean_inline_wikitext(block);
  return "";
}

bool is_redirect_text(std::string_view text) {
  size_t i = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  while (i < text.size() && is_space(text[i])) ++i;
  return starts_with_ci(text, i, "#redirect");
}

bool has_disambiguation_template(std::string_view page) {
  for (size_t i = page.find("{{"); i != npos; i = page.find("{{", i + 2)) {
    size_t j = i + 2;
    while (j < page.size() && is_space(page[j])) ++j;
    size_t b = j;
    while (j < page.size() && j - b < 80 && page[j] != '|' && page[j] != '}' && page[j] != '\n' &&
           page[j] != '{')
      ++j;
    std::string name = ascii_lower(trim_ascii_space(page.substr(b, j - b)));
    std::replace(name.begin(), name.end(), '_', ' ');
    if (name.rfind("template:", 0) == 0)
      name = std::string(trim_ascii_space(std::string_view(name).substr(9)));
    if (name == "disambiguation" || name == "disambig" || name == "disamb" || name == "dab" ||
        name == "hndis" || name == "geodis" || name == "numberdis" || name == "mathdab" ||
        name == "roaddis" || name == "hospitaldis" || name == "schooldis" ||
        name == "letter-number combination disambiguation")
      return true;
    if (name.rfind("disambig", 0) == 0) return true;  // disambiguation cleanup, disambig-cleanup, ...
    const std::string_view suffix = " disambiguation";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return true;  // "place name disambiguation", "species latin name disambiguation", ...
  }
  return false;
}

bool looks_like_disambiguation_intro(std::string_view paragraph) {
  std::string t = ascii_lower(trim_ascii_space(paragraph));
  if (t.size() > 600) return false;  // a long prose paragraph is an article, whatever its end
  for (std::string_view end : {"refer to:", "refer to", "refers to:", "stand for:", "may mean:", "can mean:"})
    if (t.size() >= end.size() && t.compare(t.size() - end.size(), end.size(), end) == 0) return true;
  return false;
}

bool title_has_namespace_prefix(std::string_view title) {
  size_t colon = title.find(':');
  if (colon == npos) return false;
  std::string p = ascii_lower(trim_ascii_space(title.substr(0, colon)));
  std::replace(p.begin(), p.end(), '_', ' ');
  static const char* const kNamespaces[] = {"talk",
                                            "user",
                                            "wikipedia",
                                            "wp",
                                            "project",
                                            "file",
                                            "image",
                                            "mediawiki",
                                            "template",
                                            "help",
                                            "category",
                                            "portal",
                                            "draft",
                                            "module",
                                            "timedtext",
                                            "book",
                                            "special",
                                            "media",
                                            "gadget",
                                            "gadget definition",
                                            "education program",
                                            "topic"};
  for (const char* ns : kNamespaces)
    if (p == ns) return true;
  const std::string_view talk = " talk";
  return p.size() > talk.size() && p.compare(p.size() - talk.size(), talk.size(), talk) == 0;
}

}  // namespace tt::data

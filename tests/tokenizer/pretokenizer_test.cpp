// Differential test of the hand-written Qwen pre-tokenizer scanner against Oniguruma 6.9.8 running
// the exact Split regex from tokenizer.json (the engine HF `tokenizers` uses), on crafted and
// random strings that stress every alternative, including characters where other engines differ
// (U+0085, U+FEFF, U+017F long s, scripts added in Unicode 15).
#include "tokenizer/pretokenizer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "onig_oracle.h"
#include "tokenizer/unicode.h"

namespace tt {
namespace {

std::vector<std::string> ours(const std::string& s) {
  std::vector<std::string> out;
  qwen_split(s, [&](std::string_view p) { out.emplace_back(p); });
  return out;
}

std::string escape(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      o.push_back(static_cast<char>(c));
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02X", c);
      o += b;
    }
  }
  return o;
}

std::string join(const std::vector<std::string>& v) {
  std::string o;
  for (const auto& p : v) o += "[" + escape(p) + "]";
  return o;
}

TEST(PreTokenizer, CraftedMatchesOniguruma) {
  test::OnigOracle onig;
  const char* cases[] = {"",
                         "Hello world",
                         "  a",
                         "a  ",
                         "a  b",
                         "\t\tx",
                         "a\r\nb",
                         "\r\r\n\n",
                         " \n \n x",
                         "a\n\n  b",
                         "don't DON'T I'LL 'S 's 'Re 'vE 'lL 'D 'M 'T",
                         "'\xC5\xBF",
                         "'\xC5\xBFx",
                         "x\xC2\x85y",
                         "\xC2\x85\xC2\x85x",
                         "a\xEF\xBB\xBF b",
                         "\xEF\xBB\xBF\xEF\xBB\xBFx",
                         "a\xC2\xA0\xC2\xA0x",
                         "\xE3\x80\x80x",
                         "12.5%",
                         "!!!\n\n",
                         " ?!\r\n",
                         "a.b",
                         "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
                         "\xE4\xB8\xAD\xE6\x96\x87",
                         "\xF0\x91\xBC\x84\xF0\x91\xBC\x85",  // Kawi letters (Unicode 15)
                         "\xF0\xB1\x8D\x90x",
                         "x\xCC\x81y",
                         "  \n",
                         "   ",
                         "\n",
                         "\r",
                         "'",
                         "''s",
                         " 's",
                         "\xE2\x80\xA8x"};
  for (const char* c : cases) EXPECT_EQ(join(ours(c)), join(onig.split(c))) << escape(c);
}

TEST(PreTokenizer, RandomMatchesOniguruma) {
  test::OnigOracle onig;
  std::mt19937_64 rng(12345);
  // Weighted pools: ASCII classes, all Unicode spaces, CR/LF, apostrophes + contraction letters,
  // marks, letters/numbers of many scripts, and any code point at all.
  const std::vector<uint32_t> special = {
      ' ',    ' ',    ' ',    '\t', '\n', '\r',  '\'', '\'',   's',    'S',    'l',    'L',    'e',    'E',
      'r',    'v',    'm',    'd',  't',  0x17F, 0x85, 0xA0,   0x1680, 0x2000, 0x200A, 0x2028, 0x2029, 0x202F,
      0x205F, 0x3000, 0xFEFF, 0x0B, 0x0C, 0x1C,  0x1F, 0x200B, 0x180E, 0x301,  0x200D, '!',    '.'};
  auto random_cp = [&]() -> uint32_t {
    switch (rng() % 6) {
      case 0:
      case 1:
        return special[rng() % special.size()];
      case 2:
        return 0x20 + static_cast<uint32_t>(rng() % 0x5F);
      case 3:
        return 0xA0 + static_cast<uint32_t>(rng() % 0x3000);
      default: {
        uint32_t cp;
        do cp = static_cast<uint32_t>(rng() % 0x110000);
        while (cp >= 0xD800 && cp < 0xE000);
        return cp;
      }
    }
  };
  int checked = 0;
  for (int iter = 0; iter < 100000; ++iter) {
    std::string s;
    size_t len = 1 + rng() % 24;
    for (size_t i = 0; i < len; ++i) unicode::append_utf8(s, random_cp());
    auto a = join(ours(s)), b = join(onig.split(s));
    if (a != b) {
      ADD_FAILURE() << "input " << escape(s) << "\n ours " << a << "\n onig " << b;
      if (++checked > 10) break;
    }
  }
}

TEST(PreTokenizer, PiecesTileTheInput) {
  std::string s = "Hello,  world!\r\n\r\n  It's 2024 \xE2\x80\x94 \xE4\xB8\xAD\xE6\x96\x87 ok   ";
  std::string joined;
  size_t n = 0;
  qwen_split(s, [&](std::string_view p) {
    EXPECT_FALSE(p.empty());
    joined += p;
    ++n;
  });
  EXPECT_EQ(joined, s);
  EXPECT_GT(n, 10u);
}

}  // namespace
}  // namespace tt

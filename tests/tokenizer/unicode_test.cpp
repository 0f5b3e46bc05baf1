// The NFC quick-check table (unicode.h) must be sound: a text whose code points are all marked
// safe must already be NFC, otherwise encode would skip a needed normalization. Checked against
// utf8proc for every code point alone and for many random pairs and triples of safe code points.
// Also checks the U+FFFD replacement rule on crafted byte sequences.
#include "tokenizer/unicode.h"

#include <gtest/gtest.h>
#include <utf8proc.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace tt {
namespace {

std::string utf8proc_nfc(const std::string& s) {
  utf8proc_uint8_t* out = nullptr;
  auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                        static_cast<utf8proc_ssize_t>(s.size()), &out,
                        static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  EXPECT_GE(n, 0);
  std::string r(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return r;
}

std::string enc(uint32_t cp) {
  std::string s;
  unicode::append_utf8(s, cp);
  return s;
}

TEST(Unicode, NfcQuickCheckIsSound) {
  const uint8_t* table = unicode::class_table();
  std::vector<uint32_t> safe;
  size_t unsafe = 0;
  for (uint32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp < 0xE000) continue;
    if (table[cp] & unicode::kNfcUnsafe) {
      ++unsafe;
      continue;
    }
    safe.push_back(cp);
    if (cp >= 0x80 &&
        utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->decomp_seqindex != UINT16_MAX) {
      std::string s = enc(cp);
      EXPECT_EQ(utf8proc_nfc(s), s) << std::hex << cp;
    }
  }
  EXPECT_GT(unsafe, 1000u);  // combining marks etc.
  EXPECT_TRUE(table[0x301] & unicode::kNfcUnsafe);
  EXPECT_TRUE(table[0x212B] & unicode::kNfcUnsafe);  // ANGSTROM SIGN -> U+00C5
  EXPECT_TRUE(table[0x1161] & unicode::kNfcUnsafe);  // Hangul V jamo
  EXPECT_FALSE(table[0xE9] & unicode::kNfcUnsafe);   // precomposed e-acute is NFC
  // Pairs/triples of safe code points, biased to the ones with decompositions (the risky ones).
  std::vector<uint32_t> decomposable;
  for (uint32_t cp : safe)
    if (cp >= 0x80 && utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->decomp_seqindex != UINT16_MAX)
      decomposable.push_back(cp);
  std::mt19937 rng(3);
  for (int i = 0; i < 300000; ++i) {
    std::string s;
    for (int k = 0; k < 2 + i % 2; ++k) {
      const auto& pool = rng() % 2 ? decomposable : safe;
      s += enc(pool[rng() % pool.size()]);
    }
    std::string out;
    ASSERT_FALSE(unicode::nfc_if_needed(s, out));
    ASSERT_EQ(utf8proc_nfc(s), s);
  }
}

TEST(Unicode, ReplacementFollowsMaximalSubpartRule) {
  struct Case {
    std::string in;
    uint64_t replaced;
    std::string out;
  };
  const std::string r = "\xEF\xBF\xBD";
  std::vector<Case> cases = {
      {"", 0, ""},
      {"plain", 0, "plain"},
      {"\xC3\xA9", 0, "\xC3\xA9"},
      {"\xC3", 1, r},
      {"\xE0\x80\x80", 3, r + r + r},  // overlong 3-byte: E0 must be followed by A0..BF
      {"\xE0\xA0", 1, r},              // truncated but a valid prefix: one replacement
      {"\xF0\x90\x80", 1, r},
      {"\xF0\x90\x80x", 1, r + "x"},
      {"\xF8\x88\x80\x80\x80", 5, r + r + r + r + r},
      {"\xEF\xBF\xBD", 0, r},
      {std::string("a\0b", 3), 0, std::string("a\0b", 3)},
  };
  for (const auto& c : cases) {
    std::string out;
    EXPECT_EQ(unicode::sanitize_utf8(c.in, out), c.replaced) << c.out;
    EXPECT_EQ(out, c.out);
    EXPECT_EQ(unicode::is_valid_utf8(c.in), c.replaced == 0);
  }
}

}  // namespace
}  // namespace tt

#include "tokenizer/unicode.h"

#include <oniguruma.h>
#include <utf8proc.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

#include "common/check.h"

namespace tt::unicode {

namespace {

int onig_ctype(OnigEncoding enc, const char* name) {
  const auto* p = reinterpret_cast<const UChar*>(name);
  int ctype =
      ONIGENC_PROPERTY_NAME_TO_CTYPE(enc, const_cast<UChar*>(p), const_cast<UChar*>(p + std::strlen(name)));
  TT_ASSERT(ctype >= 0) << "Oniguruma does not know property " << name;
  return ctype;
}

std::string utf8proc_nfc(std::string_view text) {
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                    static_cast<utf8proc_ssize_t>(text.size()), &out,
                                    static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  TT_ASSERT(n >= 0) << "utf8proc_map failed: " << utf8proc_errmsg(n);
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

std::unique_ptr<uint8_t[]> build_table() {
  auto table = std::make_unique<uint8_t[]>(0x110000);
  std::memset(table.get(), 0, 0x110000);
  OnigEncoding enc = ONIG_ENCODING_UTF8;
  onig_initialize(&enc, 1);
  const int letter = onig_ctype(enc, "L");
  const int number = onig_ctype(enc, "N");
  for (uint32_t cp = 0; cp < 0x110000; ++cp) {
    uint8_t c = 0;
    if (ONIGENC_IS_CODE_CTYPE(enc, cp, letter)) c |= kLetter;
    if (ONIGENC_IS_CODE_CTYPE(enc, cp, number)) c |= kNumber;
    if (ONIGENC_IS_CODE_CTYPE(enc, cp, ONIGENC_CTYPE_SPACE)) c |= kSpace;
    table[cp] = c;
  }
  // NFC quick check (see header). ASCII is always safe.
  for (uint32_t cp = 0x80; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp < 0xE000) continue;
    const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
    if (p->combining_class != 0) table[cp] |= kNfcUnsafe;
    if (p->decomp_seqindex == UINT16_MAX || p->decomp_type != 0) continue;  // no canonical decomp
    if (cp >= 0xAC00 && cp <= 0xD7A3) continue;                             // Hangul syllables: NFC_QC=Yes
    utf8proc_int32_t buf[32];
    int boundclass = 0;
    utf8proc_ssize_t n =
        utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), buf, 32, UTF8PROC_DECOMPOSE, &boundclass);
    for (utf8proc_ssize_t i = 1; i < n && i < 32; ++i) table[buf[i]] |= kNfcUnsafe;
    std::string one;
    append_utf8(one, cp);
    if (utf8proc_nfc(one) != one) table[cp] |= kNfcUnsafe;  // NFC_QC=No
  }
  for (uint32_t cp = 0x1161; cp <= 0x1175; ++cp) table[cp] |= kNfcUnsafe;  // Hangul V
  for (uint32_t cp = 0x11A8; cp <= 0x11C2; ++cp) table[cp] |= kNfcUnsafe;  // Hangul T
  return table;
}

}  // namespace

const uint8_t* class_table() {
  static std::once_flag once;
  static std::unique_ptr<uint8_t[]> table;
  std::call_once(once, [] { table = build_table(); });
  return table.get();
}

int utf8_sequence_length(const unsigned char* s, size_t n, int* bad_len) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  int need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    *bad_len = 1;
    return 0;
  }
  for (int i = 1; i < need; ++i) {
    if (static_cast<size_t>(i) >= n) {
      *bad_len = i;
      return 0;
    }
    unsigned char b = s[i];
    bool ok = i == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) {
      *bad_len = i;
      return 0;
    }
  }
  return need;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_valid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size(), i = 0;
  while (i < n) {
    // 8 ASCII bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    int bad = 0;
    int len = utf8_sequence_length(s + i, n - i, &bad);
    if (len == 0) return false;
    i += static_cast<size_t>(len);
  }
  return true;
}

uint64_t sanitize_utf8(std::string_view text, std::string& out) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size(), i = 0;
  uint64_t replaced = 0;
  out.clear();
  out.reserve(n + 16);
  while (i < n) {
    int bad = 0;
    int len = utf8_sequence_length(s + i, n - i, &bad);
    if (len > 0) {
      out.append(text.data() + i, static_cast<size_t>(len));
      i += static_cast<size_t>(len);
    } else {
      out.append("\xEF\xBF\xBD");
      ++replaced;
      i += static_cast<size_t>(bad);
    }
  }
  return replaced;
}

bool nfc_if_needed(std::string_view text, std::string& out) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size(), i = 0;
  const uint8_t* table = nullptr;
  while (i < n) {
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    if (!table) table = class_table();
    int len = 0;
    uint32_t cp = decode_valid(s + i, &len);
    if (table[cp] & kNfcUnsafe) {
      out = utf8proc_nfc(text);
      return true;
    }
    i += static_cast<size_t>(len);
  }
  return false;
}

}  // namespace tt::unicode

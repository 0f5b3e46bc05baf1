#include "tokenizer/added_tokens.h"

#include <algorithm>
#include <cstring>

namespace tt {

int32_t AddedTokenMatcher::child(int32_t node, unsigned char b) const {
  for (const auto& [byte, next] : nodes_[static_cast<size_t>(node)].children)
    if (byte == b) return next;
  return -1;
}

void AddedTokenMatcher::add(std::string_view content, int32_t id) {
  if (content.empty()) return;
  auto first = static_cast<unsigned char>(content[0]);
  if (!first_byte_[first]) {
    first_byte_[first] = true;
    ++distinct_first_bytes_;
    only_first_byte_ = first;
  }
  int32_t node = 0;
  for (char ch : content) {
    auto b = static_cast<unsigned char>(ch);
    int32_t next = child(node, b);
    if (next < 0) {
      next = static_cast<int32_t>(nodes_.size());
      nodes_.push_back(Node{});
      auto& kids = nodes_[static_cast<size_t>(node)].children;
      kids.emplace_back(b, next);
      std::sort(kids.begin(), kids.end());
    }
    node = next;
  }
  if (nodes_[static_cast<size_t>(node)].id < 0) nodes_[static_cast<size_t>(node)].id = id;
}

AddedTokenMatcher::Match AddedTokenMatcher::find(std::string_view text, size_t from) const {
  Match m;
  if (empty()) return m;
  const char* s = text.data();
  const size_t n = text.size();
  size_t i = from;
  while (i < n) {
    if (distinct_first_bytes_ == 1) {
      const void* p = std::memchr(s + i, only_first_byte_, n - i);
      if (!p) return m;
      i = static_cast<size_t>(static_cast<const char*>(p) - s);
    } else {
      while (i < n && !first_byte_[static_cast<unsigned char>(s[i])]) ++i;
      if (i >= n) return m;
    }
    int32_t node = 0;
    size_t best_len = 0;
    int32_t best_id = -1;
    for (size_t j = i; j < n; ++j) {
      node = child(node, static_cast<unsigned char>(s[j]));
      if (node < 0) break;
      if (nodes_[static_cast<size_t>(node)].id >= 0) {
        best_len = j - i + 1;
        best_id = nodes_[static_cast<size_t>(node)].id;
      }
    }
    if (best_id >= 0) {
      m.start = i;
      m.length = best_len;
      m.id = best_id;
      return m;
    }
    ++i;
  }
  return m;
}

}  // namespace tt

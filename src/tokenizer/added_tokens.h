// Added-token matcher: finds added tokens (<|endoftext|>, <think>, ...) in raw text with HF's
// rule, leftmost-longest (HF builds an Aho-Corasick automaton with MatchKind::LeftmostLongest).
// A byte trie is enough here: at the first position where some token matches, take the longest.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tt {

class AddedTokenMatcher {
 public:
  void add(std::string_view content, int32_t id);

  struct Match {
    size_t start = std::string_view::npos;  // npos: no match
    size_t length = 0;
    int32_t id = -1;
  };
  // First match at or after byte offset `from`.
  Match find(std::string_view text, size_t from) const;
  bool empty() const { return nodes_.size() <= 1; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
    int32_t id = -1;                                          // token ending here
  };
  int32_t child(int32_t node, unsigned char b) const;
  std::vector<Node> nodes_{Node{}};
  bool first_byte_[256] = {};
  int distinct_first_bytes_ = 0;
  unsigned char only_first_byte_ = 0;
};

}  // namespace tt

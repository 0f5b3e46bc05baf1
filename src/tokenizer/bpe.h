// Byte-level BPE merge engine (the "model" part of a GPT-2/Qwen tokenizer.json).
//
// A piece (bytes) starts as one symbol per byte (byte -> id of its byte-level character). Then,
// as in HF `tokenizers` (BPE::merge_word), the adjacent pair with the lowest merge rank is merged
// repeatedly; ties go to the leftmost pair. Pieces up to kSmallPiece bytes use a simple O(n^2)
// scan (fastest for words); longer ones use a min-heap of candidate pairs over a doubly linked
// list of symbols, O(n log n), so a 10,000-character run costs milliseconds, not seconds.
// Both give identical results (the heap pops (rank, position) minima, the scan finds them).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace tt {

class BpeModel {
 public:
  static constexpr size_t kSmallPiece = 48;

  // byte_ids[b] = id of the byte-level character for byte b.
  void set_byte_ids(const int32_t (&byte_ids)[256]);
  // Merge (left, right) -> merged, with the given rank (lower merges first). A repeated pair
  // replaces the earlier entry, as in HF (its merge map is a HashMap built in file order).
  void add_merge(int32_t left, int32_t right, int32_t merged, int32_t rank);

  // Appends the ids for one piece to `out`.
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;

 private:
  struct Slot {
    uint64_t key;  // (left << 32) | right, kEmpty when unused
    int32_t rank;
    int32_t merged;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  // Returns the slot for (left, right) or nullptr.
  const Slot* find(int32_t left, int32_t right) const {
    uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
    size_t i = hash(key) & mask_;
    while (true) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s;
      if (s.key == kEmpty) return nullptr;
      i = (i + 1) & mask_;
    }
  }
  static size_t hash(uint64_t key) {
    key ^= key >> 31;
    key *= 0x7fb5d329728ea185ull;
    key ^= key >> 27;
    key *= 0x81dadef4bc2dd44dull;
    key ^= key >> 33;
    return static_cast<size_t>(key);
  }
  void grow();
  void encode_small(std::string_view piece, std::vector<int32_t>& out) const;
  void encode_large(std::string_view piece, std::vector<int32_t>& out) const;

  int32_t byte_ids_[256] = {};
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t count_ = 0;
};

}  // namespace tt

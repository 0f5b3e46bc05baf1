#include "tokenizer/bpe.h"

#include <queue>

#include "common/check.h"

namespace tt {

void BpeModel::set_byte_ids(const int32_t (&byte_ids)[256]) {
  for (int i = 0; i < 256; ++i) byte_ids_[i] = byte_ids[i];
}

void BpeModel::grow() {
  std::vector<Slot> old = std::move(slots_);
  size_t cap = old.empty() ? 1024 : old.size() * 2;
  slots_.assign(cap, Slot{kEmpty, 0, 0});
  mask_ = cap - 1;
  for (const Slot& s : old) {
    if (s.key == kEmpty) continue;
    size_t i = hash(s.key) & mask_;
    while (slots_[i].key != kEmpty) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

void BpeModel::add_merge(int32_t left, int32_t right, int32_t merged, int32_t rank) {
  if ((count_ + 1) * 2 > slots_.size()) grow();
  uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  size_t i = hash(key) & mask_;
  while (slots_[i].key != kEmpty) {
    if (slots_[i].key == key) {  // duplicate merge: HF collects into a HashMap, so the last wins
      slots_[i].rank = rank;
      slots_[i].merged = merged;
      return;
    }
    i = (i + 1) & mask_;
  }
  slots_[i] = Slot{key, rank, merged};
  ++count_;
}

void BpeModel::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() == 1) {
    out.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
  } else if (piece.size() <= kSmallPiece) {
    encode_small(piece, out);
  } else {
    encode_large(piece, out);
  }
}

void BpeModel::encode_small(std::string_view piece, std::vector<int32_t>& out) const {
  int32_t sym[kSmallPiece];
  int32_t rank[kSmallPiece];  // rank[i] of pair (sym[i], sym[i+1]); INT32_MAX if none
  int32_t merged[kSmallPiece];
  size_t n = piece.size();
  for (size_t i = 0; i < n; ++i) sym[i] = byte_ids_[static_cast<unsigned char>(piece[i])];
  auto score = [&](size_t i) {
    const Slot* s = find(sym[i], sym[i + 1]);
    rank[i] = s ? s->rank : INT32_MAX;
    merged[i] = s ? s->merged : -1;
  };
  for (size_t i = 0; i + 1 < n; ++i) score(i);
  while (n > 1) {
    size_t best = 0;
    int32_t best_rank = INT32_MAX;
    for (size_t i = 0; i + 1 < n; ++i) {
      if (rank[i] < best_rank) {
        best_rank = rank[i];
        best = i;
      }
    }
    if (best_rank == INT32_MAX) break;
    sym[best] = merged[best];
    for (size_t i = best + 1; i + 1 < n; ++i) {
      sym[i] = sym[i + 1];
      rank[i] = rank[i + 1];
      merged[i] = merged[i + 1];
    }
    --n;
    if (best > 0) score(best - 1);
    if (best + 1 < n) score(best);
  }
  out.insert(out.end(), sym, sym + n);
}

void BpeModel::encode_large(std::string_view piece, std::vector<int32_t>& out) const {
  const size_t n = piece.size();
  std::vector<int32_t> sym(n), prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (size_t i = 0; i < n; ++i) {
    sym[i] = byte_ids_[static_cast<unsigned char>(piece[i])];
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  struct Cand {
    int32_t rank;
    int32_t pos;     // index of the left symbol (its first byte: stable under merges)
    int32_t merged;  // expected result, to detect stale entries
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int32_t i) {
    if (i < 0 || next[i] < 0) return;
    if (const Slot* s = find(sym[i], sym[next[i]])) heap.push({s->rank, i, s->merged});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    if (!alive[c.pos] || next[c.pos] < 0) continue;
    int32_t r = next[c.pos];
    const Slot* s = find(sym[c.pos], sym[r]);
    if (!s || s->merged != c.merged) continue;  // stale
    sym[c.pos] = c.merged;
    alive[r] = false;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = next[i]) out.push_back(sym[i]);
}

}  // namespace tt

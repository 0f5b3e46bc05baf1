// The order in which training rows are visited: a fresh seeded permutation of all rows per epoch
// (Fisher-Yates driven by mt19937_64 seeded with mix_seed(seed, epoch)), consumed sequentially.
// A batch that runs past the end of an epoch continues with the next epoch's permutation.
// The whole state is (seed, epoch, position), so it is saved in checkpoints and restored exactly
// on --resume; the permutation itself is recomputed from (seed, epoch).
#pragma once

#include <cstdint>
#include <vector>

namespace tt {

class DataOrder {
 public:
  DataOrder(int64_t rows, uint64_t seed);

  // The next n row indices (advances the position; may cross epochs).
  std::vector<int64_t> next(int64_t n);

  int64_t rows() const { return rows_; }
  uint64_t seed() const { return seed_; }
  int64_t epoch() const { return epoch_; }
  int64_t position() const { return position_; }  // rows of the current epoch already used
  void restore(int64_t epoch, int64_t position);

  static std::vector<int64_t> permutation(int64_t rows, uint64_t seed, int64_t epoch);

 private:
  int64_t rows_;
  uint64_t seed_;
  int64_t epoch_ = 0, position_ = 0;
  std::vector<int64_t> perm_;
};

}  // namespace tt

#include "train/data_order.h"

#include <numeric>
#include <random>

#include "common/check.h"
#include "train/rng.h"

namespace tt {

std::vector<int64_t> DataOrder::permutation(int64_t rows, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> p(static_cast<size_t>(rows));
  std::iota(p.begin(), p.end(), int64_t{0});
  std::mt19937_64 rng(mix_seed(seed, static_cast<uint64_t>(epoch)));
  for (int64_t i = rows - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(i + 1)));
    std::swap(p[i], p[j]);
  }
  return p;
}

DataOrder::DataOrder(int64_t rows, uint64_t seed) : rows_(rows), seed_(seed) {
  TT_CHECK(rows > 0) << "the training split has no rows" << hint("prepare more data or a smaller --seq_len");
  perm_ = permutation(rows_, seed_, epoch_);
}

void DataOrder::restore(int64_t epoch, int64_t position) {
  TT_CHECK(epoch >= 0 && position >= 0 && position <= rows_)
      << "data order state (epoch " << epoch << ", position " << position << ") does not fit a split of "
      << rows_ << " rows" << hint("the checkpoint was made with a different data directory");
  epoch_ = epoch;
  position_ = position;
  perm_ = permutation(rows_, seed_, epoch_);
}

std::vector<int64_t> DataOrder::next(int64_t n) {
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(n));
  while (static_cast<int64_t>(out.size()) < n) {
    if (position_ == rows_) {
      ++epoch_;
      position_ = 0;
      perm_ = permutation(rows_, seed_, epoch_);
    }
    out.push_back(perm_[static_cast<size_t>(position_++)]);
  }
  return out;
}

}  // namespace tt

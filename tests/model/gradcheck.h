// Test helpers: central finite differences in double and a closeness check for gradients.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace tt::test {

inline std::vector<double> random_vec(size_t n, uint64_t seed, double lo = -1, double hi = 1) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// d f / d x[i] by central differences, for the indices in `which` (all when empty).
inline std::vector<double> numeric_grad(std::vector<double>& x, const std::function<double()>& f,
                                        double h = 1e-6, const std::vector<size_t>& which = {}) {
  std::vector<double> g(x.size(), 0.0);
  auto one = [&](size_t i) {
    const double keep = x[i];
    x[i] = keep + h;
    const double fp = f();
    x[i] = keep - h;
    const double fm = f();
    x[i] = keep;
    g[i] = (fp - fm) / (2 * h);
  };
  if (which.empty())
    for (size_t i = 0; i < x.size(); ++i) one(i);
  else
    for (size_t i : which) one(i);
  return g;
}

// Relative error of the whole vector (L2) <= tol, and every element within tol relative (plus a
// tiny absolute floor for elements that are ~0 in both).
inline void expect_grad_close(const std::vector<double>& analytic, const std::vector<double>& numeric,
                              const std::string& what, double tol = 1e-6,
                              const std::vector<size_t>& which = {}) {
  ASSERT_EQ(analytic.size(), numeric.size()) << what;
  std::vector<size_t> idx = which;
  if (idx.empty())
    for (size_t i = 0; i < analytic.size(); ++i) idx.push_back(i);
  double diff2 = 0, norm2 = 0;
  int bad = 0;
  for (size_t i : idx) {
    const double a = analytic[i], n = numeric[i];
    diff2 += (a - n) * (a - n);
    norm2 += std::max(a * a, n * n);
    if (std::abs(a - n) > tol * std::max(std::abs(a), std::abs(n)) + 1e-9 && bad++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: analytic " << a << " vs numeric " << n;
  }
  EXPECT_GT(norm2, 0) << what << ": gradient is identically zero, the check would be vacuous";
  EXPECT_LE(std::sqrt(diff2 / std::max(norm2, 1e-300)), tol) << what;
}

}  // namespace tt::test

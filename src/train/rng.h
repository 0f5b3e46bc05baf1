// Small, portable random helpers. std::mt19937_64 is fully specified by the standard (same
// sequence everywhere); the std:: distributions are not, so bounded integers and uniform doubles
// are derived here by hand to keep data order and sampling reproducible across compilers.
#pragma once

#include <cstdint>
#include <random>

namespace tt {

// SplitMix64 finaliser: a well-mixed 64-bit value from (a, b), used to derive independent seeds
// (e.g. one per epoch or per sampling step) from the run seed.
uint64_t mix_seed(uint64_t a, uint64_t b);

// Uniform integer in [0, n) by rejection (no modulo bias). n > 0.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t n);

// Uniform double in [0, 1) with 53 random bits.
double uniform_01(std::mt19937_64& rng);

}  // namespace tt

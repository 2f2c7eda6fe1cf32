// A small seeded generator, so that one seed gives one model and one shuffle
// on every platform and compiler (std::uniform_real_distribution does not
// promise that). SplitMix64: a few lines, fast, and statistically sound.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cpp_grad {

class Random {
 public:
  explicit Random(std::uint64_t seed = 0) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [lo, hi), from the top 53 bits.
  double uniform(double lo, double hi) {
    return lo + (hi - lo) * (double(next() >> 11) * (1.0 / 9007199254740992.0));
  }

  // Uniform in [0, n): Lemire's multiply-shift, no modulo bias worth noting.
  std::size_t below(std::size_t n) {
    return std::size_t((static_cast<unsigned __int128>(next()) * n) >> 64);
  }

 private:
  std::uint64_t state_;
};

}  // namespace cpp_grad

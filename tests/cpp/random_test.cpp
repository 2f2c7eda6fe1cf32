// Tests for include/cpp_grad/random.hpp: the seeded generator.
#include "cpp_grad/random.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

using cpp_grad::Random;

// SplitMix64's published outputs for seed 0: one seed gives the same stream
// on every platform and compiler.
TEST(Random, MatchesSplitMix64ReferenceStream) {
  Random rng(0);
  EXPECT_EQ(rng.next(), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(rng.next(), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(rng.next(), 0x06C45D188009454Full);
}

TEST(Random, SameSeedSameStreamOtherSeedOtherStream) {
  Random a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    const std::uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    EXPECT_NE(x, c.next());
  }
}

TEST(Random, UniformStaysInItsHalfOpenRangeAndCoversIt) {
  Random rng(7);
  double lowest = 1, highest = -1, sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform(-1, 1);
    ASSERT_GE(u, -1);
    ASSERT_LT(u, 1);
    lowest = std::min(lowest, u);
    highest = std::max(highest, u);
    sum += u;
  }
  EXPECT_LT(lowest, -0.999);
  EXPECT_GT(highest, 0.999);
  EXPECT_NEAR(sum / n, 0, 0.01);  // mean 0, standard error ~0.002
}

TEST(Random, BelowIsInRangeAndHitsEveryValue) {
  Random rng(11);
  std::vector<int> counts(10, 0);
  for (int i = 0; i < 10000; ++i) {
    const std::size_t k = rng.below(10);
    ASSERT_LT(k, 10u);
    ++counts[k];
  }
  for (std::size_t k = 0; k < counts.size(); ++k) EXPECT_GT(counts[k], 800) << k;  // ~1000 each
  EXPECT_EQ(rng.below(1), 0u);
}

}  // namespace

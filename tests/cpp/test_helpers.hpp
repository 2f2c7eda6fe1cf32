// What the C++ tests share: the precisions a typed test runs in, closeness
// relative to a magnitude, and a finite-difference gradient check.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <vector>

#include "cpp_grad/value.hpp"

namespace cpp_grad_test {

// The precisions every typed test runs in.
using FloatTypes = ::testing::Types<float, double>;

// |actual - expected| within rel * max(1, |expected|): relative for large
// values, absolute near zero.
inline ::testing::AssertionResult Close(double actual, double expected, double rel = 1e-6) {
  const double tolerance = rel * std::max(1.0, std::abs(expected));
  if (std::abs(actual - expected) <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << actual << " vs expected " << expected << " (tolerance " << tolerance << ")";
}

// (f(x + h) - f(x - h)) / 2h.
inline double central_difference(const std::function<double(double)>& f, double x, double h) {
  return (f(x + h) - f(x - h)) / (2 * h);
}

// A step that stays relative to |x| for large x.
inline double relative_step(double x) { return 1e-6 * std::max(1.0, std::abs(x)); }

using Graph = std::function<cpp_grad::Value<double>(const std::vector<cpp_grad::Value<double>>&)>;

// The gradient check: builds f at x, runs backward(), and compares each
// input's grad to the central difference of f's value in that input, within
// Close(rel). The step is `h`, or relative_step(x_j) if h is 0.
inline void expect_gradient_matches_fd(const Graph& f, const std::vector<double>& x,
                                       double h = 0, double rel = 1e-6) {
  using V = cpp_grad::Value<double>;
  std::vector<V> inputs(x.begin(), x.end());
  V out = f(inputs);
  out.backward();
  for (std::size_t j = 0; j < x.size(); ++j) {
    const auto f_of_xj = [&](double t) {
      std::vector<double> moved = x;
      moved[j] = t;
      return f(std::vector<V>(moved.begin(), moved.end())).data();
    };
    const double fd = central_difference(f_of_xj, x[j], h != 0 ? h : relative_step(x[j]));
    EXPECT_TRUE(Close(inputs[j].grad(), fd, rel)) << "d/dx_" << j;
  }
}

}  // namespace cpp_grad_test

// Tests for include/cpp_grad/loss.hpp: each loss against its formula and its
// gradient against central finite differences.
#include "cpp_grad/loss.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "cpp_grad/value.hpp"
#include "test_helpers.hpp"

namespace {

using cpp_grad::Value;
using LossFn = std::function<Value<double>(const std::vector<Value<double>>&)>;

std::vector<Value<double>> values_of(const std::vector<double>& xs) {
  return std::vector<Value<double>>(xs.begin(), xs.end());
}

// log(sum e^z) - z_label, in long double with the max subtracted.
double cross_entropy_reference(const std::vector<double>& z, std::size_t label) {
  const long double max = *std::max_element(z.begin(), z.end());
  long double total = 0;
  for (double v : z) total += std::exp(static_cast<long double>(v) - max);
  return double(max + std::log(total) - z[label]);
}

// Checks the gradient of `loss` w.r.t. each z_j against central differences.
void expect_gradient_matches_fd(const LossFn& loss, const std::vector<double>& z) {
  cpp_grad_test::expect_gradient_matches_fd(loss, z, /*h=*/1e-6);
}

// Several outputs: one logit per class. (One output is the binary case, below.)
const std::vector<std::vector<double>> kLogits = {
    {0.0, 0.0, 0.0}, {1.0, 2.0, 3.0}, {-0.5, 4.25, 0.75, -2.0}, {10.0, -3.0}};

// One output: labels 0 and 1 stand for the targets y = -1 and +1.
const std::vector<double> kScores = {-40.0, -3.7, -0.5, 0.0, 0.25, 2.0, 40.0};
double binary_target(std::size_t label) { return label == 1 ? 1.0 : -1.0; }

TEST(CrossEntropy, MatchesLogSumExpMinusTarget) {
  for (const std::vector<double>& z : kLogits) {
    for (std::size_t label = 0; label < z.size(); ++label) {
      Value<double> loss = cpp_grad::cross_entropy(values_of(z), label);
      EXPECT_NEAR(loss.data(), cross_entropy_reference(z, label), 1e-14 * (1 + loss.data()));
      EXPECT_STREQ(loss.op(), "cross_entropy");
    }
  }
  EXPECT_NEAR(cpp_grad::cross_entropy(values_of({0, 0, 0}), 1).data(), std::log(3.0), 1e-15);
}

// One logit: the logistic loss log(1 + e^(-y z)), the two-class cross-entropy
// of the logits (0, z).
TEST(CrossEntropy, BinaryOnOneLogitIsLogisticLoss) {
  for (double z : kScores) {
    for (std::size_t label : {0, 1}) {
      SCOPED_TRACE("z = " + std::to_string(z) + ", label " + std::to_string(label));
      const double y = binary_target(label);
      std::vector<Value<double>> zs = values_of({z});
      Value<double> loss = cpp_grad::cross_entropy(zs, label);
      loss.backward();
      EXPECT_NEAR(loss.data(), cross_entropy_reference({0.0, z}, label), 1e-14 * (1 + loss.data()));
      EXPECT_NEAR(zs[0].grad(), -y / (1 + std::exp(y * z)), 1e-15);
      expect_gradient_matches_fd(
          [label](const std::vector<Value<double>>& v) {
            return cpp_grad::cross_entropy(v, label);
          },
          {z});
    }
  }
  // No overflow at huge scores: log(1 + e^1000) is 1000, not inf.
  std::vector<Value<double>> wrong = values_of({1000.0});
  Value<double> loss = cpp_grad::cross_entropy(wrong, 0);
  loss.backward();
  EXPECT_DOUBLE_EQ(loss.data(), 1000.0);
  EXPECT_DOUBLE_EQ(wrong[0].grad(), 1.0);
  std::vector<Value<double>> right = values_of({1000.0});
  Value<double> none = cpp_grad::cross_entropy(right, 1);
  none.backward();
  EXPECT_EQ(none.data(), 0.0);
  EXPECT_EQ(right[0].grad(), 0.0);
  std::vector<Value<float>> f = {-1000.0f};
  Value<float> floss = cpp_grad::cross_entropy(f, 1);
  floss.backward();
  EXPECT_FLOAT_EQ(floss.data(), 1000.0f);
  EXPECT_FLOAT_EQ(f[0].grad(), -1.0f);
}

TEST(CrossEntropy, GradientIsSoftmaxMinusOneHot) {
  for (const std::vector<double>& z : kLogits) {
    for (std::size_t label = 0; label < z.size(); ++label) {
      SCOPED_TRACE("label " + std::to_string(label));
      expect_gradient_matches_fd(
          [label](const std::vector<Value<double>>& zs) {
            return cpp_grad::cross_entropy(zs, label);
          },
          z);
    }
  }
  std::vector<Value<double>> zs = values_of({1.0, 2.0, 3.0});
  Value<double> loss = cpp_grad::cross_entropy(zs, 2);
  loss.backward();
  const double total = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(zs[0].grad(), std::exp(1.0) / total, 1e-15);
  EXPECT_NEAR(zs[1].grad(), std::exp(2.0) / total, 1e-15);
  EXPECT_NEAR(zs[2].grad(), std::exp(3.0) / total - 1, 1e-15);
}

// e^1000 overflows; log-sum-exp must not.
TEST(CrossEntropy, StableForHugeLogits) {
  {
    std::vector<Value<double>> zs = values_of({1000.0, -1000.0, 0.0});
    Value<double> right = cpp_grad::cross_entropy(zs, 0);
    right.backward();
    EXPECT_EQ(right.data(), 0.0);
    EXPECT_EQ(zs[0].grad(), 0.0);
    EXPECT_EQ(zs[1].grad(), 0.0);
    EXPECT_EQ(zs[2].grad(), 0.0);
  }
  {
    std::vector<Value<double>> zs = values_of({1000.0, -1000.0, 0.0});
    Value<double> wrong = cpp_grad::cross_entropy(zs, 1);
    wrong.backward();
    EXPECT_DOUBLE_EQ(wrong.data(), 2000.0);
    EXPECT_DOUBLE_EQ(zs[0].grad(), 1.0);
    EXPECT_DOUBLE_EQ(zs[1].grad(), -1.0);
    EXPECT_EQ(zs[2].grad(), 0.0);
  }
  for (float big : {1000.0f, -1000.0f, 88.0f, 1e30f}) {
    std::vector<Value<float>> zs = {big, big, 0.0f};
    Value<float> loss = cpp_grad::cross_entropy(zs, 2);
    loss.backward();
    EXPECT_TRUE(std::isfinite(loss.data())) << big;
    for (const Value<float>& z : zs) EXPECT_TRUE(std::isfinite(z.grad())) << big;
  }
  std::vector<Value<float>> equal = {1000.0f, 1000.0f};
  // log 2, to within the float spacing at 1000 (max + log(total) rounds there).
  EXPECT_NEAR(cpp_grad::cross_entropy(equal, 0).data(), std::log(2.0f), 1e-4f);
}

TEST(Mse, MatchesFormulaAgainstOneHot) {
  for (const std::vector<double>& z : kLogits) {
    for (std::size_t label = 0; label < z.size(); ++label) {
      double expected = 0;
      for (std::size_t j = 0; j < z.size(); ++j) {
        const double d = z[j] - (j == label ? 1.0 : 0.0);
        expected += d * d;
      }
      expected /= double(z.size());
      Value<double> loss = cpp_grad::mse(values_of(z), label);
      EXPECT_NEAR(loss.data(), expected, 1e-14 * (1 + expected));
      EXPECT_STREQ(loss.op(), "mse");
      SCOPED_TRACE("label " + std::to_string(label));
      expect_gradient_matches_fd(
          [label](const std::vector<Value<double>>& zs) { return cpp_grad::mse(zs, label); }, z);
    }
  }
  std::vector<Value<double>> zs = values_of({0.5, 2.0});
  Value<double> loss = cpp_grad::mse(zs, std::size_t(1));
  loss.backward();
  EXPECT_EQ(loss.data(), (0.25 + 1.0) / 2);
  EXPECT_EQ(zs[0].grad(), 0.5);  // 2 (z - t) / n
  EXPECT_EQ(zs[1].grad(), 1.0);
}

// One output: (z - y)^2 with y = -1 or +1.
TEST(Mse, BinaryOnOneOutput) {
  for (double z : kScores) {
    for (std::size_t label : {0, 1}) {
      SCOPED_TRACE("z = " + std::to_string(z) + ", label " + std::to_string(label));
      const double d = z - binary_target(label);
      std::vector<Value<double>> zs = values_of({z});
      Value<double> loss = cpp_grad::mse(zs, label);
      loss.backward();
      EXPECT_DOUBLE_EQ(loss.data(), d * d);
      EXPECT_DOUBLE_EQ(zs[0].grad(), 2 * d);
    }
  }
}

TEST(Mse, AgainstTargetVector) {
  const std::vector<double> targets = {0.5, -1.0, 2.0};
  const std::vector<double> z = {1.0, 1.0, 1.0};
  Value<double> loss = cpp_grad::mse(values_of(z), targets);
  EXPECT_DOUBLE_EQ(loss.data(), (0.25 + 4.0 + 1.0) / 3);
  expect_gradient_matches_fd(
      [&](const std::vector<Value<double>>& zs) { return cpp_grad::mse(zs, targets); }, z);
  EXPECT_THROW(cpp_grad::mse(values_of({1.0, 2.0}), targets), std::invalid_argument);
  EXPECT_THROW(cpp_grad::mse(values_of({}), std::vector<double>{}), std::invalid_argument);
}

// One output, labels 0/1 standing for y = -1/+1: max(0, 1 - y z).
TEST(Hinge, BinaryWithOneOutput) {
  struct Case {
    double z;
    std::size_t label;
    double loss, grad;
  };
  for (const Case& c : {Case{0.3, 1, 0.7, -1}, Case{0.3, 0, 1.3, 1}, Case{2.0, 1, 0.0, 0},
                        Case{-2.0, 0, 0.0, 0}, Case{-0.5, 1, 1.5, -1}, Case{1.5, 0, 2.5, 1}}) {
    SCOPED_TRACE("z = " + std::to_string(c.z) + ", label " + std::to_string(c.label));
    std::vector<Value<double>> zs = values_of({c.z});
    Value<double> loss = cpp_grad::hinge(zs, c.label);
    loss.backward();
    EXPECT_DOUBLE_EQ(loss.data(), c.loss);
    EXPECT_EQ(zs[0].grad(), c.grad);
    expect_gradient_matches_fd(
        [&](const std::vector<Value<double>>& v) { return cpp_grad::hinge(v, c.label); }, {c.z});
  }
}

// Several outputs: sum_{j != y} max(0, 1 + z_j - z_y).
TEST(Hinge, Multiclass) {
  const std::vector<std::vector<double>> cases = {
      {0.1, 0.2, 0.3}, {3.0, -1.0, 0.5}, {-0.5, 4.25, 0.75, -2.0}, {10.0, -3.0}};
  for (const std::vector<double>& z : cases) {
    for (std::size_t label = 0; label < z.size(); ++label) {
      double expected = 0;
      for (std::size_t j = 0; j < z.size(); ++j)
        if (j != label) expected += std::max(0.0, 1 + z[j] - z[label]);
      SCOPED_TRACE("label " + std::to_string(label));
      EXPECT_NEAR(cpp_grad::hinge(values_of(z), label).data(), expected, 1e-14);
      expect_gradient_matches_fd(
          [label](const std::vector<Value<double>>& zs) { return cpp_grad::hinge(zs, label); }, z);
    }
  }
  std::vector<Value<double>> zs = values_of({0.1, 0.2, 0.3});
  Value<double> loss = cpp_grad::hinge(zs, 0);  // both margins violated
  loss.backward();
  EXPECT_DOUBLE_EQ(loss.data(), 1.1 + 1.2);
  EXPECT_EQ(zs[0].grad(), -2.0);
  EXPECT_EQ(zs[1].grad(), 1.0);
  EXPECT_EQ(zs[2].grad(), 1.0);
}

TEST(Losses, OutOfRangeLabelsThrow) {
  const std::vector<Value<double>> three = values_of({0.1, 0.2, 0.3});
  EXPECT_THROW(cpp_grad::cross_entropy(three, 3), std::invalid_argument);
  EXPECT_THROW(cpp_grad::cross_entropy(three, 100), std::invalid_argument);
  EXPECT_THROW(cpp_grad::cross_entropy(values_of({}), 0), std::invalid_argument);
  EXPECT_THROW(cpp_grad::mse(three, std::size_t(3)), std::invalid_argument);
  EXPECT_THROW(cpp_grad::cross_entropy(values_of({0.5}), 2), std::invalid_argument);
  EXPECT_THROW(cpp_grad::mse(values_of({0.5}), std::size_t(2)), std::invalid_argument);
  EXPECT_THROW(cpp_grad::mse(values_of({}), std::size_t(0)), std::invalid_argument);
  EXPECT_THROW(cpp_grad::hinge(three, 3), std::invalid_argument);
  EXPECT_THROW(cpp_grad::hinge(values_of({0.5}), 2), std::invalid_argument);
  EXPECT_THROW(cpp_grad::hinge(values_of({}), 0), std::invalid_argument);
  EXPECT_NO_THROW(cpp_grad::hinge(values_of({0.5}), 1));
  try {
    cpp_grad::cross_entropy(three, 7);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {  // the message carries the numbers
    EXPECT_NE(std::string(e.what()).find('7'), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find('3'), std::string::npos) << e.what();
  }
}

TEST(Losses, NamesAndDispatch) {
  using cpp_grad::Loss;
  EXPECT_EQ(cpp_grad::loss_from_name("cross_entropy"), Loss::cross_entropy);
  EXPECT_EQ(cpp_grad::loss_from_name("mse"), Loss::mse);
  EXPECT_EQ(cpp_grad::loss_from_name("hinge"), Loss::hinge);
  EXPECT_THROW(cpp_grad::loss_from_name("nll"), std::invalid_argument);
  const std::vector<Value<double>> z = values_of({0.5, -1.0, 2.0});
  EXPECT_EQ(cpp_grad::loss(Loss::cross_entropy, z, 1).data(), cpp_grad::cross_entropy(z, 1).data());
  EXPECT_EQ(cpp_grad::loss(Loss::mse, z, 1).data(), cpp_grad::mse(z, std::size_t(1)).data());
  EXPECT_EQ(cpp_grad::loss(Loss::hinge, z, 1).data(), cpp_grad::hinge(z, 1).data());
}

// Float losses agree with double ones.
template <typename T>
class LossTypedTest : public ::testing::Test {};
using cpp_grad_test::FloatTypes;
TYPED_TEST_SUITE(LossTypedTest, FloatTypes);

TYPED_TEST(LossTypedTest, AllLossesInBothPrecisions) {
  using T = TypeParam;
  const double tol = std::is_same<T, float>::value ? 1e-6 : 1e-14;
  const std::vector<double> z = {-0.5, 1.25, 0.75, -2.0};
  for (cpp_grad::Loss kind :
       {cpp_grad::Loss::cross_entropy, cpp_grad::Loss::mse, cpp_grad::Loss::hinge}) {
    std::vector<Value<T>> zt;
    for (double v : z) zt.emplace_back(T(v));
    std::vector<Value<double>> zd = values_of(z);
    Value<T> lt = cpp_grad::loss(kind, zt, 2);
    Value<double> ld = cpp_grad::loss(kind, zd, 2);
    lt.backward();
    ld.backward();
    EXPECT_NEAR(double(lt.data()), ld.data(), tol * (1 + std::abs(ld.data())));
    for (std::size_t j = 0; j < z.size(); ++j) EXPECT_NEAR(double(zt[j].grad()), zd[j].grad(), tol);
  }
}

}  // namespace

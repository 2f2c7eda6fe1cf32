// Tests for include/cpp_grad/optim.hpp: SGD, momentum and Adam steps worked
// out by hand, the factory, and argument checks.
#include "cpp_grad/optim.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "cpp_grad/ops.hpp"
#include "cpp_grad/value.hpp"
#include "test_helpers.hpp"

namespace {

using cpp_grad::Adam;
using cpp_grad::SGD;
using cpp_grad::Value;

template <typename T>
class OptimTest : public ::testing::Test {
 protected:
  static double tol() { return std::is_same<T, float>::value ? 1e-6 : 1e-15; }
  // Two parameters with set data and grads.
  std::vector<Value<T>> params(T d0, T g0, T d1, T g1) {
    Value<T> p0(d0), p1(d1);
    p0.set_grad(g0);
    p1.set_grad(g1);
    return {p0, p1};
  }
};
using cpp_grad_test::FloatTypes;
TYPED_TEST_SUITE(OptimTest, FloatTypes);

TYPED_TEST(OptimTest, SgdStep) {
  using T = TypeParam;
  std::vector<Value<T>> p = this->params(T(1), T(0.5), T(-2), T(-4));
  SGD<T> sgd(p, T(0.1));
  EXPECT_EQ(sgd.learning_rate(), T(0.1));
  EXPECT_STREQ(sgd.name(), "sgd");
  sgd.step();
  EXPECT_NEAR(double(p[0].data()), 1 - 0.1 * 0.5, this->tol());
  EXPECT_NEAR(double(p[1].data()), -2 + 0.1 * 4, this->tol());
  EXPECT_EQ(p[0].grad(), T(0.5));  // step leaves the grads alone
}

// v = momentum v + g; p -= lr v (PyTorch's form).
TYPED_TEST(OptimTest, SgdMomentumTwoSteps) {
  using T = TypeParam;
  std::vector<Value<T>> p = this->params(T(1), T(0.5), T(-2), T(-4));
  SGD<T> sgd(p, T(0.1), T(0.9));
  sgd.step();  // v = g
  EXPECT_NEAR(double(p[0].data()), 1 - 0.1 * 0.5, this->tol());
  EXPECT_NEAR(double(p[1].data()), -2 + 0.1 * 4, this->tol());
  p[0].set_grad(T(0.25));
  p[1].set_grad(T(1));
  sgd.step();  // v = 0.9 v + g
  EXPECT_NEAR(double(p[0].data()), 1 - 0.1 * 0.5 - 0.1 * (0.9 * 0.5 + 0.25), this->tol());
  EXPECT_NEAR(double(p[1].data()), -2 + 0.1 * 4 - 0.1 * (0.9 * -4 + 1), this->tol());
}

// Adam, step 1: m = (1 - b1) g, v = (1 - b2) g^2, m^ = g, v^ = g^2, so each
// parameter moves by lr * g / (|g| + eps), about lr * sign(g).
TYPED_TEST(OptimTest, AdamOneStep) {
  using T = TypeParam;
  std::vector<Value<T>> p = this->params(T(1), T(0.5), T(-2), T(-4));
  Adam<T> adam(p, T(0.01));
  EXPECT_STREQ(adam.name(), "adam");
  adam.step();
  EXPECT_NEAR(double(p[0].data()), 1 - 0.01 * 0.5 / (0.5 + 1e-8), this->tol());
  EXPECT_NEAR(double(p[1].data()), -2 + 0.01 * 4 / (4 + 1e-8), this->tol());
}

TYPED_TEST(OptimTest, AdamTwoSteps) {
  using T = TypeParam;
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  std::vector<Value<T>> p = this->params(T(1), T(0.5), T(-2), T(-4));
  Adam<T> adam(p, T(lr), T(b1), T(b2), T(eps));
  const double g1[2] = {0.5, -4}, g2[2] = {-1, 2};
  double expected[2] = {1, -2};
  double m[2] = {0, 0}, v[2] = {0, 0};
  for (int t = 1; t <= 2; ++t) {
    const double* g = t == 1 ? g1 : g2;
    for (int i = 0; i < 2; ++i) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const double m_hat = m[i] / (1 - std::pow(b1, t));
      const double v_hat = v[i] / (1 - std::pow(b2, t));
      expected[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
    if (t == 2) {
      p[0].set_grad(T(g2[0]));
      p[1].set_grad(T(g2[1]));
    }
    adam.step();
    for (int i = 0; i < 2; ++i)
      EXPECT_NEAR(double(p[i].data()), expected[i], 10 * this->tol()) << "step " << t << " p" << i;
  }
  // Step 2 by hand for p0: m = 0.9*0.05 - 0.1 = -0.055, m^ = -0.055/0.19;
  // v = 0.999*0.00025 + 0.001 = 0.00124975, v^ = 0.00124975/0.001999.
  const double p0 =
      1 - lr * 0.5 / (0.5 + eps) - lr * (-0.055 / 0.19) / (std::sqrt(0.00124975 / 0.001999) + eps);
  EXPECT_NEAR(double(p[0].data()), p0, 10 * this->tol());
}

// A real objective: (x - 3)^2 goes down with either optimizer.
TYPED_TEST(OptimTest, MinimisesAQuadratic) {
  using T = TypeParam;
  for (const char* name : {"sgd", "adam"}) {
    Value<T> x(T(0));
    auto opt = cpp_grad::make_optimizer<T>(name, {x}, T(0.1));
    for (int i = 0; i < 300; ++i) {
      Value<T> loss = cpp_grad::pow(x - T(3), 2);
      opt->zero_grad();
      loss.backward();
      opt->step();
    }
    EXPECT_NEAR(double(x.data()), 3.0, 1e-2) << name;
  }
}

TYPED_TEST(OptimTest, MakeOptimizerNamesAndDefaults) {
  using T = TypeParam;
  std::vector<Value<T>> p = {Value<T>(T(1))};
  // Without a learning rate (or with lr = 0) the factory uses each class's default.
  auto sgd = cpp_grad::make_optimizer<T>("sgd", p);
  EXPECT_STREQ(sgd->name(), "sgd");
  EXPECT_EQ(sgd->learning_rate(), SGD<T>(p).learning_rate());
  auto adam = cpp_grad::make_optimizer<T>("adam", p);
  EXPECT_STREQ(adam->name(), "adam");
  EXPECT_EQ(adam->learning_rate(), Adam<T>(p).learning_rate());
  EXPECT_EQ(cpp_grad::make_optimizer<T>("adam", p, T(0.05))->learning_rate(), T(0.05));
  EXPECT_EQ(cpp_grad::make_optimizer<T>("sgd", p, T(0.05))->learning_rate(), T(0.05));
  EXPECT_EQ(cpp_grad::make_optimizer<T>("sgd", p, T(0))->learning_rate(),
            SGD<T>(p).learning_rate());
  // A negative or NaN learning rate is a mistake, not a request for the default.
  EXPECT_THROW(cpp_grad::make_optimizer<T>("sgd", p, T(-1)), std::invalid_argument);
  EXPECT_THROW(cpp_grad::make_optimizer<T>("adam", p, std::numeric_limits<T>::quiet_NaN()),
               std::invalid_argument);
  // A learning rate that rounds to 0 or overflows in T is refused, not taken
  // as the default or as infinity.
  for (const char* name : {"sgd", "adam"}) {
    for (double lr : {1e-50, 1e39}) {
      if (sizeof(T) == sizeof(float)) {
        EXPECT_THROW(cpp_grad::make_optimizer<T>(name, p, lr), std::invalid_argument) << lr;
      } else {
        EXPECT_EQ(cpp_grad::make_optimizer<T>(name, p, lr)->learning_rate(), T(lr));
      }
    }
    EXPECT_THROW(cpp_grad::make_optimizer<T>(name, p, std::numeric_limits<double>::infinity()), std::invalid_argument);
    EXPECT_GT(cpp_grad::make_optimizer<T>(name, p, 1e-44)->learning_rate(), T(0));
  }
  EXPECT_NE(dynamic_cast<SGD<T>*>(sgd.get()), nullptr);
  EXPECT_NE(dynamic_cast<Adam<T>*>(adam.get()), nullptr);
  EXPECT_THROW(cpp_grad::make_optimizer<T>("rmsprop", p), std::invalid_argument);
  EXPECT_THROW(cpp_grad::make_optimizer<T>("SGD", p), std::invalid_argument);
  EXPECT_THROW(cpp_grad::make_optimizer<T>("", p), std::invalid_argument);
  // momentum reaches SGD through the factory
  Value<T> x(T(0));
  x.set_grad(T(1));
  auto momentum = cpp_grad::make_optimizer<T>("sgd", {x}, T(1), T(0.5));
  momentum->step();
  momentum->step();
  EXPECT_EQ(x.data(), T(-1 - 1.5));
}

TYPED_TEST(OptimTest, BadLearningRateThrows) {
  using T = TypeParam;
  std::vector<Value<T>> p = {Value<T>(T(1))};
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const T inf = std::numeric_limits<T>::infinity();
  for (T lr : {T(0), T(-0.1), nan, inf}) {
    SCOPED_TRACE(double(lr));
    EXPECT_THROW(SGD<T>(p, lr), std::invalid_argument);
    EXPECT_THROW(Adam<T>(p, lr), std::invalid_argument);
  }
  EXPECT_EQ(SGD<T>(p, T(0.5)).learning_rate(), T(0.5));
  EXPECT_THROW(SGD<T>(p, T(0.1), T(1)), std::invalid_argument);  // momentum in [0, 1)
  EXPECT_THROW(SGD<T>(p, T(0.1), T(-0.5)), std::invalid_argument);
  EXPECT_THROW(Adam<T>(p, T(0.1), T(1)), std::invalid_argument);  // beta1 in [0, 1)
  EXPECT_THROW(Adam<T>(p, T(0.1), T(0.9), T(1.5)), std::invalid_argument);
}

TYPED_TEST(OptimTest, ZeroGrad) {
  using T = TypeParam;
  std::vector<Value<T>> p = this->params(T(1), T(0.5), T(-2), T(-4));
  Value<T> other(T(3));
  other.set_grad(T(7));
  Adam<T> adam(p);
  adam.zero_grad();
  EXPECT_EQ(p[0].grad(), T(0));
  EXPECT_EQ(p[1].grad(), T(0));
  EXPECT_EQ(other.grad(), T(7));  // only its own parameters
  EXPECT_EQ(p[0].data(), T(1));
}

// The optimizer holds its parameters: they outlive the caller's handles.
TYPED_TEST(OptimTest, KeepsParametersAlive) {
  using T = TypeParam;
  std::unique_ptr<SGD<T>> sgd;
  {
    std::vector<Value<T>> p = this->params(T(1), T(2), T(3), T(4));
    sgd = std::make_unique<SGD<T>>(p, T(0.5));
  }
  sgd->step();  // ASan would flag freed parameters
  sgd->zero_grad();
}

}  // namespace

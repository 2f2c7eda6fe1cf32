// Tests for include/cpp_grad/activation.hpp: activations by name, on Values
// and on numbers, and the slope backward uses.
#include "cpp_grad/activation.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "test_helpers.hpp"

namespace {

using cpp_grad::Activation;
using cpp_grad::Value;

const Activation kAll[] = {Activation::linear, Activation::relu, Activation::tanh};

TEST(Activation, NamesRoundTrip) {
  for (Activation a : kAll) EXPECT_EQ(cpp_grad::activation_from_name(cpp_grad::activation_name(a)), a);
  EXPECT_STREQ(cpp_grad::activation_name(Activation::relu), "relu");
}

TEST(Activation, UnknownNameIsAClearError) {
  try {
    cpp_grad::activation_from_name("sigmoid");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("'sigmoid'"), std::string::npos) << message;
    EXPECT_NE(message.find("'relu'"), std::string::npos) << message;
  }
}

template <typename T>
class ActivationTest : public ::testing::Test {};
TYPED_TEST_SUITE(ActivationTest, cpp_grad_test::FloatTypes);

// On a Value and on a plain number an activation gives the same result, and
// activation_slope(out) is the derivative backward() computes through the graph.
TYPED_TEST(ActivationTest, ValueNumberAndSlopeAgree) {
  using T = TypeParam;
  for (Activation a : kAll) {
    SCOPED_TRACE(cpp_grad::activation_name(a));
    for (T z : {T(-2), T(-0.25), T(0.5), T(3)}) {
      Value<T> x(z);
      Value<T> y = cpp_grad::activate(x, a);
      y.backward();
      const T number = cpp_grad::activate(z, a);
      EXPECT_EQ(y.data(), number);
      EXPECT_TRUE(cpp_grad_test::Close(double(x.grad()),
                                       double(cpp_grad::activation_slope(number, a)), 1e-6));
    }
  }
}

TEST(Activation, Values) {
  EXPECT_EQ(cpp_grad::activate(-1.5, Activation::relu), 0.0);
  EXPECT_EQ(cpp_grad::activate(1.5, Activation::relu), 1.5);
  EXPECT_EQ(cpp_grad::activate(-1.5, Activation::linear), -1.5);
  EXPECT_DOUBLE_EQ(cpp_grad::activate(0.5, Activation::tanh), std::tanh(0.5));
}

}  // namespace

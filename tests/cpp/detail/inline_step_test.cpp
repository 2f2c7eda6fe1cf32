// Tests for include/cpp_grad/detail/inline_step.hpp: an op's backward lambda
// kept inside its node.
#include "cpp_grad/detail/inline_step.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "cpp_grad/value.hpp"
#include "test_helpers.hpp"

namespace {

template <typename T>
class InlineStepTest : public ::testing::Test {};
TYPED_TEST_SUITE(InlineStepTest, cpp_grad_test::FloatTypes);

// make_op accepts lambdas that capture raw pointers and numbers, at most two.
TYPED_TEST(InlineStepTest, BackwardLambdasThatFitAnOpNode) {
  using T = TypeParam;
  using Node = cpp_grad::_Value<T>;
  using Step = cpp_grad::detail::InlineStep<Node>;
  Node* a = nullptr;
  Node* b = nullptr;
  const T k = 2;
  int calls = 0;
  const auto pointers = [a, b](const Node&) { (void)a, (void)b; };
  const auto pointer_and_number = [a, k](const Node&) { (void)a, (void)k; };
  const auto pointer_and_reference = [a, &calls](const Node&) { (void)a, ++calls; };
  EXPECT_TRUE(Step::template fits<decltype(pointers)>());
  EXPECT_TRUE(Step::template fits<decltype(pointer_and_number)>());
  EXPECT_TRUE(Step::template fits<decltype(pointer_and_reference)>());

  const std::vector<T> table{1, 2};
  const auto three_pointers = [a, b, c = a](const Node&) { (void)a, (void)b, (void)c; };
  const auto owns_a_vector = [table](const Node&) { (void)table; };
  EXPECT_FALSE(Step::template fits<decltype(three_pointers)>());
  EXPECT_FALSE(Step::template fits<decltype(owns_a_vector)>());
}

// The stored lambda runs with its own captures, and a copy of the step runs
// the same lambda.
TYPED_TEST(InlineStepTest, CallsTheStoredLambdaWithItsCaptures) {
  using T = TypeParam;
  using Node = cpp_grad::_Value<T>;
  Node parent(T(0)), out(T(0));
  out.grad = T(3);
  const T k = T(0.5);
  const cpp_grad::detail::InlineStep<Node> step(
      [p = &parent, k](const Node& o) { p->grad += k * o.grad; });
  step(out);
  EXPECT_EQ(parent.grad, T(1.5));
  const auto copy = step;
  copy(out);
  EXPECT_EQ(parent.grad, T(3));
}

}  // namespace

// Tests for include/cpp_grad/fused.hpp: ParameterBlock handles and the fused
// dot nodes, checked against the same sums built from binary ops.
#include "cpp_grad/fused.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "cpp_grad/ops.hpp"
#include "cpp_grad/random.hpp"
#include "cpp_grad/value.hpp"
#include "test_helpers.hpp"

namespace {

using cpp_grad::ParameterBlock;
using cpp_grad::Value;

template <typename T>
class FusedTest : public ::testing::Test {
 protected:
  // The fused sum adds in another order than the chain of binary ops: values
  // agree to rounding, grads (one product each) exactly.
  static double value_tol() { return std::is_same<T, float>::value ? 1e-6 : 1e-14; }
};
using cpp_grad_test::FloatTypes;
TYPED_TEST_SUITE(FusedTest, FloatTypes);

// Sizes around the 4-way unrolled loop's remainders, up to MNIST's 784 + 1.
const std::vector<std::size_t> kSizes = {1,  2,  3,  4,  5,  6,  7,   8,   9,   13, 16,
                                         17, 31, 33, 63, 64, 65, 127, 255, 784, 785};

template <typename T>
std::shared_ptr<ParameterBlock<T>> random_block(std::size_t size, cpp_grad::Random& rng) {
  auto block = ParameterBlock<T>::create(size);
  for (std::size_t i = 0; i < size; ++i) block->leaves()[i].data = T(rng.uniform(-1, 1));
  return block;
}

TYPED_TEST(FusedTest, ParameterHandlesAliasTheBlock) {
  using T = TypeParam;
  auto block = ParameterBlock<T>::create(5);
  EXPECT_EQ(block->size(), 5u);
  EXPECT_EQ(block.use_count(), 1);
  Value<T> p2 = block->parameter(2);
  Value<T> p4 = block->parameter(4);
  // One control block: each handle is one more owner of the block.
  EXPECT_EQ(block.use_count(), 3);
  EXPECT_EQ(p2.node_ptr().use_count(), 3);
  EXPECT_EQ(p2.node(), block->leaves() + 2);
  EXPECT_EQ(p4.node(), block->leaves() + 4);
  EXPECT_TRUE(p2.is_leaf());
  EXPECT_EQ(p2.data(), T(0));  // leaves start at zero
  p2.set_data(T(1.5));
  EXPECT_EQ(block->leaves()[2].data, T(1.5));
  Value<T> again = block->parameter(2);
  EXPECT_EQ(again.node(), p2.node());
  EXPECT_EQ(again.data(), T(1.5));
}

TYPED_TEST(FusedTest, HandleKeepsBlockAliveAfterOwnerIsGone) {
  using T = TypeParam;
  auto block = ParameterBlock<T>::create(3);
  Value<T> p = block->parameter(1);
  std::weak_ptr<ParameterBlock<T>> watch = block;
  block.reset();
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(p.node_ptr().use_count(), 1);
  p.set_data(T(2));  // still valid memory (ASan would flag a use after free)
  {
    Value<T> y = p * p;
    y.backward();
    EXPECT_EQ(p.grad(), T(4));
  }
  p = Value<T>(T(0));  // the last handle goes: so does the block
  EXPECT_TRUE(watch.expired());
}

// The fused node over Value inputs against b + w0*x0 + w1*x1 + ... from the
// generic ops: the same value, and every weight, bias and input grad.
TYPED_TEST(FusedTest, DotOverValuesMatchesBinaryOps) {
  using T = TypeParam;
  cpp_grad::Random rng(7);
  for (std::size_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    // Two neurons' worth of parameters; use the second (offset n + 1).
    auto block = random_block<T>(2 * (n + 1), rng);
    const std::size_t offset = n + 1;
    std::vector<Value<T>> xs, xs_ref, ws_ref;
    for (std::size_t i = 0; i < n; ++i) {
      const T x = T(rng.uniform(-2, 2));
      xs.emplace_back(x);
      xs_ref.emplace_back(x);
      ws_ref.emplace_back(block->leaves()[offset + i].data);
    }
    Value<T> b_ref(block->leaves()[offset + n].data);

    Value<T> dot = cpp_grad::dot_node(block, offset, cpp_grad::bundle(xs));
    Value<T> ref = b_ref;
    double scale = std::abs(double(b_ref.data()));  // rounding grows with sum |terms|
    for (std::size_t i = 0; i < n; ++i) {
      ref = ref + ws_ref[i] * xs_ref[i];
      scale += std::abs(double(ws_ref[i].data()) * double(xs_ref[i].data()));
    }
    EXPECT_STREQ(dot.op(), "dot");
    EXPECT_FALSE(dot.is_leaf());
    EXPECT_NEAR(double(dot.data()), double(ref.data()), this->value_tol() * scale);

    // Scale by 1.5 so the incoming gradient is not 1.
    Value<T> dot_out = dot * T(1.5), ref_out = ref * T(1.5);
    dot_out.backward();
    ref_out.backward();
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(block->leaves()[offset + i].grad, ws_ref[i].grad()) << "weight " << i;
      EXPECT_EQ(xs[i].grad(), xs_ref[i].grad()) << "input " << i;
    }
    EXPECT_EQ(block->leaves()[offset + n].grad, b_ref.grad());
    for (std::size_t i = 0; i < offset; ++i)  // the first neuron's parameters are untouched
      ASSERT_EQ(block->leaves()[i].grad, T(0));
  }
}

// The same with plain numbers as inputs: only the weights and bias get grads.
TYPED_TEST(FusedTest, DotOverConstantsMatchesBinaryOps) {
  using T = TypeParam;
  cpp_grad::Random rng(11);
  for (std::size_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    auto block = random_block<T>(n + 1, rng);
    auto xs = std::make_shared<std::vector<T>>();
    std::vector<Value<T>> ws_ref;
    for (std::size_t i = 0; i < n; ++i) {
      xs->push_back(T(rng.uniform(-2, 2)));
      ws_ref.emplace_back(block->leaves()[i].data);
    }
    Value<T> b_ref(block->leaves()[n].data);

    Value<T> dot = cpp_grad::dot_node(block, 0, cpp_grad::SharedConstants<T>(xs));
    Value<T> ref = b_ref;
    double scale = std::abs(double(b_ref.data()));
    for (std::size_t i = 0; i < n; ++i) {
      ref = ref + ws_ref[i] * (*xs)[i];
      scale += std::abs(double(ws_ref[i].data()) * double((*xs)[i]));
    }
    EXPECT_NEAR(double(dot.data()), double(ref.data()), this->value_tol() * scale);
    Value<T> dot_out = dot * T(-0.75), ref_out = ref * T(-0.75);
    dot_out.backward();
    ref_out.backward();
    for (std::size_t i = 0; i < n; ++i)
      EXPECT_EQ(block->leaves()[i].grad, ws_ref[i].grad()) << "weight " << i;
    EXPECT_EQ(block->leaves()[n].grad, b_ref.grad());
  }
}

// Small exact cases: the fused value is exactly b + sum w x when all are integers.
TYPED_TEST(FusedTest, ExactSmallDot) {
  using T = TypeParam;
  auto block = ParameterBlock<T>::create(6);
  const T w[6] = {1, -2, 3, 4, -5, 10};  // five weights, then the bias
  for (int i = 0; i < 6; ++i) block->leaves()[i].data = w[i];
  std::vector<Value<T>> xs = {T(2), T(3), T(-1), T(0.5), T(1)};
  Value<T> dot = cpp_grad::dot_node(block, 0, cpp_grad::bundle(xs));
  EXPECT_EQ(dot.data(), T(10 + 2 - 6 - 3 + 2 - 5));
  auto constants = std::make_shared<const std::vector<T>>(std::vector<T>{2, 3, -1, 0.5, 1});
  EXPECT_EQ(cpp_grad::dot_node(block, 0, constants).data(), dot.data());
}

// An input listed twice in the bundle gets both contributions.
TYPED_TEST(FusedTest, RepeatedInputAccumulates) {
  using T = TypeParam;
  auto block = ParameterBlock<T>::create(3);
  block->leaves()[0].data = T(2);
  block->leaves()[1].data = T(5);
  Value<T> x(T(3));
  Value<T> dot = cpp_grad::dot_node(block, 0, cpp_grad::bundle(std::vector<Value<T>>{x, x}));
  dot.backward();
  EXPECT_EQ(dot.data(), T(21));
  EXPECT_EQ(x.grad(), T(7));
  EXPECT_EQ(block->leaves()[0].grad, T(3));
  EXPECT_EQ(block->leaves()[1].grad, T(3));
  EXPECT_EQ(block->leaves()[2].grad, T(1));
}

// Value::parents() lists every parent, weights and bias included.
TYPED_TEST(FusedTest, ParentsListWeightsBiasAndInputs) {
  using T = TypeParam;
  auto block = ParameterBlock<T>::create(4);
  std::vector<Value<T>> xs = {T(1), T(2), T(3)};
  Value<T> dot = cpp_grad::dot_node(block, 0, cpp_grad::bundle(xs));
  const std::vector<Value<T>> parents = dot.parents();
  ASSERT_EQ(parents.size(), 7u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(parents[i].node(), block->leaves() + i);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(parents[4 + i].node(), xs[i].node());

  auto constants = std::make_shared<const std::vector<T>>(std::vector<T>{1, 2, 3});
  Value<T> cdot = cpp_grad::dot_node(block, 0, constants);
  const std::vector<Value<T>> cparents = cdot.parents();
  ASSERT_EQ(cparents.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(cparents[i].node(), block->leaves() + i);
}

// Leaf grads accumulate across passes, as for any leaf.
TYPED_TEST(FusedTest, SecondBackwardDoublesWeightGrads) {
  using T = TypeParam;
  auto block = ParameterBlock<T>::create(3);
  block->leaves()[0].data = T(2);
  block->leaves()[1].data = T(-1);
  std::vector<Value<T>> xs = {T(3), T(4)};
  Value<T> h = cpp_grad::dot_node(block, 0, cpp_grad::bundle(xs));
  Value<T> y = h * h;  // h = 2, dy/dh = 4
  y.backward();
  y.backward();
  EXPECT_EQ(h.grad(), T(4));
  EXPECT_EQ(block->leaves()[0].grad, T(2 * 4 * 3));
  EXPECT_EQ(block->leaves()[1].grad, T(2 * 4 * 4));
  EXPECT_EQ(block->leaves()[2].grad, T(2 * 4));
  EXPECT_EQ(xs[0].grad(), T(2 * 4 * 2));
}

// Value::zero_grad() promises to zero "every node behind this one, leaves
// included"; a dot node's weights and bias are such leaves.
TYPED_TEST(FusedTest, ZeroGradReachesWeightsAndBias) {
  using T = TypeParam;
  auto block = ParameterBlock<T>::create(3);
  block->leaves()[0].data = T(2);
  block->leaves()[1].data = T(-1);
  std::vector<Value<T>> xs = {T(3), T(4)};
  Value<T> y = cpp_grad::dot_node(block, 0, cpp_grad::bundle(xs)) * T(2);
  y.backward();
  ASSERT_NE(block->leaves()[0].grad, T(0));
  y.zero_grad();
  EXPECT_EQ(xs[0].grad(), T(0));
  EXPECT_EQ(xs[1].grad(), T(0));
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(block->leaves()[i].grad, T(0)) << "leaf " << i;
}

// The dot node holds its block: dropping every other owner keeps the weights.
TYPED_TEST(FusedTest, DotNodeKeepsBlockAlive) {
  using T = TypeParam;
  auto block = ParameterBlock<T>::create(2);
  block->leaves()[0].data = T(3);
  block->leaves()[1].data = T(1);
  std::weak_ptr<ParameterBlock<T>> watch = block;
  Value<T> x(T(2));
  Value<T> dot = cpp_grad::dot_node(block, 0, cpp_grad::bundle(std::vector<Value<T>>{x}));
  block.reset();
  EXPECT_FALSE(watch.expired());
  dot.backward();
  EXPECT_EQ(dot.data(), T(7));
  EXPECT_EQ(x.grad(), T(3));
  EXPECT_EQ(watch.lock()->leaves()[0].grad, T(2));
  dot = Value<T>(T(0));
  EXPECT_TRUE(watch.expired());
}

// Many dot nodes sharing one input bundle (a layer), in a deep stack of
// layers: building, backward() and teardown must not recurse per node.
TEST(FusedDeep, DeepStackOfSharedBundlesTearsDownIteratively) {
  constexpr std::size_t kDepth = 200000;
  auto block = ParameterBlock<double>::create(3);  // w0, w1, bias: y = 0.5 a + 0.5 b
  block->leaves()[0].data = 0.5;
  block->leaves()[1].data = 0.5;
  Value<double> x(1.0);
  std::vector<Value<double>> layer = {x, x};
  {
    for (std::size_t d = 0; d < kDepth; ++d) {
      auto inputs = cpp_grad::bundle(layer);  // shared by both nodes of the layer
      layer = {cpp_grad::dot_node(block, 0, inputs), cpp_grad::dot_node(block, 0, inputs)};
    }
    Value<double> out = layer[0] + layer[1];
    layer.clear();
    EXPECT_EQ(out.data(), 2.0);
    out.backward();
    EXPECT_EQ(x.grad(), 2.0);
  }  // teardown of 2 * kDepth dot nodes
  EXPECT_EQ(x.data(), 1.0);
}

}  // namespace

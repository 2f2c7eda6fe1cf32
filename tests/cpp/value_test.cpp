// Tests for include/cpp_grad/value.hpp: the node, the handle, backward() and teardown.
#include "cpp_grad/value.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cpp_grad/ops.hpp"
#include "test_helpers.hpp"

// An allocation limit for the failure tests: while allocations_left is set
// (>= 0) on a thread, that thread's operator new fails once it reaches 0.
namespace {
thread_local long allocations_left = -1;
}  // namespace

// Both sides are replaced together; GCC cannot see that malloc/free pair up.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  if (allocations_left >= 0 && allocations_left-- == 0) throw std::bad_alloc();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using cpp_grad::Value;

// Lets the next `n` allocations on this thread succeed and the one after fail.
struct AllocationLimit {
  explicit AllocationLimit(long n) { allocations_left = n; }
  ~AllocationLimit() { allocations_left = -1; }
};

// The length of the long-chain tests: 10 million by default, smaller under
// sanitizers (CPP_GRAD_LONG_CHAIN=100000), where each node costs far more.
std::size_t long_chain_length() {
  const char* env = std::getenv("CPP_GRAD_LONG_CHAIN");
  if (env && *env) return std::size_t(std::strtoull(env, nullptr, 10));
  return 10'000'000;
}

// A unary node that counts how often backward() runs its step, built with
// the public make_op: the count shows a node is processed once per pass.
template <typename T>
Value<T> counted(const Value<T>& a, int& calls) {
  return cpp_grad::make_op("counted", a.data(), a,
                           [a = a.node(), &calls](const cpp_grad::_Value<T>& out) {
                             ++calls;
                             a->grad += out.grad;
                           });
}

template <typename T>
class ValueTest : public ::testing::Test {};
using cpp_grad_test::FloatTypes;
TYPED_TEST_SUITE(ValueTest, FloatTypes);

TYPED_TEST(ValueTest, LeafDataAndGradGetSet) {
  using T = TypeParam;
  Value<T> x(T(1.5));
  EXPECT_EQ(x.data(), T(1.5));
  EXPECT_EQ(x.grad(), T(0));
  EXPECT_TRUE(x.is_leaf());
  EXPECT_STREQ(x.op(), "");
  EXPECT_TRUE(x.parents().empty());
  x.set_data(T(-2.25));
  x.set_grad(T(0.5));
  EXPECT_EQ(x.data(), T(-2.25));
  EXPECT_EQ(x.grad(), T(0.5));
  EXPECT_EQ(Value<T>().data(), T(0));  // default: a zero leaf
}

TYPED_TEST(ValueTest, CopiesShareTheNode) {
  using T = TypeParam;
  Value<T> x(T(1));
  Value<T> y = x;
  y.set_data(T(7));
  y.set_grad(T(3));
  EXPECT_EQ(x.data(), T(7));
  EXPECT_EQ(x.grad(), T(3));
  EXPECT_EQ(x.node(), y.node());
}

TYPED_TEST(ValueTest, BackwardSetsRootGradToOne) {
  using T = TypeParam;
  Value<T> x(T(3));
  Value<T> y = x * T(2);
  y.backward();
  EXPECT_EQ(y.grad(), T(1));
  EXPECT_EQ(x.grad(), T(2));

  Value<T> leaf(T(5));  // backward() on a leaf: d leaf / d leaf = 1
  leaf.backward();
  EXPECT_EQ(leaf.grad(), T(1));
}

TYPED_TEST(ValueTest, OpTagsAndParents) {
  using T = TypeParam;
  Value<T> a(T(2)), b(T(3));
  Value<T> c = a * b;
  EXPECT_STREQ(c.op(), "*");
  EXPECT_FALSE(c.is_leaf());
  const std::vector<Value<T>> parents = c.parents();
  ASSERT_EQ(parents.size(), 2u);
  EXPECT_EQ(parents[0].node(), a.node());
  EXPECT_EQ(parents[1].node(), b.node());

  Value<T> d = cpp_grad::exp(c);
  ASSERT_EQ(d.parents().size(), 1u);
  EXPECT_EQ(d.parents()[0].node(), c.node());
  EXPECT_STREQ(d.op(), "exp");
}

// Every op node has one type; its backward lambda lives in a small buffer, so
// x feeds 100000 additions: its gradient is the count, and a node between x
// and the additions runs its backward step exactly once.
TYPED_TEST(ValueTest, NodeUsedManyTimesIsProcessedOnce) {
  using T = TypeParam;
  constexpr int kUses = 100000;
  Value<T> x(T(0.5));
  int calls = 0;
  Value<T> h = counted(x, calls);
  Value<T> y = h;
  for (int i = 1; i < kUses; ++i) y = y + h;
  y.backward();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(h.grad(), T(kUses));
  EXPECT_EQ(x.grad(), T(kUses));

  // The same through one n-ary node with h listed kUses times.
  int sum_calls = 0;
  Value<T> x2(T(0.5));
  Value<T> h2 = counted(x2, sum_calls);
  Value<T> s = cpp_grad::sum(std::vector<Value<T>>(kUses, h2));
  s.backward();
  EXPECT_EQ(sum_calls, 1);
  EXPECT_EQ(x2.grad(), T(kUses));
}

// PyTorch semantics: leaf grads accumulate across backward() calls;
// intermediate grads are computed afresh each time (not doubled).
TYPED_TEST(ValueTest, SecondBackwardDoublesLeafGradsOnly) {
  using T = TypeParam;
  Value<T> x(T(1.5)), w(T(-2));
  Value<T> h = x * x;      // intermediate
  Value<T> y = h * w + x;  // dy/dx = 2xw + 1 = -5, dy/dw = x^2 = 2.25, dy/dh = w
  y.backward();
  const T gx = x.grad(), gw = w.grad(), gh = h.grad();
  EXPECT_EQ(gx, T(-5));
  EXPECT_EQ(gw, T(2.25));
  EXPECT_EQ(gh, T(-2));
  y.backward();
  EXPECT_EQ(x.grad(), 2 * gx);
  EXPECT_EQ(w.grad(), 2 * gw);
  EXPECT_EQ(h.grad(), gh);
  EXPECT_EQ(y.grad(), T(1));
}

TYPED_TEST(ValueTest, ZeroGradClearsEveryNodeBehind) {
  using T = TypeParam;
  Value<T> x(T(2)), w(T(3));
  Value<T> h = x * w;
  Value<T> y = cpp_grad::tanh(h) + x;
  y.backward();
  ASSERT_NE(x.grad(), T(0));
  ASSERT_NE(w.grad(), T(0));
  y.zero_grad();
  EXPECT_EQ(x.grad(), T(0));
  EXPECT_EQ(w.grad(), T(0));
  EXPECT_EQ(h.grad(), T(0));
  EXPECT_EQ(y.grad(), T(0));
  y.backward();  // after zeroing, one pass gives the one-pass gradient again
  EXPECT_EQ(w.grad(), x.data() * (1 - std::tanh(h.data()) * std::tanh(h.data())));
}

// a -> b = 2a, c = a + 1 -> d = b * c: a is reached along two paths.
TYPED_TEST(ValueTest, DiamondGraph) {
  using T = TypeParam;
  Value<T> a(T(3));
  Value<T> b = a * T(2);
  Value<T> c = a + T(1);
  Value<T> d = b * c;
  d.backward();
  EXPECT_EQ(d.data(), T(24));
  EXPECT_EQ(b.grad(), c.data());
  EXPECT_EQ(c.grad(), b.data());
  EXPECT_EQ(a.grad(), T(2) * c.data() + b.data());  // 4a + 2 = 14
}

// A subgraph shared by two outputs that are joined again, twice over.
TYPED_TEST(ValueTest, SharedSubgraphs) {
  using T = TypeParam;
  Value<T> x(T(0.5)), y(T(-1.25));
  Value<T> shared = x * y + T(1);  // 0.375
  Value<T> p = shared * shared;    // d/dshared = 2 shared
  Value<T> q = shared * x;         // d/dshared = x, d/dx = shared
  Value<T> out = p + q + shared;   // total d/dshared = 2 shared + x + 1
  out.backward();
  const T dshared = 2 * shared.data() + x.data() + 1;
  EXPECT_EQ(shared.grad(), dshared);
  EXPECT_EQ(x.grad(), dshared * y.data() + shared.data());
  EXPECT_EQ(y.grad(), dshared * x.data());
}

// Backward from an inner node only touches what lies behind it.
TYPED_TEST(ValueTest, BackwardFromInnerNode) {
  using T = TypeParam;
  Value<T> x(T(2)), z(T(5));
  Value<T> h = x * T(3);
  Value<T> y = h * z;
  h.backward();
  EXPECT_EQ(x.grad(), T(3));
  EXPECT_EQ(z.grad(), T(0));
  EXPECT_EQ(y.grad(), T(0));
}

TYPED_TEST(ValueTest, LeafOutlivesItsGraph) {
  using T = TypeParam;
  Value<T> x(T(2));
  {
    Value<T> y = x;
    for (int i = 0; i < 1000; ++i) y = y * T(1) + x;
    y.backward();
  }  // the whole graph goes; x stays
  EXPECT_EQ(x.data(), T(2));
  EXPECT_EQ(x.grad(), T(1001));
  Value<T> again = x * x;  // and it can start a new graph
  x.set_grad(0);
  again.backward();
  EXPECT_EQ(x.grad(), T(4));
}

TYPED_TEST(ValueTest, InnerHandleKeepsItsSubgraphAlive) {
  using T = TypeParam;
  Value<T> inner(T(0));
  {
    Value<T> x(T(3));
    inner = x * T(2);
    Value<T> root = inner + T(1);
  }  // the root and the handle to x are gone; x lives on inside `inner`
  EXPECT_EQ(inner.data(), T(6));
  inner.backward();
  ASSERT_EQ(inner.parents().size(), 1u);
  EXPECT_EQ(inner.parents()[0].data(), T(3));
  EXPECT_EQ(inner.parents()[0].grad(), T(2));
}

// A chain deep enough to overflow the stack if building, backward() or
// teardown recursed per node.
// Nodes may be freed on any thread: a graph built here and dropped on
// another thread is torn down there (its own teardown loop, its own free
// lists), every node of it.
TYPED_TEST(ValueTest, GraphBuiltOnOneThreadFreedOnAnother) {
  using T = TypeParam;
  Value<T> x(T(0.5));
  Value<T> y = x;
  std::weak_ptr<cpp_grad::_Value<T>> middle;
  for (int i = 0; i < 100000; ++i) {
    y = i % 2 ? tanh(y) + x : y * x - T(1);
    if (i == 50000) middle = y.node_ptr();
  }
  y.backward();
  const T grad = x.grad();
  std::thread([graph = std::move(y)]() mutable { graph = Value<T>(); }).join();
  EXPECT_TRUE(middle.expired());
  EXPECT_EQ(x.grad(), grad);  // the leaf lives on, untouched
  EXPECT_EQ(x.node_ptr().use_count(), 1);
}

// Two threads build, back-propagate and drop their own graphs at once. Both
// graphs also use one shared leaf, so its reference count changes on both
// threads at once; neither back-propagates into it (a leaf's grad is not
// guarded: the trainer gives each thread its own copy of the model). Each gets
// the values and gradients it would get alone.
TYPED_TEST(ValueTest, ThreadsBuildOnASharedLeafAtOnce) {
  using T = TypeParam;
  const Value<T> shared(T(0.25));
  struct Result {
    T data = 0, grad = 0;
  };
  const auto work = [&shared](Result* result) {
    Value<T> own(T(0.1));
    for (int round = 0; round < 20; ++round) {
      Value<T> with_shared = own, alone = own;
      for (int i = 0; i < 2000; ++i) {
        with_shared = sigmoid(with_shared * shared + own) - T(0.5);
        alone = sigmoid(alone * T(0.25) + own) - T(0.5);
      }
      own.set_grad(0);
      alone.backward();
      result->data = with_shared.data();
    }
    result->grad = own.grad();
  };
  Result single;
  work(&single);
  Result first, second;
  std::thread a(work, &first);
  std::thread b(work, &second);
  a.join();
  b.join();
  EXPECT_EQ(first.data, single.data);
  EXPECT_EQ(second.data, single.data);
  EXPECT_EQ(first.grad, single.grad);
  EXPECT_EQ(second.grad, single.grad);
  EXPECT_EQ(shared.node_ptr().use_count(), 1);
  EXPECT_EQ(shared.grad(), T(0));
}

TYPED_TEST(ValueTest, MillionNodeChain) {
  using T = TypeParam;
  constexpr int kLength = 1'000'000;
  Value<T> x(T(1));
  Value<T> y = x;
  for (int i = 0; i < kLength; ++i) y = y + x;
  y.backward();
  EXPECT_EQ(x.grad(), T(kLength + 1));  // exact: below 2^24 even for float
}

// 10 million nodes: y = y + x, then y = y * c; built, back-propagated and
// freed without a crash, with the gradient right.
TEST(ValueLongChain, TenMillionNodes) {
  const std::size_t n = long_chain_length();
  Value<double> x(1.0);
  {
    Value<double> y = x;
    for (std::size_t i = 0; i < n; ++i) y = y + x;
    EXPECT_EQ(y.data(), double(n + 1));
    y.backward();
    EXPECT_EQ(x.grad(), double(n + 1));
  }  // teardown of n nodes here
  EXPECT_EQ(x.data(), 1.0);

  // A chain nobody else holds into: each node dies as the last owner of its
  // parent, the case that recursed in a naive shared_ptr teardown.
  Value<double> leaf(2.0);
  {
    Value<double> y = leaf * 1.0;
    for (std::size_t i = 1; i < n; ++i) y = y * 1.0000001;
    y.backward();
    const double expected = std::pow(1.0000001, double(n - 1));
    EXPECT_NEAR(leaf.grad(), expected, 1e-6 * expected);
    EXPECT_NEAR(y.data(), 2 * expected, 2e-6 * expected);
  }
  EXPECT_EQ(leaf.data(), 2.0);
}

// Two independent backward passes over graphs sharing a leaf.
TYPED_TEST(ValueTest, GraphsSharingALeafAccumulate) {
  using T = TypeParam;
  Value<T> x(T(4));
  Value<T> a = x * T(2);
  Value<T> b = x * x;
  a.backward();
  b.backward();
  EXPECT_EQ(x.grad(), T(2) + T(8));
}

// A node holding one parent twice (x * x, x + x) is its parent's only
// owner, through two references: teardown must still not recurse per node.
TYPED_TEST(ValueTest, DeepChainUsingOneParentTwiceIsFreed) {
  using T = TypeParam;
  constexpr int kLength = 1'000'000;
  Value<T> leaf(T(1));
  std::weak_ptr<cpp_grad::_Value<T>> first;
  {
    Value<T> y = leaf * T(1);
    first = y.node_ptr();
    for (int i = 0; i < kLength; ++i) y = i % 2 ? y * y : y + y - y;
    y.backward();
    EXPECT_EQ(y.data(), T(1));
  }
  EXPECT_TRUE(first.expired());
  EXPECT_EQ(leaf.node_ptr().use_count(), 1);
  {
    Value<T> y = leaf * T(1);
    for (int i = 0; i < kLength; ++i) y = cpp_grad::sum(std::vector<Value<T>>{y, y, leaf}) - y - leaf;
    y.backward();
  }
  EXPECT_EQ(leaf.node_ptr().use_count(), 1);
}

// A balanced sum of `n` leaves, so that the walk's stack grows as it goes.
template <typename T>
Value<T> tree_sum(const std::vector<Value<T>>& leaves, std::size_t begin, std::size_t end) {
  if (end - begin == 1) return leaves[begin] * T(1);
  const std::size_t middle = begin + (end - begin) / 2;
  return tree_sum(leaves, begin, middle) + tree_sum(leaves, middle, end);
}

// A backward() or zero_grad() that fails partway (here: the walk cannot grow
// its stack, at every point where it allocates) leaves the graph as it was
// before the walk: the next backward() reaches every leaf.
TYPED_TEST(ValueTest, FailedWalkLeavesTheGraphUsable) {
  using T = TypeParam;
  std::vector<Value<T>> leaves;
  for (int i = 0; i < 3000; ++i) leaves.emplace_back(T(i));
  const Value<T> total = tree_sum(leaves, 0, leaves.size());
  Value<T> root = total * leaves[7];
  for (int walk = 0; walk < 2; ++walk) {
    int failures = 0;
    for (long budget = 0;; ++budget) {
      bool failed = false;
      try {
        AllocationLimit limit(budget);
        walk == 0 ? root.backward() : root.zero_grad();
      } catch (const std::bad_alloc&) {
        failed = true;
      }
      for (const Value<T>& leaf : leaves) leaf.node()->grad = 0;
      root.backward();
      for (int i = 0; i < int(leaves.size()); ++i) {
        const T expected = i == 7 ? T(7) + total.data() : T(7);
        ASSERT_EQ(leaves[i].grad(), expected) << "leaf " << i << " after a walk that failed at "
                                              << "allocation " << budget;
      }
      if (!failed) break;
      ++failures;
    }
    EXPECT_GT(failures, 3) << "the walk allocates: each of its allocations was made to fail";
  }
}

// A backward step that throws (a custom op's) stops backward(); the graph is
// left as it was before, so the next backward() is right.
TYPED_TEST(ValueTest, BackwardStepThatThrowsLeavesTheGraphUsable) {
  using T = TypeParam;
  std::vector<Value<T>> leaves;
  for (int i = 0; i < 200; ++i) leaves.emplace_back(T(1));
  int steps_left = 0;
  const auto failing = [&steps_left](const Value<T>& a) {
    return cpp_grad::make_op("fails", a.data(), a, [a = a.node(), &steps_left](const cpp_grad::_Value<T>& out) {
      if (steps_left-- == 0) throw std::runtime_error("a backward step failed");
      a->grad += out.grad;
    });
  };
  std::vector<Value<T>> parts;
  for (const Value<T>& leaf : leaves) parts.push_back(failing(leaf));
  const Value<T> root = tree_sum(parts, 0, parts.size());
  for (int fail_at : {0, 1, 50, 199}) {
    steps_left = fail_at;
    EXPECT_THROW(Value<T>(root).backward(), std::runtime_error);
    for (const Value<T>& leaf : leaves) leaf.node()->grad = 0;
    steps_left = 1 << 30;
    Value<T>(root).backward();
    for (const Value<T>& leaf : leaves) ASSERT_EQ(leaf.grad(), T(1)) << "after failing at step " << fail_at;
  }
}

}  // namespace

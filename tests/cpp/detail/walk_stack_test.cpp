// Tests for include/cpp_grad/detail/walk_stack.hpp: the walk's stack, and
// clearing the counts a failed walk leaves (see Note [A failed walk]).
#include "cpp_grad/detail/walk_stack.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "cpp_grad/ops.hpp"
#include "cpp_grad/value.hpp"

namespace {

using cpp_grad::_Value;
using cpp_grad::Value;

TEST(WalkStack, MakeRoomGrowsOnlyWhenNeeded) {
  std::vector<_Value<double>*> stack;
  cpp_grad::detail::make_room(stack, 3);
  EXPECT_GE(stack.capacity(), 3u);
  const auto capacity = stack.capacity();
  cpp_grad::detail::make_room(stack, capacity);
  EXPECT_EQ(stack.capacity(), capacity);  // already room: unchanged
  stack.push_back(nullptr);
  cpp_grad::detail::make_room(stack, capacity);
  EXPECT_GE(stack.capacity(), 2 * capacity);  // grown by doubling
}

// Counts left by a walk that stopped are cleared from the nodes on the stack
// through every node behind them; nodes already at 0 stop the clearing.
TEST(WalkStack, ClearPendingCountsResetsEveryCountBehindTheStack) {
  Value<double> a(1), b(2);
  Value<double> c = a * b;
  Value<double> d = c + a;
  Value<double> e = d * c;
  for (_Value<double>* n : {a.node(), b.node(), c.node(), d.node()}) n->pending_children = 2;
  std::vector<_Value<double>*> stack{e.node()};
  cpp_grad::detail::clear_pending_counts(stack);
  EXPECT_TRUE(stack.empty());
  for (_Value<double>* n : {a.node(), b.node(), c.node(), d.node(), e.node()})
    EXPECT_EQ(n->pending_children, 0u);
  // The graph walks normally afterwards.
  e.backward();
  EXPECT_EQ(b.grad(), 1.0 * (c.data() + d.data()));
}

}  // namespace

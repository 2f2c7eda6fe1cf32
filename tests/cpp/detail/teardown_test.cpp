// Tests for include/cpp_grad/detail/teardown.hpp: freeing a graph in a loop
// (see Note [Teardown is a loop]). Long chains are in value_test.cpp.
#include "cpp_grad/detail/teardown.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

#include "cpp_grad/value.hpp"

namespace {

using cpp_grad::NodePtr;
using cpp_grad::_Value;
using cpp_grad::detail::DoomedNodes;

NodePtr<double> leaf(double x) { return std::make_shared<_Value<double>>(x); }

// Pops last in, first out, across the in-place slots and the overflow.
TEST(DoomedNodes, HoldsAnyNumberAndGivesEachBack) {
  DoomedNodes<double> doomed;
  EXPECT_TRUE(doomed.empty());
  std::vector<std::weak_ptr<_Value<double>>> watched;
  for (int i = 0; i < 20; ++i) {
    NodePtr<double> node = leaf(i);
    watched.push_back(node);
    doomed.push(std::move(node));
  }
  for (const auto& w : watched) EXPECT_FALSE(w.expired());  // held by the loop
  std::vector<double> popped;
  while (!doomed.empty()) popped.push_back(doomed.pop()->data);
  ASSERT_EQ(popped.size(), 20u);
  std::vector<double> expected;
  for (int i = 19; i >= 0; --i) expected.push_back(i);
  EXPECT_EQ(popped, expected);
  for (const auto& w : watched) EXPECT_TRUE(w.expired());
}

TEST(DoomedNodes, DestroyingItFreesWhatItStillHolds) {
  std::weak_ptr<_Value<double>> a, b;
  {
    DoomedNodes<double> doomed;
    NodePtr<double> x = leaf(1), y = leaf(2);
    a = x;
    b = y;
    doomed.push(std::move(x));
    doomed.push(std::move(y));
  }
  EXPECT_TRUE(a.expired());
  EXPECT_TRUE(b.expired());
}

// Parents held elsewhere are only let go of; parents held last are freed;
// empty slots are skipped; a parent held twice is freed once, by the second.
TEST(ReleaseParents, FreesOnlyWhatItHeldLast) {
  NodePtr<double> kept = leaf(1);
  NodePtr<double> twice = leaf(2);
  std::weak_ptr<_Value<double>> twice_watch = twice, last_watch;
  std::array<NodePtr<double>, 4> parents{kept, twice, nullptr, leaf(3)};
  last_watch = parents[3];
  NodePtr<double> also_twice = std::move(twice);
  parents[2] = std::move(also_twice);
  cpp_grad::detail::release_parents<double>(parents);
  for (const NodePtr<double>& p : parents) EXPECT_FALSE(p);
  EXPECT_EQ(kept.use_count(), 1);
  EXPECT_TRUE(twice_watch.expired());
  EXPECT_TRUE(last_watch.expired());
  EXPECT_EQ(cpp_grad::detail::running_teardown<double>(), nullptr);  // the loop has ended
}

}  // namespace

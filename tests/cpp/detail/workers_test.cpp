// Tests for include/cpp_grad/detail/workers.hpp: the long-lived threads a
// Trainer runs its batches on.
#include "cpp_grad/detail/workers.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <set>
#include <thread>
#include <vector>

namespace {

using cpp_grad::WorkerPool;

TEST(WorkerPool, RunsEachIndexOnceAndReturnsWhenAllAreDone) {
  WorkerPool pool(3);
  ASSERT_EQ(pool.size(), 4u);
  std::vector<std::atomic<int>> calls(pool.size());
  for (int round = 0; round < 50; ++round) {
    pool.run([&calls](std::size_t k) { ++calls[k]; });
    for (std::size_t k = 0; k < calls.size(); ++k) ASSERT_EQ(calls[k].load(), round + 1) << k;
  }
}

TEST(WorkerPool, IndexZeroRunsOnTheCallerTheOthersElsewhere) {
  WorkerPool pool(2);
  std::vector<std::thread::id> ids(pool.size());
  pool.run([&ids](std::size_t k) { ids[k] = std::this_thread::get_id(); });
  EXPECT_EQ(ids[0], std::this_thread::get_id());
  EXPECT_EQ(std::set<std::thread::id>(ids.begin(), ids.end()).size(), ids.size());
  // The same threads serve every run: they live as long as the pool.
  std::vector<std::thread::id> again(pool.size());
  pool.run([&again](std::size_t k) { again[k] = std::this_thread::get_id(); });
  EXPECT_EQ(again, ids);
}

TEST(WorkerPool, NoHelpersRunsOnTheCallerAlone) {
  WorkerPool pool(0);
  EXPECT_EQ(pool.size(), 1u);
  int calls = 0;
  pool.run([&calls](std::size_t k) { calls += int(k) + 1; });
  EXPECT_EQ(calls, 1);
}

TEST(WorkerPool, DestroyedIdleOrRightAfterARun) {
  for (int i = 0; i < 20; ++i) {
    WorkerPool pool(2);
    if (i % 2) pool.run([](std::size_t) {});
  }  // joins its threads each time; a hang or crash fails the test
}

}  // namespace

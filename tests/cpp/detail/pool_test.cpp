// Tests for include/cpp_grad/detail/pool.hpp: node memory cached per thread
// and block size.
#include "cpp_grad/detail/pool.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <thread>
#include <vector>

namespace {

using cpp_grad::NodeAllocator;
namespace detail = cpp_grad::detail;

struct Node40 {
  char bytes[40];
};

TEST(NodeAllocator, BlocksAreRoundedUpToTheMaxAlignment) {
  EXPECT_EQ(NodeAllocator<Node40>::block_size % alignof(std::max_align_t), 0u);
  EXPECT_GE(NodeAllocator<Node40>::block_size, sizeof(Node40));
  EXPECT_LT(NodeAllocator<Node40>::block_size, sizeof(Node40) + alignof(std::max_align_t));
}

TEST(NodeAllocator, BlocksAreAlignedAndDistinctAndHoldTheirBytes) {
  NodeAllocator<Node40> allocator;
  std::vector<Node40*> blocks;
  for (int i = 0; i < 100; ++i) {
    Node40* p = allocator.allocate(1);
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignof(std::max_align_t), 0u);
    std::memset(p->bytes, i, sizeof(p->bytes));
    blocks.push_back(p);
  }
  EXPECT_EQ(std::set<Node40*>(blocks.begin(), blocks.end()).size(), blocks.size());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(blocks[i]->bytes[39], char(i));
  for (Node40* p : blocks) allocator.deallocate(p, 1);
}

// A freed block is handed out again on the same thread (most recent first),
// unless pooling is off (sanitizers, cling).
TEST(NodeAllocator, AFreedBlockIsReusedOnItsThread) {
  NodeAllocator<Node40> allocator;
  Node40* first = allocator.allocate(1);
  allocator.deallocate(first, 1);
  Node40* second = allocator.allocate(1);
  if (detail::kPoolNodes) {
    EXPECT_EQ(second, first);
  }
  allocator.deallocate(second, 1);
}

TEST(NodeAllocator, ArraysGoToOperatorNew) {
  NodeAllocator<Node40> allocator;
  Node40* many = allocator.allocate(3);
  std::memset(many, 1, 3 * sizeof(Node40));
  allocator.deallocate(many, 3);
}

// Nodes built on one thread may be freed on another, and a thread's cache is
// returned when it exits (leak checkers would see it otherwise).
TEST(NodeAllocator, BlocksCrossThreadsAndThreadsExitCleanly) {
  std::vector<std::shared_ptr<Node40>> made(1000);
  std::thread maker([&made] {
    for (auto& p : made) p = std::allocate_shared<Node40>(NodeAllocator<Node40>());
  });
  maker.join();
  std::thread freer([&made] { made.clear(); });
  freer.join();
  EXPECT_TRUE(made.empty());
}

TEST(NodeAllocator, CacheIsBoundedPerSize) {
  EXPECT_EQ(detail::max_cached_blocks<64>(), (std::size_t(32) << 20) / 64);
}

}  // namespace

// The stack of backward()'s graph walk (walk_children_first in value.hpp):
// how it grows, and how a walk that stops partway leaves the graph as it
// found it (Note [A failed walk]).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace cpp_grad {
namespace detail {

// Room on the walk's stack for `n` more nodes, grown by doubling.
template <typename Node>
void make_room(std::vector<Node*>& stack, std::size_t n) {
  if (stack.capacity() - stack.size() < n)
    stack.reserve(std::max(2 * stack.capacity(), stack.size() + n));
}

// Note [A failed walk]
// A walk can stop partway: its stack cannot grow (std::bad_alloc), or a
// node's backward step throws. Nodes it has counted would keep a
// pending_children above 0, and the next walk over them would stop short of
// every node behind them. So a walk changes the counts of a node's parents
// only once its stack has room for all of them, and on failure it clears
// every count it left: each non-zero count is reached from the nodes on the
// stack (or from the root, while counting) through nodes whose counts are
// non-zero. Clearing reuses the stack; only if even that cannot grow does the
// graph stay marked.
template <typename Node>
void clear_pending_counts(std::vector<Node*>& stack) {
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const auto& parent : node->walk_parents()) {
      if (parent->pending_children != 0) {
        parent->pending_children = 0;
        stack.push_back(parent.get());
      }
    }
  }
}

}  // namespace detail

}  // namespace cpp_grad

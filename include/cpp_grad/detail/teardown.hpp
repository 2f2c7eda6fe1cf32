// How a dropped graph is freed: a loop instead of a recursion.
//
// Each node owns its parents through std::shared_ptr, so by default dropping
// the last Value of a graph destroys a node, whose destructor destroys its
// parents, and so on: one stack frame per node in a chain. A node's
// destructor calls release_parents() instead, which hands the parents that
// would die with it to a loop. See Note [Teardown is a loop].
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace cpp_grad {

template <typename T>
struct _Value;

namespace detail {

// Note [Teardown is a loop]
// Default shared_ptr teardown recurses once per node: dropping a
// long chain (millions of nodes) would overflow the stack. Instead the first dying
// node starts a loop (release_parents), and every node destroyed inside it
// hands the parents that would die with it to that loop rather than
// destroying them itself. So each destructor runs on a node whose last-held
// parents are gone, and the stack stays flat however deep the graph.
//
// A parent that lives on is let go of at once, in order: a node may hold one
// parent twice (x * x), and only once the first reference is dropped does the
// second show that this node was the parent's last owner.

// Nodes about to be destroyed: a few in place, more on the heap. The in-place
// slots are raw storage, constructed only when used, because a teardown
// starts every time a dropped node takes a parent with it: most hold one or
// two nodes, and should cost no more than that.
template <typename T>
class DoomedNodes {
 public:
  using Ptr = std::shared_ptr<_Value<T>>;

  DoomedNodes() {}  // NOLINT: the union leaves the slots unconstructed
  DoomedNodes(const DoomedNodes&) = delete;
  DoomedNodes& operator=(const DoomedNodes&) = delete;
  ~DoomedNodes() {
    while (size_ > 0) in_place_[--size_].~Ptr();
  }

  void push(Ptr&& node) {
    if (size_ < kInPlace) {
      new (&in_place_[size_++]) Ptr(std::move(node));
    } else {
      overflow_.push_back(std::move(node));
    }
  }
  bool empty() const { return size_ == 0; }
  Ptr pop() {
    if (!overflow_.empty()) {
      Ptr node = std::move(overflow_.back());
      overflow_.pop_back();
      return node;
    }
    Ptr& slot = in_place_[--size_];
    Ptr node = std::move(slot);
    slot.~Ptr();
    return node;
  }

 private:
  static constexpr std::size_t kInPlace = 8;
  union {
    Ptr in_place_[kInPlace];
  };
  std::size_t size_ = 0;  // in place; the overflow only fills once these are taken
  std::vector<Ptr> overflow_;
};

// The teardown loop running on this thread, if any.
template <typename T>
DoomedNodes<T>*& running_teardown() {
  thread_local DoomedNodes<T>* doomed = nullptr;  // a plain pointer: safe at thread exit
  return doomed;
}

// Drops a dying node's references to its parents (a range of shared_ptrs to
// nodes); those it held last are destroyed by the loop, not by this call's
// callees. See Note [Teardown is a loop].
template <typename T, typename Range>
void release_parents(Range& parents) {
  auto parent = parents.begin();
  const auto end = parents.end();
  for (; parent != end; ++parent) {
    if (!*parent) continue;
    if (parent->use_count() == 1) break;
    parent->reset();
  }
  if (parent == end) return;  // every parent lives on: dropping our references was all
  const auto move_out_last = [&parent, end](DoomedNodes<T>& doomed) {
    for (; parent != end; ++parent) {
      if (!*parent) continue;
      if (parent->use_count() == 1) {
        doomed.push(std::move(*parent));
      } else {
        parent->reset();
      }
    }
  };
  if (DoomedNodes<T>* running = running_teardown<T>()) return move_out_last(*running);
  DoomedNodes<T> doomed;
  move_out_last(doomed);
  running_teardown<T>() = &doomed;
  while (!doomed.empty()) doomed.pop();  // each destructor pushes its own parents
  running_teardown<T>() = nullptr;
}

}  // namespace detail
}  // namespace cpp_grad

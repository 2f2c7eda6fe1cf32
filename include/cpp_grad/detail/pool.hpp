// Node memory. A training step builds a graph of thousands of nodes and drops
// it, a few node sizes over and over; glibc's per-thread cache keeps only a
// few blocks of a size, and the rest of malloc's work (locks, coalescing)
// dominates the cost of making a node. So each thread keeps its own free list
// per block size. Blocks still come from and go back to operator new/delete,
// so a node may be freed on any thread, and nothing outlives its thread's
// cache by accident: at thread exit the cached blocks are returned.
#pragma once

#include <cstddef>
#include <new>

namespace cpp_grad {
namespace detail {

struct FreeList {
  struct Block {
    Block* next;
  };
  Block* head = nullptr;
  std::size_t count = 0;
  bool closed = false;  // this thread is exiting: allocate and free directly
};

// Returns a thread's cached blocks when it exits. The list itself is
// trivially destructible, so nodes freed later in the exit sequence still
// find it (closed) instead of a destroyed object.
struct FreeListCloser {
  FreeList& list;
  ~FreeListCloser() {
    while (list.head) {
      FreeList::Block* block = list.head;
      list.head = block->next;
      ::operator delete(block);
    }
    list.count = 0;
    list.closed = true;
  }
};

template <std::size_t Size>
FreeList& free_list() {
  thread_local FreeList list;
  thread_local FreeListCloser closer{list};
  (void)closer;
  return list;
}

// Up to 32 MiB of spare blocks per size and thread.
template <std::size_t Size>
constexpr std::size_t max_cached_blocks() {
  return (std::size_t(32) << 20) / Size;
}

// Where the free lists cost more than they save, nodes go straight to
// operator new/delete:
//  - under AddressSanitizer, so that a use after free is caught, not hidden;
//  - where the includer defines CPP_GRAD_NO_NODE_POOL: cpp_grad/_loader.py
//    does, for code JIT-compiled by cling (cppyy), whose thread_local accesses
//    are calls rather than a register offset and cost more than malloc.
#if defined(__SANITIZE_ADDRESS__) || defined(CPP_GRAD_NO_NODE_POOL)
constexpr bool kPoolNodes = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kPoolNodes = false;
#else
constexpr bool kPoolNodes = true;
#endif
#else
constexpr bool kPoolNodes = true;
#endif

template <std::size_t Size>
void* pool_allocate() {
  if (!kPoolNodes) return ::operator new(Size);
  FreeList& list = free_list<Size>();
  if (FreeList::Block* block = list.head) {
    list.head = block->next;
    --list.count;
    // The next block is likely out of cache by now (it was freed with the
    // rest of some earlier graph): start fetching it for the next node.
    if (const char* next = reinterpret_cast<const char*>(list.head))
      for (std::size_t line = 0; line < Size; line += 64) __builtin_prefetch(next + line, 1);
    return block;
  }
  return ::operator new(Size);
}

template <std::size_t Size>
void pool_free(void* p) {
  if (!kPoolNodes) return ::operator delete(p);
  FreeList& list = free_list<Size>();
  if (list.closed || list.count >= max_cached_blocks<Size>()) {
    ::operator delete(p);
    return;
  }
  list.head = new (p) FreeList::Block{list.head};
  ++list.count;
}

}  // namespace detail

// The allocator behind every node's std::allocate_shared: one block holds the
// node and its shared_ptr control block.
template <typename U>
struct NodeAllocator {
  using value_type = U;
  static constexpr std::size_t block_size =
      (sizeof(U) + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) *
      alignof(std::max_align_t);
  static_assert(alignof(U) <= alignof(std::max_align_t), "over-aligned node");

  NodeAllocator() = default;
  template <typename V>
  NodeAllocator(const NodeAllocator<V>&) {}  // NOLINT: rebinding is implicit

  U* allocate(std::size_t n) {
    if (n != 1) return static_cast<U*>(::operator new(n * sizeof(U)));
    return static_cast<U*>(detail::pool_allocate<block_size>());
  }
  void deallocate(U* p, std::size_t n) {
    if (n != 1) return ::operator delete(p);
    detail::pool_free<block_size>(p);
  }
  template <typename V>
  bool operator==(const NodeAllocator<V>&) const { return true; }
  template <typename V>
  bool operator!=(const NodeAllocator<V>&) const { return false; }
};

}  // namespace cpp_grad

// Where an op node keeps its backward lambda: inside the node, not on the heap.
//
// Every node made by make_op has one type, _OpValue<T>, whatever its op. The
// op's lambda is copied into a small buffer in the node and called through a
// plain function pointer. One node type is one shared_ptr control-block type,
// so freeing a graph of mixed ops runs the same code for every node and the
// CPU can predict its calls; a node type per op would give each free two
// indirect calls to unpredictable targets. std::function would do the same
// job with a heap allocation for some lambdas and a larger node.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>

namespace cpp_grad {
namespace detail {

// A callable taking `const Out&`, stored in place. Only callables that fit
// (see fits()) are accepted: a backward lambda captures raw pointers and
// numbers (see Note [Raw pointers in a backward lambda]), so it is trivially
// copyable and needs no destructor.
template <typename Out>
class InlineStep {
 public:
  static constexpr std::size_t kCaptureBytes = 2 * sizeof(void*);
  template <typename F>
  static constexpr bool fits() {
    return sizeof(F) <= kCaptureBytes && alignof(F) <= alignof(void*) &&
           std::is_trivially_copyable<F>::value && std::is_trivially_destructible<F>::value;
  }

  template <typename F>
  explicit InlineStep(const F& f) {
    static_assert(fits<F>(),
                  "a backward lambda may capture raw pointers and numbers only, at most two");
    new (captures_) F(f);
    call_ = [](const void* captures, const Out& out) {
      (*std::launder(static_cast<const F*>(captures)))(out);
    };
  }

  void operator()(const Out& out) const { call_(captures_, out); }

 private:
  void (*call_)(const void* captures, const Out& out);
  alignas(void*) unsigned char captures_[kCaptureBytes];
};

}  // namespace detail
}  // namespace cpp_grad

// The engine: graph nodes (_Value), the handle users hold (Value), and backward().
//
// A Value is a handle to a node; copying a Value shares the node. Each node
// owns its parents through std::shared_ptr, so a graph lives exactly as long
// as someone holds a Value that reaches it. Backward steps are lambdas that
// hold raw pointers to the parents: a node holding a shared_ptr to itself in
// its own closure would be a reference cycle that is never freed.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "pool.hpp"

namespace cpp_grad {

template <typename T>
struct _Value;
template <typename T>
class Value;

template <typename T>
using NodePtr = std::shared_ptr<_Value<T>>;

// Makes a node of type `Node` (one allocation for the node and its control block).
template <typename Node, typename... Args>
std::shared_ptr<Node> make_node(Args&&... args) {
  return std::allocate_shared<Node>(NodeAllocator<Node>(), std::forward<Args>(args)...);
}

// The parents a node lists for backward() to walk: a view into the node.
template <typename T>
struct Parents {
  const NodePtr<T>* first = nullptr;
  std::size_t count = 0;
  const NodePtr<T>* begin() const { return first; }
  const NodePtr<T>* end() const { return first + count; }
  std::size_t size() const { return count; }
};

// A graph node. A plain _Value is a leaf (an input or a parameter); nodes made
// by ops derive from it and add their parents and their backward step.
// Leaves are kept this small on purpose: a layer's weights are stored side by
// side (see fused.hpp), and the fused dot product walks them in memory order.
template <typename T>
struct _Value {
  static_assert(std::is_floating_point<T>::value,
                "cpp_grad::Value<T> needs a floating-point T (float or double)");

  T data;
  T grad = 0;
  // Inside a graph walk: how many of this node's children have yet to pass
  // their gradient down. 0 whenever no walk is running.
  std::uint32_t pending_children = 0;

  // What kind of node this is, so that the graph walk, which asks every node
  // it passes for its parents twice per backward(), can read them without a
  // virtual call (whose target, in a graph of mixed ops, the CPU cannot
  // predict). See walk_parents(). It fits in what was padding.
  enum class Kind : std::uint8_t {
    kLeaf,   // no parents
    kOp,     // an _OpValue: one or two parents, kept in the node
    kOther,  // parents() knows (n-ary and fused nodes)
  };
  Kind kind = Kind::kLeaf;

  explicit _Value(T data_ = 0) : data(data_) {}
  _Value(const _Value&) = delete;
  _Value& operator=(const _Value&) = delete;
  virtual ~_Value() = default;

  virtual const char* op() const { return ""; }  // "" for leaves
  bool is_leaf() const { return kind == Kind::kLeaf; }
  // The parents backward() must walk through (any that may have parents of
  // their own). A fused node may leave out parents that are leaves by
  // construction, such as a layer's weights; all_parents() lists every one.
  virtual Parents<T> parents() const { return {}; }
  virtual std::vector<NodePtr<T>> all_parents() const {
    Parents<T> p = parents();
    return {p.begin(), p.end()};
  }
  // Adds this node's gradient contribution to its parents' grads.
  virtual void backward_step() {}
  // Zeroes the grads of the parents that parents() leaves out (a fused
  // node's weights), for zero_grad().
  virtual void zero_unlisted_parent_grads() {}

  // parents(), for the walk: the hot path of backward(). Defined below _OpValue.
  Parents<T> walk_parents() const;
};

namespace detail {

// Nodes about to be destroyed: a few in place, more on the heap. The in-place
// slots are raw storage, constructed only when used: a teardown starts every
// time a dropped node takes a parent with it, and zeroing eight empty
// shared_ptrs each time was a measurable share of building a graph.
template <typename T>
class DoomedNodes {
 public:
  DoomedNodes() {}  // NOLINT: the union leaves the slots unconstructed
  DoomedNodes(const DoomedNodes&) = delete;
  DoomedNodes& operator=(const DoomedNodes&) = delete;
  ~DoomedNodes() {
    while (size_ > 0) in_place_[--size_].~NodePtr<T>();
  }

  void push(NodePtr<T>&& node) {
    if (size_ < kInPlace) {
      new (&in_place_[size_++]) NodePtr<T>(std::move(node));
    } else {
      overflow_.push_back(std::move(node));
    }
  }
  bool empty() const { return size_ == 0; }
  NodePtr<T> pop() {
    if (!overflow_.empty()) {
      NodePtr<T> node = std::move(overflow_.back());
      overflow_.pop_back();
      return node;
    }
    NodePtr<T>& slot = in_place_[--size_];
    NodePtr<T> node = std::move(slot);
    slot.~NodePtr<T>();
    return node;
  }

 private:
  static constexpr std::size_t kInPlace = 8;
  union {
    NodePtr<T> in_place_[kInPlace];
  };
  std::size_t size_ = 0;  // in place; the overflow only fills once these are taken
  std::vector<NodePtr<T>> overflow_;
};

// The teardown loop running on this thread, if any (see release_parents).
template <typename T>
DoomedNodes<T>*& running_teardown() {
  thread_local DoomedNodes<T>* doomed = nullptr;  // a plain pointer: safe at thread exit
  return doomed;
}

// Default shared_ptr teardown recurses once per node: dropping a
// 10-million-node chain would overflow the stack. Instead the first dying
// node starts a loop here, and every node destroyed inside it hands the
// parents that would die with it to that loop rather than destroying them
// itself. So each destructor runs on a node whose last-held parents are gone.
//
// A parent that lives on is let go of at once, in order: a node may hold one
// parent twice (x * x), and only once the first reference is dropped does the
// second show that this node was the parent's last owner.
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

// A node made by an op on one or two Values. Its backward step is the op's
// lambda, which captures raw pointers to the parents (`parents_` keeps them
// alive) and perhaps a number.
//
// Every such node has this one type, whatever its op: the lambda is copied
// into a small buffer and called through a function pointer. One node type is
// one shared_ptr control-block type, so freeing a graph of mixed ops runs the
// same code for every node and the CPU predicts its calls; with a type per op,
// each free took two indirect calls the CPU could not predict.
template <typename T>
struct _OpValue final : _Value<T> {
  // What a backward lambda may capture: raw pointers and numbers, at most two.
  static constexpr std::size_t kCaptureBytes = 2 * sizeof(void*);
  template <typename Backward>
  static constexpr bool fits() {
    return sizeof(Backward) <= kCaptureBytes && alignof(Backward) <= alignof(void*) &&
           std::is_trivially_copyable<Backward>::value &&
           std::is_trivially_destructible<Backward>::value;
  }

  template <typename Backward>
  _OpValue(T data_, const char* op_, const Backward& backward, NodePtr<T> a, NodePtr<T> b)
      : _Value<T>(data_), parents_{std::move(a), std::move(b)}, op_(op_) {
    static_assert(fits<Backward>(),
                  "a backward lambda may capture raw pointers and numbers only, at most two");
    new (captures_) Backward(backward);
    step_ = [](const void* captures, const _Value<T>& out) {
      (*std::launder(static_cast<const Backward*>(captures)))(out);
    };
    this->kind = _Value<T>::Kind::kOp;
  }
  ~_OpValue() override { detail::release_parents<T>(parents_); }

  const char* op() const override { return op_; }
  Parents<T> parents() const override { return op_parents(); }
  Parents<T> op_parents() const { return {parents_.data(), parents_[1] ? 2u : 1u}; }
  void backward_step() override { step_(captures_, *this); }

 private:
  // The parents first: the walk reads them right after the node's header.
  std::array<NodePtr<T>, 2> parents_;  // a unary op leaves the second empty
  void (*step_)(const void* captures, const _Value<T>& out);
  alignas(void*) unsigned char captures_[kCaptureBytes];
  const char* op_;
};

template <typename T>
Parents<T> _Value<T>::walk_parents() const {
  if (kind == Kind::kOp) return static_cast<const _OpValue<T>*>(this)->op_parents();
  if (kind == Kind::kLeaf) return {};
  return parents();
}

// A node made by an op over any number of parents (sum, mean, losses).
template <typename T, typename Backward>
struct _NaryValue final : _Value<T> {
  _NaryValue(T data_, const char* op_, std::vector<NodePtr<T>> parents, Backward backward)
      : _Value<T>(data_), op_(op_), parents_(std::move(parents)), backward_(std::move(backward)) {
    this->kind = _Value<T>::Kind::kOther;
  }
  ~_NaryValue() override { detail::release_parents<T>(parents_); }

  const char* op() const override { return op_; }
  Parents<T> parents() const override { return {parents_.data(), parents_.size()}; }
  void backward_step() override { backward_(*this, parents_); }

 private:
  const char* op_;
  std::vector<NodePtr<T>> parents_;
  Backward backward_;
};

namespace detail {

// Room on the walk's stack for `n` more nodes, grown by doubling.
template <typename T>
void make_room(std::vector<_Value<T>*>& stack, std::size_t n) {
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
template <typename T>
void clear_pending_counts(std::vector<_Value<T>*>& stack) {
  while (!stack.empty()) {
    _Value<T>* node = stack.back();
    stack.pop_back();
    for (const NodePtr<T>& parent : node->walk_parents()) {
      if (parent->pending_children != 0) {
        parent->pending_children = 0;
        stack.push_back(parent.get());
      }
    }
  }
}

}  // namespace detail

// Calls `visit(node)` on every node behind `root`, each once, children
// before parents: when a node is visited, every node that uses it has been.
// Kahn's algorithm: one walk counts each node's children, the second visits a
// node once its last child is done. No recursion, so graphs of any depth fit,
// and only the frontier is stored, so a 10-million-node chain costs no more
// than a few pointers of extra memory. `discover(node)` runs on each node
// when it is first reached, before any is visited. If the walk throws, every
// count is back at 0 (see Note [A failed walk]).
template <typename T, typename Discover, typename Visit>
void walk_children_first(_Value<T>* root, Discover discover, Visit visit) {
  std::vector<_Value<T>*> stack{root};
  bool counting = true;
  try {
    discover(root);
    while (!stack.empty()) {
      const Parents<T> parents = stack.back()->walk_parents();
      detail::make_room(stack, parents.size());
      stack.pop_back();
      for (const NodePtr<T>& parent : parents) {
        if (parent->pending_children++ == 0) {
          discover(parent.get());
          stack.push_back(parent.get());
        }
      }
    }
    counting = false;
    stack.push_back(root);
    while (!stack.empty()) {
      _Value<T>* node = stack.back();
      visit(node);
      const Parents<T> parents = node->walk_parents();
      detail::make_room(stack, parents.size());
      stack.pop_back();  // only now: a node whose visit failed stays on the stack
      for (const NodePtr<T>& parent : parents)
        if (--parent->pending_children == 0) stack.push_back(parent.get());
    }
  } catch (...) {
    if (counting) {
      stack.clear();
      stack.push_back(root);
    }
    detail::clear_pending_counts(stack);
    throw;
  }
}

// Back-propagates from `root`, as PyTorch does: intermediate gradients are
// computed afresh on each call; leaf gradients accumulate until zeroed.
// One backward() at a time per graph: two threads may each walk their own
// graph, but not graphs that share a node (a leaf included). The walk keeps
// its counts in the nodes, and grads are added without locks; the trainer
// gives each thread its own copy of the model for this reason.
template <typename T>
void backward(_Value<T>* root) {
  walk_children_first(
      root,
      [](_Value<T>* node) {
        if (!node->is_leaf()) node->grad = 0;
      },
      [root](_Value<T>* node) {
        if (node == root) node->grad += 1;
        node->backward_step();
      });
}

// The handle users hold. Copying a Value shares its node.
template <typename T>
class Value {
 public:
  using value_type = T;

  Value() : Value(T(0)) {}
  Value(T data) : node_(make_node<_Value<T>>(data)) {}  // NOLINT: numbers convert
  explicit Value(NodePtr<T> node) : node_(std::move(node)) {}

  T data() const { return node_->data; }
  T grad() const { return node_->grad; }
  void set_data(T data) { node_->data = data; }
  void set_grad(T grad) { node_->grad = grad; }
  const char* op() const { return node_->op(); }
  bool is_leaf() const { return node_->is_leaf(); }

  void backward() { cpp_grad::backward(node_.get()); }
  // Zeroes the grad of every node behind this one, leaves included.
  void zero_grad() {
    walk_children_first(
        node_.get(),
        [](_Value<T>* node) {
          node->grad = 0;
          node->zero_unlisted_parent_grads();
        },
        [](_Value<T>*) {});
  }

  // Every parent of this node (for drawing and exploring the graph).
  std::vector<Value> parents() const {
    std::vector<Value> out;
    for (NodePtr<T>& p : node_->all_parents()) out.emplace_back(std::move(p));
    return out;
  }

  _Value<T>* node() const { return node_.get(); }
  const NodePtr<T>& node_ptr() const { return node_; }

 private:
  NodePtr<T> node_;
};

// Makes the node of an op: its value, its parents and its backward step, a
// lambda taking the new node (`out`) that captures at most two raw pointers
// or numbers: the parents, or a parent and a constant (see _OpValue).
template <typename T, typename Backward>
Value<T> make_op(const char* op, T data, const Value<T>& a, const Backward& backward) {
  return Value<T>(make_node<_OpValue<T>>(data, op, backward, a.node_ptr(), nullptr));
}

template <typename T, typename Backward>
Value<T> make_op(const char* op, T data, const Value<T>& a, const Value<T>& b,
                 const Backward& backward) {
  return Value<T>(make_node<_OpValue<T>>(data, op, backward, a.node_ptr(), b.node_ptr()));
}

// `backward(out, parents)` gets the node and its parents' shared_ptrs.
template <typename T, typename Backward>
Value<T> make_nary_op(const char* op, T data, std::vector<NodePtr<T>> parents, Backward backward) {
  return Value<T>(
      make_node<_NaryValue<T, Backward>>(data, op, std::move(parents), std::move(backward)));
}

}  // namespace cpp_grad

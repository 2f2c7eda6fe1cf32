// The engine: graph nodes (_Value), the handle users hold (Value), and backward().
//
// A Value is a handle to a node; copying a Value shares the node. Each node
// owns its parents through std::shared_ptr, so a graph lives exactly as long
// as someone holds a Value that reaches it. An op (ops.hpp) is one make_op
// call: its forward value and its backward lambda, side by side.
//
// Note [Raw pointers in a backward lambda]
// A backward lambda captures raw pointers to the op's parents, never
// shared_ptrs. The node owns the lambda; a shared_ptr in it to the node itself
// (or to a node that owns this one) would be a reference cycle that is never
// freed. The node's own `parents_` keep the parents alive, so the raw
// pointers are valid whenever the lambda runs.
//
// The memory tricks are fenced under detail/: node memory (pool.hpp), freeing
// a graph without recursion (teardown.hpp), the op lambda's storage inside
// the node (inline_step.hpp), and the walk's stack (walk_stack.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail/inline_step.hpp"
#include "detail/pool.hpp"
#include "detail/teardown.hpp"
#include "detail/walk_stack.hpp"

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
  // their gradient down. 0 whenever no walk is running, even after a walk
  // that threw (see Note [A failed walk]).
  std::uint32_t pending_children = 0;

  // What kind of node this is, so that the walk, which asks every node it
  // passes for its parents twice per backward(), reads them without a virtual
  // call whose target the CPU cannot predict (see walk_parents()).
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

// A node made by an op on one or two Values. Its backward step is the op's
// lambda, which captures raw pointers to the parents (see Note [Raw pointers
// in a backward lambda]) and perhaps a number, kept inside the node
// (detail/inline_step.hpp).
template <typename T>
struct _OpValue final : _Value<T> {
  template <typename Backward>
  _OpValue(T data_, const char* op_, const Backward& backward, NodePtr<T> a, NodePtr<T> b)
      : _Value<T>(data_), parents_{std::move(a), std::move(b)}, step_(backward), op_(op_) {
    this->kind = _Value<T>::Kind::kOp;
  }
  ~_OpValue() override { detail::release_parents<T>(parents_); }  // see Note [Teardown is a loop]

  const char* op() const override { return op_; }
  Parents<T> parents() const override { return op_parents(); }
  Parents<T> op_parents() const { return {parents_.data(), parents_[1] ? 2u : 1u}; }
  void backward_step() override { step_(*this); }

 private:
  // The parents first: the walk reads them right after the node's header.
  std::array<NodePtr<T>, 2> parents_;  // a unary op leaves the second empty
  detail::InlineStep<_Value<T>> step_;
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
  ~_NaryValue() override { detail::release_parents<T>(parents_); }  // see Note [Teardown is a loop]

  const char* op() const override { return op_; }
  Parents<T> parents() const override { return {parents_.data(), parents_.size()}; }
  void backward_step() override { backward_(*this, parents_); }

 private:
  const char* op_;
  std::vector<NodePtr<T>> parents_;
  Backward backward_;
};

// Calls `visit(node)` on every node behind `root`, each once, children
// before parents: when a node is visited, every node that uses it has been.
// Kahn's algorithm: one walk counts each node's children, the second visits a
// node once its last child is done. No recursion, so graphs of any depth fit,
// and only the frontier is stored, so a long chain costs no more than a few
// pointers of extra memory. `discover(node)` runs on each node
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
// or numbers: the parents, or a parent and a constant (see Note [Raw pointers
// in a backward lambda]).
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

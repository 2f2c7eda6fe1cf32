// Plain, non-template, non-operator entry points for the Python package.
// cppyy binds these once per T; Python's operators (cpp_grad/value.py) call
// them, so that every Python op is one cppyy call with no overload guessing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cpp_grad/cpp_grad.hpp"

namespace cpp_grad {
namespace py {

// ---- ops written in Python -------------------------------------------------
//
// Note [Python backward steps]
// micrograd's extension model: `out = Value(data, (a, b), 'op')`, then
// `out._backward = fn`, a Python callable that closes over `out` and its
// parents. The node keeps its parents in C++ like any other, but it holds no
// reference to `fn` (or to any Python object): `fn` -> `out` -> node -> `fn`
// would be a cycle through C++, which Python's garbage collector cannot see,
// and every such graph would leak. Instead `fn` lives on the Python Value of
// the node (cpp_grad/value.py), and backward() asks Python for it by the
// node's address. So that it cannot be lost while the node is still in use,
// every Python Value made from such a node (by an op, a module or cpp_op)
// keeps the Python Values it was made from: a chain of Python references that
// the garbage collector sees, and frees with the graph.

// Runs the Python _backward of the node at `node`; false if it raised (Python
// keeps the exception and raises it again from backward()).
using PythonStep = std::function<bool(std::uintptr_t node)>;

inline PythonStep& python_step() {
  static PythonStep step;
  return step;
}
inline void set_python_step(PythonStep step) { python_step() = std::move(step); }

// Thrown through the walk when a Python _backward raised.
struct PythonStepFailed : std::runtime_error {
  PythonStepFailed() : std::runtime_error("a Python _backward raised") {}
};

// A node made in Python by Value(data, _children, _op): its parents and its op
// tag; the backward step is Python's (see Note [Python backward steps]).
template <typename T>
struct _PythonOpValue final : _Value<T> {
  _PythonOpValue(T data_, std::string op_, std::vector<NodePtr<T>> parents)
      : _Value<T>(data_), op_(std::move(op_)), parents_(std::move(parents)) {
    this->kind = parents_.empty() ? _Value<T>::Kind::kLeaf : _Value<T>::Kind::kOther;
  }
  ~_PythonOpValue() override { detail::release_parents<T>(parents_); }

  const char* op() const override { return op_.c_str(); }
  Parents<T> parents() const override { return {parents_.data(), parents_.size()}; }
  void backward_step() override {
    const _Value<T>* self = this;
    if (!python_step()(reinterpret_cast<std::uintptr_t>(self))) throw PythonStepFailed();
  }

 private:
  std::string op_;
  std::vector<NodePtr<T>> parents_;
};

template <typename T>
struct ValueOps {
  using V = Value<T>;
  static V add(const V& a, const V& b) { return a + b; }
  static V add_number(const V& a, T k) { return a + k; }
  static V sub(const V& a, const V& b) { return a - b; }
  static V sub_number(const V& a, T k) { return a - k; }
  static V number_sub(T k, const V& a) { return k - a; }
  static V mul(const V& a, const V& b) { return a * b; }
  static V mul_number(const V& a, T k) { return a * k; }
  static V div(const V& a, const V& b) { return a / b; }
  static V div_number(const V& a, T k) { return a / k; }
  static V number_div(T k, const V& a) { return k / a; }
  static V neg(const V& a) { return -a; }
  static V pow(const V& a, T k) { return cpp_grad::pow(a, k); }
  static V exp(const V& a) { return cpp_grad::exp(a); }
  static V log(const V& a) { return cpp_grad::log(a); }
  static V tanh(const V& a) { return cpp_grad::tanh(a); }
  static V sigmoid(const V& a) { return cpp_grad::sigmoid(a); }
  static V relu(const V& a) { return cpp_grad::relu(a); }
  static V sum(const std::vector<V>& xs) { return cpp_grad::sum(xs); }
  static V mean(const std::vector<V>& xs) {
    if (xs.empty()) throw std::invalid_argument("mean() of no Values");
    return cpp_grad::mean(xs);
  }
  // Identity of the node behind a handle: Python handles of one node hash alike.
  static std::uintptr_t node_id(const V& a) {
    return reinterpret_cast<std::uintptr_t>(a.node());
  }
  static bool same_node(const V& a, const V& b) { return a.node() == b.node(); }
  // A handle of its own (cppyy hands out elements of a vector as views into it).
  static V copy(const V& a) { return a; }

  // micrograd's constructor: Value(data, _children, _op).
  static V python_op(T data, const std::string& op, const std::vector<V>& children) {
    return V(make_node<_PythonOpValue<T>>(data, op, nodes_of(children)));
  }
  static bool is_python_op(const V& a) {
    return dynamic_cast<const _PythonOpValue<T>*>(a.node()) != nullptr;
  }
  // This node's share of backward(): micrograd's `node._backward()`.
  static void backward_step(const V& a) { a.node()->backward_step(); }

  // backward(); false if a Python _backward raised. Either way the walk has
  // left the graph ready for the next call (see Note [A failed walk]).
  static bool backward(V root) {
    try {
      root.backward();
      return true;
    } catch (const PythonStepFailed&) {
      return false;
    }
  }
};

// Making models, optimizers and trainers.
template <typename T>
struct ModelOps {
  static std::unique_ptr<Neuron<T>> neuron(std::size_t nin, const std::string& activation,
                                           std::uint64_t seed) {
    return std::make_unique<Neuron<T>>(nin, activation_from_name(activation), seed);
  }
  static std::unique_ptr<Layer<T>> layer(std::size_t nin, std::size_t nout,
                                         const std::string& activation, std::uint64_t seed) {
    return std::make_unique<Layer<T>>(nin, nout, activation_from_name(activation), seed);
  }
  static std::unique_ptr<MLP<T>> mlp(std::size_t nin, const std::vector<std::size_t>& nouts,
                                     const std::string& activation, std::uint64_t seed) {
    return std::make_unique<MLP<T>>(nin, nouts, activation_from_name(activation), seed);
  }

  // A layer's weights as numpy arrays: w is (nout, nin), row j neuron j's
  // weights, and b is (nout,), its biases.
  static void get_weights(const Layer<T>& layer, T* w, T* b) {
    for (const Neuron<T>& neuron : layer.neurons()) {
      for (std::size_t i = 0; i < neuron.nin(); ++i) *w++ = neuron.weight(i).data();
      *b++ = neuron.bias().data();
    }
  }
  static void set_weights(const Layer<T>& layer, const T* w, const T* b) {
    for (const Neuron<T>& neuron : layer.neurons()) {
      for (std::size_t i = 0; i < neuron.nin(); ++i) neuron.weight(i).set_data(*w++);
      neuron.bias().set_data(*b++);
    }
  }
};

// A module (Neuron, Layer, MLP) applied to one sample: Values, or plain
// numbers (which need no grads). Non-template members, so that cppyy has one
// overload to call and hands C++ exceptions through as they are.
template <typename Module>
struct ModuleOps {
  using T = typename Module::value_type;
  using V = Value<T>;
  static std::vector<V> call_values(const Module& m, const std::vector<V>& x) {
    return as_vector(m(x));
  }
  static std::vector<V> call_numbers(const Module& m, const T* x, std::size_t n) {
    return as_vector(m(SharedConstants<T>(std::make_shared<const std::vector<T>>(x, x + n))));
  }

 private:
  static std::vector<V> as_vector(std::vector<V> values) { return values; }
  static std::vector<V> as_vector(V value) { return {std::move(value)}; }
};

}  // namespace py
}  // namespace cpp_grad

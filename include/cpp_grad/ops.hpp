// The ops. Each one reads as micrograd's do: the forward value, then the
// backward step right beside it, which adds d(out)/d(parent) * out.grad to
// each parent's grad. `a` and `b` are Values; `k` is a plain number. The
// lambdas capture the parents as raw pointers (see Note [Raw pointers in a
// backward lambda], value.hpp).
#pragma once

#include <cmath>
#include <vector>

#include "value.hpp"

namespace cpp_grad {

// A plain number next to a Value<T>. Kept out of template deduction, so that
// `v * 2` converts the int 2 to T instead of failing to deduce T.
template <typename T>
struct number_of {
  using type = T;
};
template <typename T>
using Number = typename number_of<T>::type;

// ---- a + b ----------------------------------------------------------------
template <typename T>
Value<T> operator+(const Value<T>& a, const Value<T>& b) {
  return make_op("+", a.data() + b.data(), a, b,
                 [a = a.node(), b = b.node()](const _Value<T>& out) {
                   a->grad += out.grad;
                   b->grad += out.grad;
                 });
}
template <typename T>
Value<T> operator+(const Value<T>& a, Number<T> k) {
  return make_op("+", a.data() + k, a,
                 [a = a.node()](const _Value<T>& out) { a->grad += out.grad; });
}
template <typename T>
Value<T> operator+(Number<T> k, const Value<T>& a) {
  return a + k;
}

// ---- a - b ----------------------------------------------------------------
template <typename T>
Value<T> operator-(const Value<T>& a, const Value<T>& b) {
  return make_op("-", a.data() - b.data(), a, b,
                 [a = a.node(), b = b.node()](const _Value<T>& out) {
                   a->grad += out.grad;
                   b->grad -= out.grad;
                 });
}
template <typename T>
Value<T> operator-(const Value<T>& a, Number<T> k) {
  return make_op("-", a.data() - k, a,
                 [a = a.node()](const _Value<T>& out) { a->grad += out.grad; });
}
template <typename T>
Value<T> operator-(Number<T> k, const Value<T>& a) {
  return make_op("-", k - a.data(), a,
                 [a = a.node()](const _Value<T>& out) { a->grad -= out.grad; });
}
template <typename T>
Value<T> operator-(const Value<T>& a) {
  return make_op("neg", -a.data(), a,
                 [a = a.node()](const _Value<T>& out) { a->grad -= out.grad; });
}

// ---- a * b ----------------------------------------------------------------
template <typename T>
Value<T> operator*(const Value<T>& a, const Value<T>& b) {
  return make_op("*", a.data() * b.data(), a, b,
                 [a = a.node(), b = b.node()](const _Value<T>& out) {
                   a->grad += b->data * out.grad;
                   b->grad += a->data * out.grad;
                 });
}
template <typename T>
Value<T> operator*(const Value<T>& a, Number<T> k) {
  return make_op("*", a.data() * k, a,
                 [a = a.node(), k](const _Value<T>& out) { a->grad += k * out.grad; });
}
template <typename T>
Value<T> operator*(Number<T> k, const Value<T>& a) {
  return a * k;
}

// ---- a / b ----------------------------------------------------------------
template <typename T>
Value<T> operator/(const Value<T>& a, const Value<T>& b) {
  return make_op("/", a.data() / b.data(), a, b,
                 [a = a.node(), b = b.node()](const _Value<T>& out) {
                   a->grad += out.grad / b->data;
                   b->grad -= out.grad * out.data / b->data;  // d(a/b)/db = -a/b^2
                 });
}
template <typename T>
Value<T> operator/(const Value<T>& a, Number<T> k) {
  return make_op("/", a.data() / k, a,
                 [a = a.node(), k](const _Value<T>& out) { a->grad += out.grad / k; });
}
template <typename T>
Value<T> operator/(Number<T> k, const Value<T>& a) {
  return make_op("/", k / a.data(), a, [a = a.node()](const _Value<T>& out) {
    a->grad -= out.grad * out.data / a->data;  // d(k/a)/da = -k/a^2
  });
}

// ---- a += b and friends rebind `a` to a new node, as in Python ------------
template <typename T, typename B>
Value<T>& operator+=(Value<T>& a, const B& b) { return a = a + b; }
template <typename T, typename B>
Value<T>& operator-=(Value<T>& a, const B& b) { return a = a - b; }
template <typename T, typename B>
Value<T>& operator*=(Value<T>& a, const B& b) { return a = a * b; }
template <typename T, typename B>
Value<T>& operator/=(Value<T>& a, const B& b) { return a = a / b; }

// ---- functions of one Value -----------------------------------------------
template <typename T>
Value<T> pow(const Value<T>& a, Number<T> k) {
  return make_op("pow", std::pow(a.data(), k), a,
                 [a = a.node(), k](const _Value<T>& out) {
                   if (k != 0) a->grad += k * std::pow(a->data, k - 1) * out.grad;  // x^0 is flat, even at 0
                 });
}

template <typename T>
Value<T> exp(const Value<T>& a) {
  return make_op("exp", std::exp(a.data()), a,
                 [a = a.node()](const _Value<T>& out) { a->grad += out.data * out.grad; });
}

template <typename T>
Value<T> log(const Value<T>& a) {
  return make_op("log", std::log(a.data()), a,
                 [a = a.node()](const _Value<T>& out) { a->grad += out.grad / a->data; });
}

template <typename T>
Value<T> tanh(const Value<T>& a) {
  return make_op("tanh", std::tanh(a.data()), a, [a = a.node()](const _Value<T>& out) {
    a->grad += (1 - out.data * out.data) * out.grad;
  });
}

// 1 / (1 + e^-x), written so that neither branch overflows.
template <typename T>
T sigmoid_of(T x) {
  if (x >= 0) return 1 / (1 + std::exp(-x));
  const T e = std::exp(x);
  return e / (1 + e);
}

template <typename T>
Value<T> sigmoid(const Value<T>& a) {
  return make_op("sigmoid", sigmoid_of(a.data()), a, [a = a.node()](const _Value<T>& out) {
    a->grad += out.data * (1 - out.data) * out.grad;
  });
}

// max(0, x). As in PyTorch, NaN passes through and the gradient at exactly 0 is 0.
template <typename T>
T relu_of(T x) {
  return (x > 0 || std::isnan(x)) ? x : T(0);
}

template <typename T>
Value<T> relu(const Value<T>& a) {
  return make_op("relu", relu_of(a.data()), a, [a = a.node()](const _Value<T>& out) {
    if (a->data > 0) a->grad += out.grad;
  });
}

// ---- n-ary ops --------------------------------------------------------------
template <typename T>
std::vector<NodePtr<T>> nodes_of(const std::vector<Value<T>>& values) {
  std::vector<NodePtr<T>> nodes;
  nodes.reserve(values.size());
  for (const Value<T>& v : values) nodes.push_back(v.node_ptr());
  return nodes;
}

// One node for x[0] + x[1] + ... instead of a chain of binary ones.
template <typename T>
Value<T> sum(const std::vector<Value<T>>& xs) {
  T total = 0;
  for (const Value<T>& x : xs) total += x.data();
  return make_nary_op("sum", total, nodes_of(xs),
                      [](const _Value<T>& out, const std::vector<NodePtr<T>>& xs) {
                        for (const NodePtr<T>& x : xs) x->grad += out.grad;
                      });
}

template <typename T>
Value<T> mean(const std::vector<Value<T>>& xs) {
  T total = 0;
  for (const Value<T>& x : xs) total += x.data();
  const T n = T(xs.size());
  return make_nary_op("mean", xs.empty() ? T(NAN) : total / n, nodes_of(xs),
                      [n](const _Value<T>& out, const std::vector<NodePtr<T>>& xs) {
                        for (const NodePtr<T>& x : xs) x->grad += out.grad / n;
                      });
}

// ---- comparisons compare data -----------------------------------------------
#define CPP_GRAD_COMPARISON(OP)                                                   \
  template <typename T>                                                           \
  bool operator OP(const Value<T>& a, const Value<T>& b) {                        \
    return a.data() OP b.data();                                                  \
  }                                                                               \
  template <typename T>                                                           \
  bool operator OP(const Value<T>& a, Number<T> k) {                              \
    return a.data() OP k;                                                         \
  }                                                                               \
  template <typename T>                                                           \
  bool operator OP(Number<T> k, const Value<T>& a) {                              \
    return k OP a.data();                                                         \
  }
CPP_GRAD_COMPARISON(<)
CPP_GRAD_COMPARISON(<=)
CPP_GRAD_COMPARISON(>)
CPP_GRAD_COMPARISON(>=)
CPP_GRAD_COMPARISON(==)
CPP_GRAD_COMPARISON(!=)
#undef CPP_GRAD_COMPARISON

}  // namespace cpp_grad

// Activations: the non-linearity a neuron applies to its weighted sum, by
// name (as Python passes it), on a Value (a node of the graph) and on a plain
// number (inference without a graph, and the training path's fused nodes).
#pragma once

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "detail/names.hpp"
#include "ops.hpp"
#include "value.hpp"

namespace cpp_grad {

enum class Activation { linear, relu, tanh };

inline constexpr detail::Named<Activation> kActivationNames[] = {
    {"relu", Activation::relu}, {"tanh", Activation::tanh}, {"linear", Activation::linear}};

inline const char* activation_name(Activation activation) {
  return detail::name_of(activation, kActivationNames);
}

// The names activation_from_name accepts (the Python package and the scripts
// offer these).
inline std::vector<std::string> activation_names() { return detail::names_in(kActivationNames); }

inline Activation activation_from_name(const std::string& name) {
  return detail::from_name("activation", name, kActivationNames);
}

template <typename T>
Value<T> activate(const Value<T>& x, Activation activation) {
  switch (activation) {
    case Activation::relu: return relu(x);
    case Activation::tanh: return tanh(x);
    default: return x;
  }
}

template <typename T>
T activate(T x, Activation activation) {
  switch (activation) {
    case Activation::relu: return relu_of(x);
    case Activation::tanh: return std::tanh(x);
    default: return x;
  }
}

// d activation(z) / dz, from out = activation(z): what backward needs.
template <typename T>
T activation_slope(T out, Activation activation) {
  switch (activation) {
    case Activation::relu: return out > 0 ? T(1) : T(0);
    case Activation::tanh: return 1 - out * out;
    default: return 1;
  }
}

}  // namespace cpp_grad

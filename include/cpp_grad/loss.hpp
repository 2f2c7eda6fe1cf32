// Losses of one sample: a model's outputs against an integer class label.
// Each is one n-ary node with its gradient written out beside it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "detail/names.hpp"
#include "ops.hpp"
#include "value.hpp"

namespace cpp_grad {

enum class Loss { cross_entropy, mse, hinge };

inline constexpr detail::Named<Loss> kLossNames[] = {
    {"cross_entropy", Loss::cross_entropy}, {"mse", Loss::mse}, {"hinge", Loss::hinge}};

// The names loss_from_name accepts (the Python package and the scripts offer these).
inline std::vector<std::string> loss_names() { return detail::names_in(kLossNames); }

inline Loss loss_from_name(const std::string& name) {
  return detail::from_name("loss", name, kLossNames);
}

namespace detail {
inline void check_label(const char* loss, std::size_t label, std::size_t classes) {
  if (label >= classes)
    throw std::invalid_argument(std::string(loss) + ": label " + std::to_string(label) +
                                " is out of range for " + std::to_string(classes) +
                                " outputs");
}

// A model with one output is a binary classifier: label 0 or 1 stands for
// the target y = -1 or +1, and the predicted class is output > 0.
inline int binary_target(const char* loss, std::size_t label) {
  if (label > 1)
    throw std::invalid_argument(std::string(loss) + ": with 1 output the label must be 0 or 1, got " +
                                std::to_string(label));
  return label == 1 ? 1 : -1;
}
}  // namespace detail

// Binary cross-entropy on one logit z: log(1 + e^(-y z)), y = +-1, written
// so that the exponential never overflows. d/dz = -y * sigmoid(-y z).
template <typename T>
Value<T> logistic_loss(const Value<T>& z, std::size_t label) {
  const T y = T(detail::binary_target("cross_entropy", label));
  const T margin = -y * z.data();
  const T loss = margin > 0 ? margin + std::log1p(std::exp(-margin)) : std::log1p(std::exp(margin));
  return make_op("cross_entropy", loss, z, [z = z.node(), y](const _Value<T>& out) {
    z->grad -= y * sigmoid_of(-y * z->data) * out.grad;
  });
}

// -log softmax(z)[label] = log(sum_j e^z_j) - z_label. The largest logit is
// subtracted before exponentiating (log-sum-exp), so no e^z overflows.
// d/dz_j = softmax(z)_j - [j == label]. One logit: the logistic loss.
template <typename T>
Value<T> cross_entropy(const std::vector<Value<T>>& logits, std::size_t label) {
  if (logits.size() == 1) return logistic_loss(logits[0], label);
  detail::check_label("cross_entropy", label, logits.size());
  T max = logits[0].data();
  for (const Value<T>& z : logits) max = std::max(max, z.data());
  T total = 0;
  for (const Value<T>& z : logits) total += std::exp(z.data() - max);
  const T log_total = std::log(total);
  // (max - z_label) + log(total) rather than log_sum_exp - z_label: with large
  // logits, a difference of two large numbers would lose the small one's digits.
  return make_nary_op("cross_entropy", (max - logits[label].data()) + log_total,
                      nodes_of(logits),
                      [label, max, log_total](const _Value<T>& out,
                                              const std::vector<NodePtr<T>>& z) {
                        for (std::size_t j = 0; j < z.size(); ++j) {
                          const T softmax = std::exp((z[j]->data - max) - log_total);
                          z[j]->grad += (softmax - T(j == label)) * out.grad;
                        }
                      });
}

// Mean squared error against `targets`: sum_j (z_j - t_j)^2 / n.
template <typename T>
Value<T> mse(const std::vector<Value<T>>& outputs, const std::vector<T>& targets) {
  if (outputs.size() != targets.size() || outputs.empty())
    throw std::invalid_argument("mse: " + std::to_string(outputs.size()) + " outputs but " +
                                std::to_string(targets.size()) + " targets");
  const T n = T(outputs.size());
  T total = 0;
  for (std::size_t j = 0; j < outputs.size(); ++j) {
    const T diff = outputs[j].data() - targets[j];
    total += diff * diff;
  }
  return make_nary_op("mse", total / n, nodes_of(outputs),
                      [targets, n](const _Value<T>& out, const std::vector<NodePtr<T>>& z) {
                        for (std::size_t j = 0; j < z.size(); ++j)
                          z[j]->grad += 2 * (z[j]->data - targets[j]) / n * out.grad;
                      });
}

// The seed's loss: mse against the one-hot vector of `label` (one output:
// against the target -1 or +1).
template <typename T>
Value<T> mse(const std::vector<Value<T>>& outputs, std::size_t label) {
  if (outputs.size() == 1) return mse(outputs, std::vector<T>{T(detail::binary_target("mse", label))});
  detail::check_label("mse", label, outputs.size());
  std::vector<T> one_hot(outputs.size(), T(0));
  one_hot[label] = 1;
  return mse(outputs, one_hot);
}

// Max-margin loss. One output (micrograd's binary classifier): max(0, 1 - y z). Several outputs:
// the multiclass hinge sum_{j != label} max(0, 1 + z_j - z_label).
template <typename T>
Value<T> hinge(const std::vector<Value<T>>& outputs, std::size_t label) {
  if (outputs.size() == 1) {
    const T y = T(detail::binary_target("hinge", label));
    return make_op("hinge", std::max(T(0), 1 - y * outputs[0].data()), outputs[0],
                   [z = outputs[0].node(), y](const _Value<T>& out) {
                     if (1 - y * z->data > 0) z->grad -= y * out.grad;
                   });
  }
  detail::check_label("hinge", label, outputs.size());
  const T target = outputs[label].data();
  T total = 0;
  for (std::size_t j = 0; j < outputs.size(); ++j)
    if (j != label) total += std::max(T(0), 1 + outputs[j].data() - target);
  return make_nary_op("hinge", total, nodes_of(outputs),
                      [label](const _Value<T>& out, const std::vector<NodePtr<T>>& z) {
                        for (std::size_t j = 0; j < z.size(); ++j) {
                          if (j != label && 1 + z[j]->data - z[label]->data > 0) {
                            z[j]->grad += out.grad;
                            z[label]->grad -= out.grad;
                          }
                        }
                      });
}

template <typename T>
Value<T> loss(Loss kind, const std::vector<Value<T>>& outputs, std::size_t label) {
  switch (kind) {
    case Loss::mse: return mse(outputs, label);
    case Loss::hinge: return hinge(outputs, label);
    default: return cross_entropy(outputs, label);
  }
}

}  // namespace cpp_grad

// The one clever place: the fused weighted sum behind every neuron.
//
// A neuron computes b + w[0]*x[0] + ... + w[n-1]*x[n-1]. Written with the
// generic ops that is 2n nodes, 2n allocations and 2n shared_ptr copies per
// neuron per sample. Here it is one `dot` node:
//  - a layer's weights and biases are leaf nodes stored side by side in one
//    ParameterBlock (one allocation, one control block); a handle to a single
//    weight shares that control block (std::shared_ptr's aliasing
//    constructor), so the node holds one reference to the block, not n + 1;
//  - forward and backward walk the weights in memory order;
//  - the inputs are shared by all neurons of a layer: one bundle per layer per
//    sample, either Values (hidden layers) or plain numbers (the data, which
//    need no gradient).
// The backward step still fills every weight's, the bias's and every input's
// grad, exactly as the 2n binary nodes would.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "value.hpp"

namespace cpp_grad {

// Leaf nodes side by side, owned together.
template <typename T>
class ParameterBlock : public std::enable_shared_from_this<ParameterBlock<T>> {
 public:
  static std::shared_ptr<ParameterBlock> create(std::size_t size) {
    return std::shared_ptr<ParameterBlock>(new ParameterBlock(size));
  }
  std::size_t size() const { return size_; }
  _Value<T>* leaves() const { return leaves_.get(); }
  // A handle to leaf i that keeps the whole block alive.
  Value<T> parameter(std::size_t i) {
    return Value<T>(NodePtr<T>(this->shared_from_this(), &leaves_[i]));
  }

 private:
  explicit ParameterBlock(std::size_t size) : size_(size), leaves_(new _Value<T>[size]) {}
  std::size_t size_;
  std::unique_ptr<_Value<T>[]> leaves_;
};

// bias + sum_i w[i].data * x(i), for the n weights at `w` followed by the
// bias. Four running sums instead of one: a single sum is a chain of
// dependent adds, each waiting for the last; four keep the FPU busy.
template <typename T, typename Input>
T weighted_sum(const _Value<T>* w, std::size_t n, Input x) {
  T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += w[i].data * x(i);
    s1 += w[i + 1].data * x(i + 1);
    s2 += w[i + 2].data * x(i + 2);
    s3 += w[i + 3].data * x(i + 3);
  }
  for (; i < n; ++i) s0 += w[i].data * x(i);
  return w[n].data + ((s0 + s1) + (s2 + s3));
}

// A layer's inputs, shared by the dot nodes of all its neurons.
template <typename T>
using SharedInputs = std::shared_ptr<std::vector<NodePtr<T>>>;
template <typename T>
using SharedConstants = std::shared_ptr<const std::vector<T>>;

template <typename T>
SharedInputs<T> bundle(const std::vector<Value<T>>& xs) {
  auto nodes = std::make_shared<std::vector<NodePtr<T>>>();
  nodes->reserve(xs.size());
  for (const Value<T>& x : xs) nodes->push_back(x.node_ptr());
  return nodes;
}

// What both kinds of dot node share: the weights, and the op tag.
template <typename T>
struct _DotBase : _Value<T> {
  _DotBase(std::shared_ptr<ParameterBlock<T>> block, std::size_t offset, std::size_t n)
      : block_(std::move(block)), w_(block_->leaves() + offset), n_(n) {
    this->kind = _Value<T>::Kind::kOther;
  }
  const char* op() const override { return "dot"; }
  void zero_unlisted_parent_grads() override {
    for (std::size_t i = 0; i <= n_; ++i) w_[i].grad = 0;
  }

 protected:
  std::vector<NodePtr<T>> weights_and_bias() const {
    const std::size_t offset = std::size_t(w_ - block_->leaves());
    std::vector<NodePtr<T>> out;
    for (std::size_t i = 0; i <= n_; ++i) out.push_back(block_->parameter(offset + i).node_ptr());
    return out;
  }

  std::shared_ptr<ParameterBlock<T>> block_;
  _Value<T>* w_;  // n_ weights, then the bias
  std::size_t n_;
};

// b + w . x over Values x.
template <typename T>
struct _DotValue final : _DotBase<T> {
  _DotValue(std::shared_ptr<ParameterBlock<T>> block, std::size_t offset, SharedInputs<T> x)
      : _DotBase<T>(std::move(block), offset, x->size()), x_(std::move(x)) {
    const NodePtr<T>* x_nodes = x_->data();
    this->data =
        weighted_sum(this->w_, this->n_, [x_nodes](std::size_t i) { return x_nodes[i]->data; });
  }
  ~_DotValue() override {
    if (x_.use_count() == 1) detail::release_parents<T>(*x_);
  }

  Parents<T> parents() const override { return {x_->data(), x_->size()}; }
  std::vector<NodePtr<T>> all_parents() const override {
    std::vector<NodePtr<T>> out = this->weights_and_bias();
    out.insert(out.end(), x_->begin(), x_->end());
    return out;
  }
  void backward_step() override {
    _Value<T>* w = this->w_;
    const T g = this->grad;
    for (std::size_t i = 0; i < this->n_; ++i) {
      _Value<T>& x = *(*x_)[i];
      w[i].grad += x.data * g;
      x.grad += w[i].data * g;
    }
    w[this->n_].grad += g;
  }

 private:
  SharedInputs<T> x_;
};

// b + w . x over plain numbers x: only the weights and the bias get grads.
template <typename T>
struct _DotConstValue final : _DotBase<T> {
  _DotConstValue(std::shared_ptr<ParameterBlock<T>> block, std::size_t offset,
                 SharedConstants<T> x)
      : _DotBase<T>(std::move(block), offset, x->size()), x_(std::move(x)) {
    const T* x_data = x_->data();
    this->data = weighted_sum(this->w_, this->n_, [x_data](std::size_t i) { return x_data[i]; });
  }

  std::vector<NodePtr<T>> all_parents() const override { return this->weights_and_bias(); }
  void backward_step() override {
    _Value<T>* w = this->w_;
    const T* x_data = x_->data();
    const T g = this->grad;
    for (std::size_t i = 0; i < this->n_; ++i) w[i].grad += x_data[i] * g;
    w[this->n_].grad += g;
  }

 private:
  SharedConstants<T> x_;
};

template <typename T>
Value<T> dot_node(const std::shared_ptr<ParameterBlock<T>>& block, std::size_t offset,
                  const SharedInputs<T>& x) {
  return Value<T>(make_node<_DotValue<T>>(block, offset, x));
}

template <typename T>
Value<T> dot_node(const std::shared_ptr<ParameterBlock<T>>& block, std::size_t offset,
                  const SharedConstants<T>& x) {
  return Value<T>(make_node<_DotConstValue<T>>(block, offset, x));
}

}  // namespace cpp_grad

// The fused weighted sum behind every neuron, and the training path's nodes.
//
// A neuron computes b + w[0]*x[0] + ... + w[n-1]*x[n-1]. Written with the
// generic ops that is 2n nodes, 2n allocations and 2n shared_ptr copies per
// neuron per sample. Here it is one `dot` node:
//  - a layer's weights and biases are leaf nodes stored side by side in one
//    ParameterBlock, and the node holds one reference to the block, not n + 1
//    (see Note [A parameter block's handles]);
//  - forward and backward walk the weights in memory order;
//  - the inputs are shared by all neurons of a layer: one bundle per layer per
//    sample, either Values (hidden layers) or plain numbers (the data, which
//    need no gradient).
// The backward step still fills every weight's, the bias's and every input's
// grad, exactly as the 2n binary nodes would.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "activation.hpp"
#include "value.hpp"

namespace cpp_grad {

// Note [A parameter block's handles]
// A layer's weights and biases are leaves stored side by side in one
// ParameterBlock: one allocation and one control block for the layer. A
// handle to a single weight is a NodePtr made with std::shared_ptr's aliasing
// constructor: it points at the leaf but shares (and keeps alive) the
// block's control block. So a Value of one weight keeps its whole layer
// alive, copying it counts references on the block, and a node over the
// layer's weights holds one reference to the block, not one per weight. The
// leaves themselves are never freed one by one.

// Leaf nodes side by side, owned together (see Note [A parameter block's handles]).
template <typename T>
class ParameterBlock : public std::enable_shared_from_this<ParameterBlock<T>> {
 public:
  static std::shared_ptr<ParameterBlock> create(std::size_t size) {
    return std::shared_ptr<ParameterBlock>(new ParameterBlock(size));
  }
  std::size_t size() const { return size_; }
  _Value<T>* leaves() const { return leaves_.get(); }
  // A handle to leaf i that keeps the whole block alive (the aliasing NodePtr).
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

  std::shared_ptr<ParameterBlock<T>> block_;  // see Note [A parameter block's handles]
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
  ~_DotValue() override {  // see Note [Teardown is a loop]
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

// ---- The training path ------------------------------------------------------
//
// Note [Packed weights]
// Inside Trainer::train_epoch the weights change only when the optimizer
// steps, once per batch. So for the length of an epoch the trainer keeps
// every weight's data in one contiguous array, and each thread adds the
// gradients of its samples into its own array of the same shape. A layer's
// block is a matrix of nout rows (a neuron's nin weights, then its bias);
// packed, it is stored transposed, input-major: nin rows of nout weights (the
// weights of input i for every neuron side by side), then the nout biases.
// So one input's contribution to the whole layer, forward and backward, is a
// loop over nout contiguous Ts, which the compiler turns into SIMD, and an
// input that is zero (a blank pixel, a ReLU that is off) is skipped whole,
// with exactly the same result. The optimizer is handed the same order (see
// Optimizer::reorder). The leaves get their data and grad back whenever
// train_epoch returns or throws (see Trainer::PackedScope). These nodes are
// built only by the training loop; graphs built by hand use the dot nodes above.

// One layer's weights as the training loop holds them.
template <typename T>
struct PackedLayer {
  std::shared_ptr<ParameterBlock<T>> block;  // the leaves, kept alive (Note [A parameter block's handles])
  const T* w = nullptr;  // nin rows of nout weights, then nout biases
  T* grad = nullptr;     // the same shape: this thread's gradient sums
  std::size_t nin = 0, nout = 0;
  Activation activation = Activation::linear;

  // Where a block's parameter sits in the packed layer.
  static std::size_t packed_index(std::size_t block_index, std::size_t nin, std::size_t nout) {
    const std::size_t neuron = block_index / (nin + 1), input = block_index % (nin + 1);
    return input * nout + neuron;  // input == nin: the bias row
  }
};

namespace detail {

// y[i] += a * x[i].
template <typename T>
void packed_axpy(T* __restrict y, const T* __restrict x, T a, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] += a * x[i];
}

constexpr std::size_t kLanes = 16;  // running sums: as wide as the widest SIMD register of floats

// sum_i w[i] * x[i]: kLanes independent running sums, added up pairwise. The
// order of additions is fixed, so the result does not depend on the CPU.
template <typename T>
T packed_dot(const T* __restrict w, const T* __restrict x, std::size_t n) {
  if (n < kLanes) {  // a layer of a few neurons: the running sums would cost more than they save
    T sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += w[i] * x[i];
    return sum;
  }
  T acc[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) acc[l] += w[i + l] * x[i + l];
  for (std::size_t l = 0; i < n; ++i, ++l) acc[l] += w[i] * x[i];
  for (std::size_t width = kLanes / 2; width > 0; width /= 2)
    for (std::size_t l = 0; l < width; ++l) acc[l] += acc[l + width];
  return acc[0];
}

}  // namespace detail

// One layer applied to one sample's inputs, as one node: the one parent of
// the layer's neuron nodes, which the walk passes once, after all of them.
// It computes every neuron's output when it is made, and in its backward
// step adds every weight's and bias's gradient and hands each input its own.
// Its inputs are the previous layer's Values, or plain numbers (the data),
// which need no gradient.
template <typename T>
struct _PackedLayerNode final : _Value<T> {
  template <typename Feature>
  _PackedLayerNode(PackedLayer<T> layer, const Feature* numbers, double scale)
      : layer(std::move(layer)), x_(this->layer.nin) {
    for (std::size_t i = 0; i < x_.size(); ++i) x_[i] = T(numbers[i] * scale);
    forward();
  }
  _PackedLayerNode(PackedLayer<T> layer, std::vector<NodePtr<T>> values)
      : layer(std::move(layer)), x_(values.size()), inputs_(std::move(values)) {
    for (std::size_t i = 0; i < x_.size(); ++i) x_[i] = inputs_[i]->data;
    forward();
  }
  ~_PackedLayerNode() override { detail::release_parents<T>(inputs_); }  // see Note [Teardown is a loop]

  const char* op() const override { return "layer"; }
  Parents<T> parents() const override { return {inputs_.data(), inputs_.size()}; }
  void backward_step() override {
    const std::size_t nout = layer.nout;
    for (std::size_t j = 0; j < nout; ++j)  // through the activation: d loss / d sum
      out_grad[j] *= activation_slope(out[j], layer.activation);
    const T* w = layer.w;
    T* grad = layer.grad;
    detail::packed_axpy(grad + layer.nin * nout, out_grad.data(), T(1), nout);  // the biases
    for (std::size_t i : nonzero_)
      detail::packed_axpy(grad + i * nout, out_grad.data(), x_[i], nout);
    for (std::size_t i = 0; i < inputs_.size(); ++i)
      inputs_[i]->grad += detail::packed_dot(w + i * nout, out_grad.data(), nout);
    std::fill(out_grad.begin(), out_grad.end(), T(0));  // ready for another backward()
  }
  void zero_unlisted_parent_grads() override {
    std::fill(layer.grad, layer.grad + (layer.nin + 1) * layer.nout, T(0));
  }
  const std::vector<NodePtr<T>>& inputs() const { return inputs_; }

  PackedLayer<T> layer;
  std::vector<T> out, out_grad;  // each neuron's output, and its gradient so far

 private:
  void forward() {
    const std::size_t nout = layer.nout;
    out.assign(layer.w + layer.nin * nout, layer.w + (layer.nin + 1) * nout);  // the biases
    out_grad.assign(nout, T(0));
    // Without a branch per input: whether an input is zero is as good as
    // random, and a mispredicted branch costs more than the store.
    nonzero_.resize(x_.size());
    std::size_t count = 0;
    for (std::size_t i = 0; i < x_.size(); ++i) {
      nonzero_[count] = std::uint32_t(i);
      count += x_[i] != 0;
    }
    nonzero_.resize(count);
    for (std::size_t i : nonzero_) detail::packed_axpy(out.data(), layer.w + i * nout, x_[i], nout);
    for (T& o : out) o = activate(o, layer.activation);
    this->kind = _Value<T>::Kind::kOther;
  }

  std::vector<T> x_;                     // the inputs' data
  std::vector<std::uint32_t> nonzero_;   // which of them are not zero
  std::vector<NodePtr<T>> inputs_;       // empty over plain numbers
};

// One neuron of a _PackedLayerNode: activation(b + w . x), the value of the
// generic path's activation node over its dot node, in one node. Its
// backward step hands the layer its gradient.
template <typename T>
struct _PackedNeuron final : _Value<T> {
  _PackedNeuron(const std::shared_ptr<_PackedLayerNode<T>>& layer, std::size_t neuron)
      : layer_{layer}, node_(layer.get()), neuron_(neuron) {
    this->data = node_->out[neuron];
    this->kind = _Value<T>::Kind::kOther;
  }
  ~_PackedNeuron() override { detail::release_parents<T>(layer_); }  // see Note [Teardown is a loop]

  const char* op() const override {
    switch (node_->layer.activation) {
      case Activation::relu: return "relu(dot)";
      case Activation::tanh: return "tanh(dot)";
      default: return "dot";
    }
  }
  Parents<T> parents() const override { return {layer_.data(), 1}; }
  std::vector<NodePtr<T>> all_parents() const override {
    std::vector<NodePtr<T>> out;
    const std::size_t row = neuron_ * (node_->layer.nin + 1);
    for (std::size_t i = 0; i <= node_->layer.nin; ++i)
      out.push_back(node_->layer.block->parameter(row + i).node_ptr());
    for (const NodePtr<T>& x : node_->inputs()) out.push_back(x);
    return out;
  }
  void backward_step() override { node_->out_grad[neuron_] += this->grad; }

 private:
  std::array<NodePtr<T>, 1> layer_;  // a _PackedLayerNode<T>
  _PackedLayerNode<T>* node_;
  std::size_t neuron_;
};

}  // namespace cpp_grad

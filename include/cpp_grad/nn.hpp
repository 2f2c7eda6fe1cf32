// Neural networks on the engine: Module, Neuron, Layer, MLP, as in
// micrograd's nn.py. A layer keeps its weights in one ParameterBlock and each
// neuron's weighted sum is one fused `dot` node (see fused.hpp).
#pragma once

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "activation.hpp"
#include "fused.hpp"
#include "ops.hpp"
#include "random.hpp"
#include "value.hpp"

namespace cpp_grad {

// An allocation that failed, saying what it was for and how large it was.
// Python receives it as MemoryError.
class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

namespace detail {

// a * b + c, or an invalid_argument naming `what` if it does not fit a size_t.
inline std::size_t checked_multiply_add(std::size_t a, std::size_t b, std::size_t c,
                                        const std::string& what) {
  std::size_t product = 0, sum = 0;
  if (__builtin_mul_overflow(a, b, &product) || __builtin_add_overflow(product, c, &sum))
    throw std::invalid_argument(what + " needs more than " +
                                std::to_string(std::numeric_limits<std::size_t>::max()) +
                                " parameters: sizes too large");
  return sum;
}

// The machine's physical memory in bytes (the largest size_t if unknown).
inline std::size_t physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  std::size_t bytes = 0;
  if (pages <= 0 || page_size <= 0 ||
      __builtin_mul_overflow(std::size_t(pages), std::size_t(page_size), &bytes))
    return std::numeric_limits<std::size_t>::max();
  return bytes;
}

inline std::string gigabytes(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GB", bytes / 1e9);
  return text;
}

// Refuses, before anything is allocated, `parameters` weights and biases in
// `neurons` neurons that need more memory than the machine has.
template <typename T>
void check_fits_in_memory(std::size_t parameters, std::size_t neurons, const std::string& what);

// `make()`, with a failed allocation reported as OutOfMemory naming its size.
template <typename Make>
auto allocating(std::size_t bytes, const std::string& what, Make make) -> decltype(make()) {
  try {
    return make();
  } catch (const OutOfMemory&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw OutOfMemory("out of memory making " + what + " (" + std::to_string(bytes) +
                      " bytes, " + gigabytes(double(bytes)) + ")");
  }
}

}  // namespace detail

template <typename T>
class Module {
 public:
  using value_type = T;
  virtual ~Module() = default;
  virtual std::vector<Value<T>> parameters() const = 0;
  virtual void zero_grad() const {
    for (const Value<T>& p : parameters()) p.node()->grad = 0;
  }
};

// Fills a block with weights uniform in +-sqrt(k / nin) (He initialisation
// for ReLU, k = 6; LeCun's for tanh and linear units, k = 3) and zero biases.
template <typename T>
void initialize(ParameterBlock<T>& block, std::size_t nin, std::size_t nout,
                Activation activation, Random& rng) {
  const double bound = std::sqrt((activation == Activation::relu ? 6.0 : 3.0) / double(nin));
  for (std::size_t j = 0; j < nout; ++j) {
    _Value<T>* w = block.leaves() + j * (nin + 1);
    for (std::size_t i = 0; i < nin; ++i) w[i].data = T(rng.uniform(-bound, bound));
    w[nin].data = 0;
  }
}

// One unit: activation(w . x + b). Its nin weights and bias sit side by side
// in a ParameterBlock, its own or its layer's.
template <typename T>
class Neuron : public Module<T> {
 public:
  Neuron(std::size_t nin, Activation activation = Activation::relu, std::uint64_t seed = 0)
      : Neuron(new_block(nin), 0, nin, activation) {
    Random rng(seed);
    initialize(*block_, nin, 1, activation, rng);
  }
  Neuron(std::shared_ptr<ParameterBlock<T>> block, std::size_t offset, std::size_t nin,
         Activation activation)
      : block_(std::move(block)), offset_(offset), nin_(nin), activation_(activation) {}

  Value<T> operator()(const std::vector<Value<T>>& x) const { return (*this)(bundle(x)); }
  Value<T> operator()(const SharedInputs<T>& x) const {
    check_inputs(x->size());
    return activate(dot_node(block_, offset_, x), activation_);
  }
  Value<T> operator()(const SharedConstants<T>& x) const {
    check_inputs(x->size());
    return activate(dot_node(block_, offset_, x), activation_);
  }

  std::vector<Value<T>> parameters() const override {
    std::vector<Value<T>> params;
    for (std::size_t i = 0; i <= nin_; ++i) params.push_back(block_->parameter(offset_ + i));
    return params;
  }
  std::size_t nin() const { return nin_; }
  Activation activation() const { return activation_; }
  Value<T> weight(std::size_t i) const { return block_->parameter(offset_ + i); }
  Value<T> bias() const { return block_->parameter(offset_ + nin_); }

  static std::size_t checked_size(std::size_t nin) {
    if (nin == 0) throw std::invalid_argument("a neuron needs at least 1 input, got 0");
    return nin;
  }

 private:
  static std::shared_ptr<ParameterBlock<T>> new_block(std::size_t nin) {
    const std::string what = "a neuron of " + std::to_string(checked_size(nin)) + " inputs";
    const std::size_t size = detail::checked_multiply_add(1, nin, 1, what);
    detail::check_fits_in_memory<T>(size, 1, what);
    return detail::allocating(size * sizeof(_Value<T>), what,
                              [size] { return ParameterBlock<T>::create(size); });
  }

  void check_inputs(std::size_t n) const {
    if (n != nin_)
      throw std::invalid_argument("neuron expects " + std::to_string(nin_) +
                                  " inputs, got " + std::to_string(n));
  }

  std::shared_ptr<ParameterBlock<T>> block_;  // see Note [A parameter block's handles]
  std::size_t offset_;
  std::size_t nin_;
  Activation activation_;
};

// nout neurons over the same inputs; all their parameters in one block.
template <typename T>
class Layer : public Module<T> {
 public:
  Layer(std::size_t nin, std::size_t nout, Activation activation, Random& rng)
      : nin_(nin), activation_(activation), block_(new_block(nin, nout)) {
    initialize(*block_, nin, nout, activation, rng);
    detail::allocating(nout * sizeof(Neuron<T>), description(nin, nout),
                       [this, nout] { neurons_.reserve(nout); });
    for (std::size_t j = 0; j < nout; ++j)
      neurons_.emplace_back(block_, j * (nin + 1), nin, activation);
  }
  Layer(std::size_t nin, std::size_t nout, Activation activation, Random&& rng)
      : Layer(nin, nout, activation, static_cast<Random&>(rng)) {}
  Layer(std::size_t nin, std::size_t nout, Activation activation = Activation::relu,
        std::uint64_t seed = 0)
      : Layer(nin, nout, activation, Random(seed)) {}

  std::vector<Value<T>> operator()(const std::vector<Value<T>>& x) const {
    return (*this)(bundle(x));
  }
  template <typename Inputs>  // SharedInputs<T> or SharedConstants<T>
  std::vector<Value<T>> operator()(const Inputs& x) const {
    std::vector<Value<T>> out;
    out.reserve(neurons_.size());
    for (const Neuron<T>& n : neurons_) out.push_back(n(x));
    return out;
  }

  std::vector<Value<T>> parameters() const override {
    std::vector<Value<T>> params;
    for (std::size_t i = 0; i < block_->size(); ++i) params.push_back(block_->parameter(i));
    return params;
  }
  void zero_grad() const override {
    for (std::size_t i = 0; i < block_->size(); ++i) block_->leaves()[i].grad = 0;
  }
  std::size_t nin() const { return nin_; }
  std::size_t nout() const { return neurons_.size(); }
  Activation activation() const { return activation_; }
  const std::vector<Neuron<T>>& neurons() const { return neurons_; }
  ParameterBlock<T>& block() const { return *block_; }

  // Inference without building a graph: out[j] = activation(w_j . x + b_j).
  template <typename Input>
  void forward_numbers(const Input* x, T* out) const {
    const std::size_t stride = nin_ + 1;
    for (std::size_t j = 0; j < neurons_.size(); ++j) {
      const T sum = weighted_sum(block_->leaves() + j * stride, nin_,
                                 [x](std::size_t i) { return T(x[i]); });
      out[j] = activate(sum, activation_);
    }
  }

  // The number of weights and biases of a layer, checked: it fits a size_t.
  static std::size_t block_size(std::size_t nin, std::size_t nout) {
    if (nout == 0) throw std::invalid_argument("a layer needs at least 1 neuron, got 0");
    Neuron<T>::checked_size(nin);
    return detail::checked_multiply_add(nout, nin, nout, description(nin, nout));
  }

 private:
  static std::string description(std::size_t nin, std::size_t nout) {
    return "a layer of " + std::to_string(nout) + " neurons of " + std::to_string(nin) + " inputs";
  }
  static std::shared_ptr<ParameterBlock<T>> new_block(std::size_t nin, std::size_t nout) {
    const std::size_t size = block_size(nin, nout);
    detail::check_fits_in_memory<T>(size, nout, description(nin, nout));
    return detail::allocating(size * sizeof(_Value<T>), description(nin, nout),
                              [size] { return ParameterBlock<T>::create(size); });
  }

  std::size_t nin_;
  Activation activation_;
  std::shared_ptr<ParameterBlock<T>> block_;
  std::vector<Neuron<T>> neurons_;
};

// A multi-layer perceptron: hidden layers apply `hidden_activation`, the last
// layer is linear (its outputs are logits or scores).
template <typename T>
class MLP : public Module<T> {
 public:
  MLP(std::size_t nin, const std::vector<std::size_t>& nouts,
      Activation hidden_activation = Activation::relu, std::uint64_t seed = 0)
      : nin_(nin), hidden_activation_(hidden_activation) {
    if (nin == 0) throw std::invalid_argument("an MLP needs at least 1 input, got 0");
    if (nouts.empty()) throw std::invalid_argument("an MLP needs at least 1 layer");
    std::string what = "an MLP " + std::to_string(nin);
    std::size_t parameters = 0, neurons = 0, width = nin;
    for (std::size_t i = 0; i < nouts.size(); ++i) {
      if (nouts[i] == 0)
        throw std::invalid_argument("layer " + std::to_string(i + 1) +
                                    " of the MLP has 0 neurons: every layer needs at least 1");
      what += "-" + std::to_string(nouts[i]);
      parameters =
          detail::checked_multiply_add(1, Layer<T>::block_size(width, nouts[i]), parameters, what);
      neurons = detail::checked_multiply_add(1, nouts[i], neurons, what);
      width = nouts[i];
    }
    detail::check_fits_in_memory<T>(parameters, neurons, what);
    detail::allocating(nouts.size() * sizeof(Layer<T>), what,
                       [this, &nouts] { layers_.reserve(nouts.size()); });
    Random rng(seed);
    width = nin;
    for (std::size_t i = 0; i < nouts.size(); ++i) {
      const bool last = i + 1 == nouts.size();
      layers_.emplace_back(width, nouts[i], last ? Activation::linear : hidden_activation, rng);
      width = nouts[i];
    }
  }

  std::vector<Value<T>> operator()(const std::vector<Value<T>>& x) const {
    check_inputs(x.size());
    return forward(bundle(x));
  }
  // The data as plain numbers: the first layer's dot nodes read them directly.
  std::vector<Value<T>> operator()(const SharedConstants<T>& x) const {
    check_inputs(x->size());
    return forward(x);
  }

  std::vector<Value<T>> parameters() const override {
    std::vector<Value<T>> params;
    for (const Layer<T>& layer : layers_)
      for (Value<T>& p : layer.parameters()) params.push_back(std::move(p));
    return params;
  }
  void zero_grad() const override {
    for (const Layer<T>& layer : layers_) layer.zero_grad();
  }
  std::size_t num_parameters() const {
    std::size_t n = 0;
    for (const Layer<T>& layer : layers_) n += layer.block().size();
    return n;
  }
  std::size_t nin() const { return nin_; }
  std::size_t nout() const { return layers_.back().nout(); }
  std::vector<std::size_t> nouts() const {
    std::vector<std::size_t> sizes;
    for (const Layer<T>& layer : layers_) sizes.push_back(layer.nout());
    return sizes;
  }
  Activation hidden_activation() const { return hidden_activation_; }
  const std::vector<Layer<T>>& layers() const { return layers_; }
  // Set while a Trainer trains this model (see Note [One trainer per model]);
  // copies of the model share its parameters, and so this flag.
  std::atomic<bool>& training_flag() const { return *training_; }

  // Inference without building a graph; `out` has room for nout() numbers.
  template <typename Input>
  void predict_row(const Input* x, T* out) const {
    std::vector<T> a, b;
    const Layer<T>& first = layers_.front();
    a.resize(first.nout());
    first.forward_numbers(x, a.data());
    for (std::size_t i = 1; i < layers_.size(); ++i) {
      b.resize(layers_[i].nout());
      layers_[i].forward_numbers(a.data(), b.data());
      a.swap(b);
    }
    std::copy(a.begin(), a.end(), out);
  }

  // Copies every parameter's data from a model of the same shape.
  void copy_data_from(const MLP& other) {
    for_each_block_pair(other, [](_Value<T>& mine, const _Value<T>& theirs) {
      mine.data = theirs.data;
    });
  }
  // Adds this model's grads into `other`'s (same shape).
  void add_grads_to(MLP& other) const {
    other.for_each_block_pair(*this, [](_Value<T>& theirs, const _Value<T>& mine) {
      theirs.grad += mine.grad;
    });
  }

 private:
  template <typename Inputs>
  std::vector<Value<T>> forward(const Inputs& x) const {
    std::vector<Value<T>> out = layers_.front()(x);
    for (std::size_t i = 1; i < layers_.size(); ++i) out = layers_[i](bundle(out));
    return out;
  }

  template <typename F>
  void for_each_block_pair(const MLP& other, F f) {
    if (other.layers_.size() != layers_.size())
      throw std::invalid_argument("models have different depths: " +
                                  std::to_string(other.layers_.size()) + " and " +
                                  std::to_string(layers_.size()) + " layers");
    for (std::size_t l = 0; l < layers_.size(); ++l)
      if (other.layers_[l].block().size() != layers_[l].block().size())
        throw std::invalid_argument("models differ at layer " + std::to_string(l + 1) + ": " +
                                    std::to_string(other.layers_[l].block().size()) + " and " +
                                    std::to_string(layers_[l].block().size()) + " parameters");
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      _Value<T>* mine = layers_[l].block().leaves();
      const _Value<T>* theirs = other.layers_[l].block().leaves();
      for (std::size_t i = 0; i < layers_[l].block().size(); ++i) f(mine[i], theirs[i]);
    }
  }

  void check_inputs(std::size_t n) const {
    if (n != nin_)
      throw std::invalid_argument("the MLP expects " + std::to_string(nin_) +
                                  " inputs, got " + std::to_string(n));
  }

  std::size_t nin_;
  Activation hidden_activation_;
  std::vector<Layer<T>> layers_;
  std::shared_ptr<std::atomic<bool>> training_ = std::make_shared<std::atomic<bool>>(false);
};

template <typename T>
void detail::check_fits_in_memory(std::size_t parameters, std::size_t neurons,
                                  const std::string& what) {
  const double bytes = double(parameters) * double(sizeof(_Value<T>)) +
                       double(neurons) * double(sizeof(Neuron<T>));
  const std::size_t memory = physical_memory();
  if (bytes > double(memory))
    throw std::invalid_argument(what + " has " + std::to_string(parameters) + " parameters (" +
                                gigabytes(bytes) + "), more than this machine's memory (" +
                                gigabytes(double(memory)) + ")");
}

}  // namespace cpp_grad

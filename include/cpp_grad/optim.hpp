// Optimizers: each step moves every parameter against its gradient.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "value.hpp"

namespace cpp_grad {

template <typename T>
class Optimizer {
 public:
  explicit Optimizer(std::vector<Value<T>> params) : params_(std::move(params)) {
    for (const Value<T>& p : params_) nodes_.push_back(p.node());
  }
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  // The same step on parameters held as arrays (see Note [Packed weights]):
  // data[i] and grad[i] stand for the i-th parameter. One step is
  // begin_packed_step(), then step_packed() on disjoint ranges that together
  // cover every parameter, from any threads. Only an optimizer that
  // can_reorder() steps packed arrays.
  void begin_packed_step() { begin_step_arrays(); }
  void step_packed(T* data, const T* grad, std::size_t begin, std::size_t end) {
    if (begin > end || end > nodes_.size())
      throw std::invalid_argument("the optimizer holds " + std::to_string(nodes_.size()) +
                                  " parameters, got the range [" + std::to_string(begin) + ", " +
                                  std::to_string(end) + ")");
    step_arrays(data, grad, begin, end);
  }
  virtual const char* name() const = 0;
  const std::vector<_Value<T>*>& nodes() const { return nodes_; }
  // Whether reorder() carries this optimizer's per-parameter state along.
  virtual bool can_reorder() const { return false; }
  // Puts the parameter at position order[i] in position i, with its state:
  // the training loop packs the weights in an order of its own (see Note
  // [Packed weights]) and hands step_packed() that order.
  void reorder(const std::vector<std::size_t>& order) {
    params_ = permuted(params_, order);
    nodes_ = permuted(nodes_, order);
    reorder_state(order);
  }
  void zero_grad() {
    for (_Value<T>* p : nodes_) p->grad = 0;
  }
  T learning_rate() const { return lr_; }

 protected:
  static T checked_lr(T lr) {
    if (!(lr > 0) || !std::isfinite(lr))
      throw std::invalid_argument("the learning rate must be a positive number, got " +
                                  std::to_string(lr));
    return lr;
  }

  template <typename U>
  static std::vector<U> permuted(const std::vector<U>& v, const std::vector<std::size_t>& order) {
    if (order.size() != v.size())
      throw std::invalid_argument("reorder: " + std::to_string(order.size()) +
                                  " positions for " + std::to_string(v.size()) + " parameters");
    std::vector<U> out;
    out.reserve(v.size());
    for (std::size_t i : order) out.push_back(v.at(i));
    return out;
  }
  virtual void reorder_state(const std::vector<std::size_t>&) {}

  virtual void begin_step_arrays() {}
  virtual void step_arrays(T*, const T*, std::size_t, std::size_t) {
    throw std::logic_error(std::string("the optimizer '") + name() + "' does not step packed arrays");
  }

  std::vector<Value<T>> params_;  // keeps the parameters alive
  std::vector<_Value<T>*> nodes_;
  T lr_ = 0;
};

// p -= lr * v, with v = momentum * v + grad (PyTorch's form; momentum 0 is
// plain gradient descent).
template <typename T>
class SGD : public Optimizer<T> {
 public:
  static constexpr double default_learning_rate = 0.1;

  SGD(std::vector<Value<T>> params, T lr = T(default_learning_rate), T momentum = 0)
      : Optimizer<T>(std::move(params)), momentum_(momentum), velocity_(this->nodes_.size(), T(0)) {
    this->lr_ = this->checked_lr(lr);
    if (!(momentum >= 0 && momentum < 1))
      throw std::invalid_argument("SGD momentum must be in [0, 1), got " + std::to_string(momentum));
  }
  void step() override {
    const Rule rule{this->lr_, momentum_};
    for (std::size_t i = 0; i < this->nodes_.size(); ++i)
      rule.update(this->nodes_[i]->data, this->nodes_[i]->grad, velocity_[i]);
  }
  const char* name() const override { return "sgd"; }
  bool can_reorder() const override { return true; }

 private:
  void reorder_state(const std::vector<std::size_t>& order) override {
    velocity_ = this->permuted(velocity_, order);
  }
  // The update of one parameter. Its numbers are copied out of the optimizer,
  // so that the compiler knows the loops' stores cannot change them.
  struct Rule {
    T lr, momentum;
    void update(T& data, T grad, T& velocity) const {
      velocity = momentum * velocity + grad;
      data -= lr * velocity;
    }
  };
  void step_arrays(T* data, const T* grad, std::size_t begin, std::size_t end) override {
    const Rule rule{this->lr_, momentum_};
    T* velocity = velocity_.data();
    for (std::size_t i = begin; i < end; ++i) rule.update(data[i], grad[i], velocity[i]);
  }

  T momentum_;
  std::vector<T> velocity_;
};

// Adam (Kingma & Ba), with bias-corrected first and second moments. The
// default learning rate is 3e-3, above PyTorch's 1e-3: the small MLPs this
// library trains reach a given accuracy in fewer epochs with it.
template <typename T>
class Adam : public Optimizer<T> {
 public:
  static constexpr double default_learning_rate = 0.003;

  Adam(std::vector<Value<T>> params, T lr = T(default_learning_rate), T beta1 = T(0.9), T beta2 = T(0.999),
       T eps = T(1e-8))
      : Optimizer<T>(std::move(params)), beta1_(beta1), beta2_(beta2), eps_(eps),
        m_(this->nodes_.size(), T(0)), v_(this->nodes_.size(), T(0)) {
    this->lr_ = this->checked_lr(lr);
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1))
      throw std::invalid_argument("Adam betas must be in [0, 1)");
  }
  void step() override {
    const Rule rule = next_step();
    for (std::size_t i = 0; i < this->nodes_.size(); ++i)
      rule.update(this->nodes_[i]->data, this->nodes_[i]->grad, m_[i], v_[i]);
  }
  const char* name() const override { return "adam"; }
  bool can_reorder() const override { return true; }

 private:
  void reorder_state(const std::vector<std::size_t>& order) override {
    m_ = this->permuted(m_, order);
    v_ = this->permuted(v_, order);
  }
  // The update of one parameter at step t_. Its numbers are copied out of the
  // optimizer, so that the compiler knows the loops' stores cannot change them.
  struct Rule {
    T lr, beta1, beta2, eps, correction1, correction2;
    void update(T& data, T grad, T& m, T& v) const {
      m = beta1 * m + (1 - beta1) * grad;
      v = beta2 * v + (1 - beta2) * grad * grad;
      const T m_hat = m / correction1;
      const T v_hat = v / correction2;
      data -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  };
  Rule next_step() {
    ++t_;
    return {this->lr_, beta1_, beta2_, eps_, 1 - std::pow(beta1_, T(t_)),
            1 - std::pow(beta2_, T(t_))};
  }
  void begin_step_arrays() override { rule_ = next_step(); }
  void step_arrays(T* data, const T* grad, std::size_t begin, std::size_t end) override {
    const Rule rule = rule_;
    T* m = m_.data();
    T* v = v_.data();
    for (std::size_t i = begin; i < end; ++i) rule.update(data[i], grad[i], m[i], v[i]);
  }

  T beta1_, beta2_, eps_;
  std::vector<T> m_, v_;
  Rule rule_{};  // of the packed step under way
  long t_ = 0;
};

namespace detail {

inline std::string number_text(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", x);
  return text;
}

// A learning rate as the user gave it, in double, checked to keep its
// meaning in T: one that rounds to 0 (or overflows) in float is refused, not
// trained with as 0 or infinity.
template <typename T>
T learning_rate_in(double lr) {
  const char* type = sizeof(T) == sizeof(float) ? "float32" : "float64";
  if (lr > double(std::numeric_limits<T>::max()))
    throw std::invalid_argument("the learning rate " + number_text(lr) + " is too large for " +
                                type + " (at most " +
                                number_text(double(std::numeric_limits<T>::max())) + ")");
  if (lr > 0 && T(lr) == 0)
    throw std::invalid_argument("the learning rate " + number_text(lr) + " rounds to 0 in " +
                                type + " (the smallest is " +
                                number_text(double(std::numeric_limits<T>::denorm_min())) + ")");
  return T(lr);
}

}  // namespace detail

// The names make_optimizer accepts (the Python package and the scripts offer these).
inline std::vector<std::string> optimizer_names() { return {"adam", "sgd"}; }

// "sgd" or "adam"; lr = 0 means the optimizer's default_learning_rate.
template <typename T>
std::unique_ptr<Optimizer<T>> make_optimizer(const std::string& name,
                                             std::vector<Value<T>> params, double lr = 0,
                                             double momentum = 0) {
  if (!(lr >= 0) || !std::isfinite(lr))
    throw std::invalid_argument("the learning rate must be a positive number (or 0 for the "
                                "default), got " + detail::number_text(lr));
  const T rate = detail::learning_rate_in<T>(lr);
  if (name == "sgd")
    return std::make_unique<SGD<T>>(std::move(params), lr > 0 ? rate : T(SGD<T>::default_learning_rate),
                                    T(momentum));
  if (name == "adam")
    return std::make_unique<Adam<T>>(std::move(params),
                                     lr > 0 ? rate : T(Adam<T>::default_learning_rate));
  throw std::invalid_argument("unknown optimizer '" + name + "': expected 'sgd' or 'adam'");
}

}  // namespace cpp_grad

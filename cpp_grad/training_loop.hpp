// The training loop behind MLP.fit, predict and evaluate, over numpy buffers
// passed as pointers (no element-by-element copies).
//
// It reaches Python in one of two ways (cpp_grad/_training_loop.py):
// - the fast path: the system's C++ compiler compiles this header once per
//   machine into a library (with CPP_GRAD_TRAINING_LOOP_LIBRARY defined, so
//   that every type below is instantiated in it), and cling includes the
//   header with CPP_GRAD_TRAINING_LOOP_PRECOMPILED defined: declarations
//   only, so that every call runs the library's code, which is exactly the
//   compiled trainer's (scripts/train_mnist.cpp) rather than cling's slower
//   JIT code;
// - the fallback, without a compiler: cling includes the whole header.
// Optimizers and trainers are made here too, so that their virtual functions
// (the optimizer's step) are the compiled ones.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "cpp_grad/cpp_grad.hpp"

namespace cpp_grad {
namespace py {

// The optimizer and the trainer of one MLP.fit call.
template <typename T>
struct TrainingSetup {
  static std::unique_ptr<Optimizer<T>> optimizer(const std::string& name, const MLP<T>& m,
                                                 double lr, double momentum);
  static std::unique_ptr<Trainer<T>> trainer(MLP<T>& m, Optimizer<T>& optimizer,
                                             const std::string& loss, std::size_t batch_size,
                                             std::uint64_t seed, std::size_t threads);
};

// Training and inference over features of one type (float, double or uint8_t).
template <typename T, typename Feature>
struct TrainingLoop {
  // What train_epoch and evaluate refuse (check_dataset), refused up front.
  static void check(const MLP<T>& m, const Feature* x, const std::int64_t* y, std::size_t rows,
                    std::size_t cols);
  static EpochResult train_epoch(Trainer<T>& trainer, const Feature* x, const std::int64_t* y,
                                 std::size_t rows, std::size_t cols, double scale,
                                 const typename Trainer<T>::Progress& progress);
  static void predict(const MLP<T>& m, const Feature* x, std::size_t rows, std::size_t cols,
                      double scale, T* out);
  static double evaluate(const MLP<T>& m, const Feature* x, const std::int64_t* y,
                         std::size_t rows, std::size_t cols, double scale);
};

#ifndef CPP_GRAD_TRAINING_LOOP_PRECOMPILED

template <typename T>
std::unique_ptr<Optimizer<T>> TrainingSetup<T>::optimizer(const std::string& name,
                                                          const MLP<T>& m, double lr,
                                                          double momentum) {
  return make_optimizer<T>(name, m.parameters(), lr, momentum);
}

template <typename T>
std::unique_ptr<Trainer<T>> TrainingSetup<T>::trainer(MLP<T>& m, Optimizer<T>& optimizer,
                                                      const std::string& loss,
                                                      std::size_t batch_size, std::uint64_t seed,
                                                      std::size_t threads) {
  return std::make_unique<Trainer<T>>(m, optimizer, loss_from_name(loss), batch_size, seed,
                                      threads);
}

template <typename T, typename Feature>
void TrainingLoop<T, Feature>::check(const MLP<T>& m, const Feature* x, const std::int64_t* y,
                                     std::size_t rows, std::size_t cols) {
  check_dataset(m, Dataset<Feature>{x, y, rows, cols, 1.0}, true);
}

template <typename T, typename Feature>
EpochResult TrainingLoop<T, Feature>::train_epoch(Trainer<T>& trainer, const Feature* x,
                                                  const std::int64_t* y, std::size_t rows,
                                                  std::size_t cols, double scale,
                                                  const typename Trainer<T>::Progress& progress) {
  return trainer.train_epoch(Dataset<Feature>{x, y, rows, cols, scale}, progress);
}

template <typename T, typename Feature>
void TrainingLoop<T, Feature>::predict(const MLP<T>& m, const Feature* x, std::size_t rows,
                                       std::size_t cols, double scale, T* out) {
  cpp_grad::predict(m, Dataset<Feature>{x, nullptr, rows, cols, scale}, out);
}

template <typename T, typename Feature>
double TrainingLoop<T, Feature>::evaluate(const MLP<T>& m, const Feature* x,
                                          const std::int64_t* y, std::size_t rows,
                                          std::size_t cols, double scale) {
  return cpp_grad::evaluate(m, Dataset<Feature>{x, y, rows, cols, scale});
}

#endif  // CPP_GRAD_TRAINING_LOOP_PRECOMPILED

#ifdef CPP_GRAD_TRAINING_LOOP_LIBRARY
template struct TrainingSetup<float>;
template struct TrainingSetup<double>;
template struct TrainingLoop<float, float>;
template struct TrainingLoop<float, double>;
template struct TrainingLoop<float, std::uint8_t>;
template struct TrainingLoop<double, float>;
template struct TrainingLoop<double, double>;
template struct TrainingLoop<double, std::uint8_t>;
#endif  // CPP_GRAD_TRAINING_LOOP_LIBRARY

}  // namespace py
}  // namespace cpp_grad

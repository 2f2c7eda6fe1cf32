// The definitions of TrainOps and DataOps (declared in bindings.hpp): the
// hot code behind MLP.fit, predict and evaluate.
#pragma once

#include "bindings.hpp"

namespace cpp_grad {
namespace py {

template <typename T>
std::unique_ptr<Optimizer<T>> TrainOps<T>::optimizer(const std::string& name, const MLP<T>& m,
                                                     double lr, double momentum) {
  return make_optimizer<T>(name, m.parameters(), lr, momentum);
}

template <typename T>
std::unique_ptr<Trainer<T>> TrainOps<T>::trainer(MLP<T>& m, Optimizer<T>& optimizer,
                                                 const std::string& loss, std::size_t batch_size,
                                                 std::uint64_t seed, std::size_t threads) {
  return std::make_unique<Trainer<T>>(m, optimizer, loss_from_name(loss), batch_size, seed,
                                      threads);
}

template <typename T, typename Feature>
EpochResult DataOps<T, Feature>::train_epoch(Trainer<T>& trainer, const Feature* x,
                                             const std::int64_t* y, std::size_t rows,
                                             std::size_t cols, double scale,
                                             const typename Trainer<T>::Progress& progress) {
  return trainer.train_epoch(Dataset<Feature>{x, y, rows, cols, scale}, progress);
}

template <typename T, typename Feature>
void DataOps<T, Feature>::predict(const MLP<T>& m, const Feature* x, std::size_t rows,
                                  std::size_t cols, double scale, T* out) {
  cpp_grad::predict(m, Dataset<Feature>{x, nullptr, rows, cols, scale}, out);
}

template <typename T, typename Feature>
double DataOps<T, Feature>::evaluate(const MLP<T>& m, const Feature* x, const std::int64_t* y,
                                     std::size_t rows, std::size_t cols, double scale) {
  return cpp_grad::evaluate(m, Dataset<Feature>{x, y, rows, cols, scale});
}

}  // namespace py
}  // namespace cpp_grad

// The training loop compiled ahead of time, by the system's C++ compiler, into
// a library that cppyy loads (see _kernels.py). Code that cling compiles on
// the fly runs the loop slower than the same code from g++; this way MLP.fit
// runs exactly the code of the compiled trainer (scripts/train_mnist.cpp).
#include <cstdint>

#include "data_ops.hpp"

namespace cpp_grad {
namespace py {

template struct TrainOps<float>;
template struct TrainOps<double>;
template struct DataOps<float, float>;
template struct DataOps<float, double>;
template struct DataOps<float, std::uint8_t>;
template struct DataOps<double, float>;
template struct DataOps<double, double>;
template struct DataOps<double, std::uint8_t>;

}  // namespace py
}  // namespace cpp_grad

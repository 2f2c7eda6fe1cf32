// A C++ user's first program, built by tests/consumer/run.cmake against each
// way of getting cpp_grad: backward()'s gradients against ones worked by hand.
#include <cpp_grad/cpp_grad.hpp>

#include <cmath>
#include <cstdio>

int main() {
  using cpp_grad::Value;
  Value<double> a = 2.0, b = -3.0;
  Value<double> c = a * b + pow(b, 2.0);
  Value<double> d = tanh(c / 10.0);
  d.backward();

  // dc/da = b, dc/db = a + 2b, dd/dc = (1 - tanh(c/10)^2) / 10.
  const double t = std::tanh((2.0 * -3.0 + 9.0) / 10.0);
  const double dd_dc = (1.0 - t * t) / 10.0;
  const double want_a = dd_dc * -3.0, want_b = dd_dc * (2.0 + 2.0 * -3.0);
  std::printf("d = %.17g, dd/da = %.17g (want %.17g), dd/db = %.17g (want %.17g)\n", d.data(),
              a.grad(), want_a, b.grad(), want_b);
  const bool ok = std::abs(d.data() - t) < 1e-12 && std::abs(a.grad() - want_a) < 1e-12 &&
                  std::abs(b.grad() - want_b) < 1e-12;
  return ok ? 0 : 1;
}

// Generic-op benchmark: the cost of build + backward + free per op on a long
// random expression graph built through the public C++ API (no fused nodes).
//
//   bench_ops [--ops N] [--repeats R] [--json PATH]
//
// Each op takes one or two operands from a window of recent Values, as an
// expression written by hand would, and is one of + - * / (Values or a
// number), tanh, sigmoid, relu. The root sums the window. Prints the best of
// R repeats, in nanoseconds per op (per node made).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "cpp_grad/cpp_grad.hpp"

using cpp_grad::Value;
using Clock = std::chrono::steady_clock;

struct Timing {
  double build = 0, backward = 0, free = 0;
  double total() const { return build + backward + free; }
};

Value<double> random_op(std::uint64_t kind, const Value<double>& a, const Value<double>& b) {
  switch (kind) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a / (b * b + 1.0);  // three nodes, and a divisor that is never 0
    case 4: return tanh(a);
    case 5: return sigmoid(a);
    case 6: return relu(a);
    case 7: return a * 0.5;
    default: return 1.0 - a;
  }
}

Timing run_once(std::size_t ops, std::uint64_t seed) {
  cpp_grad::Random rng(seed);
  const std::size_t window = 64;
  std::vector<Value<double>> recent;
  for (std::size_t i = 0; i < window; ++i) recent.emplace_back(rng.uniform(-1, 1));
  std::vector<Value<double>> leaves = recent;

  std::size_t nodes = 0;
  const auto t0 = Clock::now();
  while (nodes < ops) {
    const std::uint64_t kind = rng.below(9);
    const Value<double>& a = recent[rng.below(window)];
    const Value<double>& b = recent[rng.below(window)];
    recent[rng.below(window)] = random_op(kind, a, b);
    nodes += kind == 3 ? 3 : 1;
  }
  Value<double> root = cpp_grad::sum(recent);
  const auto t1 = Clock::now();
  root.backward();
  const auto t2 = Clock::now();
  root = Value<double>();
  recent.clear();
  const auto t3 = Clock::now();

  const auto ns = [nodes](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::nano>(b - a).count() / double(nodes);
  };
  return {ns(t0, t1), ns(t1, t2), ns(t2, t3)};
}

int main(int argc, char** argv) {
  std::size_t ops = 2000000, repeats = 5;
  std::string json;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--ops") ops = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--repeats") repeats = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--json") json = argv[i + 1];
  }
  Timing best;
  for (std::size_t r = 0; r < repeats; ++r) {
    const Timing t = run_once(ops, 42 + r);
    if (r == 0 || t.total() < best.total()) best = t;
  }
  std::printf("%zu random ops: build %.1f ns, backward %.1f ns, free %.1f ns, total %.1f ns per op\n",
              ops, best.build, best.backward, best.free, best.total());
  if (!json.empty()) {
    std::ofstream(json) << "{\"ops\": " << ops << ", \"build_ns\": " << best.build
                        << ", \"backward_ns\": " << best.backward << ", \"free_ns\": " << best.free
                        << ", \"total_ns\": " << best.total() << "}\n";
  }
  return 0;
}

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

// One step of the expression: an op and the window slots it reads and writes.
// The whole program is drawn before the clock starts, so that the timing is the
// engine's alone, not the random generator's.
struct Step {
  std::uint8_t kind, a, b, out;
};

constexpr std::size_t kWindow = 64;

std::vector<Step> random_program(std::size_t ops, cpp_grad::Random& rng) {
  std::vector<Step> program;
  for (std::size_t nodes = 0; nodes < ops;) {
    const Step step{std::uint8_t(rng.below(9)), std::uint8_t(rng.below(kWindow)),
                    std::uint8_t(rng.below(kWindow)), std::uint8_t(rng.below(kWindow))};
    program.push_back(step);
    nodes += step.kind == 3 ? 3 : 1;
  }
  return program;
}

Timing run_once(std::size_t ops, std::uint64_t seed) {
  cpp_grad::Random rng(seed);
  std::vector<Value<double>> recent;
  for (std::size_t i = 0; i < kWindow; ++i) recent.emplace_back(rng.uniform(-1, 1));
  const std::vector<Value<double>> leaves = recent;
  const std::vector<Step> program = random_program(ops, rng);
  std::size_t nodes = 1;  // the root
  for (const Step& step : program) nodes += step.kind == 3 ? 3 : 1;

  const auto t0 = Clock::now();
  for (const Step& step : program)
    recent[step.out] = random_op(step.kind, recent[step.a], recent[step.b]);
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

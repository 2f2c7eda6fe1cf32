// Generic-op benchmark: the cost of build + backward + free per op on a long
// random expression graph built through the public C++ API (no fused nodes).
//
//   bench_ops [--ops N] [--repeats R] [--json PATH] [--check]
//
// Each op takes one or two operands from a window of recent Values, as an
// expression written by hand would, and is one of + - * / (Values or a
// number), tanh, sigmoid, relu. The root sums the window. Prints the best of
// R repeats, in nanoseconds per op (per node made).
//
// The same program also runs on two references. One owns nothing: plain
// structs in one array, raw pointers, nothing to free, walked backward once
// the way cpp_grad walks (Kahn's algorithm) and once in reverse creation order
// (a tape, as Stan Math does). It is not an engine anyone could use (a graph
// lives exactly as long as the array), but it shows what the arithmetic, the
// memory traffic and the walk cost on this machine, before any ownership. The
// other is the least engine with cpp_grad's ownership: a std::shared_ptr per
// node from the same node pool, one node type, no virtual calls, no lambdas.
// --check compares the leaf gradients of all four (a CTest runs it small).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
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

// One step of the expression: an op and the window slots it reads and writes.
// The whole program is drawn before the clock starts, so that the timing is the
// engine's alone, not the random generator's.
struct Step {
  std::uint8_t kind, a, b, out;
};

constexpr std::size_t kWindow = 64;
constexpr std::uint8_t kDivide = 3;  // a / (b * b + 1): three nodes

std::size_t nodes_made(const Step& step) { return step.kind == kDivide ? 3 : 1; }

std::vector<Step> random_program(std::size_t ops, std::uint64_t seed) {
  cpp_grad::Random rng(seed);
  std::vector<Step> program;
  for (std::size_t nodes = 0; nodes < ops;) {
    const Step step{std::uint8_t(rng.below(9)), std::uint8_t(rng.below(kWindow)),
                    std::uint8_t(rng.below(kWindow)), std::uint8_t(rng.below(kWindow))};
    program.push_back(step);
    nodes += nodes_made(step);
  }
  return program;
}

std::vector<double> window_start(std::uint64_t seed) {
  cpp_grad::Random rng(~seed);
  std::vector<double> xs;
  for (std::size_t i = 0; i < kWindow; ++i) xs.push_back(rng.uniform(-1, 1));
  return xs;
}

std::size_t node_count(const std::vector<Step>& program) {
  std::size_t nodes = 1;  // the root
  for (const Step& step : program) nodes += nodes_made(step);
  return nodes;
}

Timing per_node(std::size_t nodes, Clock::time_point t0, Clock::time_point t1, Clock::time_point t2,
                Clock::time_point t3) {
  const auto ns = [nodes](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::nano>(b - a).count() / double(nodes);
  };
  return {ns(t0, t1), ns(t1, t2), ns(t2, t3)};
}

// ---- cpp_grad ---------------------------------------------------------------
Value<double> random_op(std::uint8_t kind, const Value<double>& a, const Value<double>& b) {
  switch (kind) {
    case 0:
      return a + b;
    case 1:
      return a - b;
    case 2:
      return a * b;
    case kDivide:
      return a / (b * b + 1.0);  // a divisor that is never 0
    case 4:
      return tanh(a);
    case 5:
      return sigmoid(a);
    case 6:
      return relu(a);
    case 7:
      return a * 0.5;
    default:
      return 1.0 - a;
  }
}

// Each run also reports the gradients of the window's starting leaves, so that
// --check can compare the engine with the reference.
Timing run_cpp_grad(const std::vector<Step>& program, const std::vector<double>& start,
                    std::vector<double>& leaf_grads) {
  std::vector<Value<double>> recent(start.begin(), start.end());
  const std::vector<Value<double>> leaves = recent;

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
  leaf_grads.clear();
  for (const Value<double>& leaf : leaves) leaf_grads.push_back(leaf.grad());
  return per_node(node_count(program), t0, t1, t2, t3);
}

// ---- the references: no ownership, and a shared_ptr per node ------------------
namespace reference {

enum Op : std::uint8_t {
  kLeaf,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kAddK,
  kMulK,
  kKSub,
  kTanh,
  kSigmoid,
  kRelu
};

// A node of the reference: raw parents (`Parent` = Node*), or parents owned
// through std::shared_ptr (OwnedNode, below).
template <typename Parent>
struct BasicNode {
  double data, grad;
  std::uint32_t pending;  // Kahn: children still to come; tape: reached from the root
  Op op;
  Parent a, b;
  double k;
};
struct Node : BasicNode<Node*> {};

template <typename N>
N* raw(N* p) {
  return p;
}
template <typename N>
N* raw(const std::shared_ptr<N>& p) {
  return p.get();
}

// One step of the program; `make(data, op, a, b, k)` makes a node.
template <typename Ptr, typename Make>
Ptr apply(std::uint8_t kind, const Ptr& a, const Ptr& b, Make make) {
  switch (kind) {
    case 0:
      return make(a->data + b->data, kAdd, a, b, 0);
    case 1:
      return make(a->data - b->data, kSub, a, b, 0);
    case 2:
      return make(a->data * b->data, kMul, a, b, 0);
    case kDivide: {
      const Ptr square = make(b->data * b->data, kMul, b, b, 0);
      const Ptr divisor = make(square->data + 1.0, kAddK, square, Ptr(), 1.0);
      return make(a->data / divisor->data, kDiv, a, divisor, 0);
    }
    case 4:
      return make(std::tanh(a->data), kTanh, a, Ptr(), 0);
    case 5:
      return make(cpp_grad::sigmoid_of(a->data), kSigmoid, a, Ptr(), 0);
    case 6:
      return make(cpp_grad::relu_of(a->data), kRelu, a, Ptr(), 0);
    case 7:
      return make(a->data * 0.5, kMulK, a, Ptr(), 0.5);
    default:
      return make(1.0 - a->data, kKSub, a, Ptr(), 1.0);
  }
}

template <typename N>
void step(const N& n) {
  const double g = n.grad;
  N* a = raw(n.a);
  N* b = raw(n.b);
  switch (n.op) {
    case kLeaf:
      break;
    case kAdd:
      a->grad += g;
      b->grad += g;
      break;
    case kSub:
      a->grad += g;
      b->grad -= g;
      break;
    case kMul:
      a->grad += b->data * g;
      b->grad += a->data * g;
      break;
    case kDiv:
      a->grad += g / b->data;
      b->grad -= g * n.data / b->data;
      break;
    case kAddK:
      a->grad += g;
      break;
    case kMulK:
      a->grad += n.k * g;
      break;
    case kKSub:
      a->grad -= g;
      break;
    case kTanh:
      a->grad += (1 - n.data * n.data) * g;
      break;
    case kSigmoid:
      a->grad += n.data * (1 - n.data) * g;
      break;
    case kRelu:
      if (a->data > 0) a->grad += g;
      break;
  }
}

// Kahn's algorithm over the root's parents, as cpp_grad's backward() does.
template <typename N>
void backward_kahn(const std::vector<N*>& root_parents) {
  std::vector<N*> stack;
  const auto discover = [&stack](N* node) {
    if (node->op != kLeaf) node->grad = 0;
    stack.push_back(node);
  };
  for (N* p : root_parents)
    if (p->pending++ == 0) discover(p);
  while (!stack.empty()) {
    N* node = stack.back();
    stack.pop_back();
    for (N* p : {raw(node->a), raw(node->b)})
      if (p && p->pending++ == 0) discover(p);
  }
  for (N* p : root_parents) p->grad += 1;
  for (N* p : root_parents)
    if (--p->pending == 0) stack.push_back(p);
  while (!stack.empty()) {
    N* node = stack.back();
    stack.pop_back();
    step(*node);
    for (N* p : {raw(node->a), raw(node->b)})
      if (p && --p->pending == 0) stack.push_back(p);
  }
}

// Raw nodes in one array, in creation order.
class Graph {
 public:
  explicit Graph(std::size_t capacity) { nodes_.reserve(capacity); }

  Node* make(double data, Op op, Node* a, Node* b, double k) {
    if (nodes_.size() == nodes_.capacity()) {  // growing would move the nodes under their children
      std::fprintf(stderr, "bench_ops: reference graph over capacity\n");
      std::abort();
    }
    nodes_.push_back(Node{{data, 0, 0, op, a, b, k}});
    return &nodes_.back();
  }

  // One loop down the creation order, which is already a topological order.
  void backward_tape(const std::vector<Node*>& root_parents) {
    for (Node* p : root_parents) {
      if (p->op != kLeaf && !p->pending) p->grad = 0;
      p->pending = 1;
    }
    for (Node* p : root_parents) p->grad += 1;
    for (auto node = nodes_.rbegin(); node != nodes_.rend(); ++node) {
      if (!node->pending) continue;
      node->pending = 0;
      for (Node* p : {node->a, node->b}) {
        if (p && !p->pending) {
          if (p->op != kLeaf) p->grad = 0;
          p->pending = 1;
        }
      }
      step(*node);
    }
  }

  void clear() { nodes_.clear(); }  // trivially destructible: nothing to free one by one

 private:
  std::vector<Node> nodes_;
};

enum class Walk { kKahn, kTape };

Timing run(Graph& graph, const std::vector<Step>& program, const std::vector<double>& start,
           Walk walk, std::vector<double>& leaf_grads) {
  graph.clear();
  std::vector<Node*> recent;
  for (double x : start) recent.push_back(graph.make(x, kLeaf, nullptr, nullptr, 0));
  const std::vector<Node*> leaves = recent;
  const auto make = [&graph](double data, Op op, Node* a, Node* b, double k) {
    return graph.make(data, op, a, b, k);
  };

  const auto t0 = Clock::now();
  for (const Step& step : program)
    recent[step.out] = apply(step.kind, recent[step.a], recent[step.b], make);
  double root = 0;  // the root sums the window; its backward step gives each a 1
  for (Node* x : recent) root += x->data;
  const auto t1 = Clock::now();
  if (walk == Walk::kKahn) {
    backward_kahn(recent);
  } else {
    graph.backward_tape(recent);
  }
  const auto t2 = Clock::now();
  leaf_grads.clear();  // read before the clear, which only forgets the nodes
  for (const Node* leaf : leaves) leaf_grads.push_back(leaf->grad);
  graph.clear();
  const auto t3 = Clock::now();
  if (!std::isfinite(root)) std::printf("(root %g)\n", root);  // keeps the sum computed
  return per_node(node_count(program), t0, t1, t2, t3);
}

// The least an engine with cpp_grad's ownership can do: each node owned by a
// std::shared_ptr from cpp_grad's node pool, its parents held by shared_ptrs,
// one node type with no virtual calls and no lambdas, freed iteratively.
struct OwnedNode : BasicNode<std::shared_ptr<OwnedNode>> {
  using Ptr = std::shared_ptr<OwnedNode>;
  OwnedNode(double data, Op op, Ptr a, Ptr b, double k)
      : BasicNode<Ptr>{data, 0, 0, op, std::move(a), std::move(b), k} {}
  ~OwnedNode() {
    static std::vector<Ptr>* running = nullptr;  // the teardown loop under way
    const auto last = [](const Ptr& p) { return p && p.use_count() == 1; };
    if (!last(a) && !last(b)) return;
    const auto take = [&](std::vector<Ptr>& doomed) {
      for (Ptr* p : {&a, &b})
        if (last(*p)) doomed.push_back(std::move(*p));
    };
    if (running) {
      take(*running);
      return;
    }
    std::vector<Ptr> doomed;
    take(doomed);
    running = &doomed;
    while (!doomed.empty()) {
      Ptr node = std::move(doomed.back());
      doomed.pop_back();
    }  // its destructor hands its own last-held parents to the loop
    running = nullptr;
  }
};

Timing run_owned(const std::vector<Step>& program, const std::vector<double>& start,
                 std::vector<double>& leaf_grads) {
  using Ptr = OwnedNode::Ptr;
  const auto make = [](double data, Op op, const Ptr& a, const Ptr& b, double k) {
    return std::allocate_shared<OwnedNode>(cpp_grad::NodeAllocator<OwnedNode>(), data, op, a, b, k);
  };
  std::vector<Ptr> recent;
  for (double x : start) recent.push_back(make(x, kLeaf, nullptr, nullptr, 0));
  const std::vector<Ptr> leaves = recent;

  const auto t0 = Clock::now();
  for (const Step& step : program)
    recent[step.out] = apply(step.kind, recent[step.a], recent[step.b], make);
  double root = 0;
  std::vector<OwnedNode*> root_parents;
  for (const Ptr& x : recent) {
    root += x->data;
    root_parents.push_back(x.get());
  }
  const auto t1 = Clock::now();
  backward_kahn(root_parents);
  const auto t2 = Clock::now();
  root_parents.clear();
  recent.clear();
  const auto t3 = Clock::now();
  leaf_grads.clear();
  for (const Ptr& leaf : leaves) leaf_grads.push_back(leaf->grad);
  if (!std::isfinite(root)) std::printf("(root %g)\n", root);
  return per_node(node_count(program), t0, t1, t2, t3);
}

}  // namespace reference

// ---- main -------------------------------------------------------------------
template <typename Run>
Timing best_of(std::size_t repeats, Run run) {
  Timing best;
  for (std::size_t r = 0; r < repeats; ++r) {
    const Timing t = run(r);
    if (r == 0 || t.total() < best.total()) best = t;
  }
  return best;
}

std::string json_of(const Timing& t) {
  char out[200];
  std::snprintf(
      out, sizeof out,
      "{\"build_ns\": %.2f, \"backward_ns\": %.2f, \"free_ns\": %.2f, \"total_ns\": %.2f}", t.build,
      t.backward, t.free, t.total());
  return out;
}

// The largest difference between two runs' leaf gradients, relative to their size.
double largest_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = a.size() == b.size() ? 0 : INFINITY;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double scale = std::max({1.0, std::fabs(a[i]), std::fabs(b[i])});
    const double difference = std::fabs(a[i] - b[i]) / scale;
    worst = std::isnan(difference) ? INFINITY : std::max(worst, difference);
  }
  return worst;
}

// A positive count from the command line, or 0 if `text` is not one.
std::size_t positive_count(const char* text) {
  char* end = nullptr;
  const unsigned long long n = std::strtoull(text, &end, 10);
  const bool digits_only = *text >= '0' && *text <= '9' && end && *end == '\0';
  return digits_only ? std::size_t(n) : 0;
}

int main(int argc, char** argv) {
  const char* usage = "usage: bench_ops [--ops N] [--repeats R] [--json PATH] [--check]\n";
  std::size_t ops = 2000000, repeats = 5;
  std::string json;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const bool has_value = i + 1 < argc;
    if (flag == "--check") {
      check = true;
    } else if ((flag == "--ops" || flag == "--repeats") && has_value) {
      const char* text = argv[++i];
      const std::size_t n = positive_count(text);
      if (n == 0) {
        std::fprintf(stderr, "bench_ops: %s must be a positive whole number, got '%s'\n",
                     flag.c_str(), text);
        return 2;
      }
      (flag == "--ops" ? ops : repeats) = n;
    } else if (flag == "--json" && has_value) {
      json = argv[++i];
    } else {
      std::fprintf(stderr, "bench_ops: unexpected argument '%s'\n%s", flag.c_str(), usage);
      return 2;
    }
  }
  std::vector<std::vector<Step>> programs;
  std::vector<std::vector<double>> starts;
  for (std::size_t r = 0; r < repeats; ++r) {
    programs.push_back(random_program(ops, 42 + r));
    starts.push_back(window_start(42 + r));
  }
  std::vector<double> engine_grads, kahn_grads, tape_grads, owned_grads;  // of the last repeat
  const Timing engine = best_of(
      repeats, [&](std::size_t r) { return run_cpp_grad(programs[r], starts[r], engine_grads); });
  std::size_t most_nodes = 0;
  for (const std::vector<Step>& program : programs)
    most_nodes = std::max(most_nodes, node_count(program));
  reference::Graph graph(most_nodes + kWindow);
  const Timing kahn = best_of(repeats, [&](std::size_t r) {
    return reference::run(graph, programs[r], starts[r], reference::Walk::kKahn, kahn_grads);
  });
  const Timing tape = best_of(repeats, [&](std::size_t r) {
    return reference::run(graph, programs[r], starts[r], reference::Walk::kTape, tape_grads);
  });

  const Timing owned = best_of(repeats, [&](std::size_t r) {
    return reference::run_owned(programs[r], starts[r], owned_grads);
  });

  const auto show = [ops](const char* what, const Timing& t) {
    std::printf(
        "%zu random ops, %-28s build %5.1f ns, backward %5.1f ns, free %5.1f ns, total %5.1f ns "
        "per op\n",
        ops, what, t.build, t.backward, t.free, t.total());
  };
  show("cpp_grad:", engine);
  show("reference, Kahn walk:", kahn);
  show("reference, creation order:", tape);
  show("reference, shared_ptr nodes:", owned);
  if (!json.empty()) {
    std::ofstream(json) << "{\"ops\": " << ops << ", \"repeats\": " << repeats
                        << ", \"cpp_grad\": " << json_of(engine)
                        << ", \"reference_kahn\": " << json_of(kahn)
                        << ", \"reference_tape\": " << json_of(tape)
                        << ", \"reference_shared_ptr\": " << json_of(owned) << "}\n";
  }
  if (check) {
    // All did the same work: the same leaf gradients, up to rounding
    // (the walks add a node's contributions in different orders).
    constexpr double kTolerance = 1e-9;
    bool agree = true;
    const auto compare = [&](const char* reference, const std::vector<double>& grads) {
      const double difference = largest_difference(engine_grads, grads);
      std::printf("leaf gradients, cpp_grad vs %s: relative difference %.2g\n", reference,
                  difference);
      if (!(difference < kTolerance)) {
        std::fprintf(stderr, "bench_ops: cpp_grad and %s disagree: %.3g > %.0e\n", reference,
                     difference, kTolerance);
        agree = false;
      }
    };
    compare("reference, Kahn walk", kahn_grads);
    compare("reference, creation order", tape_grads);
    compare("reference, shared_ptr nodes", owned_grads);
    if (!agree) return 1;
  }
  return 0;
}

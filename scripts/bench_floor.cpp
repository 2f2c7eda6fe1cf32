// The floor scripts/bench.py measures cpp_grad against: the same MLP,
// training and optimizer as scripts/train_mnist.cpp (ReLU hidden layers,
// softmax cross-entropy, batch 50, Adam at lr 0.003, float32), written as
// plain loops over contiguous float arrays on one thread. No graph, no
// nodes, no zero skipping: per sample, each layer is a matrix-vector product
// forward and two rank-one updates backward, with the reductions in 16
// running sums so that they vectorise. What a per-sample trainer costs when
// it pays for nothing but the arithmetic.
//
//   bench_floor --data DIR [--hidden 30] [--epochs 3] [--seed 0] [--limit N] [--json PATH]
//
// DIR holds the four raw IDX files (scripts/mnist_to_idx.py writes them).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "cpp_grad/io.hpp"
#include "cpp_grad/random.hpp"

namespace {

constexpr std::size_t kLanes = 16;

float dot(const float* __restrict w, const float* __restrict x, std::size_t n) {
  float acc[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) acc[l] += w[i + l] * x[i + l];
  for (std::size_t l = 0; i < n; ++i, ++l) acc[l] += w[i] * x[i];
  for (std::size_t width = kLanes / 2; width > 0; width /= 2)
    for (std::size_t l = 0; l < width; ++l) acc[l] += acc[l + width];
  return acc[0];
}

void axpy(float* __restrict y, const float* __restrict x, float a, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] += a * x[i];
}

struct Layer {
  std::size_t nin, nout;
  std::size_t offset;  // of W (nout rows of nin) in the parameter array; b follows
};

struct Options {
  std::string data, json;
  std::vector<std::size_t> hidden{30};
  int epochs = 3;
  std::uint64_t seed = 0;
  std::size_t limit = 0;  // 0: every training image
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "bench_floor: " << problem << "\n"
            << "usage: bench_floor --data DIR [--hidden N,N..] [--epochs N] [--seed N] [--limit N]\n"
            << "       [--json PATH]\n";
  std::exit(2);
}

std::size_t parse_count(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || text[0] == '-') usage(flag + " takes a whole number, got '" + text + "'");
  return std::size_t(value);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--data") o.data = value;
    else if (flag == "--json") o.json = value;
    else if (flag == "--epochs") o.epochs = int(parse_count(flag, value));
    else if (flag == "--seed") o.seed = parse_count(flag, value);
    else if (flag == "--limit") o.limit = parse_count(flag, value);
    else if (flag == "--hidden") {
      o.hidden.clear();
      std::stringstream list(value);
      for (std::string size; std::getline(list, size, ',');) o.hidden.push_back(parse_count(flag, size));
      if (o.hidden.empty() || *std::min_element(o.hidden.begin(), o.hidden.end()) == 0)
        usage("--hidden sizes must be at least 1");
    } else usage("unknown option " + flag);
  }
  if (o.data.empty()) usage("--data DIR is required");
  return o;
}

class Mlp {
 public:
  Mlp(std::size_t nin, const std::vector<std::size_t>& nouts, std::uint64_t seed) {
    cpp_grad::Random rng(seed);
    std::size_t width = nin, offset = 0;
    for (std::size_t i = 0; i < nouts.size(); ++i) {
      layers_.push_back({width, nouts[i], offset});
      offset += nouts[i] * (width + 1);
      width = nouts[i];
    }
    params_.assign(offset, 0.0f);
    grads_.assign(offset, 0.0f);
    m_.assign(offset, 0.0f);
    v_.assign(offset, 0.0f);
    for (std::size_t l = 0; l < layers_.size(); ++l) {  // He (ReLU) or LeCun (linear) uniform, as nn.hpp
      const Layer& layer = layers_[l];
      const double bound = std::sqrt((l + 1 < layers_.size() ? 6.0 : 3.0) / double(layer.nin));
      for (std::size_t i = 0; i < layer.nout * layer.nin; ++i)
        params_[layer.offset + i] = float(rng.uniform(-bound, bound));
    }
    for (const Layer& layer : layers_) {
      activations_.emplace_back(layer.nout);
      deltas_.emplace_back(layer.nout);
    }
  }

  // Forward one sample; returns the predicted class. activations_ keep the outputs.
  std::size_t forward(const float* x) {
    const float* in = x;
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const Layer& layer = layers_[l];
      const float* w = &params_[layer.offset];
      const float* b = w + layer.nout * layer.nin;
      float* out = activations_[l].data();
      for (std::size_t j = 0; j < layer.nout; ++j) {
        const float z = b[j] + dot(w + j * layer.nin, in, layer.nin);
        out[j] = l + 1 < layers_.size() ? std::max(z, 0.0f) : z;
      }
      in = out;
    }
    const std::vector<float>& logits = activations_.back();
    return std::size_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }

  // Cross-entropy of the last forward() against `label`, its gradient scaled
  // by `weight` added into the parameters' gradients. Returns the loss.
  float backward(const float* x, std::size_t label, float weight) {
    std::vector<float>& logits = activations_.back();
    const float max = *std::max_element(logits.begin(), logits.end());
    float total = 0;
    for (float z : logits) total += std::exp(z - max);
    const float log_total = std::log(total);
    std::vector<float>& delta = deltas_.back();
    for (std::size_t j = 0; j < logits.size(); ++j)
      delta[j] = weight * (std::exp(logits[j] - max - log_total) - float(j == label));
    const float loss = max + log_total - logits[label];
    for (std::size_t l = layers_.size(); l-- > 0;) {
      const Layer& layer = layers_[l];
      const float* in = l > 0 ? activations_[l - 1].data() : x;
      const float* w = &params_[layer.offset];
      float* gw = &grads_[layer.offset];
      float* gb = gw + layer.nout * layer.nin;
      const std::vector<float>& d = deltas_[l];
      for (std::size_t j = 0; j < layer.nout; ++j) {
        axpy(gw + j * layer.nin, in, d[j], layer.nin);
        gb[j] += d[j];
      }
      if (l == 0) break;
      std::vector<float>& below = deltas_[l - 1];
      std::fill(below.begin(), below.end(), 0.0f);
      for (std::size_t j = 0; j < layer.nout; ++j) axpy(below.data(), w + j * layer.nin, d[j], layer.nin);
      for (std::size_t i = 0; i < below.size(); ++i)
        if (!(activations_[l - 1][i] > 0)) below[i] = 0;
    }
    return loss;
  }

  void adam_step(float lr) {
    const float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
    ++t_;
    const float c1 = 1 - std::pow(beta1, float(t_)), c2 = 1 - std::pow(beta2, float(t_));
    float* __restrict p = params_.data();
    float* __restrict g = grads_.data();
    float* __restrict m = m_.data();
    float* __restrict v = v_.data();
    for (std::size_t i = 0; i < params_.size(); ++i) {
      m[i] = beta1 * m[i] + (1 - beta1) * g[i];
      v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
      p[i] -= lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + eps);
      g[i] = 0;
    }
  }

  std::size_t num_parameters() const { return params_.size(); }

 private:
  std::vector<Layer> layers_;
  std::vector<float> params_, grads_, m_, v_;
  std::vector<std::vector<float>> activations_, deltas_;
  long t_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    const cpp_grad::MnistData mnist = cpp_grad::load_mnist_idx(o.data);
    const std::size_t features = mnist.train_images.rows * mnist.train_images.cols;
    std::size_t rows = mnist.train_images.count;
    if (o.limit > 0 && o.limit < rows) rows = o.limit;
    const std::size_t batch = 50;
    std::vector<std::size_t> sizes = o.hidden;
    sizes.push_back(10);
    Mlp model(features, sizes, o.seed);
    cpp_grad::Random rng(o.seed);
    std::vector<float> x(features);
    const auto load = [&](const std::vector<std::uint8_t>& pixels, std::size_t row) {
      for (std::size_t c = 0; c < features; ++c) x[c] = float(pixels[row * features + c] * (1.0 / 255));
    };

    std::vector<std::size_t> order(rows);
    double seconds = 0, loss = 0;
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
      const auto start = std::chrono::steady_clock::now();
      std::iota(order.begin(), order.end(), std::size_t(0));
      for (std::size_t i = rows - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
      loss = 0;
      for (std::size_t begin = 0; begin < rows; begin += batch) {
        const std::size_t end = std::min(begin + batch, rows);
        for (std::size_t i = begin; i < end; ++i) {
          load(mnist.train_images.pixels, order[i]);
          model.forward(x.data());
          loss += model.backward(x.data(), mnist.train_labels[order[i]], 1.0f / float(end - begin));
        }
        model.adam_step(0.003f);
      }
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    std::size_t correct = 0;
    for (std::size_t i = 0; i < mnist.test_images.count; ++i) {
      load(mnist.test_images.pixels, i);
      correct += model.forward(x.data()) == mnist.test_labels[i];
    }
    const double accuracy = double(correct) / double(mnist.test_images.count);
    std::printf("floor MLP %zu", features);
    for (std::size_t n : sizes) std::printf("-%zu", n);
    std::printf(": %d epochs in %.2f s, last epoch's loss %.4f, test accuracy %.4f\n", o.epochs,
                seconds, loss / double(rows), accuracy);
    if (!o.json.empty()) {
      std::ofstream out(o.json);
      out.precision(10);
      out << "{\"train_seconds\": " << seconds << ", \"test_accuracy\": " << accuracy
          << ", \"epochs\": " << o.epochs << ", \"parameters\": " << model.num_parameters()
          << ", \"threads\": 1}\n";
      if (!out) throw std::runtime_error("cannot write " + o.json);
    }
  } catch (const std::exception& error) {
    std::cerr << "bench_floor: " << error.what() << "\n";
    return 1;
  }
  return 0;
}

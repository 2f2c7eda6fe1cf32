// Trains an MLP on MNIST from C++: the same training and defaults as
// scripts/train_mnist.py, and the example for C++ users.
//
//   train_mnist --data DIR [--epochs 3] [--batch-size 50] [--hidden 30]
//               [--lr 0.003] [--optimizer adam] [--loss cross_entropy]
//               [--activation relu] [--dtype float32] [--seed 0]
//               [--threads 2] [--limit N] [--json PATH]
//
// DIR holds the four raw IDX files (scripts/mnist_to_idx.py writes them).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cpp_grad/cpp_grad.hpp"
#include "cpp_grad/io.hpp"

namespace {

struct Options {
  std::string data, json, optimizer = "adam", loss = "cross_entropy", activation = "relu",
                       dtype = "float32";
  int epochs = 3;
  std::size_t batch_size = 50, threads = 2, limit = 0;
  std::vector<std::size_t> hidden{30};
  double lr = 0;  // the optimizer's default
  std::uint64_t seed = 0;
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "train_mnist: " << problem << "\n"
            << "usage: train_mnist --data DIR [--epochs N] [--batch-size N] [--hidden N,N..]\n"
            << "       [--lr X] [--optimizer adam|sgd] [--loss cross_entropy|mse|hinge]\n"
            << "       [--activation relu|tanh] [--dtype float32|float64] [--seed N]\n"
            << "       [--threads N] [--limit N] [--json PATH]\n";
  std::exit(2);
}

unsigned long long parse_count(const std::string& flag, const std::string& text) {
  try {
    std::size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used == text.size() && value >= 0) return static_cast<unsigned long long>(value);
  } catch (const std::exception&) {
  }
  usage(flag + " takes a whole number, got '" + text + "'");
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") usage("train an MLP on MNIST");
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--data") o.data = value;
    else if (flag == "--json") o.json = value;
    else if (flag == "--epochs") o.epochs = int(parse_count(flag, value));
    else if (flag == "--batch-size") o.batch_size = parse_count(flag, value);
    else if (flag == "--threads") o.threads = parse_count(flag, value);
    else if (flag == "--limit") o.limit = parse_count(flag, value);
    else if (flag == "--seed") o.seed = parse_count(flag, value);
    else if (flag == "--lr") o.lr = std::atof(value.c_str());
    else if (flag == "--optimizer") o.optimizer = value;
    else if (flag == "--loss") o.loss = value;
    else if (flag == "--activation") o.activation = value;
    else if (flag == "--dtype") o.dtype = value;
    else if (flag == "--hidden") {
      o.hidden.clear();
      std::stringstream list(value);
      for (std::string size; std::getline(list, size, ',');) o.hidden.push_back(parse_count(flag, size));
    } else usage("unknown option " + flag);
  }
  if (o.data.empty()) usage("--data DIR is required");
  if (o.dtype != "float32" && o.dtype != "float64") usage("--dtype is float32 or float64");
  return o;
}

template <typename T>
int run(const Options& o) {
  using namespace cpp_grad;
  const MnistData mnist = load_mnist_idx(o.data);
  const std::vector<std::int64_t> train_labels(mnist.train_labels.begin(), mnist.train_labels.end());
  const std::vector<std::int64_t> test_labels(mnist.test_labels.begin(), mnist.test_labels.end());
  const std::size_t features = mnist.train_images.rows * mnist.train_images.cols;
  std::size_t rows = mnist.train_images.count;
  if (o.limit > 0 && o.limit < rows) rows = o.limit;
  // uint8 pixels, scaled to [0, 1] as they are read.
  const Dataset<std::uint8_t> train{mnist.train_images.pixels.data(), train_labels.data(), rows,
                                    features, 1.0 / 255};
  const Dataset<std::uint8_t> test{mnist.test_images.pixels.data(), test_labels.data(),
                                   mnist.test_images.count, features, 1.0 / 255};

  std::vector<std::size_t> sizes = o.hidden;
  sizes.push_back(10);
  MLP<T> model(features, sizes, activation_from_name(o.activation), o.seed);
  auto optimizer = make_optimizer<T>(o.optimizer, model.parameters(), T(o.lr));
  Trainer<T> trainer(model, *optimizer, loss_from_name(o.loss), o.batch_size, o.seed, o.threads);
  std::printf("MLP %zu", features);
  for (std::size_t n : sizes) std::printf("-%zu", n);
  std::printf(" (%zu parameters, %s); %zu training and %zu test images\n",
              model.num_parameters(), o.dtype.c_str(), rows, test.rows);

  double train_seconds = 0;
  std::ostringstream per_epoch;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    const EpochResult r = trainer.train_epoch(train);
    const double test_accuracy = evaluate(model, test);
    train_seconds += r.seconds;
    std::printf("epoch %d: loss %.4f  train accuracy %.4f  test accuracy %.4f  %.2f s\n", epoch,
                r.loss, r.accuracy, test_accuracy, r.seconds);
    std::fflush(stdout);
    per_epoch << (epoch > 1 ? ", " : "") << "{\"epoch\": " << epoch << ", \"loss\": " << r.loss
              << ", \"accuracy\": " << r.accuracy << ", \"val_accuracy\": " << test_accuracy
              << ", \"seconds\": " << r.seconds << "}";
  }
  const double test_accuracy = evaluate(model, test);
  std::printf("test accuracy %.4f; training %.2f s\n", test_accuracy, train_seconds);

  if (!o.json.empty()) {
    std::ofstream out(o.json);
    out.precision(10);
    out << "{\"test_accuracy\": " << test_accuracy << ", \"train_seconds\": " << train_seconds
        << ", \"epochs\": " << o.epochs << ", \"batch_size\": " << o.batch_size
        << ", \"hidden\": [";
    for (std::size_t i = 0; i < o.hidden.size(); ++i) out << (i ? ", " : "") << o.hidden[i];
    out << "], \"dtype\": \"" << o.dtype << "\", \"threads\": " << o.threads
        << ", \"train_samples\": " << rows << ", \"per_epoch\": [" << per_epoch.str() << "]}\n";
    if (!out) throw std::runtime_error("cannot write " + o.json);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  try {
    return options.dtype == "float64" ? run<double>(options) : run<float>(options);
  } catch (const std::exception& error) {
    std::cerr << "train_mnist: " << error.what() << "\n";
    return 1;
  }
}

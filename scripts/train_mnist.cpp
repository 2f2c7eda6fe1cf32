// Trains an MLP on MNIST from C++: the same training and defaults as
// scripts/train_mnist.py, and the example for C++ users.
//
//   train_mnist --data DIR [--epochs 3] [--batch-size 50] [--hidden 30]
//               [--lr 0.003] [--optimizer adam] [--loss cross_entropy]
//               [--activation relu] [--dtype float32] [--seed 0]
//               [--threads 2] [--limit N] [--json PATH]
//
// DIR holds the four raw IDX files (scripts/mnist_to_idx.py writes them).
// Every flag is checked whole (a non-number, a negative or an out-of-range
// value is a usage error, exit 2), and --json is written whole or not at all.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "cpp_grad/cpp_grad.hpp"
#include "cpp_grad/io.hpp"

namespace {

struct Options {
  std::string data, json, optimizer = "adam", loss = "cross_entropy", activation = "relu",
                       dtype = "float32";
  unsigned long long epochs = 3, batch_size = 50, threads = 2, limit = 0;  // limit 0: every image
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

// A whole number in [least, most], written in decimal digits and nothing else.
unsigned long long parse_count(const std::string& flag, const std::string& text,
                               unsigned long long least,
                               unsigned long long most = std::numeric_limits<unsigned long long>::max()) {
  unsigned long long value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error == std::errc::invalid_argument || stop != end)
    usage(flag + " takes a whole number, got '" + text + "'");
  if (error == std::errc::result_out_of_range || value < least || value > most)
    usage(flag + " must be between " + std::to_string(least) + " and " + std::to_string(most) +
          ", got " + text);
  return value;
}

// A finite number above 0, and nothing else.
double parse_positive(const std::string& flag, const std::string& text) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end || !std::isfinite(value) || !(value > 0))
    usage(flag + " takes a number above 0, got '" + text + "'");
  return value;
}

std::string parse_choice(const std::string& flag, const std::string& text,
                         const std::vector<std::string>& choices) {
  for (const std::string& choice : choices)
    if (text == choice) return text;
  std::string expected;
  for (const std::string& choice : choices) expected += (expected.empty() ? "" : ", ") + choice;
  usage(flag + " is one of " + expected + ", got '" + text + "'");
}

// An MLP's hidden layers: every activation but the last layer's linear one.
std::vector<std::string> hidden_activations() {
  std::vector<std::string> names;
  for (const std::string& name : cpp_grad::activation_names())
    if (name != "linear") names.push_back(name);
  return names;
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
    else if (flag == "--epochs") o.epochs = parse_count(flag, value, 1, 1'000'000);
    else if (flag == "--batch-size") o.batch_size = parse_count(flag, value, 1);
    else if (flag == "--threads") o.threads = parse_count(flag, value, 1, 1024);
    else if (flag == "--limit") o.limit = parse_count(flag, value, 1);
    else if (flag == "--seed") o.seed = parse_count(flag, value, 0);
    else if (flag == "--lr") o.lr = parse_positive(flag, value);
    else if (flag == "--optimizer") o.optimizer = parse_choice(flag, value, cpp_grad::optimizer_names());
    else if (flag == "--loss") o.loss = parse_choice(flag, value, cpp_grad::loss_names());
    else if (flag == "--activation") o.activation = parse_choice(flag, value, hidden_activations());
    else if (flag == "--dtype") o.dtype = parse_choice(flag, value, {"float32", "float64"});
    else if (flag == "--hidden") {
      o.hidden.clear();
      std::stringstream list(value);
      for (std::string size; std::getline(list, size, ',');)
        o.hidden.push_back(parse_count(flag, size, 1));
      if (o.hidden.empty() || value.back() == ',')
        usage("--hidden takes layer sizes separated by commas, got '" + value + "'");
    } else usage("unknown option " + flag);
  }
  if (o.data.empty()) usage("--data DIR is required");
  return o;
}

// An output file written whole or not at all: a temporary file is made
// beside the target before training, so that a path that cannot be written
// fails at once, and renamed over the target once complete, so that a run
// that fails (or a full disk) leaves any earlier file as it was. A symbolic
// link is written through to its target; anything but a regular file is
// refused. The file gets an existing target's mode, or the umask's.
class AtomicOutput {
 public:
  explicit AtomicOutput(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path target = fs::absolute(path);
    for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(target, ec)); ++hops) {
      const fs::path next = fs::read_symlink(target, ec);
      if (ec) break;
      target = next.is_absolute() ? next : target.parent_path() / next;
    }
    target_ = target.lexically_normal().string();
    struct stat existing {};
    mode_t mode = 0666 & ~current_umask();
    if (::stat(target_.c_str(), &existing) == 0) {
      if (!S_ISREG(existing.st_mode))
        throw std::runtime_error("cannot write " + path + ": it exists and is not a regular file");
      mode = existing.st_mode & 07777;
    }
    std::string temp =
        (target.parent_path() / ("." + target.filename().string() + ".XXXXXX.tmp")).string();
    fd_ = ::mkstemps(temp.data(), 4);
    if (fd_ < 0)
      throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
    temp_ = temp;
    ::fchmod(fd_, mode);
  }
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  ~AtomicOutput() {
    if (fd_ >= 0) ::close(fd_);
    if (!temp_.empty()) ::unlink(temp_.c_str());
  }

  void commit(const std::string& text) {
    for (std::size_t done = 0; done < text.size();) {
      const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail();
      done += std::size_t(n);
    }
    if (::fsync(fd_) != 0) fail();
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail();
    if (::rename(temp_.c_str(), target_.c_str()) != 0) fail();
    temp_.clear();
  }

 private:
  static mode_t current_umask() {
    const mode_t mask = ::umask(0);
    ::umask(mask);
    return mask;
  }
  [[noreturn]] void fail() const {
    throw std::runtime_error("cannot write " + target_ + ": " + std::strerror(errno));
  }

  std::string target_, temp_;
  int fd_ = -1;
};

template <typename T>
int run(const Options& o) {
  using namespace cpp_grad;
  std::unique_ptr<AtomicOutput> json;  // made now: a path that cannot be written fails before training
  if (!o.json.empty()) json = std::make_unique<AtomicOutput>(o.json);
  const MnistData mnist = load_mnist_idx(o.data);
  const std::vector<std::int64_t> train_labels(mnist.train_labels.begin(), mnist.train_labels.end());
  const std::vector<std::int64_t> test_labels(mnist.test_labels.begin(), mnist.test_labels.end());
  const std::size_t features = mnist.train_images.rows * mnist.train_images.cols;
  std::size_t rows = mnist.train_images.count;
  if (o.limit > 0 && o.limit < rows) rows = std::size_t(o.limit);
  // uint8 pixels, scaled to [0, 1] as they are read.
  const Dataset<std::uint8_t> train{mnist.train_images.pixels.data(), train_labels.data(), rows,
                                    features, 1.0 / 255};
  const Dataset<std::uint8_t> test{mnist.test_images.pixels.data(), test_labels.data(),
                                   mnist.test_images.count, features, 1.0 / 255};

  std::vector<std::size_t> sizes = o.hidden;
  sizes.push_back(10);
  MLP<T> model(features, sizes, activation_from_name(o.activation), o.seed);
  auto optimizer = make_optimizer<T>(o.optimizer, model.parameters(), o.lr);
  Trainer<T> trainer(model, *optimizer, loss_from_name(o.loss), o.batch_size, o.seed, o.threads);
  std::printf("MLP %zu", features);
  for (std::size_t n : sizes) std::printf("-%zu", n);
  std::printf(" (%zu parameters, %s); %zu training and %zu test images\n",
              model.num_parameters(), o.dtype.c_str(), rows, test.rows);

  double train_seconds = 0;
  std::ostringstream per_epoch;
  for (unsigned long long epoch = 1; epoch <= o.epochs; ++epoch) {
    const EpochResult r = trainer.train_epoch(train);
    const double test_accuracy = evaluate(model, test);
    train_seconds += r.seconds;
    std::printf("epoch %llu: loss %.4f  train accuracy %.4f  test accuracy %.4f  %.2f s\n", epoch,
                r.loss, r.accuracy, test_accuracy, r.seconds);
    std::fflush(stdout);
    per_epoch << (epoch > 1 ? ", " : "") << "{\"epoch\": " << epoch << ", \"loss\": " << r.loss
              << ", \"accuracy\": " << r.accuracy << ", \"val_accuracy\": " << test_accuracy
              << ", \"seconds\": " << r.seconds << "}";
  }
  const double test_accuracy = evaluate(model, test);
  std::printf("test accuracy %.4f; training %.2f s\n", test_accuracy, train_seconds);

  if (json) {
    std::ostringstream out;
    out.precision(10);
    out << "{\"test_accuracy\": " << test_accuracy << ", \"train_seconds\": " << train_seconds
        << ", \"epochs\": " << o.epochs << ", \"batch_size\": " << o.batch_size
        << ", \"hidden\": [";
    for (std::size_t i = 0; i < o.hidden.size(); ++i) out << (i ? ", " : "") << o.hidden[i];
    out << "], \"dtype\": \"" << o.dtype << "\", \"threads\": " << o.threads
        << ", \"train_samples\": " << rows << ", \"per_epoch\": [" << per_epoch.str() << "]}\n";
    json->commit(out.str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  try {
    return options.dtype == "float64" ? run<double>(options) : run<float>(options);
  } catch (const std::invalid_argument& error) {  // an option the model or optimizer refuses
    std::cerr << "train_mnist: " << error.what() << "\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "train_mnist: " << error.what() << "\n";
    return 1;
  }
}

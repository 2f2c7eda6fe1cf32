// Tests for include/cpp_grad/train.hpp: the Trainer on small synthetic
// problems, determinism, predict/evaluate, and argument checks.
#include "cpp_grad/train.hpp"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include "cpp_grad/nn.hpp"
#include "cpp_grad/optim.hpp"
#include "cpp_grad/random.hpp"
#include "test_helpers.hpp"

namespace {

using cpp_grad::Activation;
using cpp_grad::Adam;
using cpp_grad::Dataset;
using cpp_grad::EpochResult;
using cpp_grad::Loss;
using cpp_grad::MLP;
using cpp_grad::Trainer;

// Three well separated 2-d blobs: the class is the nearest of three centres;
// each point lies within 1 of its centre, and the centres are 4 apart.
struct Blobs {
  std::vector<double> x;
  std::vector<std::int64_t> y;
  std::size_t rows = 0;
  Dataset<double> dataset() const { return {x.data(), y.data(), rows, 2}; }
};

Blobs make_blobs(std::size_t rows, std::uint64_t seed) {
  const double centres[3][2] = {{-2, -2}, {2, -2}, {0, 2}};
  cpp_grad::Random rng(seed);
  Blobs blobs;
  blobs.rows = rows;
  for (std::size_t i = 0; i < rows; ++i) {
    const std::size_t label = i % 3;
    blobs.x.push_back(centres[label][0] + rng.uniform(-1, 1));
    blobs.x.push_back(centres[label][1] + rng.uniform(-1, 1));
    blobs.y.push_back(std::int64_t(label));
  }
  return blobs;
}

template <typename T>
std::vector<T> weights_of(const MLP<T>& model) {
  std::vector<T> out;
  for (const auto& p : model.parameters()) out.push_back(p.data());
  return out;
}

// Trains a fresh model for `epochs` and returns its weights.
template <typename T>
std::vector<T> train_weights(const Blobs& blobs, std::uint64_t seed, std::size_t threads,
                             int epochs = 2) {
  MLP<T> model(2, {8, 3}, Activation::relu, seed);
  Adam<T> adam(model.parameters(), T(0.01));
  Trainer<T> trainer(model, adam, Loss::cross_entropy, 16, seed, threads);
  for (int e = 0; e < epochs; ++e) trainer.train_epoch(blobs.dataset());
  return weights_of(model);
}

template <typename T>
class TrainTest : public ::testing::Test {};
using cpp_grad_test::FloatTypes;
TYPED_TEST_SUITE(TrainTest, FloatTypes);

TYPED_TEST(TrainTest, LearnsSeparableBlobsWithAdam) {
  using T = TypeParam;
  const Blobs blobs = make_blobs(300, 1);
  MLP<T> model(2, {16, 3}, Activation::relu, 2);
  Adam<T> adam(model.parameters(), T(0.02));
  Trainer<T> trainer(model, adam, Loss::cross_entropy, 16, 3);
  const double before = cpp_grad::evaluate(model, blobs.dataset());
  EpochResult last;
  for (int epoch = 0; epoch < 5; ++epoch) last = trainer.train_epoch(blobs.dataset());
  EXPECT_LT(before, 0.5);  // the untrained model is no good: training did the work
  EXPECT_GT(cpp_grad::evaluate(model, blobs.dataset()), 0.95);
  EXPECT_GT(last.accuracy, 0.9);
  EXPECT_LT(last.loss, 0.5);
  EXPECT_EQ(last.samples, 300u);
  EXPECT_FALSE(last.stopped);
  EXPECT_GE(last.seconds, 0.0);
  // Held-out points from the same blobs.
  EXPECT_GT(cpp_grad::evaluate(model, make_blobs(150, 99).dataset()), 0.95);
}

// Other losses learn too: mse against one-hot and the multiclass hinge with
// Adam, and every loss on one output (binary, labels 0/1) with SGD.
TYPED_TEST(TrainTest, LearnsWithOtherLossesAndSgd) {
  using T = TypeParam;
  const Blobs blobs = make_blobs(300, 4);
  for (Loss loss : {Loss::mse, Loss::hinge}) {
    MLP<T> model(2, {16, 3}, Activation::tanh, 5);
    Adam<T> adam(model.parameters(), T(0.02));
    Trainer<T> trainer(model, adam, loss, 16, 6);
    for (int epoch = 0; epoch < 5; ++epoch) trainer.train_epoch(blobs.dataset());
    EXPECT_GT(cpp_grad::evaluate(model, blobs.dataset()), 0.95) << int(loss);
  }
  // Binary: class 2 against the rest, one score output.
  Blobs binary = blobs;
  for (std::int64_t& y : binary.y) y = y == 2 ? 1 : 0;
  for (Loss loss : {Loss::cross_entropy, Loss::mse, Loss::hinge}) {
    MLP<T> model(2, {8, 1}, Activation::relu, 7);
    cpp_grad::SGD<T> sgd(model.parameters(), T(0.01), T(0.9));
    Trainer<T> trainer(model, sgd, loss, 8, 8);
    for (int epoch = 0; epoch < 5; ++epoch) trainer.train_epoch(binary.dataset());
    EXPECT_GT(cpp_grad::evaluate(model, binary.dataset()), 0.95) << int(loss);
  }
}

TYPED_TEST(TrainTest, SameSeedGivesBitIdenticalWeights) {
  using T = TypeParam;
  const Blobs blobs = make_blobs(200, 11);
  const std::vector<T> a = train_weights<T>(blobs, 21, 1);
  const std::vector<T> b = train_weights<T>(blobs, 21, 1);
  const std::vector<T> c = train_weights<T>(blobs, 22, 1);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// Shards run on threads, but their grads are added in a fixed order: two runs
// with threads = 2 match bit for bit, and the result stays close to threads = 1.
TYPED_TEST(TrainTest, TwoThreadsAreDeterministic) {
  using T = TypeParam;
  const Blobs blobs = make_blobs(200, 12);
  const std::vector<T> a = train_weights<T>(blobs, 31, 2);
  const std::vector<T> b = train_weights<T>(blobs, 31, 2);
  EXPECT_EQ(a, b);
  const std::vector<T> three_a = train_weights<T>(blobs, 31, 3);
  const std::vector<T> three_b = train_weights<T>(blobs, 31, 3);
  EXPECT_EQ(three_a, three_b);

  // One epoch: threads only reorder the sums, so the weights barely move apart.
  const std::vector<T> one = train_weights<T>(blobs, 31, 1, 1);
  const std::vector<T> two = train_weights<T>(blobs, 31, 2, 1);
  ASSERT_EQ(one.size(), two.size());
  for (std::size_t i = 0; i < one.size(); ++i) EXPECT_NEAR(double(one[i]), double(two[i]), 1e-3);
}

TYPED_TEST(TrainTest, MultiThreadedTrainingLearns) {
  using T = TypeParam;
  const Blobs blobs = make_blobs(300, 13);
  MLP<T> model(2, {16, 3}, Activation::relu, 2);
  Adam<T> adam(model.parameters(), T(0.02));
  // A batch of 5 over 4 threads: shards of 1 and 2 rows.
  Trainer<T> trainer(model, adam, Loss::cross_entropy, 5, 3, 4);
  for (int epoch = 0; epoch < 3; ++epoch) trainer.train_epoch(blobs.dataset());
  EXPECT_GT(cpp_grad::evaluate(model, blobs.dataset()), 0.95);
}

TYPED_TEST(TrainTest, PredictAndEvaluateShapes) {
  using T = TypeParam;
  const Blobs blobs = make_blobs(30, 14);
  MLP<T> model(2, {5, 3}, Activation::relu, 1);
  const T sentinel = T(-12345);
  std::vector<T> out(30 * 3 + 4, sentinel);
  cpp_grad::predict(model, blobs.dataset(), out.data());
  for (std::size_t i = 30 * 3; i < out.size(); ++i) EXPECT_EQ(out[i], sentinel);  // no overrun
  std::size_t correct = 0;
  for (std::size_t r = 0; r < 30; ++r) {
    std::vector<T> row(3);
    model.predict_row(blobs.x.data() + 2 * r, row.data());
    for (std::size_t j = 0; j < 3; ++j) EXPECT_EQ(out[r * 3 + j], row[j]);
    correct += cpp_grad::predicted_class(row.data(), 3) == std::size_t(blobs.y[r]);
  }
  const double accuracy = cpp_grad::evaluate(model, blobs.dataset());
  EXPECT_DOUBLE_EQ(accuracy, double(correct) / 30);
  EXPECT_GE(accuracy, 0.0);
  EXPECT_LE(accuracy, 1.0);

  // predict needs no labels.
  Dataset<double> unlabelled{blobs.x.data(), nullptr, 30, 2};
  EXPECT_NO_THROW(cpp_grad::predict(model, unlabelled, out.data()));
  EXPECT_THROW(cpp_grad::evaluate(model, unlabelled), std::invalid_argument);
}

TEST(TrainPredictedClass, ArgmaxAndSign) {
  const double three[] = {0.1, 0.7, 0.2};
  EXPECT_EQ(cpp_grad::predicted_class(three, 3), 1u);
  const double tie[] = {0.5, 0.5};
  EXPECT_EQ(cpp_grad::predicted_class(tie, 2), 0u);  // first of equals
  const double positive[] = {0.3}, negative[] = {-0.3};
  EXPECT_EQ(cpp_grad::predicted_class(positive, 1), 1u);
  EXPECT_EQ(cpp_grad::predicted_class(negative, 1), 0u);
}

// uint8 pixels with scale 1/255 are the same as the doubles x * (1/255).
TYPED_TEST(TrainTest, Uint8FeaturesWithScale) {
  using T = TypeParam;
  const std::size_t rows = 60, cols = 4;
  cpp_grad::Random rng(15);
  std::vector<std::uint8_t> pixels(rows * cols);
  std::vector<double> scaled(rows * cols);
  std::vector<std::int64_t> labels(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    labels[r] = std::int64_t(r % 2);
    for (std::size_t c = 0; c < cols; ++c) {
      // Class 1 is bright in the first two pixels, class 0 in the last two.
      const bool bright = (c < 2) == (labels[r] == 1);
      const std::uint8_t v = std::uint8_t(bright ? 200 + rng.below(56) : rng.below(56));
      pixels[r * cols + c] = v;
      scaled[r * cols + c] = v * (1.0 / 255);  // what `scale` does: multiply
    }
  }
  Dataset<std::uint8_t> bytes{pixels.data(), labels.data(), rows, cols, 1.0 / 255};
  Dataset<double> doubles{scaled.data(), labels.data(), rows, cols};

  MLP<T> model(cols, {6, 2}, Activation::relu, 3);
  std::vector<T> from_bytes(rows * 2), from_doubles(rows * 2);
  cpp_grad::predict(model, bytes, from_bytes.data());
  cpp_grad::predict(model, doubles, from_doubles.data());
  EXPECT_EQ(from_bytes, from_doubles);

  // Training on bytes and on the scaled doubles takes the same steps.
  MLP<T> twin(cols, {6, 2}, Activation::relu, 3);
  Adam<T> adam(model.parameters(), T(0.05)), twin_adam(twin.parameters(), T(0.05));
  Trainer<T> trainer(model, adam, Loss::cross_entropy, 8, 4);
  Trainer<T> twin_trainer(twin, twin_adam, Loss::cross_entropy, 8, 4);
  for (int epoch = 0; epoch < 5; ++epoch) {
    trainer.train_epoch(bytes);
    twin_trainer.train_epoch(doubles);
  }
  EXPECT_EQ(weights_of(model), weights_of(twin));
  EXPECT_GT(cpp_grad::evaluate(model, bytes), 0.95);
}

TYPED_TEST(TrainTest, BadInputsThrow) {
  using T = TypeParam;
  const Blobs blobs = make_blobs(30, 16);
  MLP<T> model(2, {4, 3}, Activation::relu, 1);
  Adam<T> adam(model.parameters());
  Trainer<T> trainer(model, adam);
  std::vector<T> out(100);

  // Wrong number of columns.
  Dataset<double> wrong_cols{blobs.x.data(), blobs.y.data(), 10, 3};
  EXPECT_THROW(trainer.train_epoch(wrong_cols), std::invalid_argument);
  EXPECT_THROW(cpp_grad::predict(model, wrong_cols, out.data()), std::invalid_argument);
  EXPECT_THROW(cpp_grad::evaluate(model, wrong_cols), std::invalid_argument);

  // Labels outside [0, classes).
  for (std::int64_t bad : {std::int64_t(3), std::int64_t(-1), std::int64_t(1000)}) {
    std::vector<std::int64_t> labels = blobs.y;
    labels[7] = bad;
    Dataset<double> data{blobs.x.data(), labels.data(), blobs.rows, 2};
    EXPECT_THROW(trainer.train_epoch(data), std::invalid_argument) << bad;
    EXPECT_THROW(cpp_grad::evaluate(model, data), std::invalid_argument) << bad;
  }
  // With one output the labels are 0 and 1.
  MLP<T> binary(2, {4, 1}, Activation::relu, 1);
  Adam<T> binary_adam(binary.parameters());
  Trainer<T> binary_trainer(binary, binary_adam, Loss::hinge);
  std::vector<std::int64_t> two = {0, 1, 2};
  EXPECT_THROW(binary_trainer.train_epoch(Dataset<double>{blobs.x.data(), two.data(), 3, 2}),
               std::invalid_argument);
  EXPECT_NO_THROW(binary_trainer.train_epoch(Dataset<double>{blobs.x.data(), two.data(), 2, 2}));

  // Empty data, missing buffers.
  Dataset<double> empty{blobs.x.data(), blobs.y.data(), 0, 2};
  EXPECT_THROW(trainer.train_epoch(empty), std::invalid_argument);
  EXPECT_THROW(cpp_grad::predict(model, empty, out.data()), std::invalid_argument);
  EXPECT_THROW(cpp_grad::evaluate(model, empty), std::invalid_argument);
  Dataset<double> no_x{nullptr, blobs.y.data(), 10, 2};
  EXPECT_THROW(trainer.train_epoch(no_x), std::invalid_argument);
  Dataset<double> no_y{blobs.x.data(), nullptr, 10, 2};
  EXPECT_THROW(trainer.train_epoch(no_y), std::invalid_argument);

  // A batch of 0 and 0 threads.
  EXPECT_THROW(Trainer<T>(model, adam, Loss::cross_entropy, 0), std::invalid_argument);
  EXPECT_THROW(Trainer<T>(model, adam, Loss::cross_entropy, 8, 0, 0), std::invalid_argument);

  // Nothing moved: the checks run before any step.
  MLP<T> fresh(2, {4, 3}, Activation::relu, 1);
  EXPECT_EQ(weights_of(model), weights_of(fresh));
}

// Progress is reported after each batch; returning false ends the epoch there.
TYPED_TEST(TrainTest, ProgressCallbackStopsEarly) {
  using T = TypeParam;
  const Blobs blobs = make_blobs(100, 17);
  MLP<T> model(2, {4, 3}, Activation::relu, 1);
  Adam<T> adam(model.parameters());
  Trainer<T> trainer(model, adam, Loss::cross_entropy, 10);

  std::vector<std::size_t> seen;
  EpochResult full = trainer.train_epoch(blobs.dataset(), [&](std::size_t done, double loss) {
    seen.push_back(done);
    EXPECT_TRUE(std::isfinite(loss));
    return true;
  });
  EXPECT_FALSE(full.stopped);
  EXPECT_EQ(full.samples, 100u);
  EXPECT_EQ(seen, (std::vector<std::size_t>{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}));

  int calls = 0;
  EpochResult stopped = trainer.train_epoch(blobs.dataset(), [&](std::size_t, double) {
    return ++calls < 3;  // stop after the third batch
  });
  EXPECT_TRUE(stopped.stopped);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(stopped.samples, 30u);
  EXPECT_TRUE(std::isfinite(stopped.loss));
  EXPECT_GE(stopped.accuracy, 0.0);
  EXPECT_LE(stopped.accuracy, 1.0);

  // A last batch smaller than batch_size is reported with the true count.
  Dataset<double> odd{blobs.x.data(), blobs.y.data(), 25, 2};
  seen.clear();
  trainer.train_epoch(odd, [&](std::size_t done, double) {
    seen.push_back(done);
    return true;
  });
  EXPECT_EQ(seen, (std::vector<std::size_t>{10, 20, 25}));
}

// Note [One trainer per model]: a second Trainer on a model (or on a copy
// sharing its parameters) is refused while the first lives; then it is fine.
TYPED_TEST(TrainTest, OneTrainerPerModelAtATime) {
  using T = TypeParam;
  const Blobs blobs = make_blobs(30, 18);
  MLP<T> model(2, {4, 3}, Activation::relu, 1);
  const MLP<T> copy = model;
  Adam<T> adam(model.parameters()), other(model.parameters());
  {
    Trainer<T> first(model, adam);
    EXPECT_THROW(Trainer<T>(model, other), std::runtime_error);
    EXPECT_THROW(Trainer<T>(const_cast<MLP<T>&>(copy), other), std::runtime_error);
    // Bad arguments are still reported as such, and take nothing.
    EXPECT_THROW(Trainer<T>(model, other, Loss::cross_entropy, 0), std::invalid_argument);
    EXPECT_NO_THROW(first.train_epoch(blobs.dataset()));
  }
  Trainer<T> second(model, other, Loss::cross_entropy, 8, 0, 2);
  EXPECT_NO_THROW(second.train_epoch(blobs.dataset()));
}

// The trainer's threads never share a node: each trains its own copy of the
// model, whose parameters lie in blocks of their own. backward() from two
// threads on graphs sharing a node is not supported (see backward()).
TYPED_TEST(TrainTest, TrainerThreadsNeverShareNodes) {
  using T = TypeParam;
  MLP<T> model(2, {4, 3}, Activation::relu, 1);
  Adam<T> adam(model.parameters());
  constexpr std::size_t kThreads = 4;
  Trainer<T> trainer(model, adam, Loss::cross_entropy, 16, 0, kThreads);
  std::vector<const cpp_grad::_Value<T>*> nodes;
  for (std::size_t k = 0; k < kThreads; ++k)
    for (const auto& p : trainer.shard_model(k).parameters()) nodes.push_back(p.node());
  EXPECT_EQ(nodes.size(), kThreads * model.num_parameters());
  std::sort(nodes.begin(), nodes.end());
  EXPECT_EQ(std::adjacent_find(nodes.begin(), nodes.end()), nodes.end());
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// While the address space is capped near what is in use, so that threads'
// stacks cannot be mapped.
class AddressSpaceCap {
 public:
  explicit AddressSpaceCap(std::size_t headroom) {
    getrlimit(RLIMIT_AS, &saved_);
    std::size_t pages = 0;
    std::ifstream("/proc/self/statm") >> pages;
    const rlimit cap{pages * std::size_t(sysconf(_SC_PAGESIZE)) + headroom, saved_.rlim_max};
    setrlimit(RLIMIT_AS, &cap);
  }
  ~AddressSpaceCap() { setrlimit(RLIMIT_AS, &saved_); }

 private:
  rlimit saved_{};
};

// Threads that cannot be started: the ones already running are joined and a
// std::runtime_error says which failed (not std::terminate).
TYPED_TEST(TrainTest, WorkerThreadsThatCannotStartThrow) {
  using T = TypeParam;
  if (kSanitized) GTEST_SKIP() << "sanitizers reserve address space of their own";
  MLP<T> model(2, {4, 3}, Activation::relu, 1);
  Adam<T> adam(model.parameters());
  std::string message;
  {
    AddressSpaceCap cap(std::size_t(64) << 20);
    try {
      cpp_grad::WorkerPool pool(1000);
    } catch (const std::runtime_error& error) {
      message = error.what();
    }
  }
  EXPECT_NE(message.find("cannot start worker thread"), std::string::npos) << message;
  {
    AddressSpaceCap cap(std::size_t(64) << 20);
    EXPECT_THROW(Trainer<T>(model, adam, Loss::cross_entropy, 8, 0, 1000), std::runtime_error);
  }
  const Blobs blobs = make_blobs(30, 19);
  Trainer<T> trainer(model, adam, Loss::cross_entropy, 8, 0, 2);  // the model was let go
  EXPECT_NO_THROW(trainer.train_epoch(blobs.dataset()));
}

// A batch size as large as a size_t takes the whole data set in one batch.
TYPED_TEST(TrainTest, HugeBatchSizeIsOneBatch) {
  using T = TypeParam;
  const Blobs blobs = make_blobs(30, 20);
  MLP<T> model(2, {4, 3}, Activation::relu, 1);
  Adam<T> adam(model.parameters());
  Trainer<T> trainer(model, adam, Loss::cross_entropy, std::numeric_limits<std::size_t>::max());
  int batches = 0;
  trainer.train_epoch(blobs.dataset(), [&batches](std::size_t, double) { return ++batches > 0; });
  EXPECT_EQ(batches, 1);
}

// ---- The packed training path (see Note [Packed weights]) -------------------

// Pixel-like data with many exact zeros, so that skipped inputs are exercised.
struct SparseImages {
  std::vector<double> x;
  std::vector<std::int64_t> y;
  std::size_t rows = 0, cols = 12;
  Dataset<double> dataset() const { return {x.data(), y.data(), rows, cols}; }
};

SparseImages make_sparse_images(std::size_t rows, std::uint64_t seed) {
  cpp_grad::Random rng(seed);
  SparseImages images;
  images.rows = rows;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t label = r % 3;
    images.y.push_back(std::int64_t(label));
    for (std::size_t c = 0; c < images.cols; ++c) {
      const bool lit = c / 4 == label ? rng.below(4) != 0 : rng.below(4) == 0;
      images.x.push_back(lit ? rng.uniform(0.1, 1) : 0.0);
    }
  }
  return images;
}

// An optimizer over the model's parameters in another order: the trainer
// cannot hand it the packed arrays, so it takes the generic path. SGD's and
// Adam's steps are element by element, so the order changes nothing else.
template <typename T>
std::vector<cpp_grad::Value<T>> reversed_parameters(const MLP<T>& model) {
  std::vector<cpp_grad::Value<T>> params = model.parameters();
  return {params.rbegin(), params.rend()};
}

// One batch with SGD at learning rate 1 moves each weight by minus its
// gradient: the packed path's gradients equal the generic path's.
TEST(TrainPacked, OneBatchGradientsMatchTheGenericPath) {
  const SparseImages images = make_sparse_images(20, 41);
  for (std::size_t threads : {1, 2}) {
    MLP<double> fused(images.cols, {7, 5, 3}, Activation::relu, 42);
    MLP<double> generic(images.cols, {7, 5, 3}, Activation::relu, 42);
    const std::vector<double> before = weights_of(fused);
    cpp_grad::SGD<double> fused_sgd(fused.parameters(), 1.0);
    cpp_grad::SGD<double> generic_sgd(reversed_parameters(generic), 1.0);
    Trainer<double> fused_trainer(fused, fused_sgd, Loss::cross_entropy, 20, 43, threads);
    Trainer<double> generic_trainer(generic, generic_sgd, Loss::cross_entropy, 20, 43, threads);
    ASSERT_TRUE(fused_trainer.packed());
    ASSERT_FALSE(generic_trainer.packed());
    fused_trainer.train_epoch(images.dataset());  // 20 rows: one batch
    generic_trainer.train_epoch(images.dataset());
    const std::vector<double> a = weights_of(fused), b = weights_of(generic);
    double largest = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double grad_fused = before[i] - a[i], grad_generic = before[i] - b[i];
      EXPECT_NEAR(grad_fused, grad_generic, 1e-6 * std::max(1.0, std::abs(grad_generic))) << i;
      largest = std::max(largest, std::abs(grad_generic));
    }
    EXPECT_GT(largest, 1e-3);  // the batch did move the weights
  }
}

// Several epochs with Adam (whose state the packed path reorders and puts
// back each epoch), tanh and two threads: both paths stay together.
TEST(TrainPacked, EpochsWithAdamMatchTheGenericPath) {
  const SparseImages images = make_sparse_images(90, 44);
  MLP<double> fused(images.cols, {6, 3}, Activation::tanh, 45);
  MLP<double> generic(images.cols, {6, 3}, Activation::tanh, 45);
  Adam<double> fused_adam(fused.parameters(), 0.01);
  Adam<double> generic_adam(reversed_parameters(generic), 0.01);
  Trainer<double> fused_trainer(fused, fused_adam, Loss::mse, 10, 46, 2);
  Trainer<double> generic_trainer(generic, generic_adam, Loss::mse, 10, 46, 2);
  for (int epoch = 0; epoch < 3; ++epoch) {
    const EpochResult a = fused_trainer.train_epoch(images.dataset());
    const EpochResult b = generic_trainer.train_epoch(images.dataset());
    EXPECT_NEAR(a.loss, b.loss, 1e-9);
    EXPECT_EQ(a.accuracy, b.accuracy);
  }
  const std::vector<double> a = weights_of(fused), b = weights_of(generic);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-9) << i;
  // The optimizer is back in the model's order: a step through the leaves
  // moves the same weights as it would have before.
  for (const auto& p : fused.parameters()) p.node()->grad = 1;
  for (const auto& p : generic.parameters()) p.node()->grad = 1;
  fused_adam.step();
  generic_adam.step();
  const std::vector<double> c = weights_of(fused), d = weights_of(generic);
  for (std::size_t i = 0; i < c.size(); ++i) EXPECT_NEAR(c[i], d[i], 1e-9) << i;
}

// The loss of one sample through the engine's generic graph.
double sample_loss(const MLP<double>& model, const SparseImages& images, std::size_t row,
                   bool backward) {
  std::vector<cpp_grad::Value<double>> x;
  for (std::size_t c = 0; c < images.cols; ++c) x.emplace_back(images.x[row * images.cols + c]);
  cpp_grad::Value<double> loss =
      cpp_grad::cross_entropy(model(x), std::size_t(images.y[row]));
  if (backward) loss.backward();
  return loss.data();
}

// After fit ends, however it ends, the model's Values hold what training
// computed, and a graph built on them afterwards has the right gradients.
TEST(TrainPacked, ModelIsRightOnEveryWayOut) {
  const SparseImages images = make_sparse_images(60, 47);
  enum class Exit { end, stop, exception };
  for (Exit exit : {Exit::end, Exit::stop, Exit::exception}) {
    MLP<double> fused(images.cols, {5, 3}, Activation::relu, 48);
    MLP<double> generic(images.cols, {5, 3}, Activation::relu, 48);
    Adam<double> fused_adam(fused.parameters(), 0.01);
    Adam<double> generic_adam(reversed_parameters(generic), 0.01);
    Trainer<double> fused_trainer(fused, fused_adam, Loss::cross_entropy, 10, 49, 2);
    Trainer<double> generic_trainer(generic, generic_adam, Loss::cross_entropy, 10, 49, 2);
    const std::size_t batches = exit == Exit::end ? 6 : 2;
    int calls = 0;
    auto progress = [&](std::size_t, double) {
      if (++calls < int(batches)) return true;
      if (exit == Exit::exception) throw std::runtime_error("interrupted");
      return exit == Exit::end;
    };
    if (exit == Exit::exception) {
      EXPECT_THROW(fused_trainer.train_epoch(images.dataset(), progress), std::runtime_error);
    } else {
      fused_trainer.train_epoch(images.dataset(), progress);
    }
    calls = 0;
    generic_trainer.train_epoch(images.dataset(), [&](std::size_t, double) {
      return ++calls < int(batches);
    });
    const std::vector<double> a = weights_of(fused), b = weights_of(generic);
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-9) << i;
    for (const auto& p : fused.parameters()) EXPECT_EQ(p.grad(), 0.0);

    // Gradients of a fresh graph against central differences.
    sample_loss(fused, images, 0, true);
    const std::vector<cpp_grad::Value<double>> params = fused.parameters();
    for (const cpp_grad::Value<double>& p : params) {
      const double w = p.data();
      const double numeric = cpp_grad_test::central_difference(
          [&](double v) {
            p.node()->data = v;
            return sample_loss(fused, images, 0, false);
          },
          w, 1e-6);
      p.node()->data = w;
      EXPECT_NEAR(p.grad(), numeric, 1e-6);
    }
  }
}

// A graph of the packed nodes (only the training loop builds them) has the
// same values and gradients as the generic one, leaves and inputs included.
TEST(TrainPacked, PackedNodesMatchGenericNodes) {
  MLP<double> model(4, {3, 2}, Activation::relu, 50);
  std::vector<double> weights(model.num_parameters()), grads(weights.size(), 0.0);
  std::vector<cpp_grad::PackedLayer<double>> layers;
  std::size_t offset = 0;
  for (const cpp_grad::Layer<double>& layer : model.layers()) {
    for (std::size_t b = 0; b < layer.block().size(); ++b)
      weights[offset + cpp_grad::PackedLayer<double>::packed_index(b, layer.nin(), layer.nout())] =
          layer.block().leaves()[b].data;
    layers.push_back({layer.block().shared_from_this(), weights.data() + offset,
                      grads.data() + offset, layer.nin(), layer.nout(), layer.activation()});
    offset += layer.block().size();
  }
  const std::vector<double> x0{0.5, 0.0, -1.5, 2.0};
  std::vector<cpp_grad::Value<double>> x(x0.begin(), x0.end());
  // Generic: the hidden layer over Values, so that the inputs get grads too.
  cpp_grad::Value<double> generic = cpp_grad::sum(model(x));
  generic.backward();
  // Packed, by hand: layer 1 over the same Values, layer 2 over its outputs.
  std::vector<cpp_grad::Value<double>> y(x0.begin(), x0.end());
  auto first = cpp_grad::make_node<cpp_grad::_PackedLayerNode<double>>(layers[0],
                                                                       cpp_grad::nodes_of(y));
  std::vector<cpp_grad::Value<double>> hidden;
  for (std::size_t j = 0; j < 3; ++j)
    hidden.push_back(
        cpp_grad::Value<double>(cpp_grad::make_node<cpp_grad::_PackedNeuron<double>>(first, j)));
  auto second = cpp_grad::make_node<cpp_grad::_PackedLayerNode<double>>(
      layers[1], cpp_grad::nodes_of(hidden));
  std::vector<cpp_grad::Value<double>> out;
  for (std::size_t j = 0; j < 2; ++j)
    out.push_back(
        cpp_grad::Value<double>(cpp_grad::make_node<cpp_grad::_PackedNeuron<double>>(second, j)));
  cpp_grad::Value<double> packed = cpp_grad::sum(out);
  packed.backward();

  EXPECT_NEAR(packed.data(), generic.data(), 1e-12);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i].grad(), x[i].grad(), 1e-12) << i;
  offset = 0;
  for (const cpp_grad::Layer<double>& layer : model.layers()) {
    for (std::size_t b = 0; b < layer.block().size(); ++b)
      EXPECT_NEAR(grads[offset + cpp_grad::PackedLayer<double>::packed_index(b, layer.nin(),
                                                                            layer.nout())],
                  layer.block().leaves()[b].grad, 1e-12);
    offset += layer.block().size();
  }
  // Explored by hand, a packed neuron lists its weights, its bias and its inputs.
  EXPECT_EQ(out[0].parents().size(), 3u + 1 + 3);
  EXPECT_STREQ(out[0].op(), "dot");
  EXPECT_STREQ(hidden[0].op(), "relu(dot)");
  // A second backward() gives the inputs the same gradients again.
  const double once = y[0].grad();
  packed.backward();
  EXPECT_NEAR(y[0].grad(), 2 * once, 1e-12);
}

}  // namespace

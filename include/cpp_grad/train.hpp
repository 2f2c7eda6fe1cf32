// The training loop over contiguous buffers: rows of features (float, double
// or uint8 pixels scaled to [0, 1]) and integer labels, as numpy hands them
// over. Each step builds one graph per sample through the engine, takes the
// batch mean of the losses, back-propagates and lets the optimizer move.
//
// Data parallelism: with threads > 1 a batch is split into `threads`
// contiguous shards; shard k > 0 runs on its own copy of the model, and the
// copies' gradients are added into the model in shard order. The result
// depends on the seed and the thread count only, never on timing.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "loss.hpp"
#include "nn.hpp"
#include "optim.hpp"
#include "random.hpp"
#include "detail/workers.hpp"

namespace cpp_grad {

// A read-only view of n rows of features and their labels.
template <typename Feature>
struct Dataset {
  const Feature* x;
  const std::int64_t* y;  // may be null for prediction
  std::size_t rows, cols;
  double scale = 1;  // features are multiplied by this (1/255 for pixels)
};

struct EpochResult {
  double loss = 0;      // mean training loss over the epoch
  double accuracy = 0;  // fraction of training samples classified right while training
  double seconds = 0;
  std::size_t samples = 0;
  bool stopped = false;  // the progress callback asked to stop
};

// The predicted class of one sample's outputs.
template <typename T>
std::size_t predicted_class(const T* out, std::size_t n) {
  if (n == 1) return out[0] > 0 ? 1 : 0;  // one output: a score, its sign is the class
  std::size_t best = 0;
  for (std::size_t j = 1; j < n; ++j)
    if (out[j] > out[best]) best = j;
  return best;
}

template <typename T, typename Feature>
void check_dataset(const MLP<T>& model, const Dataset<Feature>& data, bool need_labels) {
  if (data.cols != model.nin())
    throw std::invalid_argument("the model expects " + std::to_string(model.nin()) +
                                " features per row, got " + std::to_string(data.cols));
  if (data.rows == 0) throw std::invalid_argument("no rows of data");
  if (!data.x) throw std::invalid_argument("no feature buffer");
  if (!need_labels) return;
  if (!data.y) throw std::invalid_argument("no label buffer");
  const std::size_t classes = model.nout() == 1 ? 2 : model.nout();
  for (std::size_t i = 0; i < data.rows; ++i)
    if (data.y[i] < 0 || std::size_t(data.y[i]) >= classes)
      throw std::invalid_argument("label " + std::to_string(data.y[i]) + " at row " +
                                  std::to_string(i) + " is outside [0, " +
                                  std::to_string(classes) + ")");
}

// Note [One trainer per model]
// A Trainer moves its model's weights and keeps a reference to the model and
// to its optimizer from one call to the next. A second Trainer on the same
// model at once (a fit started from the first one's callback, or from
// another thread) would move the weights under the first, and the wrapper
// that made the first optimizer might free it for the second. So a model is
// trained by one Trainer at a time: a Trainer holds the model's training flag
// from its construction to its destruction, and the second one is refused.
class TrainingLease {
 public:
  explicit TrainingLease(std::atomic<bool>& flag) : flag_(flag) {
    if (flag_.exchange(true))
      throw std::runtime_error(
          "this model is already being trained (a fit on it is running): start another "
          "fit once that one has returned");
  }
  TrainingLease(const TrainingLease&) = delete;
  TrainingLease& operator=(const TrainingLease&) = delete;
  ~TrainingLease() { flag_.store(false); }

 private:
  std::atomic<bool>& flag_;
};

template <typename T>
class Trainer {
 public:
  // Called after each batch with (samples done, mean loss so far); returning
  // false stops the epoch early.
  using Progress = std::function<bool(std::size_t, double)>;

  Trainer(MLP<T>& model, Optimizer<T>& optimizer, Loss loss = Loss::cross_entropy,
          std::size_t batch_size = 32, std::uint64_t seed = 0, std::size_t threads = 1)
      : model_(model), optimizer_(optimizer), loss_(loss),
        batch_size_(checked_batch_size(batch_size)), threads_(checked_threads(threads)),
        rng_(seed), lease_(model.training_flag()), replicas_(make_replicas(model, threads_)),
        workers_(threads_ - 1) {
    if (optimizer_.can_reorder() && optimizer_follows_blocks()) pack_layers(threads_);
  }

  // The model that thread k trains on: the model itself for k = 0, its own
  // copy for the others. No two share a node, so their backward() calls
  // never meet (see backward()).
  const MLP<T>& shard_model(std::size_t k) const { return k == 0 ? model_ : *replicas_.at(k - 1); }

  // Whether training reads the weights from packed arrays (see Note [Packed
  // weights]): when the optimizer holds exactly the model's parameters, in
  // the model's order. Otherwise every sample reads the leaves.
  bool packed() const { return !packed_layers_.empty(); }

  template <typename Feature>
  EpochResult train_epoch(const Dataset<Feature>& data, const Progress& progress = nullptr) {
    check_dataset(model_, data, true);
    const PackedScope packed_weights(*this);
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::size_t> order(data.rows);
    std::iota(order.begin(), order.end(), std::size_t(0));
    for (std::size_t i = data.rows - 1; i > 0; --i) std::swap(order[i], order[rng_.below(i + 1)]);

    EpochResult result;
    double loss_sum = 0;
    std::size_t correct = 0;
    for (std::size_t begin = 0, end = 0; begin < data.rows; begin = end) {
      end = begin + std::min(batch_size_, data.rows - begin);
      const BatchTotals totals = train_batch(data, order.data() + begin, end - begin);
      loss_sum += totals.loss;
      correct += totals.correct;
      result.samples = end;
      if (progress && !progress(end, loss_sum / double(end))) {
        result.stopped = true;
        break;
      }
    }
    result.loss = loss_sum / double(result.samples);
    result.accuracy = double(correct) / double(result.samples);
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  }

 private:
  struct BatchTotals {
    double loss = 0;
    std::size_t correct = 0;
  };

  // Checked before the worker threads start.
  static std::size_t checked_batch_size(std::size_t batch_size) {
    if (batch_size < 1) throw std::invalid_argument("batch_size must be at least 1, got 0");
    return batch_size;
  }
  static std::size_t checked_threads(std::size_t threads) {
    if (threads < 1) throw std::invalid_argument("threads must be at least 1, got 0");
    return threads;
  }
  // A copy of the model's architecture for each thread but the caller's.
  static std::vector<std::unique_ptr<MLP<T>>> make_replicas(const MLP<T>& model,
                                                             std::size_t threads) {
    std::size_t neurons = 0;
    for (std::size_t n : model.nouts()) neurons += n;
    const std::string what = std::to_string(threads - 1) + " copies of the model for " +
                             std::to_string(threads) + " threads";
    detail::check_fits_in_memory<T>(
        detail::checked_multiply_add(threads - 1, model.num_parameters(), 0, what),
        detail::checked_multiply_add(threads - 1, neurons, 0, what), what);
    std::vector<std::unique_ptr<MLP<T>>> replicas;
    replicas.reserve(threads - 1);
    for (std::size_t k = 1; k < threads; ++k)
      replicas.push_back(
          std::make_unique<MLP<T>>(model.nin(), model.nouts(), model.hidden_activation()));
    return replicas;
  }

  // One optimizer step on the samples rows[0..n).
  template <typename Feature>
  BatchTotals train_batch(const Dataset<Feature>& data, const std::size_t* rows, std::size_t n) {
    const std::size_t shards = std::min(workers_.size(), n);
    std::vector<BatchTotals> totals(shards);
    std::vector<std::exception_ptr> errors(shards);
    if (!packed())
      for (std::size_t k = 1; k < shards; ++k) replicas_[k - 1]->copy_data_from(model_);
    workers_.run([&](std::size_t k) {
      if (k >= shards) return;  // a batch smaller than the thread count
      try {
        const std::size_t* shard = rows + n * k / shards;
        const std::size_t count = n * (k + 1) / shards - n * k / shards;
        if (packed()) {
          totals[k] = backward_shard(data, shard, count, n, [&](const Feature* row) {
            return packed_forward(packed_layers_[k], row, data.scale);
          });
        } else {
          const MLP<T>& model = k == 0 ? model_ : *replicas_[k - 1];
          totals[k] = backward_shard(data, shard, count, n, [&](const Feature* row) {
            auto x = std::make_shared<std::vector<T>>(data.cols);
            for (std::size_t c = 0; c < data.cols; ++c) (*x)[c] = T(row[c] * data.scale);
            return model(SharedConstants<T>(std::move(x)));
          });
        }
      } catch (...) {
        errors[k] = std::current_exception();
      }
    });
    for (std::exception_ptr& e : errors)
      if (e) std::rethrow_exception(e);

    BatchTotals batch;
    for (std::size_t k = 0; k < shards; ++k) {
      if (k > 0 && !packed()) {
        replicas_[k - 1]->add_grads_to(model_);
        replicas_[k - 1]->zero_grad();
      }
      batch.loss += totals[k].loss;
      batch.correct += totals[k].correct;
    }
    if (packed()) {
      step_packed(shards);
    } else {
      optimizer_.step();
      optimizer_.zero_grad();
    }
    return batch;
  }

  // The optimizer's step on the packed arrays, each thread taking a share of
  // the parameters: the threads' gradients added up (in thread order, so
  // the result does not depend on timing), the step, the gradients zeroed. A
  // chunk at a time, so that each array's chunk is still in cache for the next.
  void step_packed(std::size_t shards) {
    optimizer_.begin_packed_step();
    const std::size_t n = weights_.size(), parts = workers_.size();
    workers_.run([&](std::size_t k) {
      constexpr std::size_t kChunk = 2048;
      for (std::size_t begin = n * k / parts, end = n * (k + 1) / parts; begin < end;
           begin += kChunk) {
        const std::size_t count = std::min(kChunk, end - begin);
        T* grad = grads_[0].data() + begin;
        for (std::size_t s = 1; s < shards; ++s) {
          detail::packed_axpy(grad, grads_[s].data() + begin, T(1), count);
          std::fill_n(grads_[s].data() + begin, count, T(0));
        }
        optimizer_.step_packed(weights_.data(), grads_[0].data(), begin, begin + count);
        std::fill_n(grad, count, T(0));
      }
    });
  }

  // One sample's outputs on packed weights: the graph MLP::operator() builds,
  // made of the nodes of Note [Packed weights].
  template <typename Feature>
  std::vector<Value<T>> packed_forward(const std::vector<PackedLayer<T>>& layers,
                                       const Feature* row, double scale) const {
    std::shared_ptr<_PackedLayerNode<T>> node =
        make_node<_PackedLayerNode<T>>(layers[0], row, scale);
    std::vector<Value<T>> out;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      if (l > 0) node = make_node<_PackedLayerNode<T>>(layers[l], nodes_of(out));
      out.clear();
      for (std::size_t j = 0; j < layers[l].nout; ++j)
        out.push_back(Value<T>(make_node<_PackedNeuron<T>>(node, j)));
    }
    return out;
  }

  // Builds the graphs of `n` samples, forward(row) making each one's outputs,
  // and back-propagates their summed loss divided by the batch size: the
  // shard's part of the batch mean.
  template <typename Feature, typename Forward>
  BatchTotals backward_shard(const Dataset<Feature>& data, const std::size_t* rows,
                             std::size_t n, std::size_t batch, const Forward& forward) const {
    BatchTotals totals;
    std::vector<Value<T>> losses;
    losses.reserve(n);
    std::vector<T> outputs(model_.nout());
    for (std::size_t i = 0; i < n; ++i) {
      // The rows come in shuffled order, each from anywhere in the data set:
      // start fetching the next one while this one trains.
      if (i + 1 < n) prefetch(data.x + rows[i + 1] * data.cols, data.cols * sizeof(Feature));
      const std::vector<Value<T>> out = forward(data.x + rows[i] * data.cols);
      const std::size_t label = std::size_t(data.y[rows[i]]);
      losses.push_back(loss(loss_, out, label));
      totals.loss += double(losses.back().data());
      for (std::size_t j = 0; j < out.size(); ++j) outputs[j] = out[j].data();
      totals.correct += predicted_class(outputs.data(), outputs.size()) == label;
    }
    Value<T> shard_loss = sum(losses) / T(batch);
    shard_loss.backward();
    return totals;
  }

  static void prefetch(const void* start, std::size_t bytes) {
    const char* p = static_cast<const char*>(start);
    for (std::size_t line = 0; line < bytes; line += 64) __builtin_prefetch(p + line);
  }

  bool optimizer_follows_blocks() const {
    const std::vector<_Value<T>*>& nodes = optimizer_.nodes();
    std::size_t i = 0;
    for (const Layer<T>& layer : model_.layers())
      for (std::size_t p = 0; p < layer.block().size(); ++p, ++i)
        if (i >= nodes.size() || nodes[i] != layer.block().leaves() + p) return false;
    return i == nodes.size();
  }

  // The arrays of Note [Packed weights], and each thread's view of them. A
  // thread k > 0 names its replica's blocks as the weights' owners, so that
  // the threads never share a reference count.
  void pack_layers(std::size_t threads) {
    weights_.assign(model_.num_parameters(), T(0));
    grads_.assign(threads, std::vector<T>(weights_.size(), T(0)));
    packed_layers_.resize(threads);
    for (std::size_t k = 0; k < threads; ++k) {
      const MLP<T>& model = k == 0 ? model_ : *replicas_[k - 1];
      std::size_t offset = 0;
      for (const Layer<T>& layer : model.layers()) {
        packed_layers_[k].push_back(PackedLayer<T>{layer.block().shared_from_this(),
                                                   weights_.data() + offset,
                                                   grads_[k].data() + offset, layer.nin(),
                                                   layer.nout(), layer.activation()});
        offset += layer.block().size();
      }
    }
    // packed_order_[p]: the parameter (in the model's order) at packed position p.
    packed_order_.resize(weights_.size());
    block_order_.resize(weights_.size());
    for_each_leaf([this](std::size_t block_index, std::size_t packed_index, _Value<T>&) {
      packed_order_[packed_index] = block_index;
      block_order_[block_index] = packed_index;
    });
  }

  // For the length of an epoch the weights live in the packed arrays: copied
  // from the leaves when it starts, and back when it ends, however it ends
  // (see Note [Packed weights]).
  class PackedScope {
   public:
    explicit PackedScope(Trainer& trainer) : trainer_(trainer) {
      if (!trainer_.packed()) return;
      for (std::vector<T>& grads : trainer_.grads_) std::fill(grads.begin(), grads.end(), T(0));
      trainer_.for_each_leaf([this](std::size_t, std::size_t p, _Value<T>& leaf) {
        trainer_.weights_[p] = leaf.data;
        trainer_.grads_[0][p] = leaf.grad;
      });
      trainer_.optimizer_.reorder(trainer_.packed_order_);
    }
    ~PackedScope() {
      if (!trainer_.packed()) return;
      trainer_.for_each_leaf([this](std::size_t, std::size_t p, _Value<T>& leaf) {
        leaf.data = trainer_.weights_[p];
        leaf.grad = trainer_.grads_[0][p];
      });
      trainer_.optimizer_.reorder(trainer_.block_order_);
    }
    PackedScope(const PackedScope&) = delete;
    PackedScope& operator=(const PackedScope&) = delete;

   private:
    Trainer& trainer_;
  };

  // f(index in the model's order, index in the packed order, leaf) for every parameter.
  template <typename F>
  void for_each_leaf(F f) {
    std::size_t offset = 0;
    for (const Layer<T>& layer : model_.layers()) {
      for (std::size_t b = 0; b < layer.block().size(); ++b)
        f(offset + b, offset + PackedLayer<T>::packed_index(b, layer.nin(), layer.nout()),
          layer.block().leaves()[b]);
      offset += layer.block().size();
    }
  }

  MLP<T>& model_;
  Optimizer<T>& optimizer_;
  Loss loss_;
  std::size_t batch_size_;
  std::size_t threads_;
  Random rng_;
  TrainingLease lease_;  // after the argument checks: a refused Trainer takes nothing
  std::vector<std::unique_ptr<MLP<T>>> replicas_;
  std::vector<T> weights_;              // see Note [Packed weights]
  std::vector<std::vector<T>> grads_;   // one array per thread
  std::vector<std::vector<PackedLayer<T>>> packed_layers_;  // per thread; empty: not packed
  std::vector<std::size_t> packed_order_, block_order_;      // for Optimizer::reorder
  WorkerPool workers_;  // last: its threads stop before the replicas go
};

// The model's outputs for every row, without building a graph: out[row * nout + j].
template <typename T, typename Feature>
void predict(const MLP<T>& model, const Dataset<Feature>& data, T* out) {
  check_dataset(model, data, false);
  std::vector<T> row(data.cols);
  for (std::size_t i = 0; i < data.rows; ++i) {
    const Feature* x = data.x + i * data.cols;
    for (std::size_t c = 0; c < data.cols; ++c) row[c] = T(x[c] * data.scale);
    model.predict_row(row.data(), out + i * model.nout());
  }
}

// The fraction of rows whose predicted class is their label.
template <typename T, typename Feature>
double evaluate(const MLP<T>& model, const Dataset<Feature>& data) {
  check_dataset(model, data, true);
  std::vector<T> outputs(data.rows * model.nout());
  predict(model, data, outputs.data());
  std::size_t correct = 0;
  for (std::size_t i = 0; i < data.rows; ++i)
    correct += predicted_class(outputs.data() + i * model.nout(), model.nout()) ==
               std::size_t(data.y[i]);
  return double(correct) / double(data.rows);
}

}  // namespace cpp_grad

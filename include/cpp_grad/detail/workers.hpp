// A few threads that live as long as their owner (a Trainer) and each run
// one task per call of run(). Long-lived threads keep their node memory
// (detail/pool.hpp) warm from one batch to the next; a thread per batch would start
// cold every time.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace cpp_grad {

class WorkerPool {
 public:
  using Task = std::function<void(std::size_t)>;

  // `helpers` threads besides the caller's. If one cannot be started, those
  // already running are stopped and joined, and std::runtime_error says so.
  explicit WorkerPool(std::size_t helpers) {
    threads_.reserve(helpers);
    try {
      for (std::size_t k = 1; k <= helpers; ++k) threads_.emplace_back([this, k] { serve(k); });
    } catch (const std::system_error& error) {
      stop();
      throw std::runtime_error("cannot start worker thread " +
                               std::to_string(threads_.size() + 1) + " of " +
                               std::to_string(helpers) + ": " + error.what());
    }
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool() { stop(); }

  std::size_t size() const { return threads_.size() + 1; }

  // Runs task(k) for every k in [0, size()): k = 0 on the calling thread,
  // the others on the pool's threads. Returns once all have finished.
  void run(const Task& task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = &task;
      busy_ = threads_.size();
      ++generation_;
    }
    wake_.notify_all();
    task(0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return busy_ == 0; });
    task_ = nullptr;
  }

 private:
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  void serve(std::size_t k) {
    std::uint64_t seen = 0;
    for (;;) {
      const Task* task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
        task = task_;
      }
      (*task)(k);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        --busy_;
      }
      done_.notify_one();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const Task* task_ = nullptr;
  std::uint64_t generation_ = 0;
  std::size_t busy_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace cpp_grad

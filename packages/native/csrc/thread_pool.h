// A small persistent pool: the calling thread works too, and blocks until every task ran.
// Helpers spin for a short while after each run before they sleep, and the caller spins
// before it sleeps on the helpers, so back-to-back runs skip the futex wake-up latency.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace leantune {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(helpers_.size()) + 1; }
  // Runs task(i) for i in [0, count) on the pool and the caller; returns when all are done.
  void Run(int64_t count, const std::function<void(int64_t)>& task);

 private:
  void HelperLoop();
  void Drain();

  std::vector<std::thread> helpers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int> busy_{0};
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
};

}  // namespace leantune

// Test support: LibTorch's intra-op thread count for a scope, restored when the scope ends (also when a
// failed ASSERT leaves it early, so one failure does not change the thread count of the tests after it).
#pragma once

#include <ATen/Parallel.h>

namespace signopt::test {

/// Saves the thread count; ScopedThreads(n) also sets it to n. The destructor restores the saved count.
class ScopedThreads {
 public:
  ScopedThreads() = default;
  explicit ScopedThreads(int threads) {
    at::set_num_threads(threads);
  }
  ScopedThreads(const ScopedThreads&) = delete;
  ScopedThreads& operator=(const ScopedThreads&) = delete;
  ~ScopedThreads() {
    at::set_num_threads(saved_);
  }

 private:
  int saved_ = at::get_num_threads();
};

} // namespace signopt::test

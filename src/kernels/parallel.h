// Internal: the kernels' one parallel loop. The core of the CPU kernels (fused_cpu*.cpp, bitpack.cpp)
// reaches threads only through this header and never includes LibTorch, so it compiles without LibTorch's
// headers:
//  - in libsignopt (the default): ATen's thread pool, at::parallel_for, the threads LibTorch is set to;
//  - with SIGNOPT_PARALLEL_OPENMP: plain OpenMP. The build compiles the core this way as a check
//    (signopt_kernels_core in CMakeLists.txt);
//  - with SIGNOPT_PARALLEL_STABLE: LibTorch's stable ABI (torch::stable::parallel_for, torch >= 2.10), for
//    the custom-operator library of the Python package (python/csrc), which is built without ATen.
// The kernels' results never depend on how [begin, end) is split: each index is a fixed chunk of work
// whose partial results are combined in index order afterwards.
#pragma once

#include <algorithm>
#include <cstdint>

#if defined(SIGNOPT_PARALLEL_OPENMP)
#include <omp.h>
#elif defined(SIGNOPT_PARALLEL_STABLE)
#include <torch/csrc/stable/ops.h>
#else
#include <ATen/Parallel.h>
#endif

namespace signopt::kernels::detail {

/// Calls f(b, e) over disjoint ranges that cover [begin, end), each at least `grain` long where possible,
/// on several threads.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
#if defined(SIGNOPT_PARALLEL_OPENMP)
  if (begin >= end) {
    return;
  }
  const int64_t n = end - begin;
  const int64_t by_grain = (n + std::max<int64_t>(grain, 1) - 1) / std::max<int64_t>(grain, 1);
  const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), by_grain));
#pragma omp parallel for num_threads(static_cast<int>(tasks)) schedule(static, 1)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t b = begin + n * t / tasks;
    const int64_t e = begin + n * (t + 1) / tasks;
    if (b < e) {
      f(b, e);
    }
  }
#elif defined(SIGNOPT_PARALLEL_STABLE)
  torch::stable::parallel_for(begin, end, grain, f);
#else
  at::parallel_for(begin, end, grain, f);
#endif
}

} // namespace signopt::kernels::detail

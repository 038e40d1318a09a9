// The torch-free half of the deterministic reductions (signopt/kernels/reductions.h): the finite check and the
// hybrid's moment sums on raw memory, in kReductionChunk chunks summed by chunk_sum8 and added in chunk order, on the
// kernels' one parallel loop (parallel.h). libsignopt's kernels::moment_sums and the Python package's
// operators both call it, so both get the same bits.
#include <signopt/kernels/reductions_core.h>

#include "chunk_sum.h"
#include "parallel.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace signopt::kernels {
namespace {

// moment_sums' three partials of one chunk: nnz, sum |x|, sum x^2 (vectorized clones; the order is
// chunk_sum8's in each).
template <typename T>
inline __attribute__((always_inline)) void moment_chunk(const T* x, int64_t n, double* out) {
  out[0] = detail::chunk_sum8(n, [x](int64_t i) { return x[i] != T(0) ? 1.0 : 0.0; });
  out[1] = detail::chunk_sum8(n, [x](int64_t i) { return std::abs(static_cast<double>(x[i])); });
  out[2] = detail::chunk_sum8(n, [x](int64_t i) {
    const double v = static_cast<double>(x[i]);
    return v * v;
  });
}

SIGNOPT_CLONES void moment_chunk_f32(const float* x, int64_t n, double* out) {
  moment_chunk(x, n, out);
}

SIGNOPT_CLONES void moment_chunk_f64(const double* x, int64_t n, double* out) {
  moment_chunk(x, n, out);
}

// all_finite's term: x * 0 is 0 for finite x and NaN for NaN or +-infinity (one read, no temporaries).
template <typename T>
inline __attribute__((always_inline)) double finite_chunk(const T* x, int64_t n) {
  return detail::chunk_sum8(n, [x](int64_t i) { return static_cast<double>(x[i] * T(0)); });
}

SIGNOPT_CLONES double finite_chunk_f32(const float* x, int64_t n) {
  return finite_chunk(x, n);
}

SIGNOPT_CLONES double finite_chunk_f64(const double* x, int64_t n) {
  return finite_chunk(x, n);
}

} // namespace

bool cpu::all_finite(Dtype dtype, const void* x, int64_t n) {
  const int64_t chunks = (n + kReductionChunk - 1) / kReductionChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  detail::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t lo = c * kReductionChunk;
      const int64_t len = std::min(n, lo + kReductionChunk) - lo;
      partial[static_cast<size_t>(c)] = dtype == Dtype::kFloat32 ? finite_chunk_f32(static_cast<const float*>(x) + lo, len)
                                                                 : finite_chunk_f64(static_cast<const double*>(x) + lo, len);
    }
  });
  for (const double v : partial) {
    if (std::isnan(v)) {
      return false;
    }
  }
  return true;
}

std::array<double, 3> cpu::moment_sums(Dtype dtype, const void* x, int64_t n) {
  const int64_t chunks = (n + kReductionChunk - 1) / kReductionChunk;
  std::vector<double> partial(3 * static_cast<size_t>(chunks), 0.0);
  detail::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t lo = c * kReductionChunk;
      const int64_t len = std::min(n, lo + kReductionChunk) - lo;
      double* out = partial.data() + 3 * static_cast<size_t>(c);
      if (dtype == Dtype::kFloat32) {
        moment_chunk_f32(static_cast<const float*>(x) + lo, len, out);
      } else {
        moment_chunk_f64(static_cast<const double*>(x) + lo, len, out);
      }
    }
  });
  std::array<double, 3> total{};
  for (int64_t c = 0; c < chunks; ++c) {
    for (size_t k = 0; k < 3; ++k) {
      total[k] += partial[3 * static_cast<size_t>(c) + k];
    }
  }
  return total;
}

} // namespace signopt::kernels

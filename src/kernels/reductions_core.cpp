// The torch-free half of the deterministic reductions (signopt/kernels/reductions.h): the finite check and the
// hybrid's moment sums on raw memory, in kReductionChunk chunks summed by chunk_sum8 and added in chunk order, on the
// kernels' one parallel loop (parallel.h). libsignopt's kernels::moment_sums and the Python package's
// operators both call it, so both get the same bits.
#include <signopt/kernels/reductions_core.h>

#include "chunk_sum.h"
#include "parallel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
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

// all_finite's chunk test: a float is NaN or +-infinity exactly when its bits without the sign are at least
// those of +infinity (all exponent bits set). The largest such value over the chunk, kept in 16 unsigned lanes
// (integer max vectorizes without reassociating anything), decides it in one read.
template <typename T, typename U>
inline __attribute__((always_inline)) bool finite_chunk(const T* x, int64_t n) {
  static_assert(sizeof(T) == sizeof(U), "the lanes hold a float's bits");
  constexpr U kMagnitude = ~U(0) >> 1;
  const U infinity = std::numeric_limits<T>::digits == 24 ? U(0x7f800000u) : U(0x7ff0000000000000ull);
  U lane[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 16; ++j) {
      U u;
      std::memcpy(&u, x + i + j, sizeof u);
      lane[j] = std::max(lane[j], U(u & kMagnitude));
    }
  }
  for (int j = 0; i < n; ++i, ++j) {
    U u;
    std::memcpy(&u, x + i, sizeof u);
    lane[j] = std::max(lane[j], U(u & kMagnitude));
  }
  U top = 0;
  for (const U v : lane) {
    top = std::max(top, v);
  }
  return top < infinity;
}

// A 16-bit float is NaN or infinite when its bits without the sign reach the format's infinity (0x7f80 for
// bfloat16, 0x7c00 for float16).
SIGNOPT_CLONES bool finite_chunk_16(const uint16_t* x, int64_t n, uint16_t infinity) {
  uint16_t lane[32] = {};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int j = 0; j < 32; ++j) {
      lane[j] = std::max(lane[j], static_cast<uint16_t>(x[i + j] & 0x7fffu));
    }
  }
  for (int j = 0; i < n; ++i, ++j) {
    lane[j] = std::max(lane[j], static_cast<uint16_t>(x[i] & 0x7fffu));
  }
  uint16_t top = 0;
  for (const uint16_t v : lane) {
    top = std::max(top, v);
  }
  return top < infinity;
}

SIGNOPT_CLONES bool finite_chunk_f32(const float* x, int64_t n) {
  return finite_chunk<float, uint32_t>(x, n);
}

SIGNOPT_CLONES bool finite_chunk_f64(const double* x, int64_t n) {
  return finite_chunk<double, uint64_t>(x, n);
}

} // namespace

bool cpu::all_finite(Dtype dtype, const void* x, int64_t n) {
  const int64_t chunks = (n + kReductionChunk - 1) / kReductionChunk;
  std::vector<char> finite(static_cast<size_t>(chunks), 1);
  detail::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t lo = c * kReductionChunk;
      const int64_t len = std::min(n, lo + kReductionChunk) - lo;
      finite[static_cast<size_t>(c)] = dtype == Dtype::kFloat32 ? finite_chunk_f32(static_cast<const float*>(x) + lo, len)
                                                                : finite_chunk_f64(static_cast<const double*>(x) + lo, len);
    }
  });
  return std::all_of(finite.begin(), finite.end(), [](char f) { return f != 0; });
}

bool cpu::all_finite_half(HalfType type, const uint16_t* x, int64_t n) {
  const uint16_t infinity = type == HalfType::kBFloat16 ? 0x7f80u : 0x7c00u;
  const int64_t chunks = (n + kReductionChunk - 1) / kReductionChunk;
  std::vector<char> finite(static_cast<size_t>(chunks), 1);
  detail::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t lo = c * kReductionChunk;
      finite[static_cast<size_t>(c)] = finite_chunk_16(x + lo, std::min(n, lo + kReductionChunk) - lo, infinity);
    }
  });
  return std::all_of(finite.begin(), finite.end(), [](char f) { return f != 0; });
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

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

// all_finite's chunk test on the bits: a float (of any width; U is the unsigned integer of its size) is NaN or
// +-infinity exactly when its bits without the sign are at least those of +infinity (`infinity`: all exponent
// bits set). The largest such value over the chunk, kept in 64 bytes of unsigned lanes (integer max vectorizes
// without reassociating anything), decides it in one read.
template <typename T, typename U>
inline __attribute__((always_inline)) bool finite_chunk(const T* x, int64_t n, U infinity) {
  static_assert(sizeof(T) == sizeof(U), "the lanes hold a float's bits");
  constexpr int kLanes = sizeof(U) == 2 ? 32 : 16;
  constexpr U kMagnitude = static_cast<U>(static_cast<U>(~U(0)) >> 1);
  U lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      U u;
      std::memcpy(&u, x + i + j, sizeof u);
      lane[j] = std::max(lane[j], static_cast<U>(u & kMagnitude));
    }
  }
  for (int j = 0; i < n; ++i, ++j) {
    U u;
    std::memcpy(&u, x + i, sizeof u);
    lane[j] = std::max(lane[j], static_cast<U>(u & kMagnitude));
  }
  U top = 0;
  for (const U v : lane) {
    top = std::max(top, v);
  }
  return top < infinity;
}

SIGNOPT_CLONES bool finite_chunk_f32(const float* x, int64_t n) {
  return finite_chunk<float, uint32_t>(x, n, 0x7f800000u);
}

SIGNOPT_CLONES bool finite_chunk_f64(const double* x, int64_t n) {
  return finite_chunk<double, uint64_t>(x, n, 0x7ff0000000000000ull);
}

// bfloat16's infinity is 0x7f80, float16's 0x7c00.
SIGNOPT_CLONES bool finite_chunk_16(const uint16_t* x, int64_t n, uint16_t infinity) {
  return finite_chunk<uint16_t, uint16_t>(x, n, infinity);
}

// Whether chunk_finite(first element, length) holds for every kReductionChunk chunk of n elements (in parallel).
template <class ChunkFinite>
bool all_chunks_finite(int64_t n, const ChunkFinite& chunk_finite) {
  const int64_t chunks = (n + kReductionChunk - 1) / kReductionChunk;
  std::vector<char> finite(static_cast<size_t>(chunks), 1);
  detail::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t lo = c * kReductionChunk;
      finite[static_cast<size_t>(c)] = chunk_finite(lo, std::min(n, lo + kReductionChunk) - lo);
    }
  });
  return std::all_of(finite.begin(), finite.end(), [](char f) { return f != 0; });
}

} // namespace

bool cpu::all_finite(Dtype dtype, const void* x, int64_t n) {
  return all_chunks_finite(n, [&](int64_t lo, int64_t len) {
    return dtype == Dtype::kFloat32 ? finite_chunk_f32(static_cast<const float*>(x) + lo, len)
                                    : finite_chunk_f64(static_cast<const double*>(x) + lo, len);
  });
}

bool cpu::all_finite_half(HalfType type, const uint16_t* x, int64_t n) {
  const uint16_t infinity = type == HalfType::kBFloat16 ? 0x7f80u : 0x7c00u;
  return all_chunks_finite(n, [&](int64_t lo, int64_t len) { return finite_chunk_16(x + lo, len, infinity); });
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

// Internal: the dither noise of a whole tensor (the additive draws' unit noise, element i from Philox block i / 4;
// the threshold draw's levels, from block i / 8), written in memory order. Torch-free (src/kernels/parallel.h
// is the only thread pool), so the reference composition (reference.cpp) and the Python package's operators
// (`signopt::dither_noise`, `signopt::threshold_sign`) fill it alike.
#pragma once

#include <signopt/kernels/noise.h>
#include <signopt/kernels/philox.h>

#include "parallel.h"

#include <algorithm>
#include <cstdint>

namespace signopt::kernels::detail {

/// out[0..n) = the noise of `key` of kind `kind` in memory order (unit_noise4: N(0, 1), U(-1, 1), or the
/// threshold draw's levels), each float32 value converted to T.
template <typename T>
void fill_dither_noise(T* out, int64_t n, const DrawKey& key, NoiseKind kind) {
  const int64_t groups = (n + 3) / 4;
  parallel_for(0, groups, 1024, [&](int64_t begin, int64_t end) {
    float values[4];
    for (int64_t q = begin; q < end; ++q) {
      unit_noise4(key, static_cast<uint64_t>(q), kind, values);
      const int64_t base = q * 4;
      const int lanes = static_cast<int>(std::min<int64_t>(4, n - base));
      for (int lane = 0; lane < lanes; ++lane) {
        out[base + lane] = static_cast<T>(values[lane]);
      }
    }
  });
}

} // namespace signopt::kernels::detail

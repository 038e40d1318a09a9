// Internal: the unit dither noise of a whole tensor, element i at Philox counter (block i / 4, param, step),
// written in memory order. Torch-free (src/kernels/parallel.h is the only thread pool), so the reference
// composition (reference.cpp) and the Python package's `signopt::dither_noise` operator fill it alike.
#pragma once

#include <signopt/kernels/noise.h>
#include <signopt/kernels/philox.h>

#include "parallel.h"

#include <algorithm>
#include <cstdint>

namespace signopt::kernels::detail {

/// out[0..n) = N(0, 1) (gaussian) or U(-1, 1) noise of `key`, each float32 value converted to T.
template <typename T>
void fill_dither_noise(T* out, int64_t n, const DrawKey& key, bool gaussian) {
  const int64_t blocks = (n + 3) / 4;
  parallel_for(0, blocks, 1024, [&](int64_t begin, int64_t end) {
    float values[4];
    for (int64_t b = begin; b < end; ++b) {
      const auto bits = key.block(static_cast<uint64_t>(b));
      if (gaussian) {
        noise_gaussian4(bits, values);
      } else {
        noise_uniform4(bits, values);
      }
      const int64_t base = b * 4;
      const int lanes = static_cast<int>(std::min<int64_t>(4, n - base));
      for (int lane = 0; lane < lanes; ++lane) {
        out[base + lane] = static_cast<T>(values[lane]);
      }
    }
  });
}

/// out[0..n) = the threshold draw's uniforms v of `key` (element e from Philox block e / 8; threshold_uniform4).
inline void fill_threshold_uniforms(float* out, int64_t n, const DrawKey& key) {
  const int64_t groups = (n + 3) / 4;
  parallel_for(0, groups, 1024, [&](int64_t begin, int64_t end) {
    float values[4];
    for (int64_t q = begin; q < end; ++q) {
      unit_noise4(key, static_cast<uint64_t>(q), NoiseKind::Threshold, values);
      const int64_t base = q * 4;
      const int lanes = static_cast<int>(std::min<int64_t>(4, n - base));
      for (int lane = 0; lane < lanes; ++lane) {
        out[base + lane] = values[lane];
      }
    }
  });
}

} // namespace signopt::kernels::detail

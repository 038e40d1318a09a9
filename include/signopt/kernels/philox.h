// Counter-based random numbers (Philox4x32-10) for dithering: the same key and counter give the
// same bits on any thread count, chunking or device.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SIGNOPT_HOST_DEVICE __host__ __device__ __forceinline__
#else
// Always inlined: the fused kernels' per-ISA clones must get their own copies.
#define SIGNOPT_HOST_DEVICE inline __attribute__((always_inline))
#endif

namespace signopt::kernels {

/// Four 32-bit words: a Philox counter or output block.
struct PhiloxBlock {
  uint32_t x[4];
};

/// Philox4x32 with 10 rounds (Salmon et al., SC'11; the Random123 reference constants).
SIGNOPT_HOST_DEVICE PhiloxBlock philox4x32_10(PhiloxBlock ctr, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    const uint64_t p0 = static_cast<uint64_t>(kM0) * ctr.x[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * ctr.x[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = PhiloxBlock{{hi1 ^ ctr.x[1] ^ k0, lo1, hi0 ^ ctr.x[3] ^ k1, lo0}};
  }
  return ctr;
}

/// Where a dither draw sits: the key (seed, stream) and the counter (step, parameter, element).
/// Element e uses block e / 4, lane e % 4 of Philox(counter = (block lo, block hi, param, step)).
struct DrawKey {
  uint32_t k0;
  uint32_t k1;
  uint32_t param;
  uint32_t step;

  SIGNOPT_HOST_DEVICE static DrawKey make(uint64_t seed, uint64_t stream, uint64_t step, uint64_t param) {
    return DrawKey{
        static_cast<uint32_t>(seed),
        static_cast<uint32_t>((seed >> 32) + stream * 0x9E3779B9ull),
        static_cast<uint32_t>(param),
        static_cast<uint32_t>(step)};
  }

  /// The Philox output block holding element indices [4 * block, 4 * block + 4).
  SIGNOPT_HOST_DEVICE PhiloxBlock block(uint64_t block_index) const {
    return philox4x32_10(
        PhiloxBlock{{static_cast<uint32_t>(block_index), static_cast<uint32_t>(block_index >> 32), param, step}},
        k0,
        k1);
  }
};

} // namespace signopt::kernels

// Hand-vectorized dither noise for CPUs with AVX-512: 16 Philox blocks (64 draws) per iteration, and the threshold
// draw's Gaussian levels (also for AVX2), bit-identical to the scalar definition in signopt/kernels/noise.h.
// Each loop takes an optional ChunkPrefetch (prefetch.h) and the lines to issue from it: it paces them over its own
// iterations (all at once when it has none) and ticks once per iteration.
#pragma once

#include <signopt/kernels/philox.h>

#include "prefetch.h"

#include <cstdint>

namespace signopt::kernels::detail {

/// True when the AVX-512 noise path runs: the CPU has AVX-512F and the instruction-set cap
/// (detail::set_isa_cap, signopt/kernels/isa.h) admits it.
bool avx512_noise_available();

/// Writes the unit noise of Philox blocks [block0, block0 + blocks) to out[0 .. 4 * blocks) for
/// whole groups of 16 blocks and returns how many blocks it wrote (a multiple of 16); the caller
/// draws the rest. Gaussian (Box-Muller) or uniform on [-1, 1), exactly as noise_gaussian4 /
/// noise_uniform4. Requires avx512_noise_available().
int64_t fill_noise_avx512(
    float* out,
    uint64_t block0,
    int64_t blocks,
    const DrawKey& key,
    bool gaussian,
    ChunkPrefetch* prefetch = nullptr,
    int64_t lines = 0);

/// Writes the four 32-bit words of Philox blocks [block0, block0 + blocks) to out[0 .. 4 * blocks) in block
/// order for whole groups of 16 blocks and returns how many blocks it wrote (the threshold draw's bits).
/// Requires avx512_noise_available().
int64_t philox_words_avx512(
    uint32_t* out,
    uint64_t block0,
    int64_t blocks,
    const DrawKey& key,
    ChunkPrefetch* prefetch = nullptr,
    int64_t lines = 0);

/// Writes the Gaussian threshold levels (gaussian_level) of elements [0, count) to out for whole groups of 16 and
/// returns how many it wrote (a multiple of 16); element e's 16 bits are the low (even e) or high (odd e) half of
/// words[e / 2], as philox_words_avx512 leaves them. Requires avx512_noise_available().
int64_t gaussian_levels_avx512(
    float* out,
    const uint32_t* words,
    int64_t count,
    ChunkPrefetch* prefetch = nullptr,
    int64_t lines = 0);

/// gaussian_levels_avx512 for CPUs with AVX2 (groups of 8): each coefficient from two 8-entry permutations and a
/// blend. Requires detail::isa() >= Isa::Avx2.
int64_t gaussian_levels_avx2(
    float* out,
    const uint32_t* words,
    int64_t count,
    ChunkPrefetch* prefetch = nullptr,
    int64_t lines = 0);

} // namespace signopt::kernels::detail

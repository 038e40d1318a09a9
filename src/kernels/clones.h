// Internal: SIGNOPT_CLONES, the one switch for per-chunk work compiled for AVX-512, AVX2 and the x86-64
// baseline and chosen at load time (GCC's target_clones). Every clone performs the same operations in the
// same order, so results are bit-identical whichever one runs. Used by the kernels (chunk_sum.h,
// fused_cpu*.cpp, reductions.cpp) and the bit packing (bitpack*.cpp).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SIGNOPT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SIGNOPT_CLONES
#endif

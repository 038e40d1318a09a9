// Internal: the kernels' one mechanism for CPU instruction sets.
//  - SIGNOPT_CLONES: per-chunk work compiled for AVX-512, AVX2 and the x86-64 baseline and chosen at
//    load time (GCC's target_clones; function templates included). Used by chunk_sum.h, the fused CPU
//    kernels, reductions.cpp and the bit packing.
//  - detail::isa() (signopt/kernels/isa.h): the run-time choice of the hand-vectorized intrinsics
//    paths (bitpack.cpp, noise_avx512.cpp), capped by tests and benchmarks.
// Every path performs the same operations in the same order: bit-identical results whichever runs.
#pragma once

#include <signopt/kernels/isa.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define SIGNOPT_X86_INTRINSICS 1
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SIGNOPT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SIGNOPT_CLONES
#endif

// Internal: what the fused CPU kernels (fused_cpu.cpp, fused_cpu_sign.cpp, fused_cpu_apply.cpp) share.
#pragma once

#include <signopt/kernels/fused.h>
#include <signopt/kernels/reductions.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#define SIGNOPT_ALWAYS_INLINE inline __attribute__((always_inline))
#define SIGNOPT_ALWAYS_INLINE_LAMBDA __attribute__((always_inline))

namespace signopt::kernels::detail {

// Calls of the fused kernels (fused_call_count); defined once, in fused_cpu.cpp. Hidden: a detail of the
// library, not exported from it.
extern std::atomic<int64_t> g_fused_calls __attribute__((visibility("hidden")));

constexpr int64_t kChunk = kReductionChunk;
static_assert(kChunk % 4 == 0, "chunks must hold whole Philox blocks");
static_assert(kChunk % 64 == 0, "chunks must hold whole packed words");

template <typename T>
SIGNOPT_ALWAYS_INLINE T sgn(T x) {
  return static_cast<T>((x > T(0)) - (x < T(0)));
}

inline int64_t chunks_of(int64_t n) {
  return (n + kChunk - 1) / kChunk;
}

// Grain: enough chunks per task to amortize scheduling, few enough to balance 2..N threads.
constexpr int64_t kGrainChunks = 4;

// Calls f(chunk index, first element, length) for every chunk of an n-element tensor, in parallel.
template <typename F>
void for_each_chunk(int64_t n, F f) {
  at::parallel_for(0, chunks_of(n), kGrainChunks, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t o = c * kChunk;
      f(c, o, std::min(n, o + kChunk) - o);
    }
  });
}

// The packed-words tensor of a packed exchange: a contiguous int64 CPU tensor with room for `bits` bits
// (defined in fused_cpu_sign.cpp).
uint64_t* packed_target(const char* fn, const char* what, const torch::Tensor& t, int64_t bits);

// Checks that the parameter of a packed exchange is a contiguous float32/float64 CPU tensor (defined in
// fused_cpu_sign.cpp).
void check_packed_tensor(const char* fn, const torch::Tensor& p);

} // namespace signopt::kernels::detail

// Internal: the core of the fused CPU kernels (fused_cpu.cpp, fused_cpu_sign.cpp, fused_cpu_apply.cpp): the
// chunking, the one dtype dispatch, the per-chunk loops that run an element rule (element_rules.h),
// compiled once per CPU instruction set (SIGNOPT_CLONES) for any rule and dtype, and the raw-pointer entry
// points. Torch-free: threads come from parallel.h, so the core compiles without LibTorch's headers
// (the build checks it: signopt_kernels_core).
#pragma once

#include <signopt/kernels/args.h>
#include <signopt/kernels/half.h>

#include "chunk_sum.h"
#include "element_rules.h"
#include "isa.h"
#include "noise_avx512.h"
#include "parallel.h"
#include "prefetch.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#define SIGNOPT_ALWAYS_INLINE inline __attribute__((always_inline))
#define SIGNOPT_ALWAYS_INLINE_LAMBDA __attribute__((always_inline))

namespace signopt::kernels::detail {

// Elements per chunk: kernels::kReductionChunk (signopt/kernels/reductions.h), the fixed summation unit.
constexpr int64_t kChunk = 4096;
static_assert(kChunk % 4 == 0, "chunks must hold whole Philox blocks");
static_assert(kChunk % 64 == 0, "chunks must hold whole packed words");

inline int64_t chunks_of(int64_t n) {
  return (n + kChunk - 1) / kChunk;
}

// Grain: enough chunks per task to amortize scheduling, few enough to balance 2..N threads.
constexpr int64_t kGrainChunks = 4;

// Calls f(chunk index, first element, length) for every chunk of an n-element tensor, in parallel.
template <typename F>
void for_each_chunk(int64_t n, F f) {
  parallel_for(0, chunks_of(n), kGrainChunks, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t o = c * kChunk;
      f(c, o, std::min(n, o + kChunk) - o);
    }
  });
}

// Chunk partials added in chunk order (the fixed order of every fused reduction).
inline double sum_in_order(const std::vector<double>& partial) {
  double total = 0.0;
  for (double v : partial) {
    total += v;
  }
  return total;
}

// The one dtype dispatch of the CPU kernels: f(T{}) with T the C++ type of `dtype`.
template <class F>
decltype(auto) with_float_type(Dtype dtype, F f) {
  if (dtype == Dtype::kFloat32) {
    return f(float{});
  }
  return f(double{});
}

// The Philox words of blocks block0 + b, b in [from, blocks), of `key` into raw[4 b .. 4 b + 3] (the scalar rule
// of the blocks an AVX-512 path did not fill), with `lines` of `prefetch` (may be null) paced over the blocks.
SIGNOPT_ALWAYS_INLINE void philox_words(
    uint32_t* raw,
    uint64_t block0,
    int64_t from,
    int64_t blocks,
    const DrawKey& key,
    ChunkPrefetch* prefetch = nullptr,
    int64_t lines = 0) {
  pace(prefetch, blocks - from, lines);
  for (int64_t b = from; b < blocks; ++b) {
    const PhiloxBlock bits = key.block(block0 + static_cast<uint64_t>(b));
    raw[4 * b] = bits.x[0];
    raw[4 * b + 1] = bits.x[1];
    raw[4 * b + 2] = bits.x[2];
    raw[4 * b + 3] = bits.x[3];
    tick(prefetch);
  }
}

// Whether a sign step's update pass (or a packed exchange's first half) reads g, so whether the next chunk's g is
// worth prefetching: where g forms the sign argument (no momentum, or the momentum updated in the pass), the
// hybrid's calibration terms, or the chunk's statistic (`stat` != 0: measured in the update loop or just before
// it). With the momentum ready from a statistics pass, which has read g already, SignRule takes x = m and reads
// only p and m.
constexpr bool update_reads_gradient(int mode, bool calib, int stat) {
  return mode != rules::kMomentumReady || calib || stat != 0;
}

// The prefetch of the chunk a task processes after chunk c (c + 1, when it is before the task's `end`) in each
// of `arrays` (a null array is skipped): n elements in all, each array's element type its own.
template <typename... Arrays>
ChunkPrefetch next_chunk_prefetch(int64_t c, int64_t end, int64_t n, const Arrays*... arrays) {
  ChunkPrefetch prefetch;
  if (c + 1 < end) {
    const int64_t o = (c + 1) * kChunk;
    const int64_t len = std::min(n, o + kChunk) - o;
    (prefetch.add(arrays == nullptr ? nullptr : arrays + o, len * static_cast<int64_t>(sizeof(Arrays))), ...);
  }
  return prefetch;
}

// The Philox words of blocks [block0, block0 + blocks) of `key` into raw[0 .. 4 blocks): whole groups of 16 blocks
// by the AVX-512 path where it runs, the rest by the scalar rule, with `lines` of `prefetch` (may be null) paced
// over whichever loop runs (the threshold draw's bits and a 16-bit step's rounding words).
inline void philox_words_paced(
    uint32_t* raw,
    uint64_t block0,
    int64_t blocks,
    const DrawKey& key,
    ChunkPrefetch* prefetch,
    int64_t lines) {
  const bool avx512 = avx512_noise_available();
  const int64_t done = avx512 ? philox_words_avx512(raw, block0, blocks, key, prefetch, lines) : 0;
  philox_words(raw, block0, done, blocks, key, avx512 ? nullptr : prefetch, lines);
}

// ---- per-chunk loops over a rule, elements [o, o + n); noise[k] is element o + k's unit noise --------

template <bool kNoise>
SIGNOPT_ALWAYS_INLINE float noise_at(const float* noise, int64_t k) {
  if constexpr (kNoise) {
    return noise[k];
  } else {
    return 0.0f;
  }
}

// An element-wise pass (terms ignored).
template <class Rule, bool kNoise>
SIGNOPT_CLONES void elementwise_chunk(const Rule rule, int64_t o, int64_t n, const float* noise) {
  for (int64_t k = 0; k < n; ++k) {
    double unused0, unused1;
    rule.apply(o + k, noise_at<kNoise>(noise, k), &unused0, &unused1);
  }
}

// An element-wise pass that also sums the rule's two terms in chunk_sum8's order.
template <class Rule, bool kNoise>
SIGNOPT_CLONES void two_sums_chunk(
    const Rule rule,
    int64_t o,
    int64_t n,
    const float* noise,
    double* sum0,
    double* sum1) {
  chunk_sum8_pair(
      n,
      [&](int64_t k, double& t0, double& t1)
          SIGNOPT_ALWAYS_INLINE_LAMBDA { rule.apply(o + k, noise_at<kNoise>(noise, k), &t0, &t1); },
      sum0,
      sum1);
}

// A statistics pass: the rule's argument(i) for the chunk first (a plain loop that vectorizes, with
// its stores), then Rule::term over that buffer in chunk_sum8's order, or (kMax) the largest
// Rule::magnitude, NaNs skipped.
template <class Rule, typename T, bool kMax>
SIGNOPT_CLONES double statistic_chunk(const Rule rule, int64_t o, int64_t n) {
  T xs[kChunk];
  for (int64_t k = 0; k < n; ++k) {
    xs[k] = rule.argument(o + k);
  }
  if constexpr (kMax) {
    T mx = T(0);
    for (int64_t k = 0; k < n; ++k) {
      const T ax = Rule::magnitude(xs[k]);
      mx = ax > mx ? ax : mx;
    }
    return static_cast<double>(mx);
  } else {
    return chunk_sum8(n, [&](int64_t k) SIGNOPT_ALWAYS_INLINE_LAMBDA { return Rule::term(xs[k]); });
  }
}

// Elements per block of measured_elementwise_chunk (a multiple of 8, so that blocks keep chunk_sum8's lanes).
constexpr int64_t kMeasuredBlock = 256;
static_assert(kMeasuredBlock % 8 == 0 && kChunk % kMeasuredBlock == 0);

// The one-pass scale's chunk in one pass: block by block, the statistics rule's argument of each element (which
// stores the momentum first where the update rule reads it ready), then the update rule on the block, then the
// block's terms added in chunk_sum8's order. An element's argument reads only that element, before its update, so
// these are statistic_chunk's and elementwise_chunk's operations with the same bits (MeasuredSignRule's, CUDA's);
// the block's data is in L1 for the update, and the sum's latency chain overlaps the next block's work. Sum
// statistics only (not kMax).
template <class StatsRule, class Rule, typename T, bool kNoise>
SIGNOPT_CLONES double measured_elementwise_chunk(
    const StatsRule stats,
    const Rule rule,
    int64_t o,
    int64_t n,
    const float* noise) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  T xs[kMeasuredBlock];
  for (int64_t b = 0; b < n; b += kMeasuredBlock) {
    const int64_t len = std::min(kMeasuredBlock, n - b);
    for (int64_t k = 0; k < len; ++k) {
      xs[k] = stats.argument(o + b + k);
    }
    for (int64_t k = 0; k < len; ++k) {
      double unused0, unused1;
      rule.apply(o + b + k, noise_at<kNoise>(noise, b + k), &unused0, &unused1);
    }
    accumulate8(acc, len, [&](int64_t k) SIGNOPT_ALWAYS_INLINE_LAMBDA { return StatsRule::term(xs[k]); });
  }
  return combine8(acc);
}

} // namespace signopt::kernels::detail

namespace signopt::kernels::cpu {

// Unit noise (or the threshold draw's uniforms) of elements [first, first + count) of one tensor into out;
// `first` is a multiple of 8; `prefetch` (may be null): the next chunk's lines to spread over the work
// (fused_cpu_sign.cpp).
void fill_chunk_noise(
    float* out,
    int64_t first,
    int64_t count,
    DrawKey key,
    NoiseKind kind,
    detail::ChunkPrefetch* prefetch = nullptr);

// Whether the update pass measures a chunk's one-pass statistic in the update loop itself (measured_chunk, here and in
// fused_cpu_half.cpp's 16-bit step): a sum statistic (rms, meanabs; max3sigma is measured first, by statistic_chunk) on
// a dithered step without the calibration sums.
inline bool measure_in_update(int stat, bool dithered, bool calib) {
  return stat != 0 && stat != static_cast<int>(DitherScale::Max3Sigma) && dithered && !calib;
}

// The chunk's update with its one-pass statistic (DitherScale's number `stat`, a sum) measured in the same loop:
// the statistics rule of kStatsModeOf<kMode>, as statistic_chunk would measure it first.
template <typename T, int kMode, int kDraw>
double measured_chunk(
    int stat,
    const rules::SignRule<T, kMode, kDraw>& rule,
    int64_t o,
    int64_t len,
    const float* noise) {
  double total = 0.0;
  rules::with_stat(stat, [&](auto stat_constant) {
    constexpr int kStat = decltype(stat_constant)::value;
    if constexpr (kStat != static_cast<int>(DitherScale::Max3Sigma)) {
      using Stats = rules::SignStatsRule<T, rules::kStatsModeOf<kMode>, kStat>;
      total = detail::measured_elementwise_chunk<Stats, rules::SignRule<T, kMode, kDraw>, T, true>(
          Stats{rule.p, rule.g, rule.m, rule.c}, rule, o, len, noise);
    } else {
      total = std::nan(""); // never called for max3sigma (measure_in_update); NaN makes a misuse loud
    }
  });
  return total;
}

// The chunk partials of a dither statistic (DitherScale's number) in chunk order: their max for max3sigma
// (stat 2), else their sum (fused_cpu_sign.cpp).
double combine_partials(int stat, const std::vector<double>& partial);

// The fused kernels on raw pointers to n contiguous elements of `dtype` (the CUDA kernels' shape,
// signopt/kernels/fused_cuda.h). src/kernels/dispatch.cpp checks the tensors of the public entry points
// (signopt/kernels/fused.h), counts the call and passes their memory here, or to CUDA. A state pointer
// (m, v, buf) may be null where the rule keeps no such state (beta, mu or momentum 0).
double sign_descent_step(
    Dtype dtype,
    void* p,
    const void* g,
    void* m,
    int64_t n,
    const SignStepArgs& args,
    double* dot_gg);
int64_t sign_descent_pack(
    Dtype dtype,
    const void* p,
    const void* g,
    void* m,
    int64_t n,
    const SignStepArgs& args,
    uint64_t* sign,
    uint64_t* zero,
    int64_t bit_offset);
void apply_packed_direction(
    Dtype dtype,
    void* p,
    int64_t n,
    double lr,
    double weight_decay,
    bool decoupled,
    const uint64_t* sign,
    const uint64_t* zero,
    int64_t bit_offset,
    const void* g,
    double* dot_gg);
void sgd_step(Dtype dtype, void* p, const void* g, void* v, int64_t n, const SgdStepArgs& args);
void ef_sign_sgd_step(Dtype dtype, void* p, const void* g, void* e, void* buf, int64_t n, const EfStepArgs& args);
void lion_step(Dtype dtype, void* p, const void* g, void* m, int64_t n, const LionStepArgs& args);
// Sign descent on 16-bit parameters and gradients of `type` (fused_cpu_half.cpp): float32 arithmetic, the
// parameter stored by args.rounding, the momentum m float32 (half_momentum false) or of `type`; the calibration
// sums into dot_gg when it is non-null. Returns s.
double sign_descent_step_half(
    HalfType type,
    bool half_momentum,
    uint16_t* p,
    const uint16_t* g,
    void* m,
    int64_t n,
    const SignStepArgs& args,
    double* dot_gg);
// The hybrid's SGD-phase step on 16-bit parameters alike (the momentum v float32 or of `type`).
void sgd_step_half(
    HalfType type,
    bool half_momentum,
    uint16_t* p,
    const uint16_t* g,
    void* v,
    int64_t n,
    const SgdStepArgs& args);

} // namespace signopt::kernels::cpu

// Internal: what the fused CPU kernels (fused_cpu.cpp, fused_cpu_sign.cpp, fused_cpu_apply.cpp) share:
// the chunking, the one dtype dispatch, and the per-chunk loops that run an element rule
// (element_rules.h), compiled once per CPU instruction set (SIGNOPT_CLONES) for any rule and dtype.
#pragma once

#include <signopt/kernels/args.h>
#include <signopt/kernels/reductions.h>

#include "chunk_sum.h"
#include "element_rules.h"
#include "isa.h"

#include <ATen/Parallel.h>
#include <torch/types.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#define SIGNOPT_ALWAYS_INLINE inline __attribute__((always_inline))
#define SIGNOPT_ALWAYS_INLINE_LAMBDA __attribute__((always_inline))

namespace signopt::kernels::detail {

constexpr int64_t kChunk = kReductionChunk;
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
  at::parallel_for(0, chunks_of(n), kGrainChunks, [&](int64_t begin, int64_t end) {
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

// The one dtype dispatch of the CPU kernels: f(T{}) with T the C++ type of a float32/float64 tensor.
template <class F>
decltype(auto) with_float_type(const torch::Tensor& t, F f) {
  if (t.scalar_type() == at::kFloat) {
    return f(float{});
  }
  return f(double{});
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
SIGNOPT_CLONES void two_sums_chunk(const Rule rule, int64_t o, int64_t n, const float* noise, double* sum0, double* sum1) {
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

} // namespace signopt::kernels::detail

namespace signopt::kernels::cpu {

// The CPU halves of the fused kernels' entry points (signopt/kernels/fused.h); src/kernels/dispatch.cpp
// checks the tensors, counts the call and routes CUDA tensors to fused_cuda_dispatch.h instead.
double sign_descent_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& buf, const SignStepArgs& args, double* dot_gg);
int64_t sign_descent_pack(
    const torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    const SignStepArgs& args,
    uint64_t* sign,
    uint64_t* zero,
    int64_t bit_offset);
void apply_packed_direction(
    torch::Tensor& p,
    double lr,
    double weight_decay,
    bool decoupled,
    const uint64_t* sign,
    const uint64_t* zero,
    int64_t bit_offset,
    const torch::Tensor& g,
    double* dot_gg);
void sgd_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& v, const SgdStepArgs& args);
void ef_sign_sgd_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& e, torch::Tensor& buf, const EfStepArgs& args);
void lion_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& m, const LionStepArgs& args);

} // namespace signopt::kernels::cpu

// A serial host model of the CUDA kernels: the same rules and passes (src/kernels/fused_rules.h)
// run element by element on host memory. tests/kernels/test_fused_cuda.cpp checks it against the CPU
// kernels without a GPU; cuda_kernel_check then compares the GPU with it where LibTorch is absent.
#pragma once

#include "../../src/kernels/fused_rules.h"

#include <signopt/kernels/fused_cuda.h>

#include <cstdint>

namespace signopt::kernels::host_model {

using cuda::Dtype;
using cuda::EfStepArgs;
using cuda::LionStepArgs;
using cuda::SgdStepArgs;
using cuda::SignStepArgs;
using cuda::StepResults;

/// Host doubles a step with a reduction needs (the same layout as cuda::workspace_doubles).
inline int64_t workspace_doubles(int64_t n) {
  return rules::kResultSlots + 2 * rules::chunks_of(n);
}

namespace detail {

// Unit noise of element i, drawing each Philox block once for consecutive elements.
class NoiseCursor {
 public:
  NoiseCursor(const DrawKey& key, bool enabled, NoiseKind kind) : key_(key), enabled_(enabled), kind_(kind) {}
  float at(int64_t i) {
    if (!enabled_) {
      return 0.0f;
    }
    const uint64_t block = static_cast<uint64_t>(i) / 4;
    if (block != block_) {
      unit_noise4(key_, block, kind_, z_);
      block_ = block;
    }
    return z_[i % 4];
  }

 private:
  DrawKey key_;
  bool enabled_;
  NoiseKind kind_;
  uint64_t block_ = ~uint64_t{0};
  float z_[4] = {0, 0, 0, 0};
};

struct HostBackend {
  template <class Rule, bool kNoise>
  void elementwise(const Rule& rule, int64_t n, const DrawKey& key, NoiseKind kind, const char*) {
    Rule r = rule;
    r.load_scalars();
    NoiseCursor noise(key, kNoise, kind);
    for (int64_t i = 0; i < n; ++i) {
      double unused0, unused1;
      r.apply(i, noise.at(i), &unused0, &unused1);
    }
  }

  template <class Rule, bool kNoise, int kTerms, bool kMax>
  void reduce(const Rule& rule, int64_t n, const DrawKey& key, NoiseKind kind, double* workspace, const char*) {
    Rule r = rule;
    r.load_scalars();
    NoiseCursor noise(key, kNoise, kind);
    const int64_t chunks = rules::chunks_of(n);
    double* partial0 = workspace + rules::kResultSlots;
    double* partial1 = partial0 + chunks;
    for (int64_t c = 0; c < chunks; ++c) {
      double acc0[rules::kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
      double acc1[rules::kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
      const int64_t base = c * rules::kChunk;
      const int64_t len = (n - base < rules::kChunk) ? n - base : rules::kChunk;
      for (int64_t k = 0; k < len; ++k) {
        double t0 = 0.0, t1 = 0.0;
        r.apply(base + k, noise.at(base + k), &t0, &t1);
        acc0[k % rules::kLanes] = rules::combine<kMax>(acc0[k % rules::kLanes], t0);
        acc1[k % rules::kLanes] = rules::combine<false>(acc1[k % rules::kLanes], t1);
      }
      partial0[c] = rules::combine_lanes<kMax>(acc0);
      if (kTerms == 2) {
        partial1[c] = rules::combine_lanes<false>(acc1);
      }
    }
  }

  void copy_scalar(double* dst, const double* src, const char*) {
    *dst = *src;
  }

  template <rules::Finish kKind, bool kMax>
  void finish(int64_t n, int stat, double alpha, double* workspace, const char*) {
    const int64_t chunks = rules::chunks_of(n);
    const double* partial0 = workspace + rules::kResultSlots;
    const double* partial1 = partial0 + chunks;
    double total0 = 0.0, total1 = 0.0;
    for (int64_t c = 0; c < chunks; ++c) {
      total0 = rules::combine<kMax>(total0, partial0[c]);
      if (kKind == rules::Finish::kCalibration) {
        total1 = rules::combine<false>(total1, partial1[c]);
      }
    }
    rules::finish_results<kKind>(total0, total1, n, stat, alpha, workspace);
  }
};

using HostSteps = rules::Steps<HostBackend>;

} // namespace detail

/// cuda::sign_descent_step on host memory.
inline void sign_descent_step(
    Dtype dtype,
    void* p,
    const void* g,
    void* m,
    int64_t n,
    const SignStepArgs& args,
    bool calibrate,
    double* workspace) {
  detail::HostBackend b;
  detail::HostSteps::sign_descent(b, dtype, p, g, m, n, args, calibrate, workspace);
}

/// cuda::sign_descent_step_half on host memory.
inline void sign_descent_step_half(
    HalfType type,
    bool half_momentum,
    uint16_t* p,
    const uint16_t* g,
    void* m,
    int64_t n,
    const SignStepArgs& args,
    bool calibrate,
    double* workspace) {
  detail::HostBackend b;
  detail::HostSteps::sign_descent_half(b, type, half_momentum, p, g, m, n, args, calibrate, workspace);
}

/// cuda::sgd_step_half on host memory.
inline void sgd_step_half(
    HalfType type,
    bool half_momentum,
    uint16_t* p,
    const uint16_t* g,
    void* v,
    int64_t n,
    const SgdStepArgs& args) {
  detail::HostBackend b;
  detail::HostSteps::sgd_half(b, type, half_momentum, p, g, v, n, args);
}

/// cuda::sgd_step on host memory.
inline void sgd_step(Dtype dtype, void* p, const void* g, void* v, int64_t n, const SgdStepArgs& args) {
  detail::HostBackend b;
  detail::HostSteps::sgd(b, dtype, p, g, v, n, args);
}

/// cuda::ef_sign_sgd_step on host memory.
inline void ef_sign_sgd_step(
    Dtype dtype,
    void* p,
    const void* g,
    void* e,
    void* buf,
    int64_t n,
    const EfStepArgs& args,
    double* workspace) {
  detail::HostBackend b;
  detail::HostSteps::ef(b, dtype, p, g, e, buf, n, args, workspace);
}

/// cuda::lion_step on host memory.
inline void lion_step(Dtype dtype, void* p, const void* g, void* m, int64_t n, const LionStepArgs& args) {
  detail::HostBackend b;
  detail::HostSteps::lion(b, dtype, p, g, m, n, args);
}

/// The result slots of a host workspace.
inline StepResults read_results(const double* workspace) {
  StepResults r;
  r.scale = workspace[rules::kSlotScale];
  r.dot = workspace[rules::kSlotDot];
  r.gg = workspace[rules::kSlotGg];
  return r;
}

} // namespace signopt::kernels::host_model

// Fused CPU update kernels. Each step walks a tensor once (twice where a per-tensor statistic must
// be known before the update: dither scales of the updated momentum, EF-SignSGD's ||c||_1) in
// chunks of kReductionChunk elements on at::parallel_for. Per-chunk work is compiled for AVX-512,
// AVX2 and baseline x86-64 (target_clones: one binary, dispatch at load time) and performs exactly
// the operations of the reference torch-op composition, each rounded alike (no contraction), so the
// results are bit-identical to the reference path for any thread count and ISA.
// This file holds the switches, the call counter, eligibility and SGD, EF-SignSGD and Lion; the sign-descent
// family is in fused_cpu_sign.cpp and fused_cpu_apply.cpp, what they share in fused_cpu_internal.h.
#include <signopt/kernels/fused.h>

#include "chunk_sum.h"
#include "clones.h"
#include "fused_cpu_internal.h"
#ifdef SIGNOPT_WITH_CUDA
#include "fused_cuda_dispatch.h"
#endif

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

namespace signopt::kernels {

namespace detail {

std::atomic<int64_t> g_fused_calls{0};

} // namespace detail

using detail::chunks_of;
using detail::for_each_chunk;
using detail::g_fused_calls;
using detail::kChunk;
using detail::sgn;

namespace {

std::atomic<bool> g_fused_enabled{true};

// ---- SGD phase, EF-SignSGD, Lion -----------------------------------------------------------------

template <typename T, bool kMomentum>
SIGNOPT_ALWAYS_INLINE void sgd_chunk(T* p, const T* g, T* v, int64_t n, T wd, T decay, T mu, T one_minus_mu, T eta) {
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + p[i] * wd;
    T d = gi;
    if constexpr (kMomentum) {
      const T vi = v[i] * mu + gi;
      v[i] = vi;
      d = vi * one_minus_mu;
    }
    p[i] = p[i] * decay - d * eta;
  }
}

template <typename T>
SIGNOPT_ALWAYS_INLINE void sgd_dispatch(
    bool momentum,
    T* p,
    const T* g,
    T* v,
    int64_t n,
    T wd,
    T decay,
    T mu,
    T omm,
    T eta) {
  if (momentum) {
    sgd_chunk<T, true>(p, g, v, n, wd, decay, mu, omm, eta);
  } else {
    sgd_chunk<T, false>(p, g, v, n, wd, decay, mu, omm, eta);
  }
}

SIGNOPT_CLONES void sgd_chunk_f32(
    bool mom,
    float* p,
    const float* g,
    float* v,
    int64_t n,
    float wd,
    float decay,
    float mu,
    float omm,
    float eta) {
  sgd_dispatch<float>(mom, p, g, v, n, wd, decay, mu, omm, eta);
}
SIGNOPT_CLONES void sgd_chunk_f64(
    bool mom,
    double* p,
    const double* g,
    double* v,
    int64_t n,
    double wd,
    double decay,
    double mu,
    double omm,
    double eta) {
  sgd_dispatch<double>(mom, p, g, v, n, wd, decay, mu, omm, eta);
}

// EF pass 1: c = g'' lr + e (g'' = momentum buffer after its update, or g'), sum |c| in chunk_sum8 order.
template <typename T, bool kMomentum>
SIGNOPT_ALWAYS_INLINE double ef_pass1(const T* p, const T* g, const T* e, T* buf, int64_t n, T wd, T mu, T lr) {
  T cs[kChunk];
  for (int64_t i = 0; i < n; ++i) {
    T gi = g[i] + p[i] * wd;
    if constexpr (kMomentum) {
      gi = buf[i] * mu + gi;
      buf[i] = gi;
    }
    cs[i] = gi * lr + e[i];
  }
  return detail::chunk_sum8(n, [&](int64_t i) { return std::abs(static_cast<double>(cs[i])); });
}

// EF pass 2: recompute c from the stored momentum (or g'), then Delta, p and e.
template <typename T, bool kMomentum>
SIGNOPT_ALWAYS_INLINE void ef_pass2(T* p, const T* g, T* e, const T* buf, int64_t n, T wd, T decay, T lr, T scale) {
  for (int64_t i = 0; i < n; ++i) {
    const T gi = kMomentum ? buf[i] : g[i] + p[i] * wd;
    const T c = gi * lr + e[i];
    const T delta = sgn(c) * scale;
    p[i] = p[i] * decay - delta;
    e[i] = c - delta;
  }
}

SIGNOPT_CLONES double ef_pass1_f32(
    bool mom,
    const float* p,
    const float* g,
    const float* e,
    float* buf,
    int64_t n,
    float wd,
    float mu,
    float lr) {
  return mom ? ef_pass1<float, true>(p, g, e, buf, n, wd, mu, lr) : ef_pass1<float, false>(p, g, e, buf, n, wd, mu, lr);
}
SIGNOPT_CLONES double ef_pass1_f64(
    bool mom,
    const double* p,
    const double* g,
    const double* e,
    double* buf,
    int64_t n,
    double wd,
    double mu,
    double lr) {
  return mom ? ef_pass1<double, true>(p, g, e, buf, n, wd, mu, lr)
             : ef_pass1<double, false>(p, g, e, buf, n, wd, mu, lr);
}
SIGNOPT_CLONES void ef_pass2_f32(
    bool mom,
    float* p,
    const float* g,
    float* e,
    const float* buf,
    int64_t n,
    float wd,
    float decay,
    float lr,
    float scale) {
  mom ? ef_pass2<float, true>(p, g, e, buf, n, wd, decay, lr, scale)
      : ef_pass2<float, false>(p, g, e, buf, n, wd, decay, lr, scale);
}
SIGNOPT_CLONES void ef_pass2_f64(
    bool mom,
    double* p,
    const double* g,
    double* e,
    const double* buf,
    int64_t n,
    double wd,
    double decay,
    double lr,
    double scale) {
  mom ? ef_pass2<double, true>(p, g, e, buf, n, wd, decay, lr, scale)
      : ef_pass2<double, false>(p, g, e, buf, n, wd, decay, lr, scale);
}

template <typename T>
SIGNOPT_ALWAYS_INLINE void lion_chunk(
    T* p,
    const T* g,
    T* m,
    int64_t n,
    T wd,
    T decay,
    T b1,
    T omb1,
    T b2,
    T omb2,
    T neg_lr) {
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + p[i] * wd;
    const T c = m[i] * b1 + gi * omb1;
    p[i] = p[i] * decay + neg_lr * sgn(c);
    m[i] = m[i] * b2 + gi * omb2;
  }
}

SIGNOPT_CLONES void lion_chunk_f32(
    float* p,
    const float* g,
    float* m,
    int64_t n,
    float wd,
    float decay,
    float b1,
    float omb1,
    float b2,
    float omb2,
    float neg_lr) {
  lion_chunk<float>(p, g, m, n, wd, decay, b1, omb1, b2, omb2, neg_lr);
}
SIGNOPT_CLONES void lion_chunk_f64(
    double* p,
    const double* g,
    double* m,
    int64_t n,
    double wd,
    double decay,
    double b1,
    double omb1,
    double b2,
    double omb2,
    double neg_lr) {
  lion_chunk<double>(p, g, m, n, wd, decay, b1, omb1, b2, omb2, neg_lr);
}

} // namespace

void set_fused_enabled(bool enabled) {
  g_fused_enabled.store(enabled);
}

bool fused_enabled() {
  return g_fused_enabled.load();
}

int64_t fused_call_count() {
  return g_fused_calls.load();
}

bool fused_eligible(std::initializer_list<torch::Tensor> tensors) {
  if (!fused_enabled()) {
    return false;
  }
  c10::optional<at::ScalarType> dtype;
  c10::optional<c10::Device> device;
  for (const auto& t : tensors) {
    if (!t.defined()) {
      continue;
    }
#ifdef SIGNOPT_WITH_CUDA
    const bool supported_device = t.device().is_cpu() || t.device().is_cuda();
#else
    const bool supported_device = t.device().is_cpu();
#endif
    if (!supported_device || !t.is_contiguous() || t.is_complex() ||
        (t.scalar_type() != at::kFloat && t.scalar_type() != at::kDouble)) {
      return false;
    }
    if ((dtype && *dtype != t.scalar_type()) || (device && *device != t.device())) {
      return false;
    }
    dtype = t.scalar_type();
    device = t.device();
  }
  return true;
}

void sgd_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& v, const SgdStepArgs& args) {
  ++g_fused_calls;
#ifdef SIGNOPT_WITH_CUDA
  if (p.is_cuda()) {
    return detail::sgd_step_cuda(p, g, v, args);
  }
#endif
  const double eta = args.eta, weight_decay = args.weight_decay, mu = args.mu;
  const bool decoupled = args.decoupled, dampened = args.dampened;
  const int64_t n = p.numel();
  const bool mom = mu > 0;
  const double omm = dampened ? 1.0 - mu : 1.0; // the step's factor on v
  const double wd = decoupled ? 0.0 : weight_decay;
  const double decay = decoupled ? 1.0 - eta * weight_decay : 1.0;
  for_each_chunk(n, [&](int64_t, int64_t o, int64_t len) {
    if (p.scalar_type() == at::kFloat) {
      sgd_chunk_f32(
          mom,
          p.data_ptr<float>() + o,
          g.data_ptr<float>() + o,
          mom ? v.data_ptr<float>() + o : nullptr,
          len,
          wd,
          decay,
          mu,
          omm,
          eta);
    } else {
      sgd_chunk_f64(
          mom,
          p.data_ptr<double>() + o,
          g.data_ptr<double>() + o,
          mom ? v.data_ptr<double>() + o : nullptr,
          len,
          wd,
          decay,
          mu,
          omm,
          eta);
    }
  });
}

void ef_sign_sgd_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& e, torch::Tensor& buf, const EfStepArgs& args) {
  ++g_fused_calls;
#ifdef SIGNOPT_WITH_CUDA
  if (p.is_cuda()) {
    return detail::ef_sign_sgd_step_cuda(p, g, e, buf, args);
  }
#endif
  const double lr = args.lr, weight_decay = args.weight_decay, momentum = args.momentum;
  const bool decoupled = args.decoupled;
  const int64_t n = p.numel();
  const int64_t chunks = chunks_of(n);
  const bool mom = momentum > 0;
  const double wd = decoupled ? 0.0 : weight_decay;
  const double decay = decoupled ? 1.0 - lr * weight_decay : 1.0;
  std::vector<double> partial(static_cast<size_t>(chunks));
  const bool f32 = p.scalar_type() == at::kFloat;
  for_each_chunk(n, [&](int64_t c, int64_t o, int64_t len) {
    partial[c] = f32 ? ef_pass1_f32(
                           mom,
                           p.data_ptr<float>() + o,
                           g.data_ptr<float>() + o,
                           e.data_ptr<float>() + o,
                           mom ? buf.data_ptr<float>() + o : nullptr,
                           len,
                           wd,
                           momentum,
                           lr)
                     : ef_pass1_f64(
                           mom,
                           p.data_ptr<double>() + o,
                           g.data_ptr<double>() + o,
                           e.data_ptr<double>() + o,
                           mom ? buf.data_ptr<double>() + o : nullptr,
                           len,
                           wd,
                           momentum,
                           lr);
  });
  double l1 = 0.0;
  for (double v : partial) {
    l1 += v;
  }
  const double scale = l1 / static_cast<double>(std::max<int64_t>(n, 1));
  for_each_chunk(n, [&](int64_t, int64_t o, int64_t len) {
    if (f32) {
      ef_pass2_f32(
          mom,
          p.data_ptr<float>() + o,
          g.data_ptr<float>() + o,
          e.data_ptr<float>() + o,
          mom ? buf.data_ptr<float>() + o : nullptr,
          len,
          wd,
          decay,
          lr,
          scale);
    } else {
      ef_pass2_f64(
          mom,
          p.data_ptr<double>() + o,
          g.data_ptr<double>() + o,
          e.data_ptr<double>() + o,
          mom ? buf.data_ptr<double>() + o : nullptr,
          len,
          wd,
          decay,
          lr,
          scale);
    }
  });
}

void lion_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& m, const LionStepArgs& args) {
  ++g_fused_calls;
#ifdef SIGNOPT_WITH_CUDA
  if (p.is_cuda()) {
    return detail::lion_step_cuda(p, g, m, args);
  }
#endif
  const double lr = args.lr, weight_decay = args.weight_decay, beta1 = args.beta1, beta2 = args.beta2;
  const bool decoupled = args.decoupled;
  const int64_t n = p.numel();
  const double wd = decoupled ? 0.0 : weight_decay;
  const double decay = decoupled ? 1.0 - lr * weight_decay : 1.0;
  for_each_chunk(n, [&](int64_t, int64_t o, int64_t len) {
    if (p.scalar_type() == at::kFloat) {
      lion_chunk_f32(
          p.data_ptr<float>() + o,
          g.data_ptr<float>() + o,
          m.data_ptr<float>() + o,
          len,
          wd,
          decay,
          beta1,
          1.0 - beta1,
          beta2,
          1.0 - beta2,
          -lr);
    } else {
      lion_chunk_f64(
          p.data_ptr<double>() + o,
          g.data_ptr<double>() + o,
          m.data_ptr<double>() + o,
          len,
          wd,
          decay,
          beta1,
          1.0 - beta1,
          beta2,
          1.0 - beta2,
          -lr);
    }
  });
}

} // namespace signopt::kernels

// Internal: the CUDA kernels' per-element update rules (host/device functions), the fixed summation
// order of their reductions, and each step's sequence of passes, written once over a Backend that
// runs the passes. src/kernels/fused_cuda.cu runs them as kernels; tests/cuda/host_model.h runs them
// serially on the host, where a CPU-only test checks them against the CPU kernels bit for bit. Each
// rule performs the operations of the CPU kernels (src/kernels/fused_cpu*.cpp) in the same order, rounded alike.
// Compile without floating-point contraction (nvcc -fmad=false, g++ -ffp-contract=off).
#pragma once

#include <signopt/kernels/fused_cuda.h>
#include <signopt/kernels/noise.h>
#include <signopt/kernels/philox.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace signopt::kernels::rules {

/// Elements per reduction chunk (kernels::kReductionChunk) and accumulators per chunk
/// (detail::chunk_sum8): element i of a chunk goes to lane i % 8, lanes are added pairwise, chunk
/// totals in chunk order.
constexpr int64_t kChunk = 4096;
constexpr int kLanes = 8;

/// Result slots at the start of a workspace; partial sums follow (kPartial0: one per chunk, then
/// kPartial1: one per chunk).
constexpr int64_t kSlotScale = 0;
constexpr int64_t kSlotDot = 1;
constexpr int64_t kSlotGg = 2;
constexpr int64_t kResultSlots = 4;

SIGNOPT_HOST_DEVICE int64_t chunks_of(int64_t n) {
  return (n + kChunk - 1) / kChunk;
}

template <typename T>
SIGNOPT_HOST_DEVICE T sgn(T x) {
  return static_cast<T>((x > T(0)) - (x < T(0)));
}

/// Unit noise of the four elements [4 block, 4 block + 4) (the CPU kernels' fill_noise).
SIGNOPT_HOST_DEVICE void unit_noise4(const DrawKey& key, uint64_t block, bool gaussian, float out[4]) {
  const PhiloxBlock bits = key.block(block);
  if (gaussian) {
    noise_gaussian4(bits, out);
  } else {
    noise_uniform4(bits, out);
  }
}

// ---- sign descent --------------------------------------------------------------------------------

enum MomentumMode { kNoMomentum = 0, kUpdateMomentum = 1, kMomentumReady = 2 };

/// The CPU kernels' SignArgs: coefficients in the parameter type, converted from double once.
template <typename T>
struct SignCoeffs {
  T wd; // coupled weight decay (0 when decoupled)
  T decay; // decoupled factor 1 - lr wd (1 when coupled)
  T beta, one_minus_beta;
  T neg_lr;
  T s_grad, s_x; // dither scale on the gradient / on the sign argument (0 when unused)
};

template <typename T>
inline SignCoeffs<T> sign_coeffs(const cuda::SignStepArgs& a) {
  SignCoeffs<T> c;
  c.wd = static_cast<T>(a.decoupled ? 0.0 : a.weight_decay);
  c.decay = static_cast<T>(a.decoupled ? 1.0 - a.lr * a.weight_decay : 1.0);
  c.beta = static_cast<T>(a.beta);
  c.one_minus_beta = static_cast<T>(1.0 - a.beta);
  c.neg_lr = static_cast<T>(-a.lr);
  c.s_grad = T(0);
  c.s_x = T(0);
  return c;
}

/// g' = g + wd p; x = g' + s_g z, or the EMA of it, or the ready momentum; x += s_x z;
/// p = p decay - lr sign(x). Terms: sign(x) g' and g'^2 for the hybrid's calibration.
template <typename T, int kMode>
struct SignRule {
  T* p;
  const T* g;
  T* m;
  SignCoeffs<T> c;
  const double* scale_ptr = nullptr; // a data-dependent dither scale left by the statistics pass
  bool scale_on_gradient = false;

  SIGNOPT_HOST_DEVICE void load_scalars() {
    if (scale_ptr != nullptr) {
      const T s = static_cast<T>(*scale_ptr);
      if (scale_on_gradient) {
        c.s_grad = s;
      } else {
        c.s_x = s;
      }
    }
  }

  SIGNOPT_HOST_DEVICE void apply(int64_t i, float noise, double* dot_term, double* gg_term) const {
    const T gi = g[i] + p[i] * c.wd;
    const T z = static_cast<T>(noise);
    const T gn = gi + z * c.s_grad;
    T x;
    if constexpr (kMode == kUpdateMomentum) {
      x = m[i] * c.beta + gn * c.one_minus_beta;
      m[i] = x;
    } else if constexpr (kMode == kMomentumReady) {
      x = m[i];
    } else {
      x = gn;
    }
    x = x + z * c.s_x;
    const T u = sgn(x);
    p[i] = p[i] * c.decay + c.neg_lr * u;
    *dot_term = static_cast<double>(u) * static_cast<double>(gi);
    *gg_term = static_cast<double>(gi) * static_cast<double>(gi);
  }
};

/// The dither statistic's term of x = g' (kNoMomentum) or of the updated EMA (kUpdateMomentum,
/// stored): kStat 1 x^2, 2 |x| (combined by max), 3 |x|.
template <typename T, int kMode, int kStat>
struct SignStatsRule {
  const T* p;
  const T* g;
  T* m;
  SignCoeffs<T> c;

  SIGNOPT_HOST_DEVICE void load_scalars() {}

  SIGNOPT_HOST_DEVICE void apply(int64_t i, float, double* term, double*) const {
    const T gi = g[i] + p[i] * c.wd;
    T x = gi;
    if constexpr (kMode == kUpdateMomentum) {
      x = m[i] * c.beta + gi * c.one_minus_beta;
      m[i] = x;
    }
    if constexpr (kStat == 2) {
      const T ax = x < T(0) ? -x : x;
      *term = static_cast<double>(ax);
    } else {
      const double v = static_cast<double>(x);
      if constexpr (kStat == 1) {
        *term = v * v;
      } else {
        *term = v < 0 ? -v : v;
      }
    }
  }
};

/// The dither scale's base from the statistic's total (the CPU kernels' formula).
SIGNOPT_HOST_DEVICE double dither_base(double total, int stat, int64_t n) {
  const double count = static_cast<double>(n);
  return stat == 1 ? std::sqrt(total / count) : (stat == 2 ? total / 3.0 : total / count);
}

// ---- SGD phase, EF-SignSGD, Lion -----------------------------------------------------------------

/// g' = g + wd p; v = mu v + g' and d = (1 - mu) v (kMomentum; d = v undampened) or d = g'; p = p decay - eta d.
template <typename T, bool kMomentum>
struct SgdRule {
  T* p;
  const T* g;
  T* v;
  T wd, decay, mu, one_minus_mu, eta;

  SIGNOPT_HOST_DEVICE void load_scalars() {}

  SIGNOPT_HOST_DEVICE void apply(int64_t i, float, double*, double*) const {
    const T gi = g[i] + p[i] * wd;
    T d = gi;
    if constexpr (kMomentum) {
      const T vi = v[i] * mu + gi;
      v[i] = vi;
      d = vi * one_minus_mu;
    }
    p[i] = p[i] * decay - d * eta;
  }
};

template <typename T, bool kMomentum>
inline SgdRule<T, kMomentum> sgd_rule(T* p, const T* g, T* v, const cuda::SgdStepArgs& a) {
  SgdRule<T, kMomentum> r;
  r.p = p;
  r.g = g;
  r.v = v;
  r.wd = static_cast<T>(a.decoupled ? 0.0 : a.weight_decay);
  r.decay = static_cast<T>(a.decoupled ? 1.0 - a.eta * a.weight_decay : 1.0);
  r.mu = static_cast<T>(a.mu);
  r.one_minus_mu = static_cast<T>(a.dampened ? 1.0 - a.mu : 1.0);
  r.eta = static_cast<T>(a.eta);
  return r;
}

/// EF pass 1: g'' = mu buf + g' (stored, kMomentum) or g'; c = lr g'' + e; term |c|.
template <typename T, bool kMomentum>
struct EfPass1Rule {
  const T* p;
  const T* g;
  const T* e;
  T* buf;
  T wd, mu, lr;

  SIGNOPT_HOST_DEVICE void load_scalars() {}

  SIGNOPT_HOST_DEVICE void apply(int64_t i, float, double* term, double*) const {
    T gi = g[i] + p[i] * wd;
    if constexpr (kMomentum) {
      gi = buf[i] * mu + gi;
      buf[i] = gi;
    }
    const T c = gi * lr + e[i];
    *term = std::fabs(static_cast<double>(c));
  }
};

/// EF pass 2: c again from the stored momentum (or g'); Delta = scale sign(c); p = p decay - Delta;
/// e = c - Delta. `scale_ptr` holds ||c||_1 / n from pass 1.
template <typename T, bool kMomentum>
struct EfPass2Rule {
  T* p;
  const T* g;
  T* e;
  const T* buf;
  T wd, decay, lr;
  T scale;
  const double* scale_ptr;

  SIGNOPT_HOST_DEVICE void load_scalars() {
    scale = static_cast<T>(*scale_ptr);
  }

  SIGNOPT_HOST_DEVICE void apply(int64_t i, float, double*, double*) const {
    const T gi = kMomentum ? buf[i] : g[i] + p[i] * wd;
    const T c = gi * lr + e[i];
    const T delta = sgn(c) * scale;
    p[i] = p[i] * decay - delta;
    e[i] = c - delta;
  }
};

/// g' = g + wd p; c = b1 m + (1 - b1) g'; p = p decay - lr sign(c); m = b2 m + (1 - b2) g'.
template <typename T>
struct LionRule {
  T* p;
  const T* g;
  T* m;
  T wd, decay, b1, omb1, b2, omb2, neg_lr;

  SIGNOPT_HOST_DEVICE void load_scalars() {}

  SIGNOPT_HOST_DEVICE void apply(int64_t i, float, double*, double*) const {
    const T gi = g[i] + p[i] * wd;
    const T c = m[i] * b1 + gi * omb1;
    p[i] = p[i] * decay + neg_lr * sgn(c);
    m[i] = m[i] * b2 + gi * omb2;
  }
};

template <typename T>
inline LionRule<T> lion_rule(T* p, const T* g, T* m, const cuda::LionStepArgs& a) {
  LionRule<T> r;
  r.p = p;
  r.g = g;
  r.m = m;
  r.wd = static_cast<T>(a.decoupled ? 0.0 : a.weight_decay);
  r.decay = static_cast<T>(a.decoupled ? 1.0 - a.lr * a.weight_decay : 1.0);
  r.b1 = static_cast<T>(a.beta1);
  r.omb1 = static_cast<T>(1.0 - a.beta1);
  r.b2 = static_cast<T>(a.beta2);
  r.omb2 = static_cast<T>(1.0 - a.beta2);
  r.neg_lr = static_cast<T>(-a.lr);
  return r;
}

// ---- the fixed summation order -------------------------------------------------------------------

/// How the lanes of a chunk and the chunk totals combine: sums, or the max of |x| (the same for any
/// order; NaN terms are skipped as on the CPU).
template <bool kMax>
SIGNOPT_HOST_DEVICE double combine(double total, double v) {
  if constexpr (kMax) {
    return total < v ? v : total; // std::max(total, v)
  } else {
    return total + v;
  }
}

/// chunk_sum8's pairwise combination of the 8 lane accumulators.
template <bool kMax>
SIGNOPT_HOST_DEVICE double combine_lanes(const double acc[kLanes]) {
  return combine<kMax>(
      combine<kMax>(combine<kMax>(acc[0], acc[1]), combine<kMax>(acc[2], acc[3])),
      combine<kMax>(combine<kMax>(acc[4], acc[5]), combine<kMax>(acc[6], acc[7])));
}

/// What a finishing pass computes from the chunk partials (added in chunk order).
enum class Finish { kDitherScale, kCalibration, kEfScale };

/// The result slots from the chunk totals (the CPU kernels' formulas; n == 0 gives base 1).
template <Finish kKind>
SIGNOPT_HOST_DEVICE void finish_results(
    double total0,
    double total1,
    int64_t n,
    int stat,
    double alpha,
    double* results) {
  if constexpr (kKind == Finish::kDitherScale) {
    const double base = n > 0 ? dither_base(total0, stat, n) : 1.0;
    results[kSlotScale] = alpha * base;
  } else if constexpr (kKind == Finish::kCalibration) {
    results[kSlotDot] = total0;
    results[kSlotGg] = total1;
  } else {
    results[kSlotScale] = total0 / static_cast<double>(n > 1 ? n : 1);
  }
}

// ---- the steps' passes over a Backend --------------------------------------------------------------
//
// A Backend provides
//   template <class Rule, bool kNoise> void elementwise(const Rule&, int64_t n, const DrawKey&, bool gaussian, const
//   char* what); template <class Rule, bool kNoise, int kTerms, bool kMax> void reduce(const Rule&, int64_t n, const
//   DrawKey&, bool gaussian, double* workspace, const char* what); template <Finish kKind, bool kMax> void
//   finish(int64_t n, int stat, double alpha, double* workspace, const char* what);
// where reduce leaves per-chunk partials after the result slots and finish folds them in chunk order.

inline void require_workspace(const double* workspace, const char* what) {
  if (workspace == nullptr) {
    throw std::invalid_argument(
        std::string("signopt CUDA: ") + what +
        " needs a workspace of workspace_doubles(n) doubles for its reduction; got nullptr");
  }
}

template <class Backend, typename T, int kMode>
void sign_stats_pass(Backend& b, int stat, T* p, const T* g, T* m, const SignCoeffs<T>& c, int64_t n, double* ws) {
  const char* what = "sign_descent_step (dither statistics)";
  const DrawKey no_key{};
  switch (stat) {
    case 1:
      b.template reduce<SignStatsRule<T, kMode, 1>, false, 1, false>({p, g, m, c}, n, no_key, false, ws, what);
      break;
    case 2:
      b.template reduce<SignStatsRule<T, kMode, 2>, false, 1, true>({p, g, m, c}, n, no_key, false, ws, what);
      break;
    default:
      b.template reduce<SignStatsRule<T, kMode, 3>, false, 1, false>({p, g, m, c}, n, no_key, false, ws, what);
      break;
  }
}

template <class Backend, typename T, int kMode>
void sign_update_pass(
    Backend& b,
    const SignRule<T, kMode>& rule,
    int64_t n,
    bool calibrate,
    bool noise,
    const DrawKey& key,
    bool gaussian,
    double* ws) {
  using Rule = SignRule<T, kMode>;
  const char* what = "sign_descent_step (update)";
  if (calibrate) {
    if (noise) {
      b.template reduce<Rule, true, 2, false>(rule, n, key, gaussian, ws, what);
    } else {
      b.template reduce<Rule, false, 2, false>(rule, n, key, gaussian, ws, what);
    }
    b.template finish<Finish::kCalibration, false>(n, 0, 0.0, ws, "sign_descent_step (calibration sums)");
  } else if (noise) {
    b.template elementwise<Rule, true>(rule, n, key, gaussian, what);
  } else {
    b.template elementwise<Rule, false>(rule, n, key, gaussian, what);
  }
}

/// The CPU kernels' sign_descent_typed: an optional statistics pass (data-dependent dither scale,
/// left on the backend in the scale slot), then the update pass (with the calibration sums).
template <class Backend, typename T>
void sign_descent_passes(
    Backend& b,
    T* p,
    const T* g,
    T* m,
    int64_t n,
    const cuda::SignStepArgs& a,
    bool calibrate,
    double* ws) {
  const DitherArgs& d = a.dither; // the scale enters the statistics passes as its number (1 rms, 2 max, 3 mean|x|)
  SignCoeffs<T> c = sign_coeffs<T>(a);
  int mode = a.beta > 0 ? kUpdateMomentum : kNoMomentum;
  const double* scale_ptr = nullptr;
  if (d.enabled) {
    if (d.scale != DitherScale::Absolute) {
      require_workspace(ws, "sign_descent_step with a data-dependent dither scale");
      const int stats_mode = d.target_gradient ? kNoMomentum : mode;
      if (stats_mode == kUpdateMomentum) {
        sign_stats_pass<Backend, T, kUpdateMomentum>(b, static_cast<int>(d.scale), p, g, m, c, n, ws);
      } else {
        sign_stats_pass<Backend, T, kNoMomentum>(b, static_cast<int>(d.scale), p, g, m, c, n, ws);
      }
      if (d.scale == DitherScale::Max3Sigma) {
        b.template finish<Finish::kDitherScale, true>(n, static_cast<int>(d.scale), d.alpha, ws, "sign_descent_step (dither scale)");
      } else {
        b.template finish<Finish::kDitherScale, false>(n, static_cast<int>(d.scale), d.alpha, ws, "sign_descent_step (dither scale)");
      }
      scale_ptr = ws + kSlotScale;
      if (!d.target_gradient && mode == kUpdateMomentum) {
        mode = kMomentumReady;
      }
    } else {
      (d.target_gradient ? c.s_grad : c.s_x) = static_cast<T>(d.alpha * 1.0);
    }
  }
  if (calibrate) {
    require_workspace(ws, "sign_descent_step with calibration sums");
  }
  const DrawKey key =
      DrawKey::make(d.seed, d.stream, static_cast<uint64_t>(d.step), static_cast<uint64_t>(d.param_index));
  switch (mode) {
    case kUpdateMomentum:
      sign_update_pass<Backend, T, kUpdateMomentum>(
          b, {p, g, m, c, scale_ptr, d.target_gradient}, n, calibrate, d.enabled, key, d.gaussian, ws);
      break;
    case kMomentumReady:
      sign_update_pass<Backend, T, kMomentumReady>(
          b, {p, g, m, c, scale_ptr, d.target_gradient}, n, calibrate, d.enabled, key, d.gaussian, ws);
      break;
    default:
      sign_update_pass<Backend, T, kNoMomentum>(
          b, {p, g, m, c, scale_ptr, d.target_gradient}, n, calibrate, d.enabled, key, d.gaussian, ws);
      break;
  }
}

template <class Backend, typename T>
void sgd_passes(Backend& b, T* p, const T* g, T* v, int64_t n, const cuda::SgdStepArgs& a) {
  const DrawKey no_key{};
  if (a.mu > 0) {
    b.template elementwise<SgdRule<T, true>, false>(sgd_rule<T, true>(p, g, v, a), n, no_key, false, "sgd_step");
  } else {
    b.template elementwise<SgdRule<T, false>, false>(sgd_rule<T, false>(p, g, v, a), n, no_key, false, "sgd_step");
  }
}

template <class Backend, typename T, bool kMomentum>
void ef_passes_typed(Backend& b, T* p, const T* g, T* e, T* buf, int64_t n, const cuda::EfStepArgs& a, double* ws) {
  require_workspace(ws, "ef_sign_sgd_step");
  const T wd = static_cast<T>(a.decoupled ? 0.0 : a.weight_decay);
  const T decay = static_cast<T>(a.decoupled ? 1.0 - a.lr * a.weight_decay : 1.0);
  const T mu = static_cast<T>(a.momentum);
  const T lr = static_cast<T>(a.lr);
  const DrawKey no_key{};
  b.template reduce<EfPass1Rule<T, kMomentum>, false, 1, false>(
      {p, g, e, buf, wd, mu, lr}, n, no_key, false, ws, "ef_sign_sgd_step (pass 1)");
  b.template finish<Finish::kEfScale, false>(n, 0, 0.0, ws, "ef_sign_sgd_step (scale)");
  b.template elementwise<EfPass2Rule<T, kMomentum>, false>(
      {p, g, e, buf, wd, decay, lr, T(0), ws + kSlotScale}, n, no_key, false, "ef_sign_sgd_step (pass 2)");
}

/// The CPU kernels' ef_sign_sgd_step: pass 1 (momentum, sum |c|), the scale, pass 2.
template <class Backend, typename T>
void ef_passes(Backend& b, T* p, const T* g, T* e, T* buf, int64_t n, const cuda::EfStepArgs& a, double* ws) {
  if (a.momentum > 0) {
    ef_passes_typed<Backend, T, true>(b, p, g, e, buf, n, a, ws);
  } else {
    ef_passes_typed<Backend, T, false>(b, p, g, e, buf, n, a, ws);
  }
}

template <class Backend, typename T>
void lion_passes(Backend& b, T* p, const T* g, T* m, int64_t n, const cuda::LionStepArgs& a) {
  b.template elementwise<LionRule<T>, false>(lion_rule<T>(p, g, m, a), n, DrawKey{}, false, "lion_step");
}

/// Calls f(T{}) with T the C++ type of `dtype`.
template <class F>
void with_dtype(cuda::Dtype dtype, F f) {
  if (dtype == cuda::Dtype::kFloat32) {
    f(float{});
  } else {
    f(double{});
  }
}

/// The four steps on untyped pointers, for both backends.
template <class Backend>
struct Steps {
  static void sign_descent(
      Backend& b,
      cuda::Dtype dtype,
      void* p,
      const void* g,
      void* m,
      int64_t n,
      const cuda::SignStepArgs& a,
      bool calibrate,
      double* ws) {
    with_dtype(dtype, [&](auto zero) {
      using T = decltype(zero);
      sign_descent_passes<Backend, T>(
          b, static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(m), n, a, calibrate, ws);
    });
  }
  static void sgd(
      Backend& b,
      cuda::Dtype dtype,
      void* p,
      const void* g,
      void* v,
      int64_t n,
      const cuda::SgdStepArgs& a) {
    with_dtype(dtype, [&](auto zero) {
      using T = decltype(zero);
      sgd_passes<Backend, T>(b, static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(v), n, a);
    });
  }
  static void ef(
      Backend& b,
      cuda::Dtype dtype,
      void* p,
      const void* g,
      void* e,
      void* buf,
      int64_t n,
      const cuda::EfStepArgs& a,
      double* ws) {
    with_dtype(dtype, [&](auto zero) {
      using T = decltype(zero);
      ef_passes<Backend, T>(
          b, static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(e), static_cast<T*>(buf), n, a, ws);
    });
  }
  static void lion(
      Backend& b,
      cuda::Dtype dtype,
      void* p,
      const void* g,
      void* m,
      int64_t n,
      const cuda::LionStepArgs& a) {
    with_dtype(dtype, [&](auto zero) {
      using T = decltype(zero);
      lion_passes<Backend, T>(b, static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(m), n, a);
    });
  }
};

} // namespace signopt::kernels::rules

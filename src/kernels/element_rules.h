// Internal: the fused kernels' per-element update rules, written once. The CPU chunk loops
// (fused_cpu*.cpp), the CUDA kernels (fused_cuda.cu, through fused_rules.h's passes) and the CUDA
// kernels' host model (tests/cuda/host_model.h) all call these functions, so the three perform the
// same operations in the same order, rounded alike: bit-identical results on any device. Torch-free,
// host/device (SIGNOPT_HOST_DEVICE). Compile without floating-point contraction (nvcc -fmad=false,
// g++ -ffp-contract=off).
//
// A rule is a small struct of pointers and coefficients in the parameter type T with
//   void load_scalars();   // reads a data-dependent scalar left on the device by an earlier pass
//   void apply(int64_t i, float noise, double* term0, double* term1) const;
// apply updates element i in place and writes its reduction terms (ignored where a pass sums none).
// Passes and summation orders are in fused_rules.h (CUDA, host model) and fused_cpu*.cpp (CPU).
#pragma once

#include <signopt/kernels/args.h>
#include <signopt/kernels/noise.h>
#include <signopt/kernels/philox.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace signopt::kernels::rules {

template <typename T>
SIGNOPT_HOST_DEVICE T sgn(T x) {
  return static_cast<T>((x > T(0)) - (x < T(0)));
}

/// Coupled weight decay's factor on p in g' = g + wd p (0 when decoupled) and the decoupled factor
/// 1 - lr wd on p (1 when coupled), for a step of rate `lr`.
inline double coupled_wd(double weight_decay, bool decoupled) {
  return decoupled ? 0.0 : weight_decay;
}
inline double decoupled_decay(double lr, double weight_decay, bool decoupled) {
  return decoupled ? 1.0 - lr * weight_decay : 1.0;
}

// ---- sign descent (SignSGD, Signum, the hybrid's sign phase) -------------------------------------

/// How a sign step treats its momentum buffer: none, updated in the update pass, or already updated
/// by a statistics pass (the dither noise goes after the momentum and its scale depends on it).
enum MomentumMode { kNoMomentum = 0, kUpdateMomentum = 1, kMomentumReady = 2 };

/// Calls f(std::integral_constant<int, mode>) for a runtime MomentumMode.
template <class F>
void with_sign_mode(int mode, F f) {
  switch (mode) {
    case kUpdateMomentum:
      return f(std::integral_constant<int, kUpdateMomentum>{});
    case kMomentumReady:
      return f(std::integral_constant<int, kMomentumReady>{});
    default:
      return f(std::integral_constant<int, kNoMomentum>{});
  }
}

/// A sign step's coefficients in the parameter type, converted from SignStepArgs once.
template <typename T>
struct SignCoeffs {
  T wd; // coupled weight decay (0 when decoupled)
  T decay; // decoupled factor 1 - lr wd (1 when coupled)
  T beta, one_minus_beta;
  T neg_lr;
  T s_grad, s_x; // dither scale on the gradient / on the sign argument (0 when unused)
  T inv_s; // the threshold draw: 1 / s (+inf for s = 0)
};

/// How a sign rule draws its dithered sign: the noise argument is unit noise added to x (kAdditive, also without
/// dither) or the threshold draw's level t of the dither's distribution, compared with |x| / s (kThreshold).
enum DrawMode { kAdditive = 0, kThreshold = 1 };

/// 1 / s for the threshold draw (+inf for s = 0, which leaves sign(x)).
template <typename T>
SIGNOPT_HOST_DEVICE T inverse_scale(double s) {
  return s > 0.0 ? static_cast<T>(1.0 / s) : static_cast<T>(INFINITY);
}

/// The noise a sign step's pass draws: the threshold draw's Gaussian or uniform levels, or additive Gaussian or
/// uniform noise.
inline NoiseKind noise_kind(const DitherArgs& d, bool threshold) {
  if (threshold) {
    return d.gaussian ? NoiseKind::ThresholdGaussian : NoiseKind::ThresholdUniform;
  }
  return d.gaussian ? NoiseKind::Gaussian : NoiseKind::Uniform;
}

/// Calls f(std::integral_constant<int, draw>) for the DrawMode of a step: additive or the threshold draw (whose
/// levels carry the dither's distribution: noise_kind).
template <class F>
void with_draw(bool threshold, F f) {
  if (!threshold) {
    return f(std::integral_constant<int, kAdditive>{});
  }
  return f(std::integral_constant<int, kThreshold>{});
}

/// Calls f(std::integral_constant<int, stat>) for a data-dependent scale's statistic (DitherScale's number):
/// 1 sum x^2 (rms), 2 max |x| (max3sigma), 3 sum |x| (meanabs).
template <class F>
void with_stat(int stat, F f) {
  switch (stat) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    default:
      return f(std::integral_constant<int, 3>{});
  }
}

/// The mode of a statistic measured inside an update pass of mode kMode (DitherScaleFrom::Previous): the
/// momentum's (stored by the statistic, then read ready by the update) or the gradient's.
template <int kMode>
constexpr int kStatsModeOf = kMode == kMomentumReady ? kUpdateMomentum : kNoMomentum;

/// With the threshold draw, the step's scale s (on g without momentum, else on x) becomes 1 / s on x, rounded
/// once from the double s (every path: CPU, CUDA, the reference, the Python op).
template <typename T>
void use_threshold_scale(SignCoeffs<T>& c, double s) {
  c.inv_s = inverse_scale<T>(s);
  c.s_grad = T(0);
  c.s_x = T(0);
}

template <typename T>
inline SignCoeffs<T> sign_coeffs(const SignStepArgs& a) {
  SignCoeffs<T> c;
  c.wd = static_cast<T>(coupled_wd(a.weight_decay, a.decoupled));
  c.decay = static_cast<T>(decoupled_decay(a.lr, a.weight_decay, a.decoupled));
  c.beta = static_cast<T>(a.beta);
  c.one_minus_beta = static_cast<T>(1.0 - a.beta);
  c.neg_lr = static_cast<T>(-a.lr);
  c.s_grad = T(0);
  c.s_x = T(0);
  c.inv_s = T(0);
  return c;
}

/// The sign argument x of element i from its gradient gi (weight decay applied) and unit noise z: the
/// dithered gradient gn = gi + s_grad z, or the EMA m = beta m + (1 - beta) gn (stored), or the ready
/// momentum; then x += s_x z.
template <typename T, int kMode>
SIGNOPT_HOST_DEVICE T sign_argument(T gi, T z, T* m, int64_t i, const SignCoeffs<T>& c) {
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
  return x + z * c.s_x;
}

/// The threshold draw's direction of x with 1 / s = inv_s and the element's level t: threshold_sign at
/// a = float(|x| inv_s) (the product in x's type).
template <typename T>
SIGNOPT_HOST_DEVICE T threshold_direction(T x, T inv_s, float t) {
  const float a = static_cast<float>((x < T(0) ? -x : x) * inv_s);
  return threshold_sign(x, a, t);
}

/// The sign step's direction u of element i from g' = gi and the noise argument (see DrawMode): sgn(x + s_x z)
/// with x = sign_argument(gi, z) (kAdditive), or the threshold draw at |x| inv_s with x = sign_argument(gi, 0).
template <typename T, int kMode, int kDraw>
SIGNOPT_HOST_DEVICE T dithered_sign(T gi, float noise, T* m, int64_t i, const SignCoeffs<T>& c) {
  if constexpr (kDraw == kAdditive) {
    return sgn(sign_argument<T, kMode>(gi, static_cast<T>(noise), m, i, c));
  } else {
    return threshold_direction(sign_argument<T, kMode>(gi, T(0), m, i, c), c.inv_s, noise);
  }
}

/// g' = g + wd p; u = dithered_sign(g', noise); p = p decay - lr u. Terms: u g' and g'^2 for the hybrid's
/// calibration.
template <typename T, int kMode, int kDraw = kAdditive>
struct SignRule {
  T* p;
  const T* g;
  T* m;
  SignCoeffs<T> c;
  const double* scale_ptr = nullptr; // a data-dependent dither scale left on the device (CUDA): s = factor * *ptr
  bool scale_on_gradient = false;
  double scale_factor = 1.0; // alpha_t when scale_ptr is a stored base (DitherScaleFrom::Previous)

  SIGNOPT_HOST_DEVICE void load_scalars() {
    if (scale_ptr != nullptr) {
      const double scale = scale_factor * *scale_ptr;
      if constexpr (kDraw != kAdditive) {
        c.inv_s = inverse_scale<T>(scale);
      } else {
        const T s = static_cast<T>(scale);
        if (scale_on_gradient) {
          c.s_grad = s;
        } else {
          c.s_x = s;
        }
      }
    }
  }

  /// x of element i without moving p (the first half of a packed exchange); with the threshold draw, its
  /// drawn sign. kWd: coupled weight decay is on (p is read only then).
  template <bool kWd>
  SIGNOPT_HOST_DEVICE T argument(int64_t i, float noise) const {
    T gi = g[i];
    if constexpr (kWd) {
      gi = gi + p[i] * c.wd;
    }
    if constexpr (kDraw == kAdditive) {
      return sign_argument<T, kMode>(gi, static_cast<T>(noise), m, i, c);
    } else {
      return dithered_sign<T, kMode, kDraw>(gi, noise, m, i, c);
    }
  }

  SIGNOPT_HOST_DEVICE void apply(int64_t i, float noise, double* dot_term, double* gg_term) const {
    const T gi = g[i] + p[i] * c.wd;
    const T u = dithered_sign<T, kMode, kDraw>(gi, noise, m, i, c);
    p[i] = p[i] * c.decay + c.neg_lr * u;
    *dot_term = static_cast<double>(u) * static_cast<double>(gi);
    *gg_term = static_cast<double>(gi) * static_cast<double>(gi);
  }
};

/// The dither statistic of x = g' (kNoMomentum) or of the updated EMA (kUpdateMomentum, stored).
/// kStat is DitherScale's number: 1 (rms) x^2, 2 (max3sigma) |x| combined by max, 3 (meanabs) |x|.
/// Without coupled weight decay g' is g itself and p is not read (as the reference composition computes it): the
/// CPU loops are unswitched on the uniform condition and a CUDA thread branches on it, so a statistics pass reads
/// one array fewer.
template <typename T, int kMode, int kStat>
struct SignStatsRule {
  const T* p;
  const T* g;
  T* m;
  SignCoeffs<T> c;

  SIGNOPT_HOST_DEVICE void load_scalars() {}

  SIGNOPT_HOST_DEVICE T argument(int64_t i) const {
    const T gi = c.wd != T(0) ? g[i] + p[i] * c.wd : g[i];
    if constexpr (kMode == kUpdateMomentum) {
      const T x = m[i] * c.beta + gi * c.one_minus_beta;
      m[i] = x;
      return x;
    } else {
      return gi;
    }
  }

  /// |x| in T (the max statistic's term before its conversion to double, which is exact).
  SIGNOPT_HOST_DEVICE static T magnitude(T x) {
    return x < T(0) ? -x : x;
  }

  SIGNOPT_HOST_DEVICE static double term(T x) {
    if constexpr (kStat == 2) {
      return static_cast<double>(magnitude(x));
    } else {
      const double v = static_cast<double>(x);
      if constexpr (kStat == 1) {
        return v * v;
      } else {
        return v < 0 ? -v : v;
      }
    }
  }

  SIGNOPT_HOST_DEVICE void apply(int64_t i, float, double* term0, double*) const {
    *term0 = term(argument(i));
  }
};

/// The one-pass scale's update (DitherScaleFrom::Previous, CUDA and its host model): element i's statistic
/// term of x by the stats rule (which stores the momentum when the noise goes after it; the sign rule then reads
/// it ready), then the sign rule. Term 0: the statistic's term; term 1: unused.
template <typename T, int kStatsMode, int kStat, int kMode, int kDraw>
struct MeasuredSignRule {
  SignStatsRule<T, kStatsMode, kStat> stats;
  SignRule<T, kMode, kDraw> sign;

  SIGNOPT_HOST_DEVICE void load_scalars() {
    sign.load_scalars();
  }

  SIGNOPT_HOST_DEVICE void apply(int64_t i, float noise, double* term0, double* term1) const {
    *term0 = SignStatsRule<T, kStatsMode, kStat>::term(stats.argument(i));
    double unused0 = 0.0, unused1 = 0.0;
    sign.apply(i, noise, &unused0, &unused1);
    *term1 = 0.0;
  }
};

/// The dither scale's base from the statistic's total over n elements: sqrt(total / n) (rms),
/// total / 3 (max3sigma: total is max |x|), total / n (meanabs).
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
inline SgdRule<T, kMomentum> sgd_rule(T* p, const T* g, T* v, const SgdStepArgs& a) {
  SgdRule<T, kMomentum> r;
  r.p = p;
  r.g = g;
  r.v = v;
  r.wd = static_cast<T>(coupled_wd(a.weight_decay, a.decoupled));
  r.decay = static_cast<T>(decoupled_decay(a.eta, a.weight_decay, a.decoupled));
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

  SIGNOPT_HOST_DEVICE T argument(int64_t i) const {
    T gi = g[i] + p[i] * wd;
    if constexpr (kMomentum) {
      gi = buf[i] * mu + gi;
      buf[i] = gi;
    }
    return gi * lr + e[i];
  }

  SIGNOPT_HOST_DEVICE static double term(T c) {
    return std::fabs(static_cast<double>(c));
  }

  SIGNOPT_HOST_DEVICE void apply(int64_t i, float, double* term0, double*) const {
    *term0 = term(argument(i));
  }
};

/// EF pass 2: c again from the stored momentum (or g'); Delta = scale sign(c); p = p decay - Delta;
/// e = c - Delta. `scale` is ||c||_1 / n from pass 1 (on CUDA read from `scale_ptr` by load_scalars).
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
    if (scale_ptr != nullptr) {
      scale = static_cast<T>(*scale_ptr);
    }
  }

  SIGNOPT_HOST_DEVICE void apply(int64_t i, float, double*, double*) const {
    const T gi = kMomentum ? buf[i] : g[i] + p[i] * wd;
    const T c = gi * lr + e[i];
    const T delta = sgn(c) * scale;
    p[i] = p[i] * decay - delta;
    e[i] = c - delta;
  }
};

/// EF-SignSGD's two passes over (p, g, e, buf); pass 2's scale is set after pass 1's sum.
template <typename T, bool kMomentum>
struct EfRules {
  EfPass1Rule<T, kMomentum> pass1;
  EfPass2Rule<T, kMomentum> pass2;
};

template <typename T, bool kMomentum>
inline EfRules<T, kMomentum> ef_rules(T* p, const T* g, T* e, T* buf, const EfStepArgs& a, const double* scale_ptr) {
  const T wd = static_cast<T>(coupled_wd(a.weight_decay, a.decoupled));
  const T decay = static_cast<T>(decoupled_decay(a.lr, a.weight_decay, a.decoupled));
  const T mu = static_cast<T>(a.momentum);
  const T lr = static_cast<T>(a.lr);
  return {{p, g, e, buf, wd, mu, lr}, {p, g, e, buf, wd, decay, lr, T(0), scale_ptr}};
}

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
inline LionRule<T> lion_rule(T* p, const T* g, T* m, const LionStepArgs& a) {
  LionRule<T> r;
  r.p = p;
  r.g = g;
  r.m = m;
  r.wd = static_cast<T>(coupled_wd(a.weight_decay, a.decoupled));
  r.decay = static_cast<T>(decoupled_decay(a.lr, a.weight_decay, a.decoupled));
  r.b1 = static_cast<T>(a.beta1);
  r.omb1 = static_cast<T>(1.0 - a.beta1);
  r.b2 = static_cast<T>(a.beta2);
  r.omb2 = static_cast<T>(1.0 - a.beta2);
  r.neg_lr = static_cast<T>(-a.lr);
  return r;
}

/// The second half of a packed exchange: p = p decay + neg_lr u with u in {-1, 0, +1} the agreed
/// direction (unpacked into `u`). Terms for the hybrid's calibration, from p before its update:
/// <u, g'> and ||g'||^2 with g' = g + wd p (kWd: coupled decay) or g, when kCalib (g is read only
/// then). CPU only.
template <typename T, bool kCalib, bool kWd>
struct ApplyDirectionRule {
  T* p;
  const T* g;
  const T* u;
  T wd, decay, neg_lr;

  SIGNOPT_HOST_DEVICE void load_scalars() {}

  SIGNOPT_HOST_DEVICE void apply(int64_t i, float, double* dot_term, double* gg_term) const {
    if constexpr (kCalib) {
      T gi = g[i];
      if constexpr (kWd) {
        gi = gi + p[i] * wd;
      }
      *dot_term = static_cast<double>(u[i]) * static_cast<double>(gi);
      *gg_term = static_cast<double>(gi) * static_cast<double>(gi);
    }
    p[i] = p[i] * decay + neg_lr * u[i];
  }
};

} // namespace signopt::kernels::rules

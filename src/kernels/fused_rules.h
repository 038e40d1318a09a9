// Internal: the CUDA kernels' fixed summation order of their reductions and each step's sequence of
// passes, written once over a Backend that runs the passes, around the element rules that the CPU
// kernels share (element_rules.h). src/kernels/fused_cuda.cu runs them as kernels;
// tests/cuda/host_model.h runs them serially on the host, where a CPU-only test checks them against
// the CPU kernels bit for bit. Compile without floating-point contraction (nvcc -fmad=false,
// g++ -ffp-contract=off).
#pragma once

#include <signopt/kernels/fused_cuda.h>
#include "element_rules.h"
#include "half_rules.h"
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
constexpr int64_t kSlotBase = 3; // the one-pass scale's measured base, kept aside while a calibrated pass runs
constexpr int64_t kResultSlots = 4;

SIGNOPT_HOST_DEVICE int64_t chunks_of(int64_t n) {
  return (n + kChunk - 1) / kChunk;
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
//   template <class Rule, bool kNoise> void elementwise(const Rule&, int64_t n, const DrawKey&, NoiseKind, const
//   char* what); template <class Rule, bool kNoise, int kTerms, bool kMax> void reduce(const Rule&, int64_t n, const
//   DrawKey&, NoiseKind, double* workspace, const char* what); void copy_scalar(double* dst, const double* src,
//   const char* what) (one double on the device, in stream order); template <Finish kKind, bool kMax> void
//   finish(int64_t n, int stat, double alpha, double* workspace, const char* what);
// where reduce leaves per-chunk partials after the result slots and finish folds them in chunk order.

inline void require_workspace(const double* workspace, const char* what) {
  if (workspace == nullptr) {
    throw std::invalid_argument(
        std::string("signopt CUDA: ") + what +
        " needs a workspace of workspace_doubles(n) doubles for its reduction; got nullptr");
  }
}

// Every pass below takes a Storage (half_rules.h): Direct runs the rules on float32/float64 arrays as they are,
// Widened runs them on 16-bit arrays through HalfRule (float32 arithmetic, the parameter stored by its rounding).

template <class Backend, typename T, int kMode, class Storage>
void sign_stats_pass(
    Backend& b,
    const Storage& s,
    int stat,
    T* p,
    const T* g,
    T* m,
    const SignCoeffs<T>& c,
    int64_t n,
    double* ws) {
  const char* what = "sign_descent_step (dither statistics)";
  const DrawKey no_key{};
  const NoiseKind none = NoiseKind::Gaussian; // unused: no noise
  with_stat(stat, [&](auto stat_constant) {
    constexpr int kStat = decltype(stat_constant)::value;
    auto rule = s.template wrap<false>(SignStatsRule<T, kMode, kStat>{p, g, m, c});
    b.template reduce<decltype(rule), false, 1, kStat == 2>(rule, n, no_key, none, ws, what);
  });
}

template <class Backend, class Rule>
void sign_update_pass(
    Backend& b,
    const Rule& rule,
    int64_t n,
    bool calibrate,
    bool noise,
    const DrawKey& key,
    NoiseKind kind,
    double* ws) {
  const char* what = "sign_descent_step (update)";
  if (calibrate) {
    if (noise) {
      b.template reduce<Rule, true, 2, false>(rule, n, key, kind, ws, what);
    } else {
      b.template reduce<Rule, false, 2, false>(rule, n, key, kind, ws, what);
    }
    b.template finish<Finish::kCalibration, false>(n, 0, 0.0, ws, "sign_descent_step (calibration sums)");
  } else if (noise) {
    b.template elementwise<Rule, true>(rule, n, key, kind, what);
  } else {
    b.template elementwise<Rule, false>(rule, n, key, kind, what);
  }
}

// The one-pass scale's update pass without calibration (DitherScaleFrom::Previous): MeasuredSignRule reduced to
// its statistic, then base(x_t) into the result slot kSlotScale (finish with alpha 1).
template <class Backend, typename T, int kMode, int kDraw, class Storage>
void measured_update_pass(
    Backend& b,
    const Storage& s,
    const SignRule<T, kMode, kDraw>& rule,
    int stat,
    int64_t n,
    const DrawKey& key,
    NoiseKind kind,
    double* ws) {
  const char* what = "sign_descent_step (update, measuring the dither scale)";
  with_stat(stat, [&](auto stat_constant) {
    constexpr int kStat = decltype(stat_constant)::value;
    using Rule = MeasuredSignRule<T, kStatsModeOf<kMode>, kStat, kMode, kDraw>;
    auto measured = s.template wrap<true>(Rule{{rule.p, rule.g, rule.m, rule.c}, rule});
    b.template reduce<decltype(measured), true, 1, kStat == 2>(measured, n, key, kind, ws, what);
    b.template finish<Finish::kDitherScale, kStat == 2>(n, kStat, 1.0, ws, "sign_descent_step (the measured base)");
  });
}

// The finish of a data-dependent scale's statistic: alpha * base in kSlotScale.
template <class Backend>
void scale_finish(Backend& b, const DitherArgs& d, double alpha, int64_t n, double* ws) {
  if (d.scale == DitherScale::Max3Sigma) {
    b.template finish<Finish::kDitherScale, true>(
        n, static_cast<int>(d.scale), alpha, ws, "sign_descent_step (dither scale)");
  } else {
    b.template finish<Finish::kDitherScale, false>(
        n, static_cast<int>(d.scale), alpha, ws, "sign_descent_step (dither scale)");
  }
}

// The statistics pass of a data-dependent scale in `stats_mode`, then its finish: alpha * base in kSlotScale.
template <class Backend, typename T, class Storage>
void scale_stats(
    Backend& b,
    const Storage& s,
    const DitherArgs& d,
    int stats_mode,
    double alpha,
    T* p,
    const T* g,
    T* m,
    const SignCoeffs<T>& c,
    int64_t n,
    double* ws) {
  if (stats_mode == kUpdateMomentum) {
    sign_stats_pass<Backend, T, kUpdateMomentum>(b, s, static_cast<int>(d.scale), p, g, m, c, n, ws);
  } else {
    sign_stats_pass<Backend, T, kNoMomentum>(b, s, static_cast<int>(d.scale), p, g, m, c, n, ws);
  }
  scale_finish(b, d, alpha, n, ws);
}

/// The CPU kernels' sign_descent_typed: an optional statistics pass (data-dependent dither scale,
/// left on the backend in the scale slot), then the update pass (with the calibration sums); under
/// DitherScaleFrom::Previous the update pass measures the statistic for the next step (measured_update_pass).
/// On 16-bit storage (Widened; T float, p, g and m null: the storage holds the arrays) a statistics pass
/// does not keep a 16-bit momentum's update, so the update pass computes the EMA again (the CPU's 16-bit rule).
template <class Backend, typename T, class Storage>
void sign_descent_passes(
    Backend& b,
    const Storage& st,
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
  // DitherScaleFrom::Previous: store base(x_t); from the second step on, s = alpha * the stored base.
  const bool store = previous_scale(d) && n > 0;
  const bool one_pass = store && d.scale_state_ready;
  const double* scale_ptr = nullptr;
  double scale_factor = 1.0;
  double host_scale = 0.0; // the absolute scale's s (a data-dependent one stays on the device: scale_ptr)
  if (d.enabled) {
    if (d.scale != DitherScale::Absolute) {
      require_workspace(ws, "sign_descent_step with a data-dependent dither scale");
      const int stats_mode = d.target_gradient ? kNoMomentum : mode;
      if (one_pass) {
        scale_ptr = d.scale_state;
        scale_factor = d.alpha;
        if (calibrate) {
          // Three terms do not fit one reduction: measure first (storing the momentum), keep base(x_t) aside.
          scale_stats(b, st, d, stats_mode, 1.0, p, g, m, c, n, ws);
          b.copy_scalar(ws + kSlotBase, ws + kSlotScale, "sign_descent_step (the measured base)");
        }
      } else {
        if (store) {
          scale_stats(b, st, d, stats_mode, 1.0, p, g, m, c, n, ws);
          b.copy_scalar(d.scale_state, ws + kSlotScale, "sign_descent_step (the stored base)");
          scale_finish(b, d, d.alpha, n, ws);
        } else {
          scale_stats(b, st, d, stats_mode, d.alpha, p, g, m, c, n, ws);
        }
        scale_ptr = ws + kSlotScale;
      }
      // The momentum is ready for the update when a statistics pass kept it, or when the one-pass update measures
      // it itself (MeasuredSignRule updates it before the sign reads it).
      if (!d.target_gradient && mode == kUpdateMomentum &&
          (Storage::stats_keeps_momentum || (one_pass && !calibrate))) {
        mode = kMomentumReady;
      }
    } else {
      host_scale = d.alpha * 1.0;
      (d.target_gradient ? c.s_grad : c.s_x) = static_cast<T>(host_scale);
    }
  }
  if (calibrate) {
    require_workspace(ws, "sign_descent_step with calibration sums");
  }
  const DrawKey key =
      DrawKey::make(d.seed, d.stream, static_cast<uint64_t>(d.step), static_cast<uint64_t>(d.param_index));
  const bool measure = one_pass && !calibrate;
  const int stat = static_cast<int>(d.scale);
  const bool threshold = threshold_applies(d, a.beta);
  if (threshold) {
    // Only the sign reads the noise: the scale goes to 1 / s on x (with no momentum, noise on g is noise on x);
    // a data-dependent scale is set by load_scalars, from the device's double s.
    use_threshold_scale(c, host_scale);
  }
  const NoiseKind kind = noise_kind(d, threshold);
  with_sign_mode(mode, [&](auto mode_constant) {
    with_draw(threshold, [&](auto draw_constant) {
      constexpr int kMode = decltype(mode_constant)::value;
      constexpr int kDraw = decltype(draw_constant)::value;
      // (A threshold rule's load_scalars sets 1 / s whatever the target.)
      const SignRule<T, kMode, kDraw> rule{p, g, m, c, scale_ptr, d.target_gradient, scale_factor};
      if (measure) {
        measured_update_pass<Backend, T, kMode, kDraw>(b, st, rule, stat, n, key, kind, ws);
        b.copy_scalar(d.scale_state, ws + kSlotScale, "sign_descent_step (the stored base)");
      } else {
        sign_update_pass(b, st.template wrap<true>(rule), n, calibrate, d.enabled, key, kind, ws);
        if (one_pass) {
          b.copy_scalar(d.scale_state, ws + kSlotBase, "sign_descent_step (the stored base)");
        }
      }
    });
  });
}

template <class Backend, typename T, class Storage>
void sgd_passes(Backend& b, const Storage& st, T* p, const T* g, T* v, int64_t n, const cuda::SgdStepArgs& a) {
  const DrawKey no_key{};
  if (a.mu > 0) {
    auto rule = st.template wrap<true>(sgd_rule<T, true>(p, g, v, a));
    b.template elementwise<decltype(rule), false>(rule, n, no_key, NoiseKind::Gaussian, "sgd_step");
  } else {
    auto rule = st.template wrap<true>(sgd_rule<T, false>(p, g, v, a));
    b.template elementwise<decltype(rule), false>(rule, n, no_key, NoiseKind::Gaussian, "sgd_step");
  }
}

template <class Backend, typename T, bool kMomentum>
void ef_passes_typed(Backend& b, T* p, const T* g, T* e, T* buf, int64_t n, const cuda::EfStepArgs& a, double* ws) {
  require_workspace(ws, "ef_sign_sgd_step");
  const EfRules<T, kMomentum> r = ef_rules<T, kMomentum>(p, g, e, buf, a, ws + kSlotScale);
  const DrawKey no_key{};
  b.template reduce<EfPass1Rule<T, kMomentum>, false, 1, false>(
      r.pass1, n, no_key, NoiseKind::Gaussian, ws, "ef_sign_sgd_step (pass 1)");
  b.template finish<Finish::kEfScale, false>(n, 0, 0.0, ws, "ef_sign_sgd_step (scale)");
  b.template elementwise<EfPass2Rule<T, kMomentum>, false>(
      r.pass2, n, no_key, NoiseKind::Gaussian, "ef_sign_sgd_step (pass 2)");
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
  b.template elementwise<LionRule<T>, false>(lion_rule<T>(p, g, m, a), n, DrawKey{}, NoiseKind::Gaussian, "lion_step");
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

/// Calls f(Widened<type, half_momentum>{p, g, m, store}) for a 16-bit step's runtime type and momentum dtype.
template <class F>
void with_widened(
    HalfType type,
    bool half_momentum,
    uint16_t* p,
    const uint16_t* g,
    void* m,
    const HalfStore& store,
    F f) {
  const auto typed = [&](auto type_constant) {
    constexpr HalfType kType = decltype(type_constant)::value;
    if (half_momentum) {
      f(Widened<kType, true>{p, g, m, store});
    } else {
      f(Widened<kType, false>{p, g, m, store});
    }
  };
  if (type == HalfType::kBFloat16) {
    typed(std::integral_constant<HalfType, HalfType::kBFloat16>{});
  } else {
    typed(std::integral_constant<HalfType, HalfType::kFloat16>{});
  }
}

/// The stored parameter's rounding of a 16-bit step.
inline HalfStore half_store(const RoundingArgs& r) {
  return {half::rounding_key(r.seed, r.step, r.param_index), r.stochastic};
}

/// The steps on untyped pointers, for both backends: float32/float64 (Dtype) and 16-bit (HalfType; the momentum
/// float32 or, with half_momentum, of the parameter's type).
template <class Backend>
struct Steps {
  static void sign_descent_half(
      Backend& b,
      HalfType type,
      bool half_momentum,
      uint16_t* p,
      const uint16_t* g,
      void* m,
      int64_t n,
      const cuda::SignStepArgs& a,
      bool calibrate,
      double* ws) {
    with_widened(type, half_momentum, p, g, a.beta > 0 ? m : nullptr, half_store(a.rounding), [&](const auto& st) {
      sign_descent_passes<Backend, float>(b, st, nullptr, nullptr, nullptr, n, a, calibrate, ws);
    });
  }
  static void sgd_half(
      Backend& b,
      HalfType type,
      bool half_momentum,
      uint16_t* p,
      const uint16_t* g,
      void* v,
      int64_t n,
      const cuda::SgdStepArgs& a) {
    with_widened(type, half_momentum, p, g, a.mu > 0 ? v : nullptr, half_store(a.rounding), [&](const auto& st) {
      sgd_passes<Backend, float>(b, st, nullptr, nullptr, nullptr, n, a);
    });
  }
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
          b, Direct{}, static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(m), n, a, calibrate, ws);
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
      sgd_passes<Backend, T>(b, Direct{}, static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(v), n, a);
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

// The annealing of the pre-sign dither (docs/algorithms.md section 3): alpha_t as a pure function of the
// schedule's parameters and the tick t0. Torch-free and header-only: the optimizers (signopt::dither_alpha)
// and the Python package's custom operators (python/csrc/signopt_ops.cpp) both compute alpha_t here.
#pragma once

#include <signopt/kernels/enums.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace signopt::kernels {

/// The parameters of a dither schedule (DitherOptions' alpha, schedule, gamma, alpha_min, horizon, decay_rate).
struct DitherScheduleArgs {
  DitherSchedule schedule = DitherSchedule::Power;
  double alpha = 1.0; ///< alpha at t0 = 0
  double gamma = 0.55; ///< Power: the noise variance decays as (1 + t0)^-gamma
  double alpha_min = 0.0; ///< Linear and Cosine: the final alpha
  int64_t horizon = 0; ///< Linear and Cosine: the length in ticks (> 0)
  double decay_rate = 0.999; ///< Exponential: the per-tick factor, in (0, 1]
};

/// alpha_t for tick t0 (negative ticks count as 0).
inline double dither_alpha(const DitherScheduleArgs& o, int64_t t0) {
  const double t = static_cast<double>(std::max<int64_t>(t0, 0));
  switch (o.schedule) {
    case DitherSchedule::Constant:
      return o.alpha;
    case DitherSchedule::Power:
      return o.alpha / std::pow(1.0 + t, o.gamma / 2.0);
    case DitherSchedule::Linear: {
      const double frac = std::min(t / static_cast<double>(o.horizon), 1.0);
      return o.alpha + (o.alpha_min - o.alpha) * frac;
    }
    case DitherSchedule::Cosine: {
      const double frac = std::min(t / static_cast<double>(o.horizon), 1.0);
      return o.alpha_min + (o.alpha - o.alpha_min) * 0.5 * (1.0 + std::cos(M_PI * frac));
    }
    case DitherSchedule::Exponential:
      return o.alpha * std::pow(o.decay_rate, t);
  }
  return o.alpha;
}

} // namespace signopt::kernels

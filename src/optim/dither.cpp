// Pre-sign dithering: schedule, scale and counter-based noise (algorithms.md section 3).
#include <signopt/kernels/reference.h>
#include <signopt/optim/common.h>
#include <signopt/optim/dither.h>

#include <algorithm>
#include <cmath>

namespace signopt {

void DitherOptions::validate(const std::string& owner) const {
  const std::string who = owner + " dither";
  detail::check_arg(std::isfinite(alpha()) && alpha() >= 0, who, "alpha must be >= 0, got ", alpha());
  detail::check_arg(std::isfinite(gamma()) && gamma() >= 0, who, "gamma must be >= 0, got ", gamma());
  detail::check_arg(std::isfinite(alpha_min()) && alpha_min() >= 0, who, "alpha_min must be >= 0, got ", alpha_min());
  detail::check_arg(decay_rate() > 0 && decay_rate() <= 1, who, "decay_rate must be in (0, 1], got ", decay_rate());
  detail::check_arg(stream() >= 0, who, "stream must be >= 0, got ", stream());
  if (schedule() == DitherSchedule::Linear || schedule() == DitherSchedule::Cosine) {
    detail::check_arg(
        horizon() > 0,
        who,
        "horizon must be > 0 for the ",
        to_string(schedule()),
        " schedule, got ",
        horizon(),
        " (set DitherOptions().horizon(T), T in steps or epochs)");
  }
}

double dither_alpha(const DitherOptions& o, int64_t t0) {
  const double t = static_cast<double>(std::max<int64_t>(t0, 0));
  switch (o.schedule()) {
    case DitherSchedule::Constant:
      return o.alpha();
    case DitherSchedule::Power:
      return o.alpha() / std::pow(1.0 + t, o.gamma() / 2.0);
    case DitherSchedule::Linear: {
      const double frac = std::min(t / static_cast<double>(o.horizon()), 1.0);
      return o.alpha() + (o.alpha_min() - o.alpha()) * frac;
    }
    case DitherSchedule::Cosine: {
      const double frac = std::min(t / static_cast<double>(o.horizon()), 1.0);
      return o.alpha_min() + (o.alpha() - o.alpha_min()) * 0.5 * (1.0 + std::cos(M_PI * frac));
    }
    case DitherSchedule::Exponential:
      return o.alpha() * std::pow(o.decay_rate(), t);
  }
  return o.alpha();
}

double dither_base(const torch::Tensor& x, DitherScale scale) {
  return kernels::reference::dither_base(x, scale);
}

torch::Tensor dither_noise(const torch::Tensor& like, const DitherOptions& o, int64_t step, int64_t param_index) {
  return kernels::reference::dither_noise(
      like, o.seed(), static_cast<uint64_t>(o.stream()), o.distribution() == DitherDistribution::Gaussian, step, param_index);
}

torch::Tensor add_dither(
    const torch::Tensor& x,
    const DitherOptions& o,
    int64_t step,
    int64_t tick,
    int64_t param_index,
    double* scale_out) {
  return kernels::reference::add_dither(x, detail::fused_dither_args(o, tick, step, param_index), scale_out);
}

} // namespace signopt

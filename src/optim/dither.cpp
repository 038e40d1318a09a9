// Pre-sign dithering: schedule, scale and counter-based noise (algorithms.md section 3).
#include <signopt/kernels/dither_schedule.h>
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
  kernels::DitherScheduleArgs a;
  a.schedule = o.schedule();
  a.alpha = o.alpha();
  a.gamma = o.gamma();
  a.alpha_min = o.alpha_min();
  a.horizon = o.horizon();
  a.decay_rate = o.decay_rate();
  return kernels::dither_alpha(a, t0);
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

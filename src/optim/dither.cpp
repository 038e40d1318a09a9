// Pre-sign dithering: schedule, scale and counter-based noise (algorithms.md section 3).
#include <signopt/kernels/noise.h>
#include <signopt/kernels/philox.h>
#include <signopt/kernels/reductions.h>
#include <signopt/optim/common.h>
#include <signopt/optim/dither.h>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

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
  const double n = static_cast<double>(x.numel());
  if (scale == DitherScale::Absolute) {
    return 1.0;
  }
  if (n == 0) {
    return 0.0;
  }
  switch (scale) {
    case DitherScale::Rms:
      return std::sqrt(kernels::sum_sq(x) / n);
    case DitherScale::Max3Sigma:
      return kernels::max_abs(x) / 3.0;
    case DitherScale::MeanAbs:
      return kernels::sum_abs(x) / n;
    case DitherScale::Absolute:
      break;
  }
  return 1.0;
}

torch::Tensor dither_noise(const torch::Tensor& like, const DitherOptions& o, int64_t step, int64_t param_index) {
  auto cpu = torch::empty(like.sizes(), like.options().device(torch::kCPU).memory_format(at::MemoryFormat::Contiguous));
  const auto key = kernels::DrawKey::make(o.seed(), static_cast<uint64_t>(o.stream()), step, param_index);
  const bool gaussian = o.distribution() == DitherDistribution::Gaussian;
  const int64_t n = cpu.numel();
  const int64_t blocks = (n + 3) / 4;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, cpu.scalar_type(), "signopt_dither_noise", [&] {
    scalar_t* out = cpu.data_ptr<scalar_t>();
    at::parallel_for(0, blocks, 1024, [&](int64_t begin, int64_t end) {
      float values[4];
      for (int64_t b = begin; b < end; ++b) {
        const auto bits = key.block(static_cast<uint64_t>(b));
        if (gaussian) {
          kernels::noise_gaussian4(bits, values);
        } else {
          kernels::noise_uniform4(bits, values);
        }
        const int64_t base = b * 4;
        const int lanes = static_cast<int>(std::min<int64_t>(4, n - base));
        for (int lane = 0; lane < lanes; ++lane) {
          out[base + lane] = static_cast<scalar_t>(values[lane]);
        }
      }
    });
  });
  return like.device().is_cpu() ? cpu : cpu.to(like.device());
}

torch::Tensor add_dither(
    const torch::Tensor& x,
    const DitherOptions& o,
    int64_t step,
    int64_t tick,
    int64_t param_index,
    double* scale_out) {
  const double s = dither_alpha(o, tick) * dither_base(x, o.scale());
  if (scale_out != nullptr) {
    *scale_out = s;
  }
  // Two separately rounded operations (no fused multiply-add), as in the fused kernels.
  return x + dither_noise(x, o, step, param_index) * s;
}

} // namespace signopt

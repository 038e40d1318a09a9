// Shared pieces of the signopt optimizers: checks, the sign direction, serialization helpers.
#include <signopt/kernels/reductions.h>
#include <signopt/optim/common.h>

#include <cmath>
#include <limits>

namespace signopt {

namespace detail {

void check_common(
    const std::string& owner,
    double lr,
    double weight_decay,
    const std::optional<DitherOptions>& dither) {
  check_arg(std::isfinite(lr) && lr > 0, owner, "lr must be > 0, got ", lr);
  check_arg(std::isfinite(weight_decay) && weight_decay >= 0, owner, "weight_decay must be >= 0, got ", weight_decay);
  if (dither) {
    dither->validate(owner);
  }
}

kernels::DitherArgs fused_dither_args(
    const std::optional<DitherOptions>& dither,
    int64_t tick,
    int64_t step,
    int64_t param_index) {
  kernels::DitherArgs a;
  if (!dither) {
    return a;
  }
  a.enabled = true;
  a.gaussian = dither->distribution() == DitherDistribution::Gaussian;
  a.target_gradient = dither->target() == DitherTarget::Gradient;
  a.draw = dither->draw();
  a.scale_from = dither->scale_from();
  a.scale = dither->scale();
  a.alpha = dither_alpha(*dither, tick);
  a.seed = dither->seed();
  a.stream = static_cast<uint64_t>(dither->stream());
  a.step = step;
  a.param_index = param_index;
  return a;
}

void attach_scale_state(kernels::DitherArgs& a, torch::Tensor& base, const torch::Tensor& p) {
  if (!a.enabled || a.scale == DitherScale::Absolute || a.scale_from != DitherScaleFrom::Previous) {
    return;
  }
  check_arg(
      p.device().is_cpu(),
      "DitherOptions",
      "scale_from(DitherScaleFrom::Previous) needs CPU parameters for now; got a parameter on ",
      p.device(),
      " (use DitherScaleFrom::Current)");
  if (!base.defined()) {
    base = torch::full({1}, std::numeric_limits<double>::quiet_NaN(), torch::kDouble);
  }
  check_arg(
      base.device().is_cpu() && base.scalar_type() == torch::kDouble && base.numel() == 1,
      "optimizer state",
      "dither_base must be one float64 CPU value, got ",
      base.sizes(),
      " ",
      base.scalar_type(),
      " on ",
      base.device());
  a.scale_state = base.data_ptr<double>();
  a.scale_state_ready = std::isfinite(*a.scale_state);
}

bool SignoptOptimizer::grad_is_finite(const torch::Tensor& g) {
  return kernels::all_finite(g);
}

void SignoptOptimizer::save_common(torch::serialize::OutputArchive& archive) const {
  write_int(archive, "signopt/skipped_steps", skipped_steps_);
  write_int(archive, "signopt/epoch", epoch_);
  write_double(archive, "signopt/last_dither_alpha", last_dither_alpha_);
}

void SignoptOptimizer::load_common(torch::serialize::InputArchive& archive) {
  skipped_steps_ = read_int(archive, "signopt/skipped_steps", 0);
  epoch_ = read_int(archive, "signopt/epoch", 0);
  last_dither_alpha_ = read_double(archive, "signopt/last_dither_alpha", 0.0);
}

void write_double(torch::serialize::OutputArchive& a, const std::string& key, double v) {
  a.write(key, c10::IValue(v));
}

void write_int(torch::serialize::OutputArchive& a, const std::string& key, int64_t v) {
  a.write(key, c10::IValue(v));
}

double read_double(torch::serialize::InputArchive& a, const std::string& key, double fallback) {
  c10::IValue v;
  return a.try_read(key, v) ? v.toDouble() : fallback;
}

int64_t read_int(torch::serialize::InputArchive& a, const std::string& key, int64_t fallback) {
  c10::IValue v;
  return a.try_read(key, v) ? v.toInt() : fallback;
}

// An enum stored as its code (`fallback` when the key is absent); a code outside E's table is refused with the
// key, the valid codes and the value found.
template <class E>
E read_enum(torch::serialize::InputArchive& a, const std::string& key, E fallback) {
  const int64_t code = read_int(a, key, static_cast<int64_t>(fallback));
  std::string valid;
  for (const auto& [value, name] : EnumNames<E>::table) {
    if (static_cast<int64_t>(value) == code) {
      return value;
    }
    valid += (valid.empty() ? "" : ", ") + std::to_string(static_cast<int64_t>(value)) + " (" + name + ")";
  }
  check_arg(
      false,
      "checkpoint",
      key,
      " must be one of ",
      valid,
      ", got ",
      code,
      "; the file is damaged or from a newer signopt");
  return fallback;
}

torch::Tensor zero_momentum(const torch::Tensor& p, MomentumDtype dtype) {
  const bool half = kernels::half_type_of(p.scalar_type()).has_value();
  const auto type = half && dtype == MomentumDtype::Float32 ? torch::kFloat : p.scalar_type();
  return torch::zeros_like(p, p.options().dtype(type), at::MemoryFormat::Preserve);
}

kernels::RoundingArgs rounding_args(Rounding rounding, uint64_t seed, int64_t step, int64_t param_index) {
  return {rounding == Rounding::Stochastic, seed, step, param_index};
}

void write_rounding(torch::serialize::OutputArchive& a, Rounding rounding, uint64_t seed) {
  write_int(a, "rounding", static_cast<int64_t>(rounding));
  write_int(a, "rounding_seed", static_cast<int64_t>(seed)); // bit for bit in an int64, as the dither seed
}

void read_rounding(torch::serialize::InputArchive& a, Rounding& rounding, uint64_t& seed) {
  rounding = read_enum(a, "rounding", Rounding::Stochastic);
  seed = static_cast<uint64_t>(read_int(a, "rounding_seed", 0));
}

void write_momentum_dtype(torch::serialize::OutputArchive& a, MomentumDtype dtype) {
  write_int(a, "momentum_dtype", static_cast<int64_t>(dtype));
}

MomentumDtype read_momentum_dtype(torch::serialize::InputArchive& a) {
  return read_enum(a, "momentum_dtype", MomentumDtype::Float32);
}

void write_dither(torch::serialize::OutputArchive& a, const std::optional<DitherOptions>& d) {
  write_int(a, "dither_enabled", d.has_value() ? 1 : 0);
  if (!d) {
    return;
  }
  write_double(a, "dither_alpha", d->alpha());
  write_int(a, "dither_scale", static_cast<int64_t>(d->scale()));
  write_int(a, "dither_schedule", static_cast<int64_t>(d->schedule()));
  write_double(a, "dither_gamma", d->gamma());
  write_double(a, "dither_alpha_min", d->alpha_min());
  write_int(a, "dither_horizon", d->horizon());
  write_double(a, "dither_decay_rate", d->decay_rate());
  write_int(a, "dither_distribution", static_cast<int64_t>(d->distribution()));
  write_int(a, "dither_target", static_cast<int64_t>(d->target()));
  write_int(a, "dither_draw", static_cast<int64_t>(d->draw()));
  write_int(a, "dither_scale_from", static_cast<int64_t>(d->scale_from()));
  write_int(a, "dither_clock", static_cast<int64_t>(d->clock()));
  // The seed is a full 64-bit unsigned value: stored bit for bit in an int64.
  write_int(a, "dither_seed", static_cast<int64_t>(d->seed()));
  write_int(a, "dither_stream", d->stream());
}

std::optional<DitherOptions> read_dither(torch::serialize::InputArchive& a) {
  if (read_int(a, "dither_enabled", 0) == 0) {
    return std::nullopt;
  }
  DitherOptions d;
  d.alpha(read_double(a, "dither_alpha", d.alpha()));
  d.scale(read_enum(a, "dither_scale", d.scale()));
  d.schedule(read_enum(a, "dither_schedule", d.schedule()));
  d.gamma(read_double(a, "dither_gamma", d.gamma()));
  d.alpha_min(read_double(a, "dither_alpha_min", d.alpha_min()));
  d.horizon(read_int(a, "dither_horizon", d.horizon()));
  d.decay_rate(read_double(a, "dither_decay_rate", d.decay_rate()));
  d.distribution(read_enum(a, "dither_distribution", d.distribution()));
  d.target(read_enum(a, "dither_target", d.target()));
  // Checkpoints written before these options existed drew additively and measured the current step.
  d.draw(read_enum(a, "dither_draw", DitherDraw::Additive));
  d.scale_from(read_enum(a, "dither_scale_from", DitherScaleFrom::Current));
  d.clock(read_enum(a, "dither_clock", d.clock()));
  d.seed(static_cast<uint64_t>(read_int(a, "dither_seed", 0)));
  d.stream(read_int(a, "dither_stream", 0));
  return d;
}

} // namespace detail
} // namespace signopt

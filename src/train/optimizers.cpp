// The optimizer factory and the learning-rate schedule of the trainer.
#include <signopt/optim/factory.h>
#include <signopt/train/optimizers.h>

#include <cmath>
#include <stdexcept>

namespace signopt::train {
namespace {

// A config value that names an enum value (the option table admits only the enum's names, so a failure here
// is a config that bypassed the table: said loudly, never a silent default).
template <class E>
E parse(const std::string& text, const char* key) {
  try {
    return parse_enum<E>(text);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("--") + key + ": " + e.what());
  }
}

DitherOptions dither_options(const TrainConfig& c, int64_t total_steps) {
  DitherOptions d;
  d.alpha(c.dither_alpha).gamma(c.dither_gamma).alpha_min(c.dither_alpha_min).decay_rate(c.dither_decay_rate);
  d.seed(c.dither_seed.value_or(c.seed));
  d.scale(parse<DitherScale>(c.dither_scale, "dither-scale"));
  d.schedule(parse<DitherSchedule>(c.dither_schedule, "dither-schedule"));
  d.distribution(parse<DitherDistribution>(c.dither_distribution, "dither-distribution"));
  d.target(parse<DitherTarget>(c.dither_target, "dither-target"));
  d.draw(parse<DitherDraw>(c.dither_draw, "dither-draw"));
  d.scale_from(parse<DitherScaleFrom>(c.dither_scale_from, "dither-scale-from"));
  const DitherClock clock = parse<DitherClock>(c.dither_clock, "dither-clock");
  d.clock(clock);
  // Linear/cosine schedules anneal over the whole run unless a horizon is given.
  d.horizon(c.dither_horizon > 0 ? c.dither_horizon : (clock == DitherClock::Epoch ? c.epochs : total_steps));
  return d;
}

// The hybrid's own options of the config (lr, betas, eps, decay, dither and policy come from the settings).
HybridSignSGDOptions hybrid_options(const TrainConfig& c, int64_t steps_per_epoch) {
  HybridSignSGDOptions o;
  o.bias_correction(c.bias_correction)
      .calibration(parse<CalibrationEstimator>(c.calibration, "calibration"))
      .calibration_scope(parse<CalibrationScope>(c.calibration_scope, "calibration-scope"))
      .calibration_scale(c.calibration_scale)
      .fixed_lr(c.fixed_lr)
      .auto_criterion(parse<SwitchCriterion>(c.auto_criterion, "auto-criterion"))
      .post_switch_momentum(c.post_switch_momentum)
      .post_switch_convention(parse<SgdConvention>(c.post_switch_convention, "post-switch-convention"))
      .post_switch_init(parse<SgdMomentumInit>(c.post_switch_init, "post-switch-init"))
      .handover_steps(c.handover_steps)
      .fallback_lr(c.fallback_lr)
      .track_after_switch(c.track_after_switch);
  switch (parse<SwitchTrigger>(c.switch_trigger, "switch-trigger")) {
    case SwitchTrigger::Step:
      o.switch_at_step(c.switch_step);
      break;
    case SwitchTrigger::Epoch:
      o.switch_at_epoch(c.switch_epoch, steps_per_epoch);
      break;
    case SwitchTrigger::Auto:
      o.switch_auto(c.auto_tol);
      break;
    case SwitchTrigger::Never:
      o.switch_never();
      break;
  }
  return o;
}

} // namespace

OptimizerSettings optimizer_settings(
    const TrainConfig& c,
    int64_t steps_per_epoch,
    int64_t total_steps,
    int64_t dither_stream) {
  OptimizerSettings s;
  s.lr = c.lr.value();
  s.momentum = c.momentum.value();
  s.beta1 = c.beta1.value();
  s.beta2 = c.beta2.value();
  s.eps = c.eps.value();
  s.weight_decay = c.weight_decay;
  s.decoupled_weight_decay = c.decoupled_weight_decay.value_or(false);
  s.nesterov = c.nesterov;
  s.dampening = c.dampening;
  s.nonfinite = parse<NonFinitePolicy>(c.nonfinite, "nonfinite");
  if (c.dither)
    s.dither = dither_options(c, total_steps).stream(dither_stream);
  s.rounding = parse<Rounding>(c.rounding, "rounding");
  s.rounding_seed = c.rounding_seed.value_or(c.seed);
  s.momentum_dtype = parse<MomentumDtype>(c.momentum_dtype, "momentum-dtype");
  s.log_calibration = c.log_calibration;
  s.hybrid = hybrid_options(c, steps_per_epoch);
  return s;
}

OptimizerHandle make_optimizer(
    const TrainConfig& c,
    std::vector<torch::Tensor> params,
    int64_t steps_per_epoch,
    int64_t total_steps,
    int64_t dither_stream) {
  return optimizer_row(c).make(std::move(params), optimizer_settings(c, steps_per_epoch, total_steps, dither_stream));
}

double scheduled_lr(const TrainConfig& c, int64_t step, int64_t steps_per_epoch, int64_t total_steps) {
  const double lr = c.lr.value();
  const double warmup = c.warmup_epochs * static_cast<double>(steps_per_epoch);
  if (warmup > 0 && static_cast<double>(step) < warmup)
    return lr * static_cast<double>(step + 1) / std::ceil(warmup);
  if (c.lr_schedule == "cosine") {
    const double span = std::max(1.0, static_cast<double>(total_steps) - std::ceil(warmup));
    const double progress = std::min(1.0, (static_cast<double>(step) - std::ceil(warmup)) / span);
    return c.min_lr + 0.5 * (lr - c.min_lr) * (1 + std::cos(std::acos(-1.0) * progress));
  }
  if (c.lr_schedule == "step") {
    double factor = 1.0;
    for (const int64_t m : c.lr_milestones)
      if (step >= m * steps_per_epoch)
        factor *= c.lr_decay;
    return lr * factor;
  }
  return lr;
}

} // namespace signopt::train

// The optimizer factory and the learning-rate schedule of the trainer.
#include <signopt/optim/ef_sign_sgd.h>
#include <signopt/optim/lion.h>
#include <signopt/optim/sign_sgd.h>
#include <signopt/optim/signum.h>
#include <signopt/train/optimizers.h>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <cmath>

namespace signopt::train {
namespace {

DitherOptions dither_options(const TrainConfig& c, int64_t total_steps) {
  DitherOptions d;
  d.alpha(c.dither_alpha).gamma(c.dither_gamma).alpha_min(c.dither_alpha_min).decay_rate(c.dither_decay_rate);
  d.seed(c.dither_seed.value_or(c.seed));
  const std::string& s = c.dither_scale;
  d.scale(
      s == "absolute"        ? DitherScale::Absolute
          : s == "max3sigma" ? DitherScale::Max3Sigma
          : s == "meanabs"   ? DitherScale::MeanAbs
                             : DitherScale::Rms);
  const std::string& sc = c.dither_schedule;
  d.schedule(
      sc == "constant"        ? DitherSchedule::Constant
          : sc == "linear"      ? DitherSchedule::Linear
          : sc == "cosine"      ? DitherSchedule::Cosine
          : sc == "exponential" ? DitherSchedule::Exponential
                                : DitherSchedule::Power);
  d.distribution(c.dither_distribution == "uniform" ? DitherDistribution::Uniform : DitherDistribution::Gaussian);
  d.target(c.dither_target == "gradient" ? DitherTarget::Gradient : DitherTarget::Momentum);
  d.clock(c.dither_clock == "epoch" ? DitherClock::Epoch : DitherClock::Step);
  // Linear/cosine schedules anneal over the whole run unless a horizon is given.
  d.horizon(c.dither_horizon > 0 ? c.dither_horizon : (c.dither_clock == "epoch" ? c.epochs : total_steps));
  return d;
}

NonFinitePolicy nonfinite(const TrainConfig& c) {
  return c.nonfinite == "throw" ? NonFinitePolicy::Throw : NonFinitePolicy::Skip;
}

CalibrationEstimator estimator(const std::string& name) {
  return name == "swats"     ? CalibrationEstimator::Swats
      : name == "norm"        ? CalibrationEstimator::Norm
      : name == "momentum-ls" ? CalibrationEstimator::MomentumLs
      : name == "fixed"       ? CalibrationEstimator::Fixed
                              : CalibrationEstimator::LeastSquares;
}

// The hybrid's options of the config; `beta1` is the sign phase's momentum (Signum's with --log-calibration).
HybridSignSGDOptions hybrid_options(
    const TrainConfig& c,
    double lr,
    double beta1,
    bool decoupled,
    const std::optional<DitherOptions>& dither) {
  HybridSignSGDOptions options(lr);
  options.beta1(beta1)
      .beta2(c.beta2.value())
      .eps(c.eps.value())
      .weight_decay(c.weight_decay)
      .decoupled_weight_decay(decoupled)
      .bias_correction(c.bias_correction)
      .calibration(estimator(c.calibration))
      .calibration_scope(c.calibration_scope == "per-tensor" ? CalibrationScope::PerTensor : CalibrationScope::Global)
      .calibration_scale(c.calibration_scale)
      .fixed_lr(c.fixed_lr)
      .auto_criterion(c.auto_criterion == "swats" ? SwitchCriterion::Swats : SwitchCriterion::Relative)
      .post_switch_momentum(c.post_switch_momentum)
      .post_switch_convention(
          c.post_switch_convention == "undampened" ? SgdConvention::Undampened : SgdConvention::Dampened)
      .post_switch_init(c.post_switch_init == "momentum" ? SgdMomentumInit::Momentum : SgdMomentumInit::Zero)
      .handover_steps(c.handover_steps)
      .fallback_lr(c.fallback_lr)
      .track_after_switch(c.track_after_switch)
      .dither(dither)
      .nonfinite(nonfinite(c));
  return options;
}

} // namespace

OptimizerHandle make_optimizer(
    const TrainConfig& c,
    std::vector<torch::Tensor> params,
    int64_t steps_per_epoch,
    int64_t total_steps,
    int64_t dither_stream) {
  OptimizerHandle h;
  const std::string& o = c.optimizer;
  const double lr = c.lr.value();
  const bool decoupled = c.decoupled_weight_decay.value_or(false);
  std::optional<DitherOptions> dither;
  if (c.dither)
    dither = dither_options(c, total_steps).stream(dither_stream);
  if (o == "sgd") {
    h.optimizer = std::make_unique<torch::optim::SGD>(
        params,
        torch::optim::SGDOptions(lr)
            .momentum(c.momentum.value())
            .dampening(c.dampening)
            .nesterov(c.nesterov)
            .weight_decay(c.weight_decay));
  } else if (o == "adam") {
    h.optimizer = std::make_unique<torch::optim::Adam>(
        params,
        torch::optim::AdamOptions(lr)
            .betas({c.beta1.value(), c.beta2.value()})
            .eps(c.eps.value())
            .weight_decay(c.weight_decay));
  } else if (o == "adamw") {
    h.optimizer = std::make_unique<torch::optim::AdamW>(
        params,
        torch::optim::AdamWOptions(lr)
            .betas({c.beta1.value(), c.beta2.value()})
            .eps(c.eps.value())
            .weight_decay(c.weight_decay));
  } else if (o == "signsgd") {
    auto opt = std::make_unique<SignSGD>(
        params,
        SignSGDOptions(lr).weight_decay(c.weight_decay).decoupled_weight_decay(decoupled).dither(dither).nonfinite(
            nonfinite(c)));
    h.signopt = opt.get();
    h.optimizer = std::move(opt);
  } else if ((o == "signum" || o == "dithered-signum") && c.log_calibration) {
    // Signum that logs its calibration: the hybrid's sign phase is Signum bit for bit (tests/test_hybrid.cpp).
    auto opt = std::make_unique<HybridSignSGD>(
        params, hybrid_options(c, lr, c.momentum.value(), decoupled, dither).switch_never());
    h.signopt = opt.get();
    h.hybrid = opt.get();
    h.optimizer = std::move(opt);
  } else if (o == "signum" || o == "dithered-signum") {
    auto opt = std::make_unique<Signum>(
        params,
        SignumOptions(lr)
            .momentum(c.momentum.value())
            .weight_decay(c.weight_decay)
            .decoupled_weight_decay(decoupled)
            .dither(dither)
            .nonfinite(nonfinite(c)));
    h.signopt = opt.get();
    h.optimizer = std::move(opt);
  } else if (o == "hybrid") {
    HybridSignSGDOptions options = hybrid_options(c, lr, c.beta1.value(), decoupled, dither);
    if (c.switch_trigger == "step")
      options.switch_at_step(c.switch_step);
    else if (c.switch_trigger == "epoch")
      options.switch_at_epoch(c.switch_epoch, steps_per_epoch);
    else if (c.switch_trigger == "auto")
      options.switch_auto(c.auto_tol);
    else
      options.switch_never();
    auto opt = std::make_unique<HybridSignSGD>(params, options);
    h.signopt = opt.get();
    h.hybrid = opt.get();
    h.optimizer = std::move(opt);
  } else if (o == "ef-signsgd") {
    auto opt = std::make_unique<EFSignSGD>(
        params,
        EFSignSGDOptions(lr)
            .momentum(c.momentum.value())
            .weight_decay(c.weight_decay)
            .decoupled_weight_decay(decoupled)
            .nonfinite(nonfinite(c)));
    h.signopt = opt.get();
    h.optimizer = std::move(opt);
  } else if (o == "lion") {
    auto opt = std::make_unique<Lion>(
        params,
        LionOptions(lr)
            .beta1(c.beta1.value())
            .beta2(c.beta2.value())
            .weight_decay(c.weight_decay)
            .decoupled_weight_decay(decoupled)
            .nonfinite(nonfinite(c)));
    h.signopt = opt.get();
    h.optimizer = std::move(opt);
  } else {
    throw ConfigError("unknown optimizer '" + o + "'");
  }
  return h;
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

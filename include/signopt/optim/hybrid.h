// HybridSignSGD (algorithms.md section 4): Signum first, then SGD with a learning rate calibrated by
// projecting the sign step onto the gradient (the paper's SWATS-style switch).
#pragma once

#include <signopt/optim/calibration.h>
#include <signopt/optim/common.h>
#include <signopt/optim/registry.h>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>

#include <optional>
#include <vector>

namespace signopt {

/// The hybrid's current phase.
enum class HybridPhase { Sign, Sgd };

/// Options of HybridSignSGD. See docs/optimizers.md#hybridsignsgd.
struct HybridSignSGDOptions : public torch::optim::OptimizerCloneableOptions<HybridSignSGDOptions> {
  /// lr defaults to the registry row's (signopt/optim/registry.h), as the trainer's does.
  HybridSignSGDOptions(double lr = optimizer_defaults("hybrid").lr);
  /// gamma: the sign-phase learning rate (its schedule also shapes the SGD phase).
  TORCH_ARG(double, lr);
  TORCH_ARG(double, beta1) = 0.9;
  TORCH_ARG(double, beta2) = 0.999;
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(double, weight_decay) = 0.0;
  TORCH_ARG(bool, decoupled_weight_decay) = false;
  TORCH_ARG(SwitchTrigger, trigger) = SwitchTrigger::Auto;
  TORCH_ARG(int64_t, switch_step) = 0;
  TORCH_ARG(int64_t, switch_epoch) = 0;
  /// Steps per epoch, needed by SwitchTrigger::Epoch (the trainer sets it).
  TORCH_ARG(int64_t, steps_per_epoch) = 0;
  TORCH_ARG(double, auto_tol) = 1e-3;
  /// The auto trigger's test: relative |Lbar - lambda| < tol Lbar, or SWATS's absolute |Lbar - lambda| < tol.
  TORCH_ARG(SwitchCriterion, auto_criterion) = SwitchCriterion::Relative;
  TORCH_ARG(bool, bias_correction) = true;
  /// The estimator of lambda_t (docs/optimizers.md#calibration; the default from docs/results.md's study).
  TORCH_ARG(CalibrationEstimator, calibration) = CalibrationEstimator::Norm;
  /// One fit over all parameters, or one per tensor.
  TORCH_ARG(CalibrationScope, calibration_scope) = CalibrationScope::Global;
  /// The SGD rate is calibration_scale times the estimator's Lbar (or fixed_lr).
  TORCH_ARG(double, calibration_scale) = 1.0;
  /// CalibrationEstimator::Fixed: the SGD rate (in the post_switch_convention's units).
  TORCH_ARG(double, fixed_lr) = 0.0;
  /// mu of the SGD phase: v <- mu v + g, step = (1 - mu) v (dampened) or v (undampened).
  TORCH_ARG(double, post_switch_momentum) = 0.0;
  TORCH_ARG(SgdConvention, post_switch_convention) = SgdConvention::Dampened;
  /// v at the first SGD step: 0 or the sign phase's m / (1 - mu).
  TORCH_ARG(SgdMomentumInit, post_switch_init) = SgdMomentumInit::Zero;
  /// K steps of linear hand-over from the sign step to the SGD step (0: switch at once).
  TORCH_ARG(int64_t, handover_steps) = 0;
  /// SGD learning rate used when the calibrated one is not finite or <= 0 at the switch.
  TORCH_ARG(double, fallback_lr) = 0.01;
  /// Keep updating the calibration after the switch and use eta_t = Lbar_t (default: frozen).
  TORCH_ARG(bool, track_after_switch) = false;
  /// Dithering of the sign phase; disabled when empty.
  TORCH_ARG(std::optional<DitherOptions>, dither) = std::nullopt;
  TORCH_ARG(NonFinitePolicy, nonfinite) = NonFinitePolicy::Skip;
  /// How a bfloat16/float16 parameter is stored after its float32 update, in both phases (docs/optimizers.md,
  /// "Low-precision parameters"); the bits are keyed by (rounding_seed, step, parameter, element).
  TORCH_ARG(Rounding, rounding) = Rounding::Stochastic;
  TORCH_ARG(uint64_t, rounding_seed) = 0;
  /// m's and v's dtype for a bfloat16/float16 parameter: float32 or the parameter's.
  TORCH_ARG(MomentumDtype, momentum_dtype) = MomentumDtype::Float32;

 public:
  /// Sign steps 1..T, SGD from step T + 1.
  HybridSignSGDOptions& switch_at_step(int64_t T) {
    trigger(SwitchTrigger::Step);
    return switch_step(T);
  }
  /// Switch after the last step of epoch E (1-based) given `steps` steps per epoch.
  HybridSignSGDOptions& switch_at_epoch(int64_t E, int64_t steps) {
    trigger(SwitchTrigger::Epoch);
    steps_per_epoch(steps);
    return switch_epoch(E);
  }
  /// SWATS-style automatic switch with tolerance `tol`.
  HybridSignSGDOptions& switch_auto(double tol = 1e-3) {
    trigger(SwitchTrigger::Auto);
    return auto_tol(tol);
  }
  HybridSignSGDOptions& switch_never() {
    return trigger(SwitchTrigger::Never);
  }

  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override {
    return lr();
  }
  void set_lr(const double lr) override {
    this->lr(lr);
  }
  void validate() const;
  /// The switch trigger and its parameters as one value.
  SwitchPolicy switch_policy() const;
  /// The selected estimator's configuration.
  CalibratorOptions calibrator_options() const;
};

/// Per-parameter state of the hybrid.
struct HybridSignSGDParamState : public torch::optim::OptimizerCloneableParamState<HybridSignSGDParamState> {
  TORCH_ARG(int64_t, step) = 0;
  /// m: the sign phase's EMA momentum (float32 for a 16-bit parameter unless momentum_dtype(Parameter)).
  TORCH_ARG(torch::Tensor, exp_avg);
  /// v: the SGD phase's momentum buffer (post_switch_momentum > 0).
  TORCH_ARG(torch::Tensor, momentum_buffer);
  /// Per-tensor calibration: the tensor's Calibrator state and its frozen lr_sgd.
  TORCH_ARG(CalibratorState, calibration);
  TORCH_ARG(double, lr_sgd) = 0.0;
  /// s_sw: the group lr at the switch.
  TORCH_ARG(double, switch_lr) = 0.0;
  /// DitherScaleFrom::Previous: base(x) of the last step's sign argument (one float64 CPU value).
  TORCH_ARG(torch::Tensor, dither_base);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

/// Signum -> SGD with a projection-calibrated learning rate, as a torch::optim::Optimizer.
class HybridSignSGD : public detail::SignoptOptimizer {
 public:
  explicit HybridSignSGD(
      const std::vector<torch::optim::OptimizerParamGroup>& param_groups,
      HybridSignSGDOptions defaults = {});
  explicit HybridSignSGD(std::vector<torch::Tensor> params, HybridSignSGDOptions defaults = {})
      : HybridSignSGD({torch::optim::OptimizerParamGroup(std::move(params))}, std::move(defaults)) {}

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

  HybridPhase phase() const {
    return phase_;
  }
  /// The selected calibration's rate (calibration_scale * Lbar_t, or the fixed rate) during the sign
  /// phase, the SGD rate lr_sgd after the switch (per-tensor calibration: the mean over tensors).
  double calibrated_lr() const;
  /// The most recent lambda_t (per-tensor calibration: the mean over tensors).
  double last_lambda() const;
  /// Every estimator's lambda_t and Lbar_t from the global sums (calibration diagnostics), updated on
  /// every calibrating step whatever the selected estimator.
  const CalibrationBank& calibration_bank() const {
    return bank_;
  }
  /// The step after which the switch happened, or -1 before it.
  int64_t switch_step() const {
    return switch_step_;
  }
  /// Steps taken (not counting skipped ones).
  int64_t step_count() const {
    return step_;
  }
  /// Forces the switch now (as if the trigger fired after the last step), e.g. for an epoch
  /// boundary known only to the trainer.
  void switch_now();

 private:
  // step() in phases (hybrid.cpp): the plan of this step (phase, hand-over, the packed path), each
  // parameter's pass, the exchange between workers, the calibration, then the update.
  struct StepPlan;
  StepPlan plan_step_(const HybridSignSGDOptions& head);
  void add_item_(StepPlan& plan, torch::Tensor& p, const HybridSignSGDOptions& o, int64_t param_index);
  void exchange_(StepPlan& plan);
  bool calibrate_(StepPlan& plan, const HybridSignSGDOptions& head);
  void apply_update_(StepPlan& plan, const HybridSignSGDOptions& head);
  void do_switch_();
  const HybridSignSGDOptions& head_() const;
  /// The global calibration of the selected estimator: the bank's EMA of that estimator (same sums, beta2,
  /// eps and bias correction) with the head's options (its scale, or the fixed rate, which keeps no EMA).
  Calibrator selected_calibrator_() const;

  int64_t step_ = 0;
  HybridPhase phase_ = HybridPhase::Sign;
  int64_t switch_step_ = -1;
  CalibrationBank bank_; // every estimator on the global sums; the selected one is the global calibration
  double lr_sgd_ = 0.0; // global scope, frozen at the switch
};

} // namespace signopt

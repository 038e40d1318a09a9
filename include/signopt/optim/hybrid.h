// HybridSignSGD (algorithms.md section 4): Signum first, then SGD with a learning rate calibrated by
// projecting the sign step onto the gradient (the paper's SWATS-style switch).
#pragma once

#include <signopt/optim/common.h>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>

#include <optional>
#include <vector>

namespace signopt {

/// When the hybrid leaves the sign phase.
enum class SwitchTrigger {
  Step, ///< after sign step `switch_step` (steps 1..T are sign steps).
  Epoch, ///< after the step that ends epoch `switch_epoch` (needs steps_per_epoch).
  Auto, ///< SWATS test |Lbar_t - lambda_t| < auto_tol * Lbar_t after a sign step t > 1 (default).
  Never, ///< stay in the sign phase (Signum that reports its calibrated rate).
};

/// Whether lambda_t is one global least-squares fit or one per parameter tensor.
enum class Calibration { Global, PerTensor };

/// The hybrid's current phase.
enum class HybridPhase { Sign, Sgd };

std::string to_string(SwitchTrigger v);
std::string to_string(Calibration v);

/// Options of HybridSignSGD. See docs/optimizers.md#hybridsignsgd.
struct HybridSignSGDOptions : public torch::optim::OptimizerCloneableOptions<HybridSignSGDOptions> {
  HybridSignSGDOptions(double lr = 1e-4);
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
  TORCH_ARG(bool, bias_correction) = true;
  TORCH_ARG(Calibration, calibration) = Calibration::Global;
  /// mu of the SGD phase: v <- mu v + g, step = (1 - mu) v.
  TORCH_ARG(double, post_switch_momentum) = 0.0;
  /// K steps of linear hand-over from the sign step to the SGD step (0: switch at once).
  TORCH_ARG(int64_t, handover_steps) = 0;
  /// SGD learning rate used when the calibrated one is not finite or <= 0 at the switch.
  TORCH_ARG(double, fallback_lr) = 0.01;
  /// Keep updating the calibration after the switch and use eta_t = Lbar_t (default: frozen).
  TORCH_ARG(bool, track_after_switch) = false;
  /// Dithering of the sign phase; disabled when empty.
  TORCH_ARG(std::optional<DitherOptions>, dither) = std::nullopt;
  TORCH_ARG(NonFinitePolicy, nonfinite) = NonFinitePolicy::Skip;

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
};

/// Per-parameter state of the hybrid.
struct HybridSignSGDParamState : public torch::optim::OptimizerCloneableParamState<HybridSignSGDParamState> {
  TORCH_ARG(int64_t, step) = 0;
  /// m: the sign phase's EMA momentum.
  TORCH_ARG(torch::Tensor, exp_avg);
  /// v: the SGD phase's momentum buffer (post_switch_momentum > 0).
  TORCH_ARG(torch::Tensor, momentum_buffer);
  /// Per-tensor calibration: EMA of lambda, its update count, the last lambda, lr_sgd.
  TORCH_ARG(double, lambda_ema) = 0.0;
  TORCH_ARG(int64_t, ema_updates) = 0;
  TORCH_ARG(double, last_lambda) = 0.0;
  TORCH_ARG(double, lr_sgd) = 0.0;
  /// s_sw: the group lr at the switch.
  TORCH_ARG(double, switch_lr) = 0.0;

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
  /// Bias-corrected Lbar_t during the sign phase, the SGD rate lr_sgd after the switch
  /// (per-tensor calibration: the mean over tensors).
  double calibrated_lr() const;
  /// The most recent lambda_t (per-tensor calibration: the mean over tensors).
  double last_lambda() const;
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
  double corrected(double ema, int64_t updates, double beta2, bool bias_correction) const;
  void do_switch_();

  int64_t step_ = 0;
  HybridPhase phase_ = HybridPhase::Sign;
  int64_t switch_step_ = -1;
  // Global calibration.
  double lambda_ema_ = 0.0;
  int64_t ema_updates_ = 0;
  double last_lambda_ = 0.0;
  double lr_sgd_ = 0.0;
};

} // namespace signopt

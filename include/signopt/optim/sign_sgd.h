// SignSGD (Bernstein et al. 2018): theta <- theta - lr * sign(g), optionally with pre-sign dithering.
#pragma once

#include <signopt/optim/common.h>
#include <signopt/optim/registry.h>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>

#include <optional>
#include <vector>

namespace signopt {

/// Options of SignSGD. See docs/optimizers.md#signsgd.
struct SignSGDOptions : public torch::optim::OptimizerCloneableOptions<SignSGDOptions> {
  /// lr defaults to the registry row's (signopt/optim/registry.h), as the trainer's does.
  SignSGDOptions(double lr = optimizer_defaults("signsgd").lr);
  TORCH_ARG(double, lr);
  /// Coupled (g += wd * theta) unless decoupled_weight_decay (theta *= 1 - lr * wd).
  TORCH_ARG(double, weight_decay) = 0.0;
  TORCH_ARG(bool, decoupled_weight_decay) = false;
  /// Pre-sign dithering; disabled when empty.
  TORCH_ARG(std::optional<DitherOptions>, dither) = std::nullopt;
  TORCH_ARG(NonFinitePolicy, nonfinite) = NonFinitePolicy::Skip;
  /// How a bfloat16/float16 parameter is stored after its float32 update (docs/optimizers.md, "Low-precision
  /// parameters"); the stochastic rounding's bits are keyed by (rounding_seed, step, parameter, element).
  TORCH_ARG(Rounding, rounding) = Rounding::Stochastic;
  TORCH_ARG(uint64_t, rounding_seed) = 0;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override {
    return lr();
  }
  void set_lr(const double lr) override {
    this->lr(lr);
  }
  /// Throws std::invalid_argument naming the field and value of the first bad option.
  void validate() const;
};

/// Per-parameter state of SignSGD: the step counter (it keys the dither draws).
struct SignSGDParamState : public torch::optim::OptimizerCloneableParamState<SignSGDParamState> {
  TORCH_ARG(int64_t, step) = 0;
  /// DitherScaleFrom::Previous: base(x) of the last step's sign argument (one float64 CPU value).
  TORCH_ARG(torch::Tensor, dither_base);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

/// SignSGD as a torch::optim::Optimizer.
class SignSGD : public detail::SignoptOptimizer {
 public:
  explicit SignSGD(const std::vector<torch::optim::OptimizerParamGroup>& param_groups, SignSGDOptions defaults = {});
  explicit SignSGD(std::vector<torch::Tensor> params, SignSGDOptions defaults = {})
      : SignSGD({torch::optim::OptimizerParamGroup(std::move(params))}, std::move(defaults)) {}

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
};

} // namespace signopt

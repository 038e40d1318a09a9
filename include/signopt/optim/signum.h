// Signum: sign of the EMA momentum, m <- beta m + (1 - beta) g, theta <- theta - lr sign(m),
// optionally with pre-sign dithering (the "dithered Signum" of the paper).
#pragma once

#include <signopt/optim/common.h>
#include <signopt/optim/registry.h>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>

#include <optional>
#include <vector>

namespace signopt {

/// Options of Signum. See docs/optimizers.md#signum.
struct SignumOptions : public torch::optim::OptimizerCloneableOptions<SignumOptions> {
  /// lr defaults to the registry row's (signopt/optim/registry.h), as the trainer's does.
  SignumOptions(double lr = optimizer_defaults("signum").lr);
  TORCH_ARG(double, lr);
  /// EMA coefficient beta in [0, 1); 0 makes Signum exactly SignSGD.
  TORCH_ARG(double, momentum) = 0.9;
  TORCH_ARG(double, weight_decay) = 0.0;
  TORCH_ARG(bool, decoupled_weight_decay) = false;
  TORCH_ARG(std::optional<DitherOptions>, dither) = std::nullopt;
  TORCH_ARG(NonFinitePolicy, nonfinite) = NonFinitePolicy::Skip;
  /// How a bfloat16/float16 parameter is stored after its float32 update (docs/optimizers.md, "Low-precision
  /// parameters"); the stochastic rounding's bits are keyed by (rounding_seed, step, parameter, element).
  TORCH_ARG(Rounding, rounding) = Rounding::Stochastic;
  TORCH_ARG(uint64_t, rounding_seed) = 0;
  /// The momentum's dtype for a bfloat16/float16 parameter (others keep it in their own dtype).
  TORCH_ARG(MomentumDtype, momentum_dtype) = MomentumDtype::Float32;

 public:
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

/// Per-parameter state of Signum: step counter and EMA momentum.
struct SignumParamState : public torch::optim::OptimizerCloneableParamState<SignumParamState> {
  TORCH_ARG(int64_t, step) = 0;
  TORCH_ARG(torch::Tensor, momentum_buffer);
  /// DitherScaleFrom::Previous: base(x) of the last step's sign argument (one float64 CPU value).
  TORCH_ARG(torch::Tensor, dither_base);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

/// Signum (sign of momentum) as a torch::optim::Optimizer.
class Signum : public detail::SignoptOptimizer {
 public:
  explicit Signum(const std::vector<torch::optim::OptimizerParamGroup>& param_groups, SignumOptions defaults = {});
  explicit Signum(std::vector<torch::Tensor> params, SignumOptions defaults = {})
      : Signum({torch::optim::OptimizerParamGroup(std::move(params))}, std::move(defaults)) {}

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
};

} // namespace signopt

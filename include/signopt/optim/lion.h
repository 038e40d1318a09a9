// Lion (Chen et al. 2023): sign of an interpolation of momentum and gradient, decoupled decay.
#pragma once

#include <signopt/optim/common.h>
#include <signopt/optim/registry.h>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>

#include <vector>

namespace signopt {

/// Options of Lion. See docs/optimizers.md#lion.
struct LionOptions : public torch::optim::OptimizerCloneableOptions<LionOptions> {
  /// lr defaults to the registry row's (signopt/optim/registry.h), as the trainer's does.
  LionOptions(double lr = optimizer_defaults("lion").lr);
  TORCH_ARG(double, lr);
  TORCH_ARG(double, beta1) = 0.9;
  TORCH_ARG(double, beta2) = 0.99;
  TORCH_ARG(double, weight_decay) = 0.0;
  /// Lion's decay is decoupled (theta *= 1 - lr * wd) by default; false makes it coupled.
  TORCH_ARG(bool, decoupled_weight_decay) = true;
  TORCH_ARG(NonFinitePolicy, nonfinite) = NonFinitePolicy::Skip;

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

/// Per-parameter state of Lion: step counter and momentum m.
struct LionParamState : public torch::optim::OptimizerCloneableParamState<LionParamState> {
  TORCH_ARG(int64_t, step) = 0;
  TORCH_ARG(torch::Tensor, exp_avg);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

/// Lion as a torch::optim::Optimizer.
class Lion : public detail::SignoptOptimizer {
 public:
  explicit Lion(const std::vector<torch::optim::OptimizerParamGroup>& param_groups, LionOptions defaults = {});
  explicit Lion(std::vector<torch::Tensor> params, LionOptions defaults = {})
      : Lion({torch::optim::OptimizerParamGroup(std::move(params))}, std::move(defaults)) {}

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
};

} // namespace signopt

// EF-SignSGD (Karimireddy et al. 2019): scaled sign compression with error feedback, per tensor.
#pragma once

#include <signopt/optim/common.h>
#include <signopt/optim/registry.h>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>

#include <vector>

namespace signopt {

/// Options of EF-SignSGD. See docs/optimizers.md#efsignsgd.
struct EFSignSGDOptions : public torch::optim::OptimizerCloneableOptions<EFSignSGDOptions> {
  /// lr defaults to the registry row's (signopt/optim/registry.h), as the trainer's does.
  EFSignSGDOptions(double lr = optimizer_defaults("ef-signsgd").lr);
  TORCH_ARG(double, lr);
  /// Heavy-ball momentum on g before scaling: buf <- momentum * buf + g (0: off).
  TORCH_ARG(double, momentum) = 0.0;
  TORCH_ARG(double, weight_decay) = 0.0;
  TORCH_ARG(bool, decoupled_weight_decay) = false;
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

/// Per-parameter state of EF-SignSGD: step counter, error e, optional momentum.
struct EFSignSGDParamState : public torch::optim::OptimizerCloneableParamState<EFSignSGDParamState> {
  TORCH_ARG(int64_t, step) = 0;
  TORCH_ARG(torch::Tensor, error);
  TORCH_ARG(torch::Tensor, momentum_buffer);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

/// EF-SignSGD: p = lr g + e; Delta = (||p||_1 / d) sign(p); theta -= Delta; e = p - Delta.
class EFSignSGD : public detail::SignoptOptimizer {
 public:
  explicit EFSignSGD(
      const std::vector<torch::optim::OptimizerParamGroup>& param_groups,
      EFSignSGDOptions defaults = {});
  explicit EFSignSGD(std::vector<torch::Tensor> params, EFSignSGDOptions defaults = {})
      : EFSignSGD({torch::optim::OptimizerParamGroup(std::move(params))}, std::move(defaults)) {}

  /// One step. With an aggregator (set_aggregator; distributed runs) each worker sends its compressed
  /// Delta_w = (||p||_1 / d) s, s = sign(p) with 0 sent as +1, keeps e = p - Delta_w, and applies the mean of
  /// the workers' Delta_w (SignAggregator::aggregate_scaled_signs, one call per step for all parameters).
  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  void step_distributed_();
};

} // namespace signopt

// make_optimizer(), the shared pieces of the factories, and LibTorch's baselines' factories.
#include <signopt/optim/factory.h>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <stdexcept>
#include <string>

namespace signopt {
namespace {

MadeOptimizer baseline(std::unique_ptr<torch::optim::Optimizer> opt) {
  MadeOptimizer m;
  m.optimizer = std::move(opt);
  return m;
}

} // namespace

namespace detail {
MadeOptimizer made(std::unique_ptr<SignoptOptimizer> opt, HybridSignSGD* hybrid) {
  MadeOptimizer m;
  m.signopt = opt.get();
  m.hybrid = hybrid;
  m.optimizer = std::move(opt);
  return m;
}
} // namespace detail

HybridSignSGDOptions hybrid_options_from(const OptimizerSettings& s, double beta1) {
  HybridSignSGDOptions o = s.hybrid;
  o.lr(s.lr)
      .beta1(beta1)
      .beta2(s.beta2)
      .eps(s.eps)
      .weight_decay(s.weight_decay)
      .decoupled_weight_decay(s.decoupled_weight_decay)
      .dither(s.dither)
      .nonfinite(s.nonfinite)
      .rounding(s.rounding)
      .rounding_seed(s.rounding_seed)
      .momentum_dtype(s.momentum_dtype);
  return o;
}

MadeOptimizer make_optimizer(
    std::string_view name,
    std::vector<torch::Tensor> params,
    const OptimizerSettings& settings) {
  const OptimizerRow& row = find_optimizer(name);
  if (row.make == nullptr)
    throw std::invalid_argument("optimizer '" + row.name + "' has no factory in this build");
  return row.make(std::move(params), settings);
}

MadeOptimizer make_sgd(std::vector<torch::Tensor> params, const OptimizerSettings& s) {
  return baseline(std::make_unique<torch::optim::SGD>(
      std::move(params),
      torch::optim::SGDOptions(s.lr)
          .momentum(s.momentum)
          .dampening(s.dampening)
          .nesterov(s.nesterov)
          .weight_decay(s.weight_decay)));
}

MadeOptimizer make_adam(std::vector<torch::Tensor> params, const OptimizerSettings& s) {
  return baseline(std::make_unique<torch::optim::Adam>(
      std::move(params),
      torch::optim::AdamOptions(s.lr).betas({s.beta1, s.beta2}).eps(s.eps).weight_decay(s.weight_decay)));
}

MadeOptimizer make_adamw(std::vector<torch::Tensor> params, const OptimizerSettings& s) {
  return baseline(std::make_unique<torch::optim::AdamW>(
      std::move(params),
      torch::optim::AdamWOptions(s.lr).betas({s.beta1, s.beta2}).eps(s.eps).weight_decay(s.weight_decay)));
}

} // namespace signopt

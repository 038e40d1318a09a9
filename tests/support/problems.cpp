// Test problems with known optima and the optimizer table.
#include "support/problems.h"

#include <cmath>

namespace signopt::test {

Quadratic::Quadratic(int64_t d, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  a = torch::rand({d}, gen, torch::kDouble) * 1.5 + 0.5;
  c = torch::randn({d}, gen, torch::kDouble);
}

torch::Tensor Quadratic::loss(const torch::Tensor& x) const {
  return 0.5 * (a * (x - c).square()).sum();
}

torch::Tensor Quadratic::grad(const torch::Tensor& x) const {
  return a * (x - c);
}

Logistic::Logistic(int64_t n, int64_t d, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  X = torch::randn({n, d}, gen, torch::kDouble);
  const auto w_true = torch::randn({d}, gen, torch::kDouble);
  const auto noise = torch::rand({n}, gen, torch::kDouble);
  const auto p = torch::sigmoid(X.matmul(w_true));
  y = (noise < p).to(torch::kDouble);
}

torch::Tensor Logistic::loss(const torch::Tensor& w) const {
  return torch::binary_cross_entropy_with_logits(X.matmul(w), y) + 0.5 * l2 * w.square().sum();
}

double Logistic::optimum_loss() const {
  auto w = torch::zeros({X.size(1)}, torch::kDouble).requires_grad_(true);
  torch::optim::LBFGS lbfgs(
      {w},
      torch::optim::LBFGSOptions(1.0).max_iter(500).tolerance_grad(1e-14).tolerance_change(1e-16).line_search_fn(
          "strong_wolfe"));
  lbfgs.step([&] {
    lbfgs.zero_grad();
    auto l = loss(w);
    l.backward();
    return l;
  });
  torch::NoGradGuard no_grad;
  return loss(w).item<double>();
}

XorNet::XorNet(uint64_t seed) {
  torch::manual_seed(seed);
  l1 = register_module("l1", torch::nn::Linear(2, 8));
  l2 = register_module("l2", torch::nn::Linear(8, 1));
}

torch::Tensor XorNet::forward(const torch::Tensor& x) {
  return l2(torch::tanh(l1(x))).squeeze(-1);
}

torch::Tensor XorNet::inputs() {
  return torch::tensor({0.0f, 0.0f, 0.0f, 1.0f, 1.0f, 0.0f, 1.0f, 1.0f}).reshape({4, 2});
}

torch::Tensor XorNet::targets() {
  return torch::tensor({0.0f, 1.0f, 1.0f, 0.0f});
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) {
    group.options().set_lr(lr);
  }
}

std::vector<torch::Tensor> random_params(uint64_t seed, torch::Dtype dtype) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return {
      torch::randn({64, 33}, gen, dtype).requires_grad_(true),
      torch::randn({17}, gen, dtype).requires_grad_(true),
  };
}

torch::Tensor replay_grad(const torch::Tensor& like, int64_t seed, int64_t step, int64_t index) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed * 1000003 + step * 1009 + index));
  return torch::randn(like.sizes(), gen, like.options());
}

const std::vector<OptimizerSpec>& all_optimizers() {
  using P = std::vector<torch::Tensor>;
  using Ptr = std::unique_ptr<detail::SignoptOptimizer>;
  static const std::vector<OptimizerSpec> specs = {
      {"SignSGD", [](P p, double lr) -> Ptr { return std::make_unique<SignSGD>(p, SignSGDOptions(lr)); }},
      {"Signum", [](P p, double lr) -> Ptr { return std::make_unique<Signum>(p, SignumOptions(lr).momentum(0.9)); }},
      {"SignumDecoupledWd",
       [](P p, double lr) -> Ptr {
         return std::make_unique<Signum>(p, SignumOptions(lr).weight_decay(1e-3).decoupled_weight_decay(true));
       }},
      {"DitheredSignum",
       [](P p, double lr) -> Ptr {
         return std::make_unique<Signum>(p, SignumOptions(lr).dither(DitherOptions().seed(1)));
       }},
      {"DitheredSignumThreshold",
       [](P p, double lr) -> Ptr {
         return std::make_unique<Signum>(
             p, SignumOptions(lr).dither(DitherOptions().seed(2).draw(DitherDraw::Threshold)));
       }},
      {"DitheredSignumPreviousScale",
       [](P p, double lr) -> Ptr {
         return std::make_unique<Signum>(
             p, SignumOptions(lr).dither(DitherOptions().seed(3).scale_from(DitherScaleFrom::Previous)));
       }},
      {"DitheredSignSGDUniformGradient",
       [](P p, double lr) -> Ptr {
         return std::make_unique<SignSGD>(
             p,
             SignSGDOptions(lr).dither(DitherOptions()
                                           .alpha(0.5)
                                           .distribution(DitherDistribution::Uniform)
                                           .target(DitherTarget::Gradient)
                                           .schedule(DitherSchedule::Exponential)
                                           .decay_rate(0.999)
                                           .seed(5)));
       }},
      {"HybridStep",
       [](P p, double lr) -> Ptr {
         return std::make_unique<HybridSignSGD>(p, HybridSignSGDOptions(lr).switch_at_step(8));
       }},
      {"HybridAutoPerTensorDither",
       [](P p, double lr) -> Ptr {
         return std::make_unique<HybridSignSGD>(
             p,
             HybridSignSGDOptions(lr)
                 .switch_auto(0.05)
                 .calibration_scope(CalibrationScope::PerTensor)
                 .post_switch_momentum(0.5)
                 .handover_steps(3)
                 .dither(DitherOptions().seed(9)));
       }},
      {"EFSignSGD", [](P p, double lr) -> Ptr { return std::make_unique<EFSignSGD>(p, EFSignSGDOptions(lr)); }, 5.0},
      {"EFSignSGDMomentum",
       [](P p, double lr) -> Ptr {
         return std::make_unique<EFSignSGD>(p, EFSignSGDOptions(lr).momentum(0.5).weight_decay(1e-4));
       },
       5.0},
      {"Lion", [](P p, double lr) -> Ptr { return std::make_unique<Lion>(p, LionOptions(lr).weight_decay(1e-3)); }},
  };
  return specs;
}

} // namespace signopt::test

// Test problems with known optima (quadratic, L2-regularized logistic regression, XOR) and the
// table of every signopt optimizer used by the table-driven tests.
#pragma once

#include <signopt/signopt.h>

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace signopt::test {

/// f(x) = 0.5 sum_i a_i (x_i - c_i)^2 with a_i in [0.5, 2]: optimum x = c, f* = 0.
struct Quadratic {
  torch::Tensor a, c;
  explicit Quadratic(int64_t d, uint64_t seed = 7);
  torch::Tensor loss(const torch::Tensor& x) const;
  torch::Tensor grad(const torch::Tensor& x) const;
};

/// Mean logistic loss on fixed synthetic data plus 0.5 * l2 * ||w||^2 (strictly convex);
/// f* is found with LibTorch's LBFGS in float64.
struct Logistic {
  torch::Tensor X, y;
  double l2 = 1e-2;
  explicit Logistic(int64_t n = 200, int64_t d = 5, uint64_t seed = 11);
  torch::Tensor loss(const torch::Tensor& w) const;
  double optimum_loss() const;
};

/// A 2-8-1 tanh network on the four XOR points.
struct XorNet : torch::nn::Module {
  torch::nn::Linear l1{nullptr}, l2{nullptr};
  explicit XorNet(uint64_t seed = 3);
  torch::Tensor forward(const torch::Tensor& x);
  static torch::Tensor inputs();
  static torch::Tensor targets();
};

/// One entry of the optimizer table: builds an optimizer over `params` with base learning rate `lr`.
struct OptimizerSpec {
  std::string name;
  std::function<std::unique_ptr<detail::SignoptOptimizer>(std::vector<torch::Tensor>, double lr)> make;
  /// Factor on the sign methods' lr in the convergence tests: EF-SignSGD moves like SGD, whose
  /// steps are lr * |g| rather than lr per coordinate.
  double convergence_lr_scale = 1.0;
};

/// Every signopt optimizer in its main configurations (dithered, hybrid, ...).
const std::vector<OptimizerSpec>& all_optimizers();

/// Sets the lr of every param group (a manual schedule).
void set_lr(torch::optim::Optimizer& opt, double lr);

/// Two float parameters of shapes [64, 33] and [17] drawn from a generator seeded with `seed`.
std::vector<torch::Tensor> random_params(uint64_t seed, torch::Dtype dtype = torch::kDouble);

/// Deterministic pseudo-gradients for replay tests: a fixed generator per (seed, step, index).
torch::Tensor replay_grad(const torch::Tensor& like, int64_t seed, int64_t step, int64_t index);

} // namespace signopt::test

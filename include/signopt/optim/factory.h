// Building an optimizer from the registry: the typed settings every factory reads, what a factory returns,
// and make_optimizer(). The rows themselves are in signopt/optim/registry.h.
#pragma once

#include <signopt/optim/common.h>
#include <signopt/optim/dither.h>
#include <signopt/optim/hybrid.h>
#include <signopt/optim/registry.h>

#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace signopt {

/// The typed settings a registry factory builds an optimizer from: the options shared by several
/// optimizers plus the hybrid's own. Each factory reads the fields its optimizer has and ignores the rest.
struct OptimizerSettings {
  double lr = 0.0;
  double momentum = 0.0; ///< sgd momentum, signum's beta, ef-signsgd's momentum.
  double beta1 = 0.9; ///< adam/adamw/lion beta1, the hybrid's sign-phase momentum.
  double beta2 = 0.999; ///< adam/adamw/lion beta2, the hybrid's calibration EMA.
  double eps = 1e-8; ///< adam/adamw epsilon, the hybrid's calibration epsilon.
  double weight_decay = 0.0;
  bool decoupled_weight_decay = false;
  bool nesterov = false; ///< sgd.
  double dampening = 0.0; ///< sgd.
  NonFinitePolicy nonfinite = NonFinitePolicy::Skip;
  std::optional<DitherOptions> dither; ///< Rows with `dither` only.
  /// SignSGD, Signum and the hybrid on 16-bit parameters: the rounding, its seed and the momentum dtype.
  Rounding rounding = Rounding::Stochastic;
  uint64_t rounding_seed = 0;
  MomentumDtype momentum_dtype = MomentumDtype::Float32;
  /// Signum and dithered Signum: run as the hybrid with the never trigger, which logs every estimator's
  /// rate and is Signum bit for bit (tests/test_hybrid.cpp). Rows with `logs_calibration` only.
  bool log_calibration = false;
  /// The hybrid's own options (trigger, calibration, hand-over, ...). lr, beta1, beta2, eps, the weight
  /// decay, the dither and the non-finite policy come from the fields above.
  HybridSignSGDOptions hybrid;
};

/// An optimizer made by a registry factory, plus typed views of it (null when it is not of that kind).
struct MadeOptimizer {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  detail::SignoptOptimizer* signopt = nullptr; ///< Any signopt optimizer (dither alpha, epoch clock, aggregator).
  HybridSignSGD* hybrid = nullptr; ///< The hybrid, also behind signum with log_calibration (phase, calibrated rate).
};

/// Builds optimizer `name` over `params` from `settings` (find_optimizer(name).make); std::invalid_argument
/// for an unknown name or a row without a factory.
MadeOptimizer make_optimizer(
    std::string_view name,
    std::vector<torch::Tensor> params,
    const OptimizerSettings& settings);

/// The hybrid's options from `settings`, with `beta1` as the sign phase's momentum: settings.hybrid plus the
/// shared fields (lr, betas, eps, weight decay, dither, non-finite policy). Used by the hybrid's factory and
/// by Signum's with log_calibration.
HybridSignSGDOptions hybrid_options_from(const OptimizerSettings& settings, double beta1);

namespace detail {
/// A factory's result for one of signopt's optimizers: the signopt view set (and the hybrid view for
/// HybridSignSGD).
MadeOptimizer made(std::unique_ptr<SignoptOptimizer> opt, HybridSignSGD* hybrid = nullptr);
} // namespace detail

} // namespace signopt

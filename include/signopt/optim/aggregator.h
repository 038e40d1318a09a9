// The hook through which a distributed run combines the workers' sign directions (issue 6).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace signopt {

/// Combines the sign directions of the workers of a data-parallel run. A signopt sign optimizer with an
/// aggregator (SignoptOptimizer::set_aggregator) computes its local direction u = sign(x) per parameter
/// (x: the gradient, the momentum or their dithered version), hands all of them to aggregate_signs() in
/// one call per step, and applies theta <- theta - lr * v with the returned v. signopt::comm::MajorityVote
/// implements it over c10d; tests use in-process implementations.
class SignAggregator {
 public:
  virtual ~SignAggregator() = default;

  /// `local[i]` is parameter i's local direction (values in {-1, 0, +1}, the parameter's dtype and shape),
  /// in the optimizer's parameter order (parameters without a gradient are left out, identically on every
  /// worker). Returns the agreed directions, same shapes and dtypes. `step` is the optimizer step, for
  /// keying any randomness of the encoding. Every worker must call it at the same steps.
  virtual std::vector<torch::Tensor> aggregate_signs(const std::vector<torch::Tensor>& local, int64_t step) = 0;

  /// Sums `values` over the workers in place (the hybrid's calibration sums <u, g> and ||g||^2).
  virtual void allreduce_sum(std::vector<double>& values) = 0;
  /// EF-SignSGD's exchange: `local_signs[i]` is parameter i's sign vector (values +-1, the parameter's dtype
  /// and shape) and `scales[i]` its scale ||p_i||_1 / d_i on this worker. Returns, per parameter, the mean
  /// over the workers of scale_w[i] * local_signs_w[i] (same shapes and dtypes). The default throws
  /// std::logic_error: only aggregators made for it (signopt::comm::ScaledSignExchange) support it.
  virtual std::vector<torch::Tensor> aggregate_scaled_signs(
      const std::vector<torch::Tensor>& local_signs,
      const std::vector<double>& scales,
      int64_t step);
};

inline std::vector<torch::Tensor> SignAggregator::aggregate_scaled_signs(
    const std::vector<torch::Tensor>&,
    const std::vector<double>&,
    int64_t) {
  throw std::logic_error(
      "this SignAggregator does not exchange scaled signs (EF-SignSGD); use signopt::comm::ScaledSignExchange, "
      "or average the gradients instead");
}

} // namespace signopt

// The hook through which a distributed run combines the workers' sign directions (issue 6).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace signopt {

/// The agreed direction of a packed exchange (SignAggregator::aggregate_packed) as bit planes of packed
/// words (the layout of signopt/kernels/bitpack.h: coordinate i is bit i % 64 of word i / 64).
struct PackedDirection {
  /// 1 where the direction is +1, 0 where it is -1 (or 0, see `zero`): an int64 tensor of at least
  /// ceil(d / 64) words.
  torch::Tensor sign;
  /// 1 where the direction is 0; undefined when no coordinate can be 0.
  torch::Tensor zero;
};

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

  /// Whether aggregate_packed is implemented. When it is, the sign optimizers (SignSGD, Signum, dithered
  /// Signum) on contiguous CPU parameters pack their signs in the fused pass that computes them and apply
  /// the agreed bits in the pass that updates the parameters, so no float direction is ever written
  /// (kernels::sign_descent_pack, kernels::apply_packed_direction). The default is false.
  virtual bool supports_packed() const {
    return false;
  }

  /// The packed form of aggregate_signs, with the same meaning and the same collectives (a worker using
  /// it and one using aggregate_signs agree). `sign` holds this worker's local signs of all `coordinates`
  /// coordinates (the parameters flattened in order, as aggregate_signs flattens them; `tensors` of them):
  /// 1 where the direction is +1. `zero` (optional: undefined when there is none) has a 1 where the local
  /// direction is 0 or NaN; the aggregator encodes those by its own rule. Both are contiguous int64 CPU
  /// tensors of at least ceil(coordinates / 64) words, with no bit set past the last coordinate; the
  /// aggregator may overwrite them. The result stays valid until the next call. The default throws
  /// std::logic_error.
  virtual PackedDirection aggregate_packed(
      const torch::Tensor& sign,
      const torch::Tensor& zero,
      int64_t coordinates,
      int64_t tensors,
      int64_t step);

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

inline PackedDirection SignAggregator::aggregate_packed(
    const torch::Tensor&,
    const torch::Tensor&,
    int64_t,
    int64_t,
    int64_t) {
  throw std::logic_error(
      "this SignAggregator has no packed exchange (supports_packed() is false); call aggregate_signs instead");
}

inline std::vector<torch::Tensor> SignAggregator::aggregate_scaled_signs(
    const std::vector<torch::Tensor>&,
    const std::vector<double>&,
    int64_t) {
  throw std::logic_error(
      "this SignAggregator does not exchange scaled signs (EF-SignSGD); use signopt::comm::ScaledSignExchange, "
      "or average the gradients instead");
}

} // namespace signopt

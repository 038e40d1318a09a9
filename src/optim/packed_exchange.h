// Internal: the packed exchange of one sign step (SignAggregator::aggregate_packed), used by sign descent
// (sign_descent.h) and the hybrid's sign phase: one bucket of sign bits and one of zero bits over every
// parameter, each parameter at its own bit offset; pass 1 (kernels::sign_descent_pack) packs, the workers
// vote, pass 2 (kernels::apply_packed_direction) applies the agreed bits.
#pragma once

#include <signopt/kernels/bitpack.h>
#include <signopt/kernels/fused.h>
#include <signopt/optim/aggregator.h>
#include <signopt/optim/common.h>

#include <torch/types.h>

#include <cstdint>

namespace signopt::detail {

/// Whether a packed step can run over every parameter of `opt` with a gradient: the fused kernels are on,
/// `qualifies(options)` holds for each such parameter's group, and the parameter, its gradient and
/// `buffer_of(options, p, param_index)` (its buffer, created on first use; undefined when it has none;
/// param_index counts every parameter of the optimizer, with a gradient or not) are contiguous CPU tensors
/// of one float dtype. Sets `coordinates` to their total size. Stops at the first parameter
/// that does not qualify, having changed nothing but creating states and buffers.
template <typename Options, typename BufferOf, typename Qualifies>
bool packed_step_qualifies(SignoptOptimizer& opt, BufferOf buffer_of, Qualifies qualifies, int64_t& coordinates) {
  coordinates = 0;
  if (!kernels::fused_enabled()) {
    return false;
  }
  int64_t index = 0;
  for (auto& group : opt.param_groups()) {
    const auto& o = static_cast<const Options&>(group.options());
    for (auto& p : group.params()) {
      const int64_t param_index = index++;
      if (!p.grad().defined()) {
        continue;
      }
      const torch::Tensor buffer = buffer_of(o, p, param_index);
      if (!qualifies(o) || !p.device().is_cpu() || !kernels::fused_eligible({p, p.grad(), buffer})) {
        return false;
      }
      coordinates += p.numel();
    }
  }
  return true;
}

class PackedExchange {
 public:
  /// Takes the optimizer's two zeroed buckets for `coordinates` coordinates (SignoptOptimizer::packed_bucket_).
  PackedExchange(SignoptOptimizer& opt, int64_t coordinates)
      : sign_(opt.packed_bucket_(0, kernels::packed_words(coordinates))),
        zero_(opt.packed_bucket_(1, kernels::packed_words(coordinates))),
        coordinates_(coordinates) {}

  /// Pass 1 for the next parameter: updates `buf` as a sign step does and packs the signs of the sign
  /// argument at this parameter's offset. Returns that offset (for pass 2).
  int64_t pack(
      const torch::Tensor& p,
      const torch::Tensor& g,
      torch::Tensor& buf,
      double lr,
      double weight_decay,
      bool decoupled,
      double beta,
      const kernels::DitherArgs& dither) {
    const int64_t offset = offset_;
    zeros_ += kernels::sign_descent_pack(p, g, buf, {lr, weight_decay, decoupled, beta, dither, {}}, sign_, zero_, offset);
    offset_ += p.numel();
    ++tensors_;
    return offset;
  }

  /// The workers' agreed direction of every packed parameter (the zero plane is sent only when some
  /// coordinate had no sign). `step` keys the aggregator's coins.
  PackedDirection exchange(SignAggregator& aggregator, int64_t step) {
    return aggregator.aggregate_packed(sign_, zeros_ > 0 ? zero_ : torch::Tensor(), coordinates_, tensors_, step);
  }

 private:
  torch::Tensor sign_, zero_;
  int64_t coordinates_ = 0;
  int64_t offset_ = 0;
  int64_t zeros_ = 0;
  int64_t tensors_ = 0;
};

} // namespace signopt::detail

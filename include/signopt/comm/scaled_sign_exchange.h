// Distributed EF-SignSGD (issue 6, --aggregation ef-sign): every worker's 1-bit signs and per-tensor scales,
// allgathered, and averaged on every worker.
#pragma once

#include <signopt/comm/majority_vote.h>
#include <signopt/comm/process_group.h>
#include <signopt/optim/aggregator.h>

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace signopt::comm {

/// Payload bytes one rank sends (and receives) per ScaledSignExchange exchange of tensors with `sizes`
/// elements over W ranks: the allgather of the packed signs, (W - 1) x 8 x sum_i packed_words(sizes[i]), and
/// of the scales, (W - 1) x 8 x sizes.size(). About (W - 1) d / 8: unlike the vote's sharded exchange it
/// grows with W, since every rank needs every other rank's scaled signs.
int64_t scaled_sign_bytes_per_rank(const std::vector<int64_t>& sizes, int64_t world_size);

/// The SignAggregator of distributed EF-SignSGD (dist-EF-SGD, Zheng et al. 2019) over a Communicator.
///
/// aggregate_scaled_signs(signs, scales) packs each tensor's signs to 1 bit (word-aligned per tensor; the
/// signs must be +-1: EFSignSGD sends a 0 of p as +1), allgathers the packed words and the scales of every
/// rank, and returns per tensor (1 / W) sum_w scale_w[i] sign_w[i], summed in rank order so that every rank
/// gets the same bits. aggregate_signs() (the vote) is not supported: use MajorityVote.
///
/// Every rank must call it at the same steps with tensors of the same sizes in the same order; the first
/// exchange checks this once and fails naming both ranks' layouts.
class ScaledSignExchange : public SignAggregator {
 public:
  /// Uses `comm` for every exchange; `comm` must outlive this object.
  explicit ScaledSignExchange(Communicator& comm);

  /// Not supported (throws std::logic_error): majority vote is MajorityVote's.
  std::vector<torch::Tensor> aggregate_signs(const std::vector<torch::Tensor>& local, int64_t step) override;

  /// One allreduce of `values` as a float64 tensor (nothing is sent for an empty vector).
  void allreduce_sum(std::vector<double>& values) override;

  /// The mean of the workers' scaled signs (see the class comment). Every local_signs[i] must be a defined,
  /// dense CPU float32/float64 tensor whose values are +-1, and scales.size() == local_signs.size() with
  /// finite scales; bad input throws std::invalid_argument naming the tensor.
  std::vector<torch::Tensor> aggregate_scaled_signs(
      const std::vector<torch::Tensor>& local_signs,
      const std::vector<double>& scales,
      int64_t step) override;

  /// The figures of the latest exchange (pack_s: packing; allgather_s: both allgathers; unpack_s: the
  /// weighted sum; the vote's fields stay 0).
  const ExchangeStats& last_stats() const {
    return last_;
  }

  /// The sums over every exchange so far.
  const ExchangeStats& total_stats() const {
    return total_;
  }

 private:
  Communicator& comm_;
  ExchangeStats last_;
  ExchangeStats total_;
  bool layout_checked_ = false;
};

} // namespace signopt::comm

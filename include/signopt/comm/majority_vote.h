// signSGD with majority vote over c10d (algorithms.md section 7, issue 6): the SignAggregator that packs
// the workers' signs to 1 bit, votes shard by shard and shares the voted shards.
#pragma once

#include <signopt/comm/process_group.h>
#include <signopt/comm/sign_pack.h>
#include <signopt/comm/vote_rules.h>
#include <signopt/optim/aggregator.h>

#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace signopt::comm {

/// The `bucket` of zero_sign_key() under which a shard's owner draws its tie coins: coordinate j of the
/// owner's shard (j counted from the shard's first coordinate) gets the coin that pack_signs with
/// ZeroSign::Random gives coordinate j of an all-zero vector under zero_sign_key(seed, step, owner,
/// kTieCoinBucket). Bucket 0 holds the workers' own zero coins, so the two never share draws.
constexpr uint64_t kTieCoinBucket = 1;

/// Options of MajorityVote: the encoding of zeros, the tie rule and the seed of every coin.
struct MajorityVoteOptions {
  /// How a local sign of 0 is sent (one bit cannot say 0): a fair coin (default) or +1; see ZeroSign.
  TORCH_ARG(ZeroSign, zero) = ZeroSign::Random;
  /// What a tie of an even number of workers becomes (default: direction 0 via the tie plane).
  TORCH_ARG(TieRule, ties) = TieRule::Zero;
  /// Seed of the zero coins and the tie coins; give every rank the same seed (the rank is mixed in).
  TORCH_ARG(uint64_t, seed) = 0;
};

/// What one exchange did (MajorityVote::last_stats), or the sum over all exchanges (total_stats).
struct ExchangeStats {
  /// Exchanges counted: 1 in last_stats(), the number of aggregate_signs calls in total_stats().
  int64_t exchanges = 0;
  /// Exchanges that came through aggregate_packed (the optimizers' fused path) rather than aggregate_signs.
  int64_t packed = 0;
  /// Coordinates d (the total number of elements of all parameters).
  int64_t coordinates = 0;
  /// 64-bit words per shard, S = ceil(ceil(d / 64) / W).
  int64_t shard_words = 0;
  /// Bit planes that the allgather carries: majority_vote_planes(W, ties).
  int64_t planes = 0;
  /// Local coordinates that were 0 or NaN and so were sent as coins (ZeroSign::Random) or +1.
  int64_t zero_signs = 0;
  /// Tied coordinates in this rank's own shard (0 for odd W).
  int64_t own_ties = 0;
  /// Payload bytes this rank sent and received in the alltoall and the allgather (Communicator counters).
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
  /// Wall time in seconds: flattening and packing the local signs, the alltoall of packed shards, the
  /// vote on the own shard (and tie coins), the allgather of voted shards, unpacking into the parameters'
  /// shapes and dtypes.
  double pack_s = 0;
  double alltoall_s = 0;
  double vote_s = 0;
  double allgather_s = 0;
  double unpack_s = 0;

  /// pack_s + alltoall_s + vote_s + allgather_s + unpack_s.
  double total_s() const;
  /// Adds `other` field by field (coordinates and shard sizes too, so totals of them are sums).
  ExchangeStats& operator+=(const ExchangeStats& other);
};

/// Bit planes the allgather of a MajorityVote exchange carries: 2 for TieRule::Zero with an even W >= 4
/// (sign and tie), else 1 (for W = 2: the whole packed vector, see MajorityVote).
int64_t majority_vote_planes(int64_t world_size, TieRule ties);

/// Payload bytes one rank sends per exchange of d coordinates over W ranks with `planes` allgather planes:
/// 8 S (W - 1) + 8 S (W - 1) planes, S = ceil(ceil(d / 64) / W) (alltoall + allgather under the
/// Communicator's byte formulas); it receives as many. For large d about (1 + planes) (W - 1) / W * d / 8.
int64_t majority_vote_bytes_per_rank(int64_t coordinates, int64_t world_size, int64_t planes);

/// signSGD with majority vote (Bernstein et al. 2019) as a SignAggregator over a Communicator.
///
/// Each aggregate_signs() call is one bucket holding every parameter. With d coordinates and W ranks:
///   1. flatten the local signs to d float32 values (parameter order, each in index order) and pack them
///      (sign_pack.h; zeros follow options.zero() with key zero_sign_key(seed, step, rank, 0)) into W
///      shards of S = ceil(ceil(d / 64) / W) words, zero-padded;
///   2. alltoall: rank j receives shard j of every rank, a [W, S] tensor;
///   3. vote on it (majority_vote); with TieRule::SharedCoin the tied coordinates take the owner's coin;
///   4. allgather the voted shard: the sign plane, plus the tie plane for TieRule::Zero and even W >= 4;
///   5. unpack (ties to 0) and split back into the parameters' shapes and dtypes.
/// For W = 2 with TieRule::Zero, steps 2-4 are one allgather of the whole packed vector (the same 2 S words
/// per rank as the alltoall and allgather of halves, one collective instead of two) and each rank votes on
/// both halves itself: the same result, bit for bit.
/// Per rank that sends and receives about 2 d / 8 bytes (3 d / 8 with a tie plane) whatever W is,
/// against about 8 d bytes for a ring allreduce of the fp32 gradient.
///
/// Every rank must call aggregate_signs and allreduce_sum at the same steps, with parameters of the same
/// shapes in the same order (the optimizer guarantees it when every rank runs the same model); the first
/// exchange checks this once and fails with a message naming both ranks' sizes.
class MajorityVote : public SignAggregator {
 public:
  /// Uses `comm` for every exchange; `comm` must outlive this object.
  explicit MajorityVote(Communicator& comm, MajorityVoteOptions options = {});

  /// The voted directions (values -1, 0, +1; each tensor shaped and typed like local[i], contiguous; they may
  /// share one buffer, which the next call reuses only when the caller has dropped them). Every local[i]
  /// must be a defined CPU tensor of float32 or float64; bad input throws std::invalid_argument naming
  /// the parameter. A Communicator failure propagates as its std::runtime_error.
  std::vector<torch::Tensor> aggregate_signs(const std::vector<torch::Tensor>& local, int64_t step) override;

  /// True: aggregate_packed is the same exchange without the float flattening, packing and unpacking.
  bool supports_packed() const override {
    return true;
  }

  /// The exchange of aggregate_signs from signs already packed (SignAggregator::aggregate_packed): zeros
  /// are encoded by options().zero() exactly as aggregate_signs encodes them, and the same collectives run,
  /// so the voted bits are those aggregate_signs would unpack. The returned planes are `sign` (the voted
  /// signs) and, when a coordinate can be 0 (TieRule::Zero with an even W), `zero` (the tie plane).
  /// last_stats().pack_s counts copying the bits into the send buffer and encoding zeros; unpack_s is 0
  /// (the caller applies the bits).
  PackedDirection aggregate_packed(
      const torch::Tensor& sign,
      const torch::Tensor& zero,
      int64_t coordinates,
      int64_t tensors,
      int64_t step) override;

  /// One allreduce of `values` as a float64 tensor (nothing is sent for an empty vector).
  void allreduce_sum(std::vector<double>& values) override;

  /// The options in use.
  const MajorityVoteOptions& options() const {
    return options_;
  }
  /// The figures of the latest aggregate_signs call (all zero before the first).
  const ExchangeStats& last_stats() const {
    return last_;
  }
  /// The sums over every aggregate_signs call so far.
  const ExchangeStats& total_stats() const {
    return total_;
  }

 private:
  Communicator& comm_;
  MajorityVoteOptions options_;
  ExchangeStats last_;
  ExchangeStats total_;
  bool layout_checked_ = false;
  // Checks once that every rank exchanges `coordinates` coordinates of `tensors` tensors.
  void check_layout_(int64_t coordinates, int64_t tensors);
  // Steps 2-4 of an exchange of d coordinates whose local signs are packed in send_buffer_ (W shards of
  // `shard` words, zero-padded): the voted sign plane and, when ties can be 0, the tie plane, each of
  // packed_words(d) words; fills the timing and byte fields of `s` from the alltoall on.
  PackedDirection vote_packed_(int64_t d, int64_t step, ExchangeStats& s);
  // vote_packed_ without the byte counting.
  PackedDirection collectives_(int64_t d, int64_t step, ExchangeStats& s);
  // Makes `s` the last exchange's figures and adds it to the totals.
  void record_(const ExchangeStats& s);
  // vote_packed_ for two ranks and TieRule::Zero: one allgather of the whole vector, then the local vote.
  PackedDirection vote_two_(int64_t d, ExchangeStats& s);
  // Buffers kept between exchanges: the flattened signs, the packed shards, and the result, which is
  // reused only once the caller holds no reference to the previous one.
  torch::Tensor flat_buffer_;
  torch::Tensor send_buffer_;
  torch::Tensor result_buffer_;
  // The W = 2 vote's planes, reused once the caller has dropped the previous result.
  torch::Tensor vote_sign_buffer_;
  torch::Tensor vote_tie_buffer_;
};

} // namespace signopt::comm

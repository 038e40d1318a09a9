// The rules of the 1-bit majority vote as values with names: what a tied vote becomes (TieRule) and how a
// local zero is sent (ZeroSign, the bit kernels' rule: signopt/kernels/enums.h). Torch-free, so the
// trainer's option table lists their names from here.
#pragma once

#include <signopt/enum_names.h>
#include <signopt/kernels/enums.h>

#include <array>
#include <utility>

namespace signopt::comm {

using kernels::ZeroSign;

/// What a tie (exactly half of an even number of workers voting +1) becomes.
enum class TieRule {
  /// The coordinate does not move (direction 0, as sign(0) = 0). For even W >= 4 the allgather carries a
  /// second bit plane, the tie plane, so the traffic is 3 d / 8 instead of 2 d / 8 bytes per worker. For
  /// W = 2 the two ranks exchange their whole sign vectors and each finds the ties itself (a coordinate is
  /// tied where the two signs differ), so 1 bit per coordinate travels and the ties are exact.
  Zero,
  /// The shard's owner flips a fair coin (kTieCoinBucket in majority_vote.h): one bit plane travels, and the expected
  /// direction of a tied coordinate is still 0. For odd W there are no ties and both rules agree.
  SharedCoin,
};

} // namespace signopt::comm

template <>
struct signopt::EnumNames<signopt::comm::TieRule> {
  static constexpr const char* what = "vote tie rule";
  static constexpr std::array<std::pair<comm::TieRule, const char*>, 2> table{
      {{comm::TieRule::Zero, "zero"}, {comm::TieRule::SharedCoin, "shared-coin"}}};
};

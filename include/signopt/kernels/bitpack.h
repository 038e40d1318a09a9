// 1-bit sign packing, unpacking and the bitwise majority vote of distributed sign descent (algorithms.md
// section 7): pure, local CPU kernels with plain reference versions; the communication is elsewhere.
#pragma once

#include <signopt/kernels/bitpack_words.h>

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace signopt::kernels {

// The packed layout, zero-sign keys and the raw kernels on plain arrays: signopt/kernels/bitpack_words.h.

/// The agreed direction of a vote: `sign` holds the majority bits, `tie` is 1 where exactly half the
/// workers voted +1 (the coordinate's direction is 0 then; its sign bit is 0). Both are packed like the
/// inputs (int64 tensors of packed_words(n) words).
struct VoteResult {
  torch::Tensor sign;
  torch::Tensor tie;
};

// ---- tensor API (fused kernels) -------------------------------------------------------------------

/// Packs the signs of x (a contiguous float32 or float64 CPU tensor of any shape, read in memory order)
/// into a new int64 tensor of packed_words(x.numel()) words. x > 0 gives 1, x < 0 gives 0, zero and NaN
/// follow `zero`. When `zero_count` is non-null it receives how many coordinates were zero or NaN.
torch::Tensor pack_signs(
    const torch::Tensor& x,
    ZeroSign zero = ZeroSign::Random,
    const DrawKey& key = {},
    int64_t* zero_count = nullptr);

/// pack_signs into an existing contiguous int64 CPU tensor of packed_words(x.numel()) elements (a
/// communication buffer); returns the number of zero or NaN coordinates.
int64_t pack_signs_into(
    const torch::Tensor& x,
    torch::Tensor& out,
    ZeroSign zero = ZeroSign::Random,
    const DrawKey& key = {});

/// Unpacks n coordinates to a new 1-D tensor of `dtype` (float32 or float64): +scale where the bit is 1,
/// -scale where it is 0, and 0 where `zero_mask` (optional, packed like `bits`, e.g. VoteResult::tie)
/// has a 1. `scale` must be finite.
torch::Tensor unpack_signs(
    const torch::Tensor& bits,
    int64_t n,
    double scale = 1.0,
    const torch::Tensor& zero_mask = {},
    torch::ScalarType dtype = torch::kFloat);

/// unpack_signs into an existing contiguous float32/float64 CPU tensor; n is out.numel() (any shape).
void unpack_signs_into(
    const torch::Tensor& bits,
    torch::Tensor& out,
    double scale = 1.0,
    const torch::Tensor& zero_mask = {});

/// Majority vote of W >= 1 packed vectors of n coordinates each: per coordinate, with c the number of
/// workers whose bit is 1, sign = (2c > W) and tie = (2c == W) (only for even W).
VoteResult majority_vote(const std::vector<torch::Tensor>& packed, int64_t n);

/// Majority vote of the rows of a contiguous [W, packed_words(n)] int64 tensor (what an all-to-all of
/// packed shards delivers), same rule as above.
VoteResult majority_vote(const torch::Tensor& stacked, int64_t n);


} // namespace signopt::kernels

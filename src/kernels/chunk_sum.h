// Internal: the one definition of signopt's deterministic sums, shared by kernels::sum_* and the
// fused kernels. A tensor is cut into chunks of kReductionChunk elements; inside a chunk, element i
// goes to accumulator i % 8 (in order), the 8 accumulators are added pairwise; chunk totals are
// added in chunk order. Fixed order: bit-identical for any thread count, vectorizable.
#pragma once

#include <cstdint>

namespace signopt::kernels::detail {

/// Sum of term(i) for i in [0, n) with 8 interleaved double accumulators combined pairwise.
template <typename Term>
inline __attribute__((always_inline)) double chunk_sum8(int64_t n, Term term) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) {
      acc[j] += term(i + j);
    }
  }
  for (int j = 0; i < n; ++i, ++j) {
    acc[j] += term(i);
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

} // namespace signopt::kernels::detail

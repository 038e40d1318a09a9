// Internal: the one definition of signopt's deterministic sums, shared by kernels::sum_* and the
// fused kernels. A tensor is cut into chunks of kReductionChunk elements; inside a chunk, element i
// goes to accumulator i % 8 (in order), the 8 accumulators are added pairwise; chunk totals are
// added in chunk order. Fixed order: bit-identical for any thread count, vectorizable.
#pragma once

#include "isa.h"

#include <cstdint>

namespace signopt::kernels::detail {

/// Adds term(k) for k in [0, n) to acc[k % 8], k ascending: chunk_sum8's accumulation of elements [e, e + n) of a
/// chunk when e is a multiple of 8 (called block by block, it accumulates a chunk exactly as one call does).
template <typename Term>
inline __attribute__((always_inline)) void accumulate8(double acc[8], int64_t n, Term term) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) {
      acc[j] += term(i + j);
    }
  }
  for (int j = 0; i < n; ++i, ++j) {
    acc[j] += term(i);
  }
}

/// chunk_sum8's total of its 8 accumulators, added pairwise.
inline __attribute__((always_inline)) double combine8(const double acc[8]) {
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/// Sum of term(i) for i in [0, n) with 8 interleaved double accumulators combined pairwise.
template <typename Term>
inline __attribute__((always_inline)) double chunk_sum8(int64_t n, Term term) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  accumulate8(acc, n, term);
  return combine8(acc);
}

/// Two sums at once, each in chunk_sum8's order: terms(i, a, b) writes element i's two terms to a and b
/// (a fused pass that also updates memory must visit each element exactly once, in order).
template <typename Terms>
inline __attribute__((always_inline)) void chunk_sum8_pair(int64_t n, Terms terms, double* sum_a, double* sum_b) {
  double acc_a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, acc_b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) {
      double ta, tb;
      terms(i + j, ta, tb);
      acc_a[j] += ta;
      acc_b[j] += tb;
    }
  }
  for (int j = 0; i < n; ++i, ++j) {
    double ta, tb;
    terms(i, ta, tb);
    acc_a[j] += ta;
    acc_b[j] += tb;
  }
  *sum_a = ((acc_a[0] + acc_a[1]) + (acc_a[2] + acc_a[3])) + ((acc_a[4] + acc_a[5]) + (acc_a[6] + acc_a[7]));
  *sum_b = ((acc_b[0] + acc_b[1]) + (acc_b[2] + acc_b[3])) + ((acc_b[4] + acc_b[5]) + (acc_b[6] + acc_b[7]));
}

} // namespace signopt::kernels::detail

// Deterministic reductions for the optimizers: fixed chunking and a fixed summation order, so
// results are bit-identical for any thread count.
#pragma once

#include <signopt/kernels/reductions_core.h>

#include <torch/types.h>

namespace signopt::kernels {

/// sum_i |x_i| in double precision.
double sum_abs(const torch::Tensor& x);
/// sum_i x_i^2 in double precision.
double sum_sq(const torch::Tensor& x);
/// sum_i a_i * b_i in double precision (a and b of equal numel).
double dot(const torch::Tensor& a, const torch::Tensor& b);
/// max_i |x_i| (0 for an empty tensor).
double max_abs(const torch::Tensor& x);
/// True when every element is finite (no NaN or infinity).
bool all_finite(const torch::Tensor& x);

/// Three sums of one tensor for the hybrid's calibration (its momentum m), one read of x: the number of
/// non-zero entries (NaN counts as non-zero), sum_i |x_i| (equal to sum_abs) and sum_i x_i^2 (sum_sq). A 16-bit
/// CPU tensor is widened to float32 first (exactly), so its sums come in the float32 fast path's order.
struct MomentSums {
  double nonzero = 0.0;
  double abs = 0.0;
  double sq = 0.0;
};
MomentSums moment_sums(const torch::Tensor& x);

} // namespace signopt::kernels

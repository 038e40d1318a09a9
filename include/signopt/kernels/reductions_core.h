// The torch-free part of the deterministic reductions (signopt/kernels/reductions.h has the tensor API):
// raw-pointer entry points of the CPU kernels' core, which the Python package's operators call too.
#pragma once

#include <signopt/kernels/args.h>
#include <signopt/kernels/half.h>

#include <array>
#include <cstdint>

namespace signopt::kernels {

/// Elements summed serially per chunk; chunk partials are then added in chunk order.
constexpr int64_t kReductionChunk = 4096;

namespace cpu {

/// True when none of the n contiguous elements of `dtype` at x is NaN or infinite (one read pass).
bool all_finite(Dtype dtype, const void* x, int64_t n);

/// The same for n contiguous 16-bit floats of `type` (bfloat16, float16) at x, on their bits.
bool all_finite_half(HalfType type, const uint16_t* x, int64_t n);

/// The hybrid's three moment sums of n contiguous elements of `dtype` at x, in one read: the number of
/// non-zero entries (NaN counts as non-zero), sum_i |x_i| and sum_i x_i^2, in kernels::moment_sums' order.
std::array<double, 3> moment_sums(Dtype dtype, const void* x, int64_t n);

} // namespace cpu
} // namespace signopt::kernels

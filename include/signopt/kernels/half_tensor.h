// The 16-bit storage formats of signopt/kernels/half.h as torch dtypes, for the tensor entry points (the fused
// kernels, the reference, the reductions) and the optimizers.
#pragma once

#include <signopt/kernels/half.h>

#include <c10/core/ScalarType.h>

#include <optional>

namespace signopt::kernels {

/// The 16-bit storage format of a bfloat16 or float16 dtype; std::nullopt for every other dtype.
inline std::optional<HalfType> half_type_of(at::ScalarType type) {
  if (type == at::kBFloat16) {
    return HalfType::kBFloat16;
  }
  if (type == at::kHalf) {
    return HalfType::kFloat16;
  }
  return std::nullopt;
}

} // namespace signopt::kernels

// Internal: the float32 view of a 16-bit optimizer state buffer, for the optimizers' unfused paths on
// bfloat16/float16 parameters (the fused 16-bit kernels' rule: arithmetic in float32, a 16-bit buffer stored
// back rounded to nearest).
#pragma once

#include <signopt/kernels/half_tensor.h>

#include <torch/torch.h>

namespace signopt::detail {

/// `value` is the buffer itself (undefined, float32 or float64), or a float32 copy of a 16-bit one that
/// store() writes back rounded to nearest.
struct FloatWorkingCopy {
  torch::Tensor& buffer;
  torch::Tensor value;

  explicit FloatWorkingCopy(torch::Tensor& b)
      : buffer(b), value(b.defined() && kernels::half_type_of(b.scalar_type()) ? b.to(torch::kFloat) : b) {}

  void store() {
    if (value.defined() && !value.is_same(buffer)) {
      buffer.copy_(value);
    }
  }
};

} // namespace signopt::detail

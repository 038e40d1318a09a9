// Internal: a tensor's element type as the raw-pointer kernels name it, shared by the CPU and CUDA halves
// of the tensor entry points (dispatch.cpp, fused_cuda_dispatch.cpp).
#pragma once

#include <signopt/kernels/args.h>

#include <torch/types.h>

namespace signopt::kernels::detail {

/// The Dtype of a float32/float64 tensor (the entry points check the dtype before they ask).
inline Dtype dtype_of(const torch::Tensor& t) {
  return t.scalar_type() == at::kFloat ? Dtype::kFloat32 : Dtype::kFloat64;
}

} // namespace signopt::kernels::detail

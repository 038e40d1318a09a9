// Internal: the fused kernels' entry points for CUDA tensors (signopt built with SIGNOPT_WITH_CUDA):
// tensors -> raw pointers, LibTorch's current stream and a workspace from its caching allocator.
#pragma once

#include <signopt/kernels/fused.h>

namespace signopt::kernels::detail {

/// kernels::sign_descent_step for contiguous CUDA tensors. The dither scale s_t of a data-dependent
/// scale stays on the device: the return value is then NaN unless `dot_gg` is requested (which
/// reads the results back anyway).
double sign_descent_step_cuda(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    const SignStepArgs& args,
    double* dot_gg);

/// kernels::sign_descent_step for a contiguous 16-bit CUDA parameter (`type`), its gradient and a momentum of its
/// type (half_momentum) or float32; the scale as sign_descent_step_cuda.
double sign_descent_step_half_cuda(
    HalfType type,
    bool half_momentum,
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    const SignStepArgs& args,
    double* dot_gg);

/// kernels::sgd_step for a contiguous 16-bit CUDA parameter.
void sgd_step_half_cuda(
    HalfType type,
    bool half_momentum,
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& v,
    const SgdStepArgs& args);

/// kernels::sgd_step for contiguous CUDA tensors.
void sgd_step_cuda(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& v, const SgdStepArgs& args);

/// kernels::ef_sign_sgd_step for contiguous CUDA tensors.
void ef_sign_sgd_step_cuda(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& e,
    torch::Tensor& buf,
    const EfStepArgs& args);

/// kernels::lion_step for contiguous CUDA tensors.
void lion_step_cuda(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& m, const LionStepArgs& args);

} // namespace signopt::kernels::detail

// The fused kernels' entry points for CUDA tensors: the kernels (fused_cuda.cu) take raw pointers,
// so this file needs only torch_cpu/c10: the tensors' memory, LibTorch's current CUDA stream (via
// c10's device-guard registry, filled in when libtorch_cuda is loaded) and workspace memory from
// LibTorch's caching allocator (through the dispatcher).
#include "fused_cuda_dispatch.h"
#include "tensor_memory.h"

#include <signopt/kernels/fused_cuda.h>

#include <c10/core/DeviceGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include <limits>

namespace signopt::kernels::detail {
namespace {

// LibTorch's current stream on p's device, as a cudaStream_t.
void* current_stream(const torch::Tensor& p) {
  return c10::impl::getDeviceGuardImpl(p.device().type())->getStream(p.device()).native_handle();
}

void* data_or_null(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr() : nullptr;
}

torch::Tensor workspace_for(const torch::Tensor& p) {
  return at::empty({cuda::workspace_doubles(p.numel())}, p.options().dtype(at::kDouble));
}

// A sign step on CUDA tensors: `launch(workspace, stream)` queues the kernels, then the scale and the calibration
// sums are read back as the step needs them.
template <class Launch>
double sign_step_on_device(torch::Tensor& p, const SignStepArgs& a, double* dot_gg, Launch launch) {
  const c10::DeviceGuard guard(p.device());
  const DitherArgs& d = a.dither;
  const bool data_scale = d.enabled && d.scale != DitherScale::Absolute;
  const bool calibrate = dot_gg != nullptr;
  torch::Tensor workspace;
  if (data_scale || calibrate) {
    workspace = workspace_for(p);
  }
  void* stream = current_stream(p);
  launch(workspace.defined() ? workspace.data_ptr<double>() : nullptr, stream);
  double s = d.enabled ? d.alpha : 0.0;
  if (calibrate) {
    const cuda::StepResults r = cuda::read_results(workspace.data_ptr<double>(), stream);
    dot_gg[0] = r.dot;
    dot_gg[1] = r.gg;
    if (data_scale) {
      s = r.scale;
    }
  } else if (data_scale) {
    s = std::numeric_limits<double>::quiet_NaN(); // on the device; reading it would synchronize
  }
  return s;
}

} // namespace

double sign_descent_step_cuda(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    const SignStepArgs& a,
    double* dot_gg) {
  return sign_step_on_device(p, a, dot_gg, [&](double* workspace, void* stream) {
    cuda::sign_descent_step(
        dtype_of(p),
        p.data_ptr(),
        g.data_ptr(),
        a.beta > 0 ? data_or_null(buf) : nullptr,
        p.numel(),
        a,
        dot_gg != nullptr,
        workspace,
        stream);
  });
}

double sign_descent_step_half_cuda(
    HalfType type,
    bool half_momentum,
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    const SignStepArgs& a,
    double* dot_gg) {
  return sign_step_on_device(p, a, dot_gg, [&](double* workspace, void* stream) {
    cuda::sign_descent_step_half(
        type,
        half_momentum,
        static_cast<uint16_t*>(p.data_ptr()),
        static_cast<const uint16_t*>(g.data_ptr()),
        a.beta > 0 ? data_or_null(buf) : nullptr,
        p.numel(),
        a,
        dot_gg != nullptr,
        workspace,
        stream);
  });
}

void sgd_step_half_cuda(
    HalfType type,
    bool half_momentum,
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& v,
    const SgdStepArgs& a) {
  const c10::DeviceGuard guard(p.device());
  cuda::sgd_step_half(
      type,
      half_momentum,
      static_cast<uint16_t*>(p.data_ptr()),
      static_cast<const uint16_t*>(g.data_ptr()),
      a.mu > 0 ? data_or_null(v) : nullptr,
      p.numel(),
      a,
      current_stream(p));
}

void sgd_step_cuda(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& v, const SgdStepArgs& a) {
  const c10::DeviceGuard guard(p.device());
  cuda::sgd_step(
      dtype_of(p), p.data_ptr(), g.data_ptr(), a.mu > 0 ? data_or_null(v) : nullptr, p.numel(), a, current_stream(p));
}

void ef_sign_sgd_step_cuda(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& e,
    torch::Tensor& buf,
    const EfStepArgs& a) {
  const c10::DeviceGuard guard(p.device());
  torch::Tensor workspace = workspace_for(p);
  cuda::ef_sign_sgd_step(
      dtype_of(p),
      p.data_ptr(),
      g.data_ptr(),
      e.data_ptr(),
      a.momentum > 0 ? data_or_null(buf) : nullptr,
      p.numel(),
      a,
      workspace.data_ptr<double>(),
      current_stream(p));
}

void lion_step_cuda(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& m, const LionStepArgs& a) {
  const c10::DeviceGuard guard(p.device());
  cuda::lion_step(dtype_of(p), p.data_ptr(), g.data_ptr(), m.data_ptr(), p.numel(), a, current_stream(p));
}

} // namespace signopt::kernels::detail

// CUDA versions of the fused update kernels on raw device pointers (no LibTorch, no CUDA headers):
// the same rules, draws and summation order as the CPU kernels, so results are bit-identical.
//
// These functions exist only when signopt was built with its CUDA kernels (the compile definition
// SIGNOPT_WITH_CUDA is then set on signopt::signopt). The optimizers reach them through
// kernels::sign_descent_step & co. for contiguous CUDA float32/float64 (and 16-bit) tensors; call them directly
// only to drive the kernels without LibTorch (tests, the cuda_kernel_check program).
//
// Every pointer is device memory of `n` elements of the given dtype (nullptr where a buffer is not
// used); `stream` is a cudaStream_t (nullptr: the legacy default stream). Kernels are queued on
// `stream` and the functions return without waiting, except read_results and the runtime helpers.
// Errors (no device, a failed launch) throw std::runtime_error naming the call and the CUDA error.
#pragma once

#include <signopt/kernels/args.h>
#include <signopt/kernels/half.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace signopt::kernels::cuda {

/// Element type of the tensors of one call (the CPU core's too: signopt/kernels/args.h).
using kernels::Dtype;

/// Every step takes the CPU kernels' argument struct of its rule (signopt/kernels/args.h).
using kernels::EfStepArgs;
using kernels::LionStepArgs;
using kernels::SgdStepArgs;
using kernels::SignStepArgs;

/// Doubles of device scratch memory a step with a reduction (dither statistics, the hybrid's
/// calibration sums, EF-SignSGD's ||c||_1) needs for n elements: result slots plus one partial sum
/// per 4096-element chunk and sum.
int64_t workspace_doubles(int64_t n);

/// One SignSGD/Signum step on p (and m when beta > 0), as kernels::sign_descent_step. A data-
/// dependent dither scale is computed on the device; with `calibrate`, <u, g> and ||g||^2 are
/// computed in the update pass. Both stay in `workspace` (workspace_doubles(n) doubles; may be
/// nullptr when neither is needed) until read_results.
void sign_descent_step(
    Dtype dtype,
    void* p,
    const void* g,
    void* m,
    int64_t n,
    const SignStepArgs& args,
    bool calibrate,
    double* workspace,
    void* stream);

/// One SignSGD/Signum step on 16-bit parameters and gradients (bfloat16, float16), as the CPU's 16-bit step:
/// float32 arithmetic, p stored by args.rounding (stochastic rounding keyed by (seed, step, param_index), or to
/// nearest), m float32 or (half_momentum) of the parameter's type, stored to nearest. Workspace and results as
/// sign_descent_step.
void sign_descent_step_half(
    HalfType type,
    bool half_momentum,
    uint16_t* p,
    const uint16_t* g,
    void* m,
    int64_t n,
    const SignStepArgs& args,
    bool calibrate,
    double* workspace,
    void* stream);

/// The hybrid's SGD-phase step on 16-bit parameters, as the CPU's: float32 arithmetic, v float32 or 16-bit.
void sgd_step_half(
    HalfType type,
    bool half_momentum,
    uint16_t* p,
    const uint16_t* g,
    void* v,
    int64_t n,
    const SgdStepArgs& args,
    void* stream);

/// The hybrid's SGD-phase step, as kernels::sgd_step.
void sgd_step(Dtype dtype, void* p, const void* g, void* v, int64_t n, const SgdStepArgs& args, void* stream);

/// One EF-SignSGD step, as kernels::ef_sign_sgd_step (two passes; ||c||_1 / n stays on the device).
void ef_sign_sgd_step(
    Dtype dtype,
    void* p,
    const void* g,
    void* e,
    void* buf,
    int64_t n,
    const EfStepArgs& args,
    double* workspace,
    void* stream);

/// One Lion step, as kernels::lion_step.
void lion_step(Dtype dtype, void* p, const void* g, void* m, int64_t n, const LionStepArgs& args, void* stream);

/// The scalars a step left in its workspace.
struct StepResults {
  double scale = 0.0; ///< the dither scale s_t (sign steps) or ||c||_1 / n (EF-SignSGD)
  double dot = 0.0; ///< <u, g> (sign steps with calibrate)
  double gg = 0.0; ///< ||g||^2 (sign steps with calibrate)
};

/// Copies the result slots of `workspace` to the host; waits for `stream`. A slot that the step
/// did not write (no reduction of that kind) holds an unspecified value.
StepResults read_results(const double* workspace, void* stream);

// ---- runtime helpers (the static CUDA runtime linked into signopt) ------------------------------

/// True when a CUDA device can run the kernels; otherwise false and, if `reason` is non-null, why
/// (no driver, no device, a driver too old for this CUDA runtime, ...).
bool device_available(std::string* reason = nullptr);

/// Name and compute capability of the current device, e.g. "NVIDIA H200 (sm_90, 132 SMs)".
std::string device_description();

/// cudaMalloc / cudaFree / cudaMemcpy (synchronous) / cudaDeviceSynchronize, throwing on errors.
void* device_alloc(size_t bytes);
void device_free(void* ptr);
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void copy_on_device(void* dst, const void* src, size_t bytes);
void synchronize();

/// Caps the number of blocks per launch (0: the default, 8 per SM), for tests that check that
/// results do not depend on the launch configuration. Not thread-safe.
void set_grid_limit(int64_t blocks);

/// Milliseconds per call of `body`, measured with CUDA events on the legacy default stream over
/// `iterations` calls after `warmup` untimed ones. `body` queues work on that stream.
double time_ms(void (*body)(void* context), void* context, int iterations, int warmup = 3);

} // namespace signopt::kernels::cuda

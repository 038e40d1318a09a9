// The reference compositions of torch ops for every fused update rule, in one unit: what an optimizer
// runs when the fused kernels do not apply (other dtypes and devices, non-contiguous tensors, fused
// kernels switched off, the element-wise vote of a distributed step), and the oracle the fused kernels
// are held to bit for bit (tests/kernels/test_fused.cpp). Each takes the fused kernel's argument struct
// (signopt/kernels/args.h) and performs the rule of ../shared/docs/algorithms.md with separately rounded
// operations in the fused kernels' order.
#pragma once

#include <signopt/kernels/args.h>

#include <torch/types.h>

#include <cstdint>

namespace signopt::kernels::reference {

/// The gradient a rule uses after weight decay `wd` at step size `lr` (algorithms.md section 1):
/// coupled decay returns g + wd p; decoupled decay shrinks p in place (p *= 1 - lr wd) and returns g.
/// Nothing happens for wd = 0.
torch::Tensor decayed_gradient(torch::Tensor& p, const torch::Tensor& g, double lr, double wd, bool decoupled);

/// The per-tensor base of a dither scale: 1 (absolute), rms, max|x|/3 or mean|x| (0 for an empty x).
double dither_base(const torch::Tensor& x, DitherScale scale);

/// Unit dither noise shaped like `like` (its dtype and device): N(0,1) or U(-1,1) from Philox keyed by
/// (seed, stream) at counter (step, param_index, element index), the fused kernels' draws.
torch::Tensor dither_noise(
    const torch::Tensor& like,
    uint64_t seed,
    uint64_t stream,
    bool gaussian,
    int64_t step,
    int64_t param_index);

/// The threshold draw's uniforms v in (0, 1) for a tensor shaped like `like` (float32 on its device): element e
/// from Philox block e / 8 (kernels::threshold_bits, kernels::threshold_uniform), the fused kernels' draws.
torch::Tensor threshold_uniforms(
    const torch::Tensor& like,
    uint64_t seed,
    uint64_t stream,
    int64_t step,
    int64_t param_index);

/// The threshold draw of sign(x + s xi) (d.gaussian: xi standard normal, else uniform on [-1, 1]) as torch ops,
/// the fused kernels' operations in their order: a = float(|x| (1/s)), the level t of each uniform v
/// (kernels::threshold_level), and the sign of x flipped where a < t (0 where a is NaN: NaN x, or x = 0 with
/// s = 0).
torch::Tensor threshold_sign(const torch::Tensor& x, double s, const DitherArgs& d);

/// The dither scale s_t of a step whose noise goes onto x: d.alpha dither_base(x, d.scale), or under
/// DitherScaleFrom::Previous (previous_scale(d)) d.alpha times the stored base once it is ready; then
/// base(x) is stored for the next step (on a CPU scale_state).
double step_scale(const torch::Tensor& x, const DitherArgs& d);

/// x + s noise with s = step_scale(x, d); s through `scale_out`.
torch::Tensor add_dither(const torch::Tensor& x, const DitherArgs& d, double* scale_out = nullptr);

/// The sign direction u = sign(x) of a sign step from the gradient g (weight decay already applied):
/// dither on g (target gradient), the EMA buf = beta buf + (1 - beta) g (beta > 0, in place), dither on the
/// sign argument (target momentum); or, where threshold_applies, the threshold draw at the argument x. The
/// dither scale used through `scale_out` (0 without dithering).
torch::Tensor sign_direction(
    const torch::Tensor& g,
    torch::Tensor& buf,
    double beta,
    const DitherArgs& d,
    double* scale_out = nullptr);

/// The stochastic rounding's random bits (0..65535, int64) for a tensor shaped like `like`, on its device:
/// half::rounding_bits of (r.seed, r.step, r.param_index) at each element index.
torch::Tensor rounding_bits(const torch::Tensor& like, const RoundingArgs& r);

/// x rounded to `type` (bfloat16 or float16) stochastically with rounding_bits(x, r), as torch ops on the
/// float32 bits (signopt/kernels/half.h's rule).
torch::Tensor stochastic_round(const torch::Tensor& x, at::ScalarType type, const RoundingArgs& r);

/// Stores a float32 result into the 16-bit parameter p: stochastic_round with `rounding`'s bits, or to nearest.
void store_rounded(const torch::Tensor& p, const torch::Tensor& p32, const RoundingArgs& rounding);

/// kernels::sign_descent_step's composition: g' = decayed_gradient, u = sign_direction(g'), p -= lr u.
/// Returns the dither scale; `dot_gg` (optional) receives <u, g'> and ||g'||^2. A 16-bit p (bfloat16,
/// float16) runs that in float32 on copies (a float32 buf in place; `dot_gg` from the float32 terms) and
/// stores p by args.rounding (store_rounded) and a 16-bit buf to nearest.
double sign_descent_step(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    const SignStepArgs& args,
    double* dot_gg = nullptr);

/// kernels::sgd_step's composition (the hybrid's SGD phase); a 16-bit p as in sign_descent_step (v float32 in
/// place, or 16-bit: updated in float32, stored to nearest, the step from the unrounded value).
void sgd_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& v, const SgdStepArgs& args);

/// EF-SignSGD's corrected step c = lr g'' + e, with g' = decayed_gradient(p, g) and g'' the momentum
/// buffer after buf = mu buf + g' (momentum > 0; updated in place) or g'. The first half of
/// ef_sign_sgd_step, and what a distributed EF-SignSGD worker compresses.
torch::Tensor ef_corrected(
    torch::Tensor& p,
    const torch::Tensor& g,
    const torch::Tensor& e,
    torch::Tensor& buf,
    const EfStepArgs& args);

/// kernels::ef_sign_sgd_step's composition; e is updated in place.
void ef_sign_sgd_step(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& e,
    torch::Tensor& buf,
    const EfStepArgs& args);

/// kernels::lion_step's composition.
void lion_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& m, const LionStepArgs& args);

} // namespace signopt::kernels::reference

// Fused single-pass CPU update kernels: stateless functions of tensors and scalars, bit-identical
// to the reference compositions of torch ops used by the optimizers (tests/kernels/test_fused.cpp). When
// signopt is built with CUDA (SIGNOPT_WITH_CUDA), CUDA tensors go to the CUDA kernels
// (signopt/kernels/fused_cuda.h), which give the same bits.
#pragma once

#include <signopt/kernels/args.h>
#include <signopt/kernels/half_tensor.h>

#include <torch/types.h>

#include <cstdint>

namespace signopt::kernels {

/// Whether the optimizers use the fused kernels where eligible (default: true). For tests and
/// benchmarks that compare against the reference path; not thread-safe to change during a step.
void set_fused_enabled(bool enabled);
bool fused_enabled();

/// How many fused kernel calls (one per parameter tensor and step) ran in this process; lets tests
/// and benchmarks confirm which path an optimizer took.
int64_t fused_call_count();

/// True when every defined tensor is on the CPU (or on CUDA, when signopt was built with CUDA),
/// contiguous, float32 or float64, all of one dtype and device, and fused kernels are enabled.
bool fused_eligible(std::initializer_list<torch::Tensor> tensors);

/// True when sign_descent_step takes (p, g, buf) fused: fused_eligible({p, g, buf}), or a 16-bit parameter
/// (bfloat16, float16) on the CPU (or, in a CUDA build, on a CUDA device) with a gradient of its dtype and a
/// momentum buffer (if defined) of its dtype or float32, all contiguous and on its device.
bool fused_sign_eligible(const torch::Tensor& p, const torch::Tensor& g, const torch::Tensor& buf);

/// True when sgd_step takes (p, g, v) fused: the same conditions as fused_sign_eligible, v the momentum.
bool fused_sgd_eligible(const torch::Tensor& p, const torch::Tensor& g, const torch::Tensor& v);

/// One SignSGD/Signum step (algorithms.md sections 1-3) on p in place; `buf` is the EMA momentum
/// (undefined when beta == 0). Returns the dither scale s_t used (0 without dithering); for CUDA
/// tensors with a data-dependent scale (rms, max3sigma, meanabs) s_t stays on the device and NaN
/// is returned unless `dot_gg` is requested (reading it would synchronize every step).
/// When `dot_gg` is non-null it receives <u, g> and ||g||^2 (g after coupled weight decay) for the
/// hybrid's calibration, computed in the same pass.
/// A 16-bit parameter (fused_sign_eligible) is computed in float32 and stored by args.rounding
/// (docs/optimizers.md, "Low-precision parameters"); its `dot_gg` sums the float32 terms.
double sign_descent_step(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    const SignStepArgs& args,
    double* dot_gg = nullptr);

/// The first half of a SignSGD/Signum step whose direction is agreed by a packed exchange
/// (SignAggregator::aggregate_packed, e.g. comm::MajorityVote): updates `buf` exactly as
/// sign_descent_step does (dithering included) and, instead of moving p, ORs the packed signs of the
/// sign argument x into bits [bit_offset, bit_offset + p.numel()) of `sign_words` (1 where x > 0) and
/// `zero_words` (1 where x is 0 or NaN; written only when there is one). Both are contiguous int64 CPU
/// tensors of packed words (kernels/bitpack.h) whose bits there must be 0 beforehand. p (contiguous
/// float32/float64 CPU) is read only for coupled weight decay; g and buf have its dtype and size. Returns
/// the number of zero/NaN coordinates. One pass over g and buf; the bits equal pack_sign_planes of
/// the direction sign_descent_step would apply.
int64_t sign_descent_pack(
    const torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    const SignStepArgs& args,
    torch::Tensor& sign_words,
    torch::Tensor& zero_words,
    int64_t bit_offset);

/// The second half: p <- p (1 - lr wd) - lr v with decoupled weight decay (p - lr v when coupled: that
/// decay went into the first half's gradient), where v is the agreed direction at bits [bit_offset,
/// bit_offset + p.numel()): 0 where `zero_words` (optional) has a 1, else +1 for a set `sign_words` bit and
/// -1 for a clear one. Bit-identical to unpacking v and applying it as the unfused optimizers do.
/// When `dot_gg` is non-null (the hybrid's calibration) it receives <v, g'> and ||g'||^2, g' = g + wd p
/// with coupled decay (p before its update) or g, in kernels::dot's summation order; `g` is then the
/// gradient (p's dtype and size, contiguous CPU).
void apply_packed_direction(
    torch::Tensor& p,
    double lr,
    double weight_decay,
    bool decoupled,
    const torch::Tensor& sign_words,
    const torch::Tensor& zero_words,
    int64_t bit_offset,
    const torch::Tensor& g = {},
    double* dot_gg = nullptr);

/// The hybrid's SGD phase step: g' = g + wd p (coupled) or p *= 1 - eta wd (decoupled);
/// v = mu v + g', p -= eta (1 - mu) v (mu > 0, v defined, `dampened`: SWATS's convention) or p -= eta v
/// (undampened: LibTorch's SGD), or p -= eta g' (mu = 0). A 16-bit parameter (fused_sgd_eligible) is
/// computed in float32 and stored by args.rounding; a 16-bit v is updated in float32 and stored to nearest,
/// the step taken from the unrounded value.
void sgd_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& v, const SgdStepArgs& args);

/// One EF-SignSGD step: c = lr g' + e; Delta = (||c||_1 / d) sign(c); p -= Delta; e = c - Delta.
void ef_sign_sgd_step(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& e,
    torch::Tensor& buf,
    const EfStepArgs& args);

/// One Lion step: c = b1 m + (1 - b1) g'; p -= lr sign(c); m = b2 m + (1 - b2) g'.
void lion_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& m, const LionStepArgs& args);

} // namespace signopt::kernels

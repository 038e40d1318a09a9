// The scalar arguments of the fused update rules, one struct per rule, shared by the CPU kernels
// (signopt/kernels/fused.h) and the CUDA kernels (signopt/kernels/fused_cuda.h). Torch-free.
#pragma once

#include <signopt/kernels/enums.h>

#include <cstdint>

namespace signopt::kernels {

/// The element types of the fused kernels' raw-pointer entry points (CPU core and CUDA).
enum class Dtype { kFloat32, kFloat64 };

/// Pre-sign dither parameters of one step of one tensor (see DitherOptions).
struct DitherArgs {
  bool enabled = false;
  bool gaussian = true;
  bool target_gradient = false;
  /// How the sign is drawn; the threshold draw applies where only the sign reads the noise (threshold_applies).
  DitherDraw draw = DitherDraw::Additive;
  /// What the noise's scale is relative to (DitherOptions::scale).
  DitherScale scale = DitherScale::Rms;
  /// Previous: s = alpha base(x_{t-1}) from *scale_state (when scale_state_ready), and the step stores
  /// base(x_t) there; used where previous_scale(*this) holds.
  DitherScaleFrom scale_from = DitherScaleFrom::Current;
  /// The tensor's stored base, one double on the tensor's device (DitherScaleFrom::Previous only).
  double* scale_state = nullptr;
  /// Whether *scale_state holds the previous step's base (false on the tensor's first step: the step then
  /// measures its own argument first, as with Current).
  bool scale_state_ready = false;
  double alpha = 0.0; ///< alpha_t
  uint64_t seed = 0;
  uint64_t stream = 0;
  int64_t step = 0;
  int64_t param_index = 0;
};

/// Whether a step with dither `d` takes its scale from the previous step's argument (and stores this step's).
inline bool previous_scale(const DitherArgs& d) {
  return d.enabled && d.scale != DitherScale::Absolute && d.scale_from == DitherScaleFrom::Previous &&
      d.scale_state != nullptr;
}

/// Whether a step with dither `d` and momentum coefficient `beta` draws its sign by threshold: asked for, and
/// the noise does not enter the momentum (target momentum, or no momentum).
inline bool threshold_applies(const DitherArgs& d, double beta) {
  return d.enabled && d.draw == DitherDraw::Threshold && (!d.target_gradient || beta == 0.0);
}

/// How a step stores a 16-bit (bfloat16, float16) parameter computed in float32: stochastic rounding with the
/// rounding bits keyed by (seed, step, param_index) (signopt/kernels/half.h), or round to nearest even.
/// Float32 and float64 parameters ignore it.
struct RoundingArgs {
  bool stochastic = true;
  uint64_t seed = 0;
  int64_t step = 0;
  int64_t param_index = 0;
};

/// Scalar arguments of one SignSGD/Signum step (kernels::sign_descent_step and sign_descent_pack, and
/// cuda::sign_descent_step).
struct SignStepArgs {
  double lr = 0.0;
  double weight_decay = 0.0;
  bool decoupled = false;
  double beta = 0.0; ///< EMA coefficient; 0: no momentum buffer
  DitherArgs dither;
  RoundingArgs rounding;
};

/// Scalar arguments of the hybrid's SGD-phase step (kernels::sgd_step and cuda::sgd_step).
struct SgdStepArgs {
  double eta = 0.0;
  double weight_decay = 0.0;
  bool decoupled = false;
  double mu = 0.0; ///< 0: no momentum buffer (v may be nullptr)
  bool dampened = true; ///< step (1 - mu) v (SWATS) or v (LibTorch's undampened SGD)
  RoundingArgs rounding; ///< how a 16-bit parameter is stored after its float32 update
};

/// Scalar arguments of one EF-SignSGD step (kernels::ef_sign_sgd_step and cuda::ef_sign_sgd_step).
struct EfStepArgs {
  double lr = 0.0;
  double weight_decay = 0.0;
  bool decoupled = false;
  double momentum = 0.0; ///< 0: no momentum buffer (buf may be nullptr)
};

/// Scalar arguments of one Lion step (kernels::lion_step and cuda::lion_step).
struct LionStepArgs {
  double lr = 0.0;
  double weight_decay = 0.0;
  bool decoupled = false;
  double beta1 = 0.0;
  double beta2 = 0.0;
};

} // namespace signopt::kernels

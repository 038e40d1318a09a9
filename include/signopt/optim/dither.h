// Pre-sign dithering (algorithms.md section 3): options, the annealing schedule, the per-tensor scale
// and the counter-based noise.
#pragma once

#include <signopt/optim/enums.h>

#include <torch/arg.h>
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>

namespace signopt {

/// Options of pre-sign dithering. Defaults: Gaussian, Rms, alpha 1, Power with gamma 0.55,
/// momentum target, additive draw, step clock, seed 0, stream 0.
struct DitherOptions {
  TORCH_ARG(double, alpha) = 1.0;
  TORCH_ARG(DitherScale, scale) = DitherScale::Rms;
  TORCH_ARG(DitherSchedule, schedule) = DitherSchedule::Power;
  /// Power schedule exponent: the noise variance decays as (1 + t0)^-gamma.
  TORCH_ARG(double, gamma) = 0.55;
  /// Final alpha of the Linear and Cosine schedules.
  TORCH_ARG(double, alpha_min) = 0.0;
  /// Length in ticks of the Linear and Cosine schedules (required > 0 for them).
  TORCH_ARG(int64_t, horizon) = 0;
  /// Per-tick factor r of the Exponential schedule, in (0, 1].
  TORCH_ARG(double, decay_rate) = 0.999;
  TORCH_ARG(DitherDistribution, distribution) = DitherDistribution::Gaussian;
  TORCH_ARG(DitherTarget, target) = DitherTarget::Momentum;
  /// How the dithered sign is drawn: Additive (x + s xi, then the sign) or Threshold (sign(x) flipped where
  /// |x| / s is below the level of a 16-bit uniform v, i.e. where v < P(xi < -|x| / s); where only the sign reads
  /// the noise). Both are exact in law (docs/optimizers.md, "The threshold draw").
  TORCH_ARG(DitherDraw, draw) = DitherDraw::Additive;
  /// Which step's sign argument a data-dependent scale (Rms, Max3Sigma, MeanAbs) measures: Current (a
  /// statistics pass before the update) or Previous (the last step's, measured during its update, so a step
  /// reads and writes each array once; a tensor's first step measures its own). Previous is kept per
  /// parameter in the optimizer's state (`dither_base`) and needs CPU parameters for now.
  TORCH_ARG(DitherScaleFrom, scale_from) = DitherScaleFrom::Current;
  TORCH_ARG(DitherClock, clock) = DitherClock::Step;
  /// Seed of the counter-based generator.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Independent stream, e.g. a distributed rank; folded into the generator key.
  TORCH_ARG(int64_t, stream) = 0;

 public:
  /// Throws std::invalid_argument naming the field and value when an option is out of range.
  void validate(const std::string& owner) const;
};

/// alpha_t for tick t0 >= 0 (a pure function of the options).
double dither_alpha(const DitherOptions& options, int64_t t0);

/// The per-tensor base of the scale: 1, rms, max|x|/3 or mean|x|.
double dither_base(const torch::Tensor& x, DitherScale scale);

/// Unit noise shaped like `like` (its dtype and device): N(0,1) or U(-1,1) drawn from
/// Philox keyed by (seed, stream) at counter (step, param_index, element index).
torch::Tensor dither_noise(const torch::Tensor& like, const DitherOptions& options, int64_t step, int64_t param_index);

/// x + s_t * noise with s_t = alpha_t * base(x); `tick` is t0. Returns s_t through `scale_out`.
torch::Tensor add_dither(
    const torch::Tensor& x,
    const DitherOptions& options,
    int64_t step,
    int64_t tick,
    int64_t param_index,
    double* scale_out = nullptr);

} // namespace signopt

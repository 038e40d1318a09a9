// The enums the fused kernels and the optimizers share (the dither's scale, schedule, distribution and target; the
// bit kernels' zero-sign rule), with
// their name tables (signopt/enum_names.h). Torch-free: the kernels, the optimizers, the option table and
// the fuzzers' torch-free parsers all read them from here.
#pragma once

#include <signopt/enum_names.h>

#include <array>
#include <string>
#include <utility>

namespace signopt {

/// What the dither scale s_t = alpha_t * base(x) is relative to (per tensor).
enum class DitherScale {
  Absolute, ///< base = 1: alpha is an absolute standard deviation.
  Rms, ///< base = sqrt(mean(x^2)) (default).
  Max3Sigma, ///< base = max|x| / 3 (three-sigma rule).
  MeanAbs, ///< base = mean|x|.
};

/// How alpha_t anneals with t0 = t - 1 (or the epoch index with DitherClock::Epoch).
enum class DitherSchedule {
  Constant, ///< alpha_t = alpha.
  Power, ///< alpha_t = alpha / (1 + t0)^(gamma / 2) (default).
  Linear, ///< alpha -> alpha_min linearly over `horizon` ticks, then alpha_min.
  Cosine, ///< alpha -> alpha_min along a half cosine over `horizon` ticks, then alpha_min.
  Exponential, ///< alpha_t = alpha * decay_rate^t0.
};

/// The noise distribution: Gaussian N(0, s^2) or uniform on [-s, s].
enum class DitherDistribution { Gaussian, Uniform };

/// Where the noise enters: straight into the sign's argument (momentum) or into g before the EMA.
enum class DitherTarget { Momentum, Gradient };

/// How the dithered sign is drawn (docs/optimizers.md, "The threshold draw"). Both are exact in law; they
/// differ in their random draws, so they give different trajectories.
enum class DitherDraw {
  /// Add s xi (Box-Muller Gaussian or uniform, 32 bits per element) to the sign's argument x, then take the sign.
  Additive,
  /// Flip sign(x) when |x| / s is below the level of a 16-bit uniform v (the quantile of xi at which
  /// P(xi < -|x| / s) = v): no Gaussian is drawn. Used where only the sign reads the
  /// noisy value (target momentum, or target gradient without momentum); the noise that enters the momentum
  /// (target gradient with momentum) is always drawn additively.
  Threshold,
};

template <>
struct EnumNames<DitherScale> {
  static constexpr const char* what = "dither scale";
  static constexpr std::array<std::pair<DitherScale, const char*>, 4> table{
      {{DitherScale::Absolute, "absolute"},
       {DitherScale::Rms, "rms"},
       {DitherScale::Max3Sigma, "max3sigma"},
       {DitherScale::MeanAbs, "meanabs"}}};
};

template <>
struct EnumNames<DitherSchedule> {
  static constexpr const char* what = "dither schedule";
  static constexpr std::array<std::pair<DitherSchedule, const char*>, 5> table{
      {{DitherSchedule::Constant, "constant"},
       {DitherSchedule::Power, "power"},
       {DitherSchedule::Linear, "linear"},
       {DitherSchedule::Cosine, "cosine"},
       {DitherSchedule::Exponential, "exponential"}}};
};

template <>
struct EnumNames<DitherDistribution> {
  static constexpr const char* what = "dither distribution";
  static constexpr std::array<std::pair<DitherDistribution, const char*>, 2> table{
      {{DitherDistribution::Gaussian, "gaussian"}, {DitherDistribution::Uniform, "uniform"}}};
};

/// Which step's sign argument a data-dependent dither scale (rms, max3sigma, meanabs) is measured on.
enum class DitherScaleFrom {
  /// This step's: a statistics pass over the tensor before the update pass (the default).
  Current,
  /// The previous step's: the update pass also measures this step's argument for the next step, so the step
  /// reads and writes each array once. A tensor's first step measures its own (there is no previous one).
  Previous,
};

template <>
struct EnumNames<DitherScaleFrom> {
  static constexpr const char* what = "dither scale source";
  static constexpr std::array<std::pair<DitherScaleFrom, const char*>, 2> table{
      {{DitherScaleFrom::Current, "current"}, {DitherScaleFrom::Previous, "previous"}}};
};

template <>
struct EnumNames<DitherDraw> {
  static constexpr const char* what = "dither draw";
  static constexpr std::array<std::pair<DitherDraw, const char*>, 2> table{
      {{DitherDraw::Additive, "additive"}, {DitherDraw::Threshold, "threshold"}}};
};

template <>
struct EnumNames<DitherTarget> {
  static constexpr const char* what = "dither target";
  static constexpr std::array<std::pair<DitherTarget, const char*>, 2> table{
      {{DitherTarget::Momentum, "momentum"}, {DitherTarget::Gradient, "gradient"}}};
};

namespace kernels {
/// How a coordinate without a sign (x == 0, -0 or NaN) is encoded, since one bit cannot say "zero".
enum class ZeroSign {
  /// A fair coin from Philox4x32-10 keyed by a caller-given DrawKey and the coordinate index: in
  /// expectation the coordinate adds nothing to the vote (the default; see docs/distributed.md).
  Random,
  /// +1, as a plain `x >= 0` test would do: deterministic but biases the vote towards +1.
  Positive,
};
} // namespace kernels

template <>
struct EnumNames<kernels::ZeroSign> {
  static constexpr const char* what = "zero sign";
  static constexpr std::array<std::pair<kernels::ZeroSign, const char*>, 2> table{
      {{kernels::ZeroSign::Random, "random"}, {kernels::ZeroSign::Positive, "positive"}}};
};

inline std::string to_string(DitherScale v) {
  return enum_name(v);
}
inline std::string to_string(DitherSchedule v) {
  return enum_name(v);
}
inline std::string to_string(DitherDistribution v) {
  return enum_name(v);
}
inline std::string to_string(DitherTarget v) {
  return enum_name(v);
}
inline std::string to_string(DitherDraw v) {
  return enum_name(v);
}
inline std::string to_string(DitherScaleFrom v) {
  return enum_name(v);
}

} // namespace signopt

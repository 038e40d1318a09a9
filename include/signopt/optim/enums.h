// The optimizers' option enums (dither clock, the hybrid's calibration and switch, the
// non-finite policy) with their name tables (signopt/enum_names.h): to_string, the option table's choices
// and the parsing of config values all read them. Torch-free, like signopt/kernels/enums.h, which holds the
// enums the kernels share.
#pragma once

#include <signopt/enum_names.h>
#include <signopt/kernels/enums.h>

#include <array>
#include <string>
#include <utility>

namespace signopt {

/// What t0 counts: optimizer steps (default) or epochs supplied by the trainer via set_epoch().
enum class DitherClock { Step, Epoch };

/// How lambda_t, the SGD rate the sign step calls for, is estimated from one step's sums.
enum class CalibrationEstimator {
  Swats, ///< gamma nnz(u) / <u, g>: SWATS's projection p.p / (-p.g), p = -gamma u (skipped when <u, g> <= 0).
  LeastSquares, ///< gamma |<u, g>| / (||g||^2 + eps) = argmin_eta ||eta g - gamma u||.
  Norm, ///< gamma sqrt(nnz(u)) / ||g||: an SGD step as long as the sign step.
  MomentumLs, ///< gamma ||m||_1 / ||m||^2: the least-squares fit against the momentum.
  Fixed, ///< a given rate (fixed_lr): the oracle of experiments.
};

/// Whether lambda_t is one fit over all parameters or one per parameter tensor.
enum class CalibrationScope { Global, PerTensor };

/// When the hybrid leaves the sign phase.
enum class SwitchTrigger {
  Step, ///< after sign step `switch_step` (steps 1..T are sign steps).
  Epoch, ///< after the step that ends epoch `switch_epoch` (needs steps_per_epoch).
  Auto, ///< the convergence test of SwitchCriterion after a sign step t > 1 (default).
  Never, ///< stay in the sign phase (Signum that reports its calibrated rate).
};

/// The auto trigger's convergence test on the selected estimator.
enum class SwitchCriterion {
  Relative, ///< |Lbar_t - lambda_t| < tol * Lbar_t (signopt's default).
  Swats, ///< |Lbar_t - lambda_t| < tol (SWATS's absolute test; Keskar & Socher use tol = 1e-9).
};

/// How the SGD phase uses its momentum buffer v = mu v + g.
enum class SgdConvention {
  Dampened, ///< step eta (1 - mu) v (SWATS): the calibrated rate is per unit of gradient.
  Undampened, ///< step eta v (LibTorch's SGD): 1 / (1 - mu) times the dampened step at the same eta.
};

/// What v holds at the first SGD step.
enum class SgdMomentumInit {
  Zero, ///< v = 0.
  Momentum, ///< v = m / (1 - mu): continues the sign phase's momentum (the first dampened step is mu m + (1 - mu) g).
};

/// What step() does when a gradient holds NaN or infinity.
enum class NonFinitePolicy {
  /// Skip the whole step: no parameter or state changes; skipped_steps() counts it (default).
  Skip,
  /// Throw std::runtime_error naming the parameter; nothing is changed.
  Throw,
};

/// How a 16-bit (bfloat16, float16) parameter is stored after its float32 update (docs/optimizers.md,
/// "Low-precision parameters"); float32 and float64 parameters ignore it.
enum class Rounding {
  Stochastic, ///< unbiased: up with the probability of the dropped fraction, from counter-based bits (default).
  Nearest, ///< to nearest even: sign steps below half an ulp vanish.
};

/// The dtype of Signum's and the hybrid's momentum buffers for a 16-bit parameter (other parameters keep them
/// in their own dtype).
enum class MomentumDtype {
  Float32, ///< float32 (default): the EMA keeps its precision; 4 bytes per coordinate.
  Parameter, ///< the parameter's 16-bit dtype, rounded to nearest each step; 2 bytes per coordinate.
};

template <>
struct EnumNames<Rounding> {
  static constexpr const char* what = "rounding";
  static constexpr std::array<std::pair<Rounding, const char*>, 2> table{
      {{Rounding::Stochastic, "stochastic"}, {Rounding::Nearest, "nearest"}}};
};

template <>
struct EnumNames<MomentumDtype> {
  static constexpr const char* what = "momentum dtype";
  static constexpr std::array<std::pair<MomentumDtype, const char*>, 2> table{
      {{MomentumDtype::Float32, "float32"}, {MomentumDtype::Parameter, "parameter"}}};
};

inline std::string to_string(Rounding v) {
  return enum_name(v);
}
inline std::string to_string(MomentumDtype v) {
  return enum_name(v);
}

template <>
struct EnumNames<DitherClock> {
  static constexpr const char* what = "dither clock";
  static constexpr std::array<std::pair<DitherClock, const char*>, 2> table{
      {{DitherClock::Step, "step"}, {DitherClock::Epoch, "epoch"}}};
};

template <>
struct EnumNames<CalibrationEstimator> {
  static constexpr const char* what = "calibration estimator";
  static constexpr std::array<std::pair<CalibrationEstimator, const char*>, 5> table{
      {{CalibrationEstimator::Swats, "swats"},
       {CalibrationEstimator::LeastSquares, "least-squares"},
       {CalibrationEstimator::Norm, "norm"},
       {CalibrationEstimator::MomentumLs, "momentum-ls"},
       {CalibrationEstimator::Fixed, "fixed"}}};
};

template <>
struct EnumNames<CalibrationScope> {
  static constexpr const char* what = "calibration scope";
  static constexpr std::array<std::pair<CalibrationScope, const char*>, 2> table{
      {{CalibrationScope::Global, "global"}, {CalibrationScope::PerTensor, "per-tensor"}}};
};

template <>
struct EnumNames<SwitchTrigger> {
  static constexpr const char* what = "switch trigger";
  static constexpr std::array<std::pair<SwitchTrigger, const char*>, 4> table{
      {{SwitchTrigger::Step, "step"},
       {SwitchTrigger::Epoch, "epoch"},
       {SwitchTrigger::Auto, "auto"},
       {SwitchTrigger::Never, "never"}}};
};

template <>
struct EnumNames<SwitchCriterion> {
  static constexpr const char* what = "switch criterion";
  static constexpr std::array<std::pair<SwitchCriterion, const char*>, 2> table{
      {{SwitchCriterion::Relative, "relative"}, {SwitchCriterion::Swats, "swats"}}};
};

template <>
struct EnumNames<SgdConvention> {
  static constexpr const char* what = "post-switch convention";
  static constexpr std::array<std::pair<SgdConvention, const char*>, 2> table{
      {{SgdConvention::Dampened, "dampened"}, {SgdConvention::Undampened, "undampened"}}};
};

template <>
struct EnumNames<SgdMomentumInit> {
  static constexpr const char* what = "post-switch init";
  static constexpr std::array<std::pair<SgdMomentumInit, const char*>, 2> table{
      {{SgdMomentumInit::Zero, "zero"}, {SgdMomentumInit::Momentum, "momentum"}}};
};

template <>
struct EnumNames<NonFinitePolicy> {
  static constexpr const char* what = "non-finite policy";
  static constexpr std::array<std::pair<NonFinitePolicy, const char*>, 2> table{
      {{NonFinitePolicy::Skip, "skip"}, {NonFinitePolicy::Throw, "throw"}}};
};

inline std::string to_string(DitherClock v) {
  return enum_name(v);
}
inline std::string to_string(CalibrationEstimator v) {
  return enum_name(v);
}
inline std::string to_string(CalibrationScope v) {
  return enum_name(v);
}
inline std::string to_string(SwitchTrigger v) {
  return enum_name(v);
}
inline std::string to_string(SwitchCriterion v) {
  return enum_name(v);
}
inline std::string to_string(SgdConvention v) {
  return enum_name(v);
}
inline std::string to_string(SgdMomentumInit v) {
  return enum_name(v);
}
inline std::string to_string(NonFinitePolicy v) {
  return enum_name(v);
}

} // namespace signopt

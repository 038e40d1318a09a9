// The hybrid's calibration and switch as value types (algorithms.md section 4, docs/optimizers.md#calibration):
// CalibrationSums (one step's additive sums), Calibrator (one estimator's EMA of lambda_t), CalibrationBank
// (every estimator at once, for the diagnostics) and SwitchPolicy (when the sign phase ends).
// HybridSignSGD only orchestrates them; a new estimator is a row of kEstimators and a case in lambda_of.
#pragma once

#include <signopt/optim/enums.h>

#include <torch/serialize/archive.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>

namespace signopt {

/// The estimators that compute a rate from the sums (all but Fixed), in the order of the diagnostics.
constexpr std::array<CalibrationEstimator, 4> kEstimators = {
    CalibrationEstimator::Swats,
    CalibrationEstimator::LeastSquares,
    CalibrationEstimator::Norm,
    CalibrationEstimator::MomentumLs};

/// An estimator's name in metrics.csv columns: swats, least_squares, norm, momentum_ls, fixed.
std::string column_name(CalibrationEstimator v);

/// One step's calibration sums, additive over tensors (global scope) and workers. With p = -gamma u the
/// sign step of a tensor, u its direction (nnz(u) non-zero entries), g its gradient (after coupled weight
/// decay) and m its momentum after the step's update:
struct CalibrationSums {
  double pp = 0.0; ///< p.p = gamma^2 nnz(u)
  double pg = 0.0; ///< -p.g = gamma <u, g>
  double gg = 0.0; ///< ||g||^2
  double pm = 0.0; ///< gamma ||m||_1 (= <gamma sign(m), m>)
  double mm = 0.0; ///< ||m||^2

  /// The sums of one tensor from its raw per-tensor quantities.
  static CalibrationSums of_tensor(double gamma, double dot, double gg, double nnz, double m_abs, double m_sq);
  CalibrationSums& operator+=(const CalibrationSums& o);
};

/// lambda_t of `estimator` from one step's sums, or NaN when the estimator skips this step (a zero or
/// non-positive denominator as algorithms.md section 4 says, or a non-finite value). Fixed: NaN.
double lambda_of(CalibrationEstimator estimator, const CalibrationSums& sums, double eps);

/// What a Calibrator is configured with (the hybrid's options).
struct CalibratorOptions {
  CalibrationEstimator estimator = CalibrationEstimator::Norm;
  double beta2 = 0.999; ///< the EMA's decay
  double eps = 1e-8; ///< least-squares: added to ||g||^2
  bool bias_correction = true; ///< Lbar = lbar / (1 - beta2^updates)
  double scale = 1.0; ///< calibration_scale: the rate is scale * Lbar
  double fixed_lr = 0.0; ///< Fixed: the rate (times scale)
};

/// The EMA a Calibrator keeps (saved with the optimizer state).
struct CalibratorState {
  double ema = 0.0; ///< lbar
  int64_t updates = 0; ///< EMA updates taken
  double last = 0.0; ///< the last lambda_t taken (0 before any)
  bool updated = false; ///< whether the most recent update() was taken
};

/// One estimator's calibration: lambda_t from each step's sums, its EMA, the rate it picks, its convergence.
class Calibrator {
 public:
  Calibrator() = default;
  explicit Calibrator(const CalibratorOptions& options, const CalibratorState& state = {})
      : options_(options), state_(state) {}

  /// Folds one step's sums in; returns whether the EMA took the step (false when the estimator skips it).
  bool update(const CalibrationSums& sums);
  /// The last lambda_t taken (unscaled).
  double lambda() const {
    return state_.last;
  }
  /// Lbar_t: the EMA, bias-corrected when the options say so (0 before any update; unscaled).
  double smoothed() const;
  /// The SGD rate this calibration picks now: scale * Lbar_t (Fixed: scale * fixed_lr).
  double rate() const;
  /// Whether the last update was taken and passes `criterion` with tolerance `tol` (Fixed: never).
  bool converged(double tol, SwitchCriterion criterion) const;

  const CalibratorOptions& options() const {
    return options_;
  }
  const CalibratorState& state() const {
    return state_;
  }
  void set_options(const CalibratorOptions& options) {
    options_ = options;
  }

  void save(torch::serialize::OutputArchive& archive, const std::string& prefix) const;
  void load(torch::serialize::InputArchive& archive, const std::string& prefix);

 private:
  CalibratorOptions options_;
  CalibratorState state_;
};

/// Every estimator of kEstimators fed the same global sums: what each calibration would pick, from one run.
class CalibrationBank {
 public:
  CalibrationBank() = default;
  /// Configures every estimator with `options` (its estimator field is ignored; scale 1).
  explicit CalibrationBank(const CalibratorOptions& options);
  void set_options(const CalibratorOptions& options);
  void update(const CalibrationSums& sums);
  /// The calibrator of `estimator` (one of kEstimators).
  const Calibrator& at(CalibrationEstimator estimator) const;
  /// Whether any step was folded in.
  bool active() const {
    return steps_ > 0;
  }

  void save(torch::serialize::OutputArchive& archive, const std::string& prefix) const;
  void load(torch::serialize::InputArchive& archive, const std::string& prefix);

 private:
  std::array<Calibrator, kEstimators.size()> calibrators_;
  int64_t steps_ = 0;
};

/// When the sign phase ends.
struct SwitchPolicy {
  SwitchTrigger trigger = SwitchTrigger::Auto;
  int64_t step = 0; ///< Step: the last sign step T.
  int64_t epoch = 0; ///< Epoch: the last sign epoch E (1-based)
  int64_t steps_per_epoch = 0; ///< Epoch: steps per epoch (switch after step E * steps_per_epoch)
  double tol = 1e-3; ///< Auto: the criterion's tolerance
  SwitchCriterion criterion = SwitchCriterion::Relative;

  /// Whether the switch happens right after sign step `t`; `converged` is the calibration's test at t.
  bool fires(int64_t t, bool converged) const;
  /// Throws std::invalid_argument("<who>: ...") for an inconsistent policy.
  void validate(const std::string& who) const;
};

} // namespace signopt

// The hybrid's calibration estimators, their EMA, the diagnostics bank and the switch policy.
#include <signopt/optim/calibration.h>
#include <signopt/optim/common.h>

#include <cmath>
#include <limits>

namespace signopt {

std::string column_name(CalibrationEstimator v) {
  std::string s = to_string(v);
  for (char& c : s) {
    if (c == '-') {
      c = '_';
    }
  }
  return s;
}

CalibrationSums CalibrationSums::of_tensor(
    double gamma,
    double dot,
    double gg,
    double nnz,
    double m_abs,
    double m_sq) {
  CalibrationSums s;
  s.pp = gamma * gamma * nnz;
  s.pg = gamma * dot;
  s.gg = gg;
  s.pm = gamma * m_abs;
  s.mm = m_sq;
  return s;
}

CalibrationSums& CalibrationSums::operator+=(const CalibrationSums& o) {
  pp += o.pp;
  pg += o.pg;
  gg += o.gg;
  pm += o.pm;
  mm += o.mm;
  return *this;
}

double lambda_of(CalibrationEstimator estimator, const CalibrationSums& s, double eps) {
  constexpr double skip = std::numeric_limits<double>::quiet_NaN();
  double lambda = skip;
  switch (estimator) {
    case CalibrationEstimator::Swats:
      lambda = s.pg > 0 ? s.pp / s.pg : skip;
      break;
    case CalibrationEstimator::LeastSquares:
      lambda = s.gg > 0 ? std::abs(s.pg) / (s.gg + eps) : skip;
      break;
    case CalibrationEstimator::Norm:
      lambda = s.gg > 0 ? std::sqrt(s.pp) / std::sqrt(s.gg) : skip;
      break;
    case CalibrationEstimator::MomentumLs:
      lambda = s.mm > 0 ? s.pm / s.mm : skip;
      break;
    case CalibrationEstimator::Fixed:
      break;
  }
  return std::isfinite(lambda) ? lambda : skip;
}

bool Calibrator::update(const CalibrationSums& sums) {
  const double lambda = lambda_of(options_.estimator, sums, options_.eps);
  state_.updated = !std::isnan(lambda);
  if (state_.updated) {
    state_.ema = options_.beta2 * state_.ema + (1.0 - options_.beta2) * lambda;
    ++state_.updates;
    state_.last = lambda;
  }
  return state_.updated;
}

double Calibrator::smoothed() const {
  if (!options_.bias_correction) {
    return state_.ema;
  }
  if (state_.updates == 0) {
    return 0.0;
  }
  return state_.ema / (1.0 - std::pow(options_.beta2, static_cast<double>(state_.updates)));
}

double Calibrator::rate() const {
  const double base = options_.estimator == CalibrationEstimator::Fixed ? options_.fixed_lr : smoothed();
  return options_.scale * base;
}

bool Calibrator::converged(double tol, SwitchCriterion criterion) const {
  if (options_.estimator == CalibrationEstimator::Fixed || !state_.updated) {
    return false;
  }
  const double lbar = smoothed();
  const double gap = std::abs(lbar - state_.last);
  return criterion == SwitchCriterion::Relative ? gap < tol * lbar : gap < tol;
}

void Calibrator::save(torch::serialize::OutputArchive& a, const std::string& prefix) const {
  detail::write_double(a, prefix + "/ema", state_.ema);
  detail::write_int(a, prefix + "/updates", state_.updates);
  detail::write_double(a, prefix + "/last", state_.last);
  detail::write_int(a, prefix + "/updated", state_.updated);
}

void Calibrator::load(torch::serialize::InputArchive& a, const std::string& prefix) {
  state_.ema = detail::read_double(a, prefix + "/ema", 0.0);
  state_.updates = detail::read_int(a, prefix + "/updates", 0);
  state_.last = detail::read_double(a, prefix + "/last", 0.0);
  state_.updated = detail::read_int(a, prefix + "/updated", 0) != 0;
}

CalibrationBank::CalibrationBank(const CalibratorOptions& options) {
  set_options(options);
}

void CalibrationBank::set_options(const CalibratorOptions& options) {
  for (size_t i = 0; i < kEstimators.size(); ++i) {
    CalibratorOptions o = options;
    o.estimator = kEstimators[i];
    o.scale = 1.0;
    calibrators_[i].set_options(o);
  }
}

void CalibrationBank::update(const CalibrationSums& sums) {
  for (auto& c : calibrators_) {
    c.update(sums);
  }
  ++steps_;
}

const Calibrator& CalibrationBank::at(CalibrationEstimator estimator) const {
  for (size_t i = 0; i < kEstimators.size(); ++i) {
    if (kEstimators[i] == estimator) {
      return calibrators_[i];
    }
  }
  throw std::invalid_argument("CalibrationBank: no diagnostic calibrator for '" + to_string(estimator) + "'");
}

void CalibrationBank::save(torch::serialize::OutputArchive& a, const std::string& prefix) const {
  detail::write_int(a, prefix + "/steps", steps_);
  for (size_t i = 0; i < kEstimators.size(); ++i) {
    calibrators_[i].save(a, prefix + "/" + column_name(kEstimators[i]));
  }
}

void CalibrationBank::load(torch::serialize::InputArchive& a, const std::string& prefix) {
  steps_ = detail::read_int(a, prefix + "/steps", 0);
  for (size_t i = 0; i < kEstimators.size(); ++i) {
    calibrators_[i].load(a, prefix + "/" + column_name(kEstimators[i]));
  }
}

bool SwitchPolicy::fires(int64_t t, bool converged) const {
  switch (trigger) {
    case SwitchTrigger::Step:
      return t == step;
    case SwitchTrigger::Epoch:
      return t == epoch * steps_per_epoch;
    case SwitchTrigger::Auto:
      return t > 1 && converged;
    case SwitchTrigger::Never:
      return false;
  }
  return false;
}

void SwitchPolicy::validate(const std::string& who) const {
  switch (trigger) {
    case SwitchTrigger::Step:
      detail::check_arg(step > 0, who, "switch_step must be > 0 with the step trigger, got ", step);
      break;
    case SwitchTrigger::Epoch:
      detail::check_arg(epoch > 0, who, "switch_epoch must be > 0 with the epoch trigger, got ", epoch);
      detail::check_arg(
          steps_per_epoch > 0,
          who,
          "the epoch trigger needs steps_per_epoch > 0 to find the step that ends epoch ",
          epoch,
          ", got ",
          steps_per_epoch,
          " (use switch_at_epoch(E, steps_per_epoch))");
      break;
    case SwitchTrigger::Auto:
      detail::check_arg(std::isfinite(tol) && tol > 0, who, "auto_tol must be > 0, got ", tol);
      break;
    case SwitchTrigger::Never:
      break;
  }
}

} // namespace signopt

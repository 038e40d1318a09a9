// The sign-flip symmetry test, the Miao-Gel-Gastwirth test and the calibration of the shape tests on
// heavy-tailed, zero-inflated, skewed and bimodal laws (issue 19).
#include <signopt/diag/shape_tests.h>
#include <signopt/diag/theory.h>
#include <signopt/stats/stats.h>

#include "probe_internal.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace signopt::diag {
namespace {

using detail::open_uniform;
using detail::standard_normal;

constexpr int64_t kMaxFlipsLimit = 10'000'000;
constexpr int64_t kStopAfterLimit = 1000;
constexpr int64_t kMaxCalibrationReplicates = 1'000'000;

uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t seed_of(uint64_t seed, uint64_t a, uint64_t b) {
  uint64_t s = seed ^ 0x5EED5EED5EED5EEDULL;
  s ^= splitmix(s) + a;
  s ^= splitmix(s) + b;
  return splitmix(s);
}

void check_finite(const std::vector<double>& x, const char* who) {
  if (x.size() < 8)
    throw std::invalid_argument(
        std::string("signopt::diag::") + who + ": needs at least 8 samples, got " + std::to_string(x.size()) +
        "; draw more minibatch gradients (K)");
  for (size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i]))
      throw std::invalid_argument(
          std::string("signopt::diag::") + who + ": sample " + std::to_string(i) + " is not finite (" +
          std::to_string(x[i]) + "); check the gradients for overflow");
}

double median_of(std::vector<double> s) {
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

// The nonzero deviations from the median and the observed |sum| with a rounding tolerance: a flip reaches
// the observation when its |sum| >= observed - tolerance (sums of the same values in another order can
// differ in the last bits).
struct Deviations {
  std::vector<double> y;
  double sum = 0, sum_sq = 0, observed = 0, tolerance = 0;
};

// Replaces each y_i by sign(y_i) x the rank of |y_i| among the |y| (1-based, ties at their average rank).
void to_signed_ranks(std::vector<double>& y) {
  std::vector<size_t> order(y.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return std::abs(y[a]) < std::abs(y[b]); });
  std::vector<double> rank(y.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && std::abs(y[order[j]]) == std::abs(y[order[i]]))
      ++j;
    const double average = 0.5 * static_cast<double>(i + 1 + j); // ranks i + 1 .. j
    for (size_t k = i; k < j; ++k)
      rank[order[k]] = average;
    i = j;
  }
  for (size_t i = 0; i < y.size(); ++i)
    y[i] = y[i] > 0 ? rank[i] : -rank[i];
}

Deviations deviations_from_median(const std::vector<double>& x, SymmetryStatistic statistic) {
  Deviations d;
  const double m = median_of(x);
  for (const double v : x)
    if (v - m != 0)
      d.y.push_back(v - m);
  if (statistic == SymmetryStatistic::SignedRank)
    to_signed_ranks(d.y);
  double abs_sum = 0;
  for (const double y : d.y) {
    d.sum += y;
    d.sum_sq += y * y;
    abs_sum += std::abs(y);
  }
  d.observed = std::abs(d.sum);
  d.tolerance = 1e-12 * abs_sum;
  return d;
}

// |sum of the y_i with random signs|, 64 signs per generator word.
double flipped_abs_sum(const std::vector<double>& y, uint64_t& state) {
  double s = 0;
  uint64_t bits = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if ((i & 63) == 0)
      bits = splitmix(state);
    s += y[i] * (1.0 - 2.0 * static_cast<double>(bits & 1));
    bits >>= 1;
  }
  return std::abs(s);
}

// Besag & Clifford's sequential Monte Carlo p-value. With `alpha` > 0 it returns as soon as p <= alpha is
// decided (the value returned is then 0 for "rejects" or 1 for "does not"), else the p-value.
double sequential_p(const Deviations& d, const SignFlipOptions& o, double alpha) {
  if (d.y.empty() || d.observed <= d.tolerance)
    return 1.0;
  uint64_t state = o.seed;
  const double h = static_cast<double>(o.stop_after);
  const double end_p_bound = h / static_cast<double>(o.max_flips + 1); // p when the flips run out, at most
  int64_t reached = 0;
  for (int64_t l = 1; l <= o.max_flips; ++l) {
    reached += flipped_abs_sum(d.y, state) >= d.observed - d.tolerance;
    if (reached == o.stop_after) {
      const double p = h / static_cast<double>(l);
      return alpha > 0 ? (p <= alpha ? 0.0 : 1.0) : p;
    }
    // From here on every outcome has p <= h / l or p <= end_p_bound.
    if (alpha > 0 && h / static_cast<double>(l) <= alpha && end_p_bound <= alpha)
      return 0.0;
  }
  const double p = static_cast<double>(reached + 1) / static_cast<double>(o.max_flips + 1);
  return alpha > 0 ? (p <= alpha ? 0.0 : 1.0) : p;
}

double student_t(std::mt19937_64& rng, int df) {
  const double z = standard_normal(rng);
  double chi2 = 0;
  for (int i = 0; i < df; ++i) {
    const double n = standard_normal(rng);
    chi2 += n * n;
  }
  return z / std::sqrt(chi2 / df);
}

double exponential(std::mt19937_64& rng) {
  return -std::log(open_uniform(rng));
}

double mixture(std::mt19937_64& rng, double separation) {
  return (open_uniform(rng) < 0.5 ? -0.5 : 0.5) * separation + standard_normal(rng);
}

} // namespace

std::string to_string(SymmetryStatistic s) {
  return s == SymmetryStatistic::SignedRank ? "signed-rank" : s == SymmetryStatistic::Mean ? "mean" : "combined";
}

SymmetryStatistic parse_symmetry_statistic(const std::string& name) {
  for (const auto s : {SymmetryStatistic::Combined, SymmetryStatistic::Mean, SymmetryStatistic::SignedRank})
    if (to_string(s) == name)
      return s;
  throw std::invalid_argument(
      "unknown symmetry statistic '" + name + "' (expected one of: combined, mean, signed-rank)");
}

void SignFlipOptions::validate() const {
  if (stop_after < 1 || stop_after > kStopAfterLimit)
    throw std::invalid_argument(
        "SignFlipOptions: stop_after = " + std::to_string(stop_after) + " must be in [1, " +
        std::to_string(kStopAfterLimit) + "]");
  if (max_flips < stop_after || max_flips > kMaxFlipsLimit)
    throw std::invalid_argument(
        "SignFlipOptions: max_flips = " + std::to_string(max_flips) + " must be in [stop_after = " +
        std::to_string(stop_after) + ", " + std::to_string(kMaxFlipsLimit) + "]");
}

namespace {

// The options of one statistic of a Combined test: the signed ranks flip from their own stream.
SignFlipOptions single(const SignFlipOptions& o, SymmetryStatistic statistic) {
  SignFlipOptions s = o;
  s.statistic = statistic;
  if (statistic == SymmetryStatistic::SignedRank)
    s.seed = o.seed ^ 0x5A4E6B3C2D1E0F97ULL;
  return s;
}

} // namespace

TestResult sign_flip_symmetry_test(const std::vector<double>& x, const SignFlipOptions& options) {
  options.validate();
  check_finite(x, "sign_flip_symmetry_test");
  TestResult r;
  const SymmetryStatistic reported =
      options.statistic == SymmetryStatistic::SignedRank ? SymmetryStatistic::SignedRank : SymmetryStatistic::Mean;
  const Deviations d = deviations_from_median(x, reported);
  r.statistic = d.sum_sq > 0 ? d.sum / std::sqrt(d.sum_sq) : 0.0;
  if (options.statistic != SymmetryStatistic::Combined) {
    r.p_value = sequential_p(d, single(options, options.statistic), 0.0);
    return r;
  }
  const double p_mean = sequential_p(d, single(options, SymmetryStatistic::Mean), 0.0);
  const double p_rank = sequential_p(
      deviations_from_median(x, SymmetryStatistic::SignedRank), single(options, SymmetryStatistic::SignedRank), 0.0);
  r.p_value = std::min(1.0, 2.0 * std::min(p_mean, p_rank));
  return r;
}

bool sign_flip_rejects(const std::vector<double>& x, double alpha, const SignFlipOptions& options) {
  options.validate();
  check_finite(x, "sign_flip_rejects");
  if (!(alpha > 0 && alpha < 1))
    throw std::invalid_argument("sign_flip_rejects: alpha = " + std::to_string(alpha) + " must be in (0, 1)");
  auto rejects = [&](SymmetryStatistic statistic, double level) {
    return sequential_p(deviations_from_median(x, statistic), single(options, statistic), level) == 0.0;
  };
  if (options.statistic != SymmetryStatistic::Combined)
    return rejects(options.statistic, alpha);
  return rejects(SymmetryStatistic::Mean, alpha / 2) || rejects(SymmetryStatistic::SignedRank, alpha / 2);
}

TestResult mgg_symmetry_test(const std::vector<double>& x) {
  check_finite(x, "mgg_symmetry_test");
  const double n = static_cast<double>(x.size());
  const double m = median_of(x);
  double mean = 0, abs_dev = 0;
  for (const double v : x) {
    mean += v;
    abs_dev += std::abs(v - m);
  }
  mean /= n;
  const double J = std::sqrt(M_PI / 2) * abs_dev / n;
  TestResult r;
  if (!(J > 0))
    return r;
  r.statistic = std::sqrt(n) * (mean - m) / J;
  r.p_value = stats::normal_two_sided_p(r.statistic / std::sqrt(0.5708));
  return r;
}

double wrong_sign_rate(const std::vector<double>& x, double mean) {
  if (mean == 0 || !std::isfinite(mean) || x.empty())
    return std::nan("");
  double opposed = 0;
  for (const double v : x)
    opposed += v == 0 ? 0.5 : ((v > 0) != (mean > 0) ? 1.0 : 0.0);
  return opposed / static_cast<double>(x.size());
}

bool wrong_sign_above_bound(double rate, double snr, int64_t K) {
  if (K < 1)
    throw std::invalid_argument("wrong_sign_above_bound: K = " + std::to_string(K) + " must be >= 1");
  if (std::isnan(rate))
    return false;
  const double bound = theory::gauss_wrong_sign_bound(snr);
  return rate > bound + 2.0 * std::sqrt(bound * (1.0 - bound) / static_cast<double>(K));
}

const std::vector<CalibrationLaw>& calibration_laws() {
  static const std::vector<CalibrationLaw> laws = {
      CalibrationLaw::Normal,
      CalibrationLaw::Laplace,
      CalibrationLaw::StudentT3,
      CalibrationLaw::StudentT5,
      CalibrationLaw::Uniform,
      CalibrationLaw::ZeroInflatedT3Half,
      CalibrationLaw::ZeroInflatedT3Most,
      CalibrationLaw::Exponential,
      CalibrationLaw::Lognormal,
      CalibrationLaw::SkewNormal,
      CalibrationLaw::ZeroInflatedExponential,
      CalibrationLaw::Mixture2,
      CalibrationLaw::Mixture3,
      CalibrationLaw::Mixture4,
      CalibrationLaw::Mixture5};
  return laws;
}

std::string to_string(CalibrationLaw law) {
  switch (law) {
    case CalibrationLaw::Normal:
      return "normal";
    case CalibrationLaw::Laplace:
      return "laplace";
    case CalibrationLaw::StudentT3:
      return "student-t3";
    case CalibrationLaw::StudentT5:
      return "student-t5";
    case CalibrationLaw::Uniform:
      return "uniform";
    case CalibrationLaw::ZeroInflatedT3Half:
      return "zero-inflated-t3-50";
    case CalibrationLaw::ZeroInflatedT3Most:
      return "zero-inflated-t3-90";
    case CalibrationLaw::Exponential:
      return "exponential";
    case CalibrationLaw::Lognormal:
      return "lognormal";
    case CalibrationLaw::SkewNormal:
      return "skew-normal";
    case CalibrationLaw::ZeroInflatedExponential:
      return "zero-inflated-exponential-90";
    case CalibrationLaw::Mixture2:
      return "mixture-2sd";
    case CalibrationLaw::Mixture3:
      return "mixture-3sd";
    case CalibrationLaw::Mixture4:
      return "mixture-4sd";
    case CalibrationLaw::Mixture5:
      return "mixture-5sd";
  }
  throw std::invalid_argument("to_string: unknown CalibrationLaw " + std::to_string(static_cast<int>(law)));
}

bool law_is_symmetric(CalibrationLaw law) {
  return law != CalibrationLaw::Exponential && law != CalibrationLaw::Lognormal && law != CalibrationLaw::SkewNormal &&
      law != CalibrationLaw::ZeroInflatedExponential;
}

bool law_is_unimodal(CalibrationLaw law) {
  // An equal mixture of two unit normals is unimodal up to 2 SD apart.
  return law != CalibrationLaw::Mixture3 && law != CalibrationLaw::Mixture4 && law != CalibrationLaw::Mixture5;
}

double draw_law(CalibrationLaw law, std::mt19937_64& rng) {
  switch (law) {
    case CalibrationLaw::Normal:
      return standard_normal(rng);
    case CalibrationLaw::Laplace:
      return (open_uniform(rng) < 0.5 ? -1.0 : 1.0) * exponential(rng);
    case CalibrationLaw::StudentT3:
      return student_t(rng, 3);
    case CalibrationLaw::StudentT5:
      return student_t(rng, 5);
    case CalibrationLaw::Uniform:
      return 2.0 * open_uniform(rng) - 1.0;
    case CalibrationLaw::ZeroInflatedT3Half:
      return open_uniform(rng) < 0.5 ? 0.0 : student_t(rng, 3);
    case CalibrationLaw::ZeroInflatedT3Most:
      return open_uniform(rng) < 0.9 ? 0.0 : student_t(rng, 3);
    case CalibrationLaw::Exponential:
      return exponential(rng) - 1.0;
    case CalibrationLaw::Lognormal:
      return std::exp(0.5 * standard_normal(rng)) - std::exp(0.125);
    case CalibrationLaw::SkewNormal: {
      const double delta = 4.0 / std::sqrt(17.0);
      const double z0 = std::abs(standard_normal(rng)), z1 = standard_normal(rng);
      return delta * z0 + std::sqrt(1 - delta * delta) * z1 - delta * std::sqrt(2.0 / M_PI);
    }
    case CalibrationLaw::ZeroInflatedExponential:
      return open_uniform(rng) < 0.9 ? 0.0 : exponential(rng) - 1.0;
    case CalibrationLaw::Mixture2:
      return mixture(rng, 2.0);
    case CalibrationLaw::Mixture3:
      return mixture(rng, 3.0);
    case CalibrationLaw::Mixture4:
      return mixture(rng, 4.0);
    case CalibrationLaw::Mixture5:
      return mixture(rng, 5.0);
  }
  throw std::invalid_argument("draw_law: unknown CalibrationLaw " + std::to_string(static_cast<int>(law)));
}

ShapeTestCalibration calibrate_shape_tests(
    int64_t n,
    int64_t replicates,
    double alpha,
    uint64_t seed,
    const SignFlipOptions& flip_options) {
  flip_options.validate();
  if (n < 8)
    throw std::invalid_argument("calibrate_shape_tests: n = " + std::to_string(n) + " must be >= 8");
  if (replicates < 100 || replicates > kMaxCalibrationReplicates)
    throw std::invalid_argument(
        "calibrate_shape_tests: replicates = " + std::to_string(replicates) + " must be in [100, " +
        std::to_string(kMaxCalibrationReplicates) + "]");
  if (!(alpha > 0 && alpha < 1))
    throw std::invalid_argument("calibrate_shape_tests: alpha = " + std::to_string(alpha) + " must be in (0, 1)");
  ShapeTestCalibration c;
  c.samples = n;
  c.replicates = replicates;
  c.alpha = alpha;
  c.tolerance = 3 * std::sqrt(alpha * (1 - alpha) / static_cast<double>(replicates));
  const auto& laws = calibration_laws();
  const auto& dip_null = default_dip_reference(n);
  c.rows.resize(laws.size());
  at::parallel_for(0, static_cast<int64_t>(laws.size()), 1, [&](int64_t begin, int64_t end) {
    std::vector<double> x(static_cast<size_t>(n));
    for (int64_t li = begin; li < end; ++li) {
      const auto l = static_cast<size_t>(li);
      CalibrationRow& row = c.rows[l];
      row.law = laws[l];
      row.symmetric = law_is_symmetric(laws[l]);
      row.unimodal = law_is_unimodal(laws[l]);
      row.replicates = replicates;
      int64_t flip = 0, flip_mean = 0, flip_rank = 0, skew = 0, mgg = 0, dip = 0, above = 0;
      for (int64_t r = 0; r < replicates; ++r) {
        std::mt19937_64 rng(seed_of(seed, l, static_cast<uint64_t>(r)));
        for (auto& v : x)
          v = draw_law(laws[l], rng);
        SignFlipOptions flips = flip_options;
        flips.seed = seed_of(seed ^ 0xF11Bu, l, static_cast<uint64_t>(r));
        flip += sign_flip_rejects(x, alpha, flips);
        flips.statistic = SymmetryStatistic::Mean;
        flip_mean += sign_flip_rejects(x, alpha, flips);
        flips.statistic = SymmetryStatistic::SignedRank;
        flip_rank += sign_flip_rejects(x, alpha, flips);
        skew += skewness_test(x).p_value <= alpha;
        mgg += mgg_symmetry_test(x).p_value <= alpha;
        dip += dip_null.p_value(dip_statistic(x)) <= alpha;
        const SampleMoments m = sample_moments(x);
        const double snr = m.std > 0 ? std::abs(m.mean) / m.std : 0.0;
        above += wrong_sign_above_bound(wrong_sign_rate(x, m.mean), snr, n);
      }
      const double R = static_cast<double>(replicates);
      row.sign_flip = static_cast<double>(flip) / R;
      row.sign_flip_mean = static_cast<double>(flip_mean) / R;
      row.sign_flip_rank = static_cast<double>(flip_rank) / R;
      row.skewness = static_cast<double>(skew) / R;
      row.mgg = static_cast<double>(mgg) / R;
      row.dip = static_cast<double>(dip) / R;
      row.above_bound = static_cast<double>(above) / R;
    }
  });
  return c;
}

} // namespace signopt::diag

// The theory lab (signopt theory): noise laws, problems, the wrong-sign and stationarity experiments.
#include <signopt/diag/theory.h>
#include <signopt/experiments/theory_lab.h>

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace signopt::theory {
namespace {

// Mean of f(x_k) and the standard error of that mean from the sample variance of f(x_k).
struct Estimate {
  double mean = 0, se = 0;
};

template <typename F>
Estimate estimate(const std::vector<double>& x, F f) {
  double s = 0, ss = 0;
  for (const double v : x) {
    const double y = f(v);
    s += y;
    ss += y * y;
  }
  const double n = static_cast<double>(x.size());
  const double mean = s / n;
  return {mean, std::sqrt(std::max(ss / n - mean * mean, 0.0) / n)};
}

// Checks mean 0, variance 1 and the given skewness, each within 5 standard errors estimated from the sample.
void expect_standardized(const std::vector<double>& x, double skewness, const std::string& what) {
  const auto m = estimate(x, [](double v) { return v; });
  EXPECT_NEAR(m.mean, 0.0, 5 * m.se) << what << ": mean";
  const auto var = estimate(x, [](double v) { return v * v; });
  EXPECT_NEAR(var.mean, 1.0, 5 * var.se) << what << ": variance";
  // With mean 0 and variance 1 the skewness is E x^3.
  const auto skew = estimate(x, [](double v) { return v * v * v; });
  EXPECT_NEAR(skew.mean, skewness, 5 * skew.se + 1e-9) << what << ": skewness";
}

std::vector<double> draws(NoiseKind kind, int64_t batch, int64_t n, uint64_t seed, bool brute_force) {
  std::mt19937_64 rng(seed);
  std::vector<double> x(n);
  for (auto& v : x) {
    if (!brute_force) {
      v = sample_batch_noise(kind, batch, rng);
      continue;
    }
    double sum = 0;
    for (int64_t j = 0; j < batch; ++j) {
      sum += sample_noise(kind, rng);
    }
    v = sum / std::sqrt(static_cast<double>(batch));
  }
  return x;
}

TEST(TheoryLabNoise, EveryLawHasMeanZeroVarianceOneAndItsSkewness) {
  for (const auto kind : all_noise_kinds()) {
    const auto x = draws(kind, 1, 200000, 11, /*brute_force=*/true);
    expect_standardized(x, noise_skewness(kind), to_string(kind));
    if (kind != NoiseKind::StudentT) { // t with 5 dof has no eighth moment: no standard error for x^4
      const auto k4 = estimate(x, [](double v) { return v * v * v * v; });
      EXPECT_NEAR(k4.mean - 3.0, noise_excess_kurtosis(kind), 5 * k4.se) << to_string(kind) << ": kurtosis";
    }
  }
  EXPECT_DOUBLE_EQ(noise_skewness(NoiseKind::Gaussian), 0.0);
  EXPECT_DOUBLE_EQ(noise_skewness(NoiseKind::Skewed), 2.0);
}

TEST(TheoryLabNoise, BatchShortcutsMatchTheMeanOfBDraws) {
  for (const auto kind : all_noise_kinds()) {
    for (const int64_t b : {1, 4, 16}) {
      const std::string what = to_string(kind) + " B=" + std::to_string(b);
      const auto fast = draws(kind, b, 100000, 21 + b, false);
      const auto slow = draws(kind, b, 100000, 99 + b, true);
      expect_standardized(fast, noise_skewness(kind) / std::sqrt(static_cast<double>(b)), what);
      // The two routes must give the same law: compare a tail probability on each side.
      for (const double t : {-0.5, 0.8}) {
        const auto p = estimate(fast, [t](double v) { return v <= t ? 1.0 : 0.0; });
        const auto q = estimate(slow, [t](double v) { return v <= t ? 1.0 : 0.0; });
        EXPECT_NEAR(p.mean, q.mean, 4 * std::hypot(p.se, q.se)) << what << " P(xi <= " << t << ")";
      }
    }
  }
  std::mt19937_64 rng(1);
  EXPECT_THROW(sample_batch_noise(NoiseKind::Gaussian, 0, rng), std::invalid_argument);
}

TEST(TheoryLabWrongSign, GaussianMonteCarloMatchesErfcWithinFourStandardErrors) {
  const std::vector<double> snrs{0.1, 0.5, 1.0, 2.0, 3.0};
  for (const int64_t b : {1, 64}) {
    const auto rows = wrong_sign_probabilities(NoiseKind::Gaussian, b, snrs, 200000, 5);
    ASSERT_EQ(rows.size(), snrs.size());
    for (const auto& r : rows) {
      const double exact = 0.5 * std::erfc(r.snr / std::sqrt(2.0));
      const double se = std::sqrt(exact * (1 - exact) / static_cast<double>(r.draws));
      EXPECT_NEAR(r.wrong_positive, exact, 4 * se) << "S = " << r.snr;
      EXPECT_NEAR(r.wrong_negative, exact, 4 * se) << "S = " << r.snr;
      EXPECT_DOUBLE_EQ(r.gaussian, gaussian_wrong_sign_probability(r.snr));
      EXPECT_DOUBLE_EQ(r.gauss_bound, gauss_wrong_sign_bound(r.snr));
      EXPECT_FALSE(r.violates) << "S = " << r.snr;
    }
  }
}

TEST(TheoryLabWrongSign, SkewedAndBimodalNoiseBreakTheBoundAtBatchOne) {
  const std::vector<double> small{0.1, 0.3, 0.5};
  for (const auto& r : wrong_sign_probabilities(NoiseKind::Skewed, 1, small, 100000, 3)) {
    // Exp(1) - 1 <= -S has probability 1 - exp(-(1 - S)): 0.593 at S = 0.1 against the bound 0.471.
    EXPECT_NEAR(r.wrong_positive, 1 - std::exp(-(1 - r.snr)), 4 * r.std_error) << "S = " << r.snr;
    EXPECT_GT(r.worst, r.gauss_bound) << "S = " << r.snr;
    EXPECT_TRUE(r.violates) << "S = " << r.snr;
  }
  for (const auto& r : wrong_sign_probabilities(NoiseKind::Bimodal, 1, {0.5}, 100000, 4)) {
    EXPECT_TRUE(r.violates) << r.worst << " vs " << r.gauss_bound;
  }
  // By B = 256 the central limit theorem has removed the bimodal violation on the whole grid, and the
  // skewed one down to S = 0.2 ...
  for (const auto& r : wrong_sign_probabilities(NoiseKind::Bimodal, 256, LabOptions().snr_grid, 100000, 6)) {
    EXPECT_FALSE(r.violates) << "bimodal S = " << r.snr;
  }
  for (const auto& r : wrong_sign_probabilities(NoiseKind::Skewed, 256, {0.2, 0.5, 1, 2, 3, 5}, 100000, 7)) {
    EXPECT_FALSE(r.violates) << "skewed S = " << r.snr;
  }
  // ... but not at very small S: the mean of skewed draws sits above their median, so P(xi <= -S) > 1/2
  // for S below about (skewness / 6) / sqrt(B) standard deviations, where the bound is below 1/2.
  const auto tiny = wrong_sign_probabilities(NoiseKind::Skewed, 16, {0.05}, 100000, 9);
  EXPECT_GT(tiny[0].wrong_positive, 0.5);
  EXPECT_TRUE(tiny[0].violates);
}

TEST(TheoryLabWrongSign, UniformNoiseAtBatchOneAttainsTheBound) {
  // Gauss's inequality is tight for the uniform law: P(U <= -S) = 1/2 - S / (2 sqrt 3) for S <= 2/sqrt 3.
  for (const auto& r : wrong_sign_probabilities(NoiseKind::Uniform, 1, {0.2, 0.6, 1.0}, 200000, 8)) {
    EXPECT_NEAR(r.wrong_positive, r.gauss_bound, 4 * r.std_error) << "S = " << r.snr;
    EXPECT_NEAR(r.wrong_negative, r.gauss_bound, 4 * r.std_error) << "S = " << r.snr;
  }
}

TEST(TheoryLabProblems, QuadraticHasKnownSmoothnessAndMinimum) {
  const Problem p(ProblemKind::Quadratic, ProblemOptions());
  ASSERT_EQ(p.dim(), 32);
  EXPECT_NEAR(p.smoothness().front(), 0.1, 1e-12);
  EXPECT_NEAR(p.smoothness().back(), 10.0, 1e-12);
  EXPECT_DOUBLE_EQ(p.f_star(), 0.0);
  EXPECT_DOUBLE_EQ(p.value(p.x_star().data()), 0.0);
  // x_0 - x_* = +-1, so f_0 = ||L||_1 / 2.
  EXPECT_NEAR(p.value(p.x0().data()), p.smoothness_l1() / 2, 1e-9);
  for (int64_t i = 0; i < p.dim(); ++i) {
    EXPECT_GT(p.sigma()[i], 0.0);
  }
}

TEST(TheoryLabProblems, LogisticOptimumIsStationaryAndSmoothnessIsCoordinatewise) {
  ProblemOptions o;
  const Problem p(ProblemKind::Logistic, o);
  const int64_t d = p.dim();
  std::vector<double> g(d);
  p.gradient(p.x_star().data(), g.data());
  for (const double v : g) {
    EXPECT_LT(std::abs(v), 1e-12);
  }
  EXPECT_NEAR(p.value(p.x_star().data()), p.f_star(), 0.0);
  EXPECT_LT(p.f_star(), p.value(p.x0().data()));
  EXPECT_NEAR(p.value(p.x0().data()), std::log(2.0), 1e-12); // x_0 = 0
  // Moving off x_* raises f, and along coordinate i by no more than L_i h^2 / 2 beyond the linear term.
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> x(d);
    for (int64_t i = 0; i < d; ++i) {
      x[i] = p.x_star()[i] + normal(rng);
    }
    EXPECT_GT(p.value(x.data()), p.f_star());
    p.gradient(x.data(), g.data());
    const int64_t i = trial % d;
    const double h = normal(rng);
    auto y = x;
    y[i] += h;
    EXPECT_LE(p.value(y.data()) - p.value(x.data()) - h * g[i], p.smoothness()[i] * h * h / 2 + 1e-12);
    EXPECT_GE(p.smoothness()[i], o.logistic_l2);
  }
}

TEST(TheoryLabStationarity, SignSgdUnderGaussianNoiseStaysBelowTheBound) {
  const LabOptions o = LabOptions::quick();
  const Problem p(ProblemKind::Quadratic, o.problem);
  const double bound = sign_sgd_stationarity_bound(p.smoothness_l1(), o.steps, p.value(p.x0().data()));
  for (const int64_t b : {1, 16, 256}) {
    for (const auto opt : {OptimizerKind::SignSGD, OptimizerKind::DitheredSignSGD}) {
      double slack = 0;
      for (int64_t s = 0; s < 3; ++s) {
        const auto r = run_stationarity_once(p, NoiseKind::Gaussian, b, opt, s, o);
        EXPECT_GT(r.mean_phi, 0.0);
        EXPECT_LE(r.mean_phi, bound) << to_string(opt) << " B=" << b;
        slack += r.realized_bound - r.mean_phi;
      }
      // The descent inequality: the realized bound holds on average over seeds.
      EXPECT_GT(slack, 0.0) << to_string(opt) << " B=" << b;
    }
  }
  // Larger batches reach a smaller f_K (the noise ball shrinks).
  const auto small = run_stationarity_once(p, NoiseKind::Gaussian, 1, OptimizerKind::SignSGD, 0, o);
  const auto large = run_stationarity_once(p, NoiseKind::Gaussian, 256, OptimizerKind::SignSGD, 0, o);
  EXPECT_LT(large.final_gap, small.final_gap);
}

// The hybrid's sign phase is Signum (with the calibration sums on the side): the same run, bit for bit. The
// rms-scaled dither runs and is charged in Phi for SignSGD (its Phi is below plain SignSGD's at the same
// noise stream, as the dither only adds noise) and not for Signum.
TEST(TheoryLabStationarity, HybridSignPhaseIsSignumAndTheRmsDitherRuns) {
  const LabOptions o = LabOptions::quick();
  const Problem p(ProblemKind::Logistic, o.problem);
  for (const int64_t b : {1, 16}) {
    const auto signum = run_stationarity_once(p, NoiseKind::Laplace, b, OptimizerKind::Signum, 1, o);
    const auto hybrid = run_stationarity_once(p, NoiseKind::Laplace, b, OptimizerKind::HybridSignPhase, 1, o);
    EXPECT_EQ(signum.mean_phi, hybrid.mean_phi);
    EXPECT_EQ(signum.final_gap, hybrid.final_gap);
    const auto dithered = run_stationarity_once(p, NoiseKind::Laplace, b, OptimizerKind::DitheredSignum, 1, o);
    EXPECT_NE(dithered.final_gap, signum.final_gap);
    EXPECT_TRUE(std::isfinite(dithered.mean_phi));
  }
  // Phi with the rms dither charged: the first step's gradient and noise are the plain run's, so its Phi is
  // smaller there; over a run the iterates differ, so compare one step.
  LabOptions one = o;
  one.steps = 1;
  const auto plain = run_stationarity_once(p, NoiseKind::Gaussian, 1, OptimizerKind::SignSGD, 0, one);
  const auto rms = run_stationarity_once(p, NoiseKind::Gaussian, 1, OptimizerKind::DitheredSignSGDRms, 0, one);
  EXPECT_LT(rms.mean_phi, plain.mean_phi);
  EXPECT_GT(rms.mean_phi, 0.0);
  // The SNR median of a run (here its one step at x_0) scales as 1 / noise_level.
  one.problem.noise_level = 10;
  const Problem noisy(ProblemKind::Logistic, one.problem);
  const auto quiet = run_stationarity_once(noisy, NoiseKind::Gaussian, 1, OptimizerKind::SignSGD, 0, one);
  EXPECT_NEAR(plain.snr_median / quiet.snr_median, 10.0, 1e-9);
  EXPECT_NEAR(plain.snr_p90 / quiet.snr_p90, 10.0, 1e-9);
  EXPECT_LE(plain.snr_p10, plain.snr_median);
  EXPECT_LE(plain.snr_median, plain.snr_p90);
  EXPECT_LT(plain.snr_p10, plain.snr_p90);
}

// The fitted rate recovers a known exponent from rows built by hand, with a confidence interval that covers it.
TEST(TheoryLabRate, FitRecoversAKnownExponent) {
  std::vector<RateRow> rows;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> jitter(0.0, 0.05);
  for (const int64_t k : {100, 1000, 10000}) {
    RateRow r;
    r.problem = "quadratic";
    r.noise = "gaussian";
    r.optimizer = "signsgd";
    r.steps = k;
    r.bound = 2.0 * std::pow(static_cast<double>(k), -0.5);
    for (int s = 0; s < 5; ++s)
      r.measured.push_back(std::pow(static_cast<double>(k), -0.3) * std::exp(jitter(rng)));
    r.measured_mean = std::accumulate(r.measured.begin(), r.measured.end(), 0.0) / 5;
    r.ratio = r.measured_mean / r.bound;
    rows.push_back(r);
  }
  const auto fits = fit_rates(rows);
  ASSERT_EQ(fits.size(), 1u);
  EXPECT_EQ(fits[0].points, 15);
  EXPECT_NEAR(fits[0].exponent, -0.3, 0.03);
  EXPECT_LT(fits[0].ci_low, -0.3);
  EXPECT_GT(fits[0].ci_high, -0.3);
  // Three K only: the tail fit is the whole fit.
  EXPECT_DOUBLE_EQ(fits[0].tail_exponent, fits[0].exponent);
  EXPECT_TRUE(fits[0].slower_than_bound); // -0.3 falls slower than -0.5
  EXPECT_TRUE(fits[0].theorem_applies);
  EXPECT_GT(fits[0].max_ratio, 1.0); // at K = 10000: 0.063 against the bound's 0.02
}

TEST(TheoryLabStationarity, BimodalNoiseAtBatchOneBreaksTheDescentInequality) {
  LabOptions o = LabOptions::quick();
  o.steps = 400;
  const Problem p(ProblemKind::Quadratic, o.problem);
  double slack = 0;
  for (int64_t s = 0; s < 4; ++s) {
    const auto r = run_stationarity_once(p, NoiseKind::Bimodal, 1, OptimizerKind::SignSGD, s, o);
    slack += r.realized_bound - r.mean_phi;
  }
  // Near x_* the bimodal noise flips signs far more often than Gauss's bound allows, so Phi overstates
  // the progress actually made.
  EXPECT_LT(slack, 0.0);
}

TEST(TheoryLabRun, QuickLabIsIdenticalForOneAndTwoThreadsAndReportsFindings) {
  LabOptions o = LabOptions::quick();
  o.threads = 1;
  int lines = 0;
  const auto one = run_lab(o, [&](const std::string&) { ++lines; });
  EXPECT_GT(lines, 3);
  o.threads = 2;
  const auto two = run_lab(o);
  ASSERT_EQ(one.stationarity.size(), 2u * 6u * 3u * all_optimizer_kinds().size());
  ASSERT_EQ(one.wrong_sign.size(), 6u * 3u * o.snr_grid.size());
  EXPECT_EQ(render_stationarity_csv(one), render_stationarity_csv(two));
  EXPECT_EQ(render_wrong_sign_csv(one), render_wrong_sign_csv(two));
  EXPECT_EQ(render_rate_csv(one), render_rate_csv(two));
  EXPECT_EQ(render_budget_csv(one), render_budget_csv(two));
  // Rate: 2 problems x 1 noise x every optimizer x 2 K; one fit per configuration. Budget: x 2 batch sizes.
  ASSERT_EQ(one.rate.size(), 2u * all_optimizer_kinds().size() * 2u);
  ASSERT_EQ(one.rate_fits.size(), 2u * all_optimizer_kinds().size());
  ASSERT_EQ(one.budget.size(), 2u * all_optimizer_kinds().size() * 2u);
  for (const auto& b : one.budget)
    EXPECT_EQ(b.steps * b.batch, o.budget);
  EXPECT_NE(render_rate_fit_csv(one).find("exponent"), std::string::npos);
  for (const auto& s : one.stationarity) {
    if (s.theorem_applies && s.problem == "quadratic" && s.noise == "gaussian") {
      EXPECT_FALSE(s.bound_exceeded) << s.optimizer << " B=" << s.batch;
    }
    EXPECT_EQ(s.theorem_applies,
              (s.optimizer == "signsgd" || s.optimizer == "dithered-signsgd") && s.noise != "bimodal" &&
                  s.noise != "skewed");
  }
  bool skewed_violation = false;
  for (const auto& w : one.wrong_sign) {
    skewed_violation |= w.noise == "skewed" && w.batch == 1 && w.violates;
  }
  EXPECT_TRUE(skewed_violation);
  const std::string md = render_markdown(one, "signopt theory --quick");
  EXPECT_NE(md.find("## Findings"), std::string::npos);
  EXPECT_NE(md.find("### skewed (violates the assumption)"), std::string::npos);
  EXPECT_NE(md.find("Wrong sign, skewed:"), std::string::npos);
  EXPECT_NE(md.find("## The rate in K"), std::string::npos);
  EXPECT_NE(md.find("## Batch sizes at a fixed budget of 256"), std::string::npos);
  EXPECT_NE(md.find("no (rms dither)"), std::string::npos);
  const std::string json = render_summary_json(one);
  EXPECT_EQ(json.front(), '{');
  EXPECT_NE(json.find("\"findings\": ["), std::string::npos);
  EXPECT_EQ(json.find("nan"), std::string::npos);
}

void expect_invalid(const LabOptions& o, const std::string& fragment) {
  try {
    o.validate();
    ADD_FAILURE() << "expected std::invalid_argument containing '" << fragment << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(TheoryLabRun, BadOptionsThrowClearMessages) {
  LabOptions o;
  o.steps = 0;
  expect_invalid(o, "steps must be in [1, 1000000], got 0");
  o = LabOptions();
  o.seeds = 0;
  expect_invalid(o, "seeds must be in [1, 1000], got 0");
  o = LabOptions();
  o.rate_steps = {100};
  expect_invalid(o, "rate_steps needs at least two K");
  o = LabOptions();
  o.rate_steps = {100, 1};
  expect_invalid(o, "rate_steps must be in [2, 1000000], got 1");
  o = LabOptions();
  o.budget_batches = {1, 20000};
  expect_invalid(o, "each budget batch B must divide budget = 16384");
  o.budget_batches = {1, 3};
  expect_invalid(o, "each budget batch B must divide budget = 16384, be at most 1000000");
  o = LabOptions();
  o.budget = kMaxLabBudget + 1;
  expect_invalid(o, "budget must be at most 100000000");
  o = LabOptions();
  o.budget = -1;
  expect_invalid(o, "budget must be >= 0");
  o = LabOptions();
  o.rms_dither_alpha = 0;
  expect_invalid(o, "rms_dither_alpha must be > 0");
  o = LabOptions();
  o.batches = {1, 0};
  expect_invalid(o, "batch sizes must be in [1, 1000000], got 0");
  o = LabOptions();
  o.batches = {4, 4};
  expect_invalid(o, "batches lists 4 twice");
  o = LabOptions();
  o.noises = {NoiseKind::Skewed, NoiseKind::Skewed};
  expect_invalid(o, "noises lists 'skewed' twice");
  o = LabOptions();
  o.optimizers.clear();
  expect_invalid(o, "optimizers must name at least one value");
  o = LabOptions();
  o.snr_grid = {1.0, -2.0};
  expect_invalid(o, "SNR grid values must be finite and > 0, got -2");
  o = LabOptions();
  o.wrong_sign_draws = 10;
  expect_invalid(o, "wrong_sign_draws must be >= 100");
  o = LabOptions();
  o.threads = 0;
  expect_invalid(o, "threads must be >= 1, got 0");
  o = LabOptions();
  o.signum_momentum = 1.0;
  expect_invalid(o, "signum_momentum must be in [0, 1), got 1");
  try {
    parse_noise_kind("cauchy");
    ADD_FAILURE() << "cauchy parsed";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(
        std::string(e.what()).find(
            "unknown noise 'cauchy' (expected one of: gaussian, laplace, uniform, student-t, bimodal, skewed)"),
        std::string::npos)
        << e.what();
  }
  EXPECT_THROW(parse_problem_kind("rosenbrock"), std::invalid_argument);
  EXPECT_THROW(parse_optimizer_kind("adam"), std::invalid_argument);
  EXPECT_EQ(parse_optimizer_kind("dithered-signsgd"), OptimizerKind::DitheredSignSGD);
  EXPECT_EQ(parse_noise_kind("student-t"), NoiseKind::StudentT);
  ProblemOptions po;
  po.logistic_l2 = 0;
  EXPECT_THROW(Problem(ProblemKind::Logistic, po), std::invalid_argument);
  EXPECT_THROW(run_lab(o), std::invalid_argument); // signum_momentum is still 1
}

} // namespace
} // namespace signopt::theory

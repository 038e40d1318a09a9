// The theory lab behind `signopt theory` (issue 7): the small-batch SignSGD theory of algorithms.md
// section 6 checked on synthetic problems with known L_i and f_* under controlled gradient noise.
//
// Two experiments:
//  * stationarity: SignSGD, Signum and dithered SignSGD run K steps with the theorem's constant
//    lr = 1 / sqrt(||L||_1 K) on a separable quadratic and an L2-regularised logistic regression whose
//    stochastic gradient is the exact gradient plus per-coordinate noise sigma_i * (mean of B iid
//    unit draws). The measured (1/K) sum_k Phi(g_k) (true gradient, batch noise std sigma_i / sqrt(B),
//    for dithered runs sqrt(sigma_i^2 / B + s_t^2)) is compared with sqrt(||L||_1 / K) (f_0 - f_* + 1/2)
//    and with the "realized" bound sqrt(||L||_1 / K) (f_0 - f_K + 1/2), which is what the telescoped
//    descent inequality gives before f_K is replaced by f_*: its slack is sum |g_i| (rho_i - phi(S_i)),
//    so a negative mean slack means the wrong-sign bound itself failed.
//  * wrong sign: for each noise and batch size, the Monte Carlo P(sign(g + noise) != sign(g)) over a
//    grid of SNRs S = |g| / (batch noise std), for g > 0 and g < 0 separately, against Gauss's bound
//    and the Gaussian prediction.
//
// Everything is deterministic given LabOptions::seed: each run draws from its own std::mt19937_64
// seeded from (seed, problem, noise, batch, seed index), so results do not depend on the thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace signopt::theory {

/// A zero-mean, unit-variance noise distribution of one gradient coordinate (batch size 1).
enum class NoiseKind {
  Gaussian, ///< N(0, 1)
  Laplace, ///< Laplace with scale 1/sqrt(2)
  Uniform, ///< uniform on [-sqrt(3), sqrt(3)]: the extremal case of Gauss's inequality (bound tight)
  StudentT, ///< Student's t with kStudentTDof degrees of freedom, rescaled to unit variance
  Bimodal, ///< equal mixture of N(+-kBimodalMean, 1 - kBimodalMean^2): violates unimodality
  Skewed, ///< centred exponential Exp(1) - 1 (skewness 2): violates symmetry
};

/// Degrees of freedom of NoiseKind::StudentT (finite fourth moment, heavy tails).
constexpr double kStudentTDof = 5.0;
/// Component mean m of NoiseKind::Bimodal; the component std is sqrt(1 - m^2) ~ 0.312, so the modes
/// are about 6 component stds apart.
constexpr double kBimodalMean = 0.95;

/// Every noise kind, in the order of the enum.
const std::vector<NoiseKind>& all_noise_kinds();
/// "gaussian", "laplace", "uniform", "student-t", "bimodal", "skewed".
std::string to_string(NoiseKind kind);
/// The inverse of to_string; throws std::invalid_argument listing the valid names.
NoiseKind parse_noise_kind(const std::string& name);
/// True for the unimodal symmetric kinds, for which Gauss's bound holds at every batch size (the mean
/// of iid unimodal symmetric draws is unimodal symmetric).
bool is_unimodal_symmetric(NoiseKind kind);
/// Population skewness of one draw: 2 for Skewed, 0 otherwise (the mean of B draws has skewness / sqrt(B)).
double noise_skewness(NoiseKind kind);
/// Population excess kurtosis of one draw: Gaussian 0, Laplace 3, Uniform -1.2, Student-t 6 / (nu - 4) = 6,
/// Bimodal m^4 + 6 m^2 v + 3 v^2 - 3 with v = 1 - m^2 (about -1.63), Skewed 6.
double noise_excess_kurtosis(NoiseKind kind);

/// One draw of the unit noise.
double sample_noise(NoiseKind kind, std::mt19937_64& rng);
/// sqrt(B) times the mean of B iid unit draws (so zero mean, unit variance): the standardized noise of
/// a minibatch of size B. Drawn exactly but cheaply where a closed form exists (Gaussian: one normal;
/// Laplace and Skewed: gamma draws; Bimodal: a binomial plus a normal; Student-t: a normal scaled by B
/// chi-square draws); Uniform sums B draws. Throws std::invalid_argument for batch < 1.
double sample_batch_noise(NoiseKind kind, int64_t batch, std::mt19937_64& rng);

/// A synthetic problem.
enum class ProblemKind {
  Quadratic, ///< f(x) = sum_i L_i / 2 (x_i - x*_i)^2, L_i log-spaced over [0.1, 10], f_* = 0
  Logistic, ///< L2-regularised logistic regression on a fixed synthetic data set
};
/// "quadratic", "logistic".
std::string to_string(ProblemKind kind);
/// The inverse of to_string; throws std::invalid_argument listing the valid names.
ProblemKind parse_problem_kind(const std::string& name);

/// How the problems are built (shared by both kinds where it applies).
struct ProblemOptions {
  int64_t dim = 32; ///< number of coordinates d (>= 2)
  int64_t logistic_samples = 256; ///< data points n of the logistic problem (>= 2)
  double logistic_l2 = 1e-3; ///< lambda of the logistic problem (> 0, so f_* is attained)
  /// sigma_i(1) = noise_level * c_i * max(|grad_i f(x_0)|, 0.1 rms(grad f(x_0))) with c_i log-spaced over
  /// [1/4, 4] in a shuffled order: at batch size 1 the initial SNRs spread over [1/4, 4] / noise_level
  /// (at B = 256 16 times that), both sides of 2/sqrt(3), and all fall towards 0 near x_*.
  double noise_level = 1.0;
  uint64_t seed = 2026; ///< seed of the problem data (x_*, the signs of x_0 - x_*, the logistic data set)
};

/// A problem with known coordinate smoothness L_i, minimum f_* and per-coordinate noise std sigma_i at
/// batch size 1. value() and gradient() are exact.
class Problem {
 public:
  /// Builds the problem; for Logistic it solves for x_* by damped Newton's method (gradient infinity
  /// norm below 1e-12). Throws std::invalid_argument for bad options.
  Problem(ProblemKind kind, const ProblemOptions& options);

  ProblemKind kind() const {
    return kind_;
  }
  std::string name() const {
    return to_string(kind_);
  }
  int64_t dim() const {
    return static_cast<int64_t>(smoothness_.size());
  }
  /// L_i: f is L_i-smooth along coordinate i ((1/(4n)) sum_j a_ji^2 + lambda for Logistic).
  const std::vector<double>& smoothness() const {
    return smoothness_;
  }
  /// ||L||_1 = sum_i L_i.
  double smoothness_l1() const;
  const std::vector<double>& x0() const {
    return x0_;
  }
  const std::vector<double>& x_star() const {
    return x_star_;
  }
  double f_star() const {
    return f_star_;
  }
  /// sigma_i(1), the noise std of coordinate i at batch size 1.
  const std::vector<double>& sigma() const {
    return sigma_;
  }
  /// f(x); x has dim() elements.
  double value(const double* x) const;
  /// grad f(x) into g (dim() elements).
  void gradient(const double* x, double* g) const;

 private:
  ProblemKind kind_;
  std::vector<double> smoothness_, x0_, x_star_, sigma_;
  double f_star_ = 0;
  // Quadratic: centre x_star_. Logistic: row-major n x d features, labels +-1, lambda.
  std::vector<double> features_, labels_;
  double l2_ = 0;
};

/// The optimizers compared. All use lr = 1 / sqrt(||L||_1 K).
enum class OptimizerKind {
  SignSGD, ///< signopt::SignSGD
  Signum, ///< signopt::Signum with LabOptions::signum_momentum (the theorem does not cover momentum)
  /// signopt::SignSGD with Gaussian dither, DitherScale::Absolute, power schedule: s_t = alpha_t exactly
  DitheredSignSGD,
  /// signopt::SignSGD with the training default's dither: Gaussian, DitherScale::Rms (s_t = alpha_t x the rms
  /// of this step's stochastic gradient), power schedule from LabOptions::rms_dither_alpha. The scale depends
  /// on the draw, which the theorem's dither (independent of the gradient noise) does not cover.
  DitheredSignSGDRms,
  /// signopt::Signum with the same rms-scaled dither on its momentum (`dithered-signum` of the trainer)
  DitheredSignum,
  /// signopt::HybridSignSGD that never switches: the hybrid's sign phase (Signum with the calibration sums)
  HybridSignPhase,
};
const std::vector<OptimizerKind>& all_optimizer_kinds();
/// "signsgd", "signum", "dithered-signsgd", "dithered-signsgd-rms", "dithered-signum", "hybrid-sign".
std::string to_string(OptimizerKind kind);
/// True for the optimizers with momentum (Signum, dithered Signum, the hybrid's sign phase).
bool has_momentum(OptimizerKind kind);
/// The theorem's hypotheses: SignSGD or SignSGD with the absolute (gradient-independent) dither, under a
/// unimodal symmetric noise.
bool theorem_applies(OptimizerKind optimizer, NoiseKind noise);
/// The inverse of to_string; throws std::invalid_argument listing the valid names.
OptimizerKind parse_optimizer_kind(const std::string& name);

/// The most steps K of one run, and the most seeds of one configuration.
constexpr int64_t kMaxLabSteps = 1'000'000;
constexpr int64_t kMaxLabSeeds = 1000;
/// The most gradient samples K x B of one run of the fixed-budget experiment, and the largest batch size.
constexpr int64_t kMaxLabBudget = 100'000'000;
constexpr int64_t kMaxLabBatch = 1'000'000;
/// The most (step, coordinate) SNRs one run keeps for its quantiles (RunOutcome::snr_median); above it the
/// steps are thinned evenly.
constexpr int64_t kMaxSnrSamples = 1 << 20;

/// Everything the lab runs. The defaults are the full lab (a minute or two on 2 cores); quick() is a
/// small setting for tests.
struct LabOptions {
  std::vector<ProblemKind> problems{ProblemKind::Quadratic, ProblemKind::Logistic};
  std::vector<NoiseKind> noises = all_noise_kinds();
  std::vector<int64_t> batches{1, 4, 16, 64, 256};
  std::vector<OptimizerKind> optimizers = all_optimizer_kinds();
  int64_t steps = 1000; ///< K
  int64_t seeds = 5; ///< independent runs per configuration (S)
  uint64_t seed = 0; ///< master seed of the gradient noise and the dither
  ProblemOptions problem;
  double signum_momentum = 0.9; ///< beta of Signum, in [0, 1)
  /// Dither alpha_0 = dither_level * rms_i sigma_i(1), the same absolute std for every batch size (so the
  /// dither dominates the batch noise at large B), annealed as alpha_0 / (1 + t0)^(dither_gamma / 2).
  double dither_level = 0.25;
  double dither_gamma = 0.55;
  /// alpha_0 of the rms-scaled dither (DitheredSignSGDRms, DitheredSignum), power schedule with dither_gamma:
  /// the trainer's default is 1.
  double rms_dither_alpha = 1.0;
  /// The rate experiment: every problem x rate_noises x optimizer at batch rate_batch, run for each K in
  /// rate_steps (each K with its own lr = 1 / sqrt(||L||_1 K) and its own noise streams), `seeds` seeds;
  /// the exponent of (1/K) sum Phi against K is fitted (RateFit). Empty rate_steps skips it.
  std::vector<int64_t> rate_steps{100, 316, 1000, 3162, 10000};
  std::vector<NoiseKind> rate_noises{NoiseKind::Gaussian, NoiseKind::Laplace, NoiseKind::Skewed};
  int64_t rate_batch = 1;
  /// The fixed-budget experiment: every problem x budget_noises x optimizer at each B in budget_batches
  /// with K = budget / B steps (the same number K x B of gradient samples: each B must divide budget),
  /// `seeds` seeds. 0 skips it; at most kMaxLabBudget.
  int64_t budget = 16384;
  std::vector<int64_t> budget_batches{1, 4, 16, 64, 256};
  std::vector<NoiseKind> budget_noises{NoiseKind::Gaussian, NoiseKind::Laplace, NoiseKind::Skewed};
  /// SNR grid of the wrong-sign experiment (> 0, finite).
  std::vector<double> snr_grid{0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.1547, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0};
  /// Monte Carlo draws per noise and batch size (MC standard error sqrt(p (1 - p) / draws) <= 8e-4).
  int64_t wrong_sign_draws = 400000;
  int threads = 1; ///< worker threads over independent runs (results do not depend on it)

  /// A setting that runs in a few seconds: K = 200, 2 seeds, d = 8, B in {1, 16, 256}, 40000 draws.
  static LabOptions quick();
  /// Throws std::invalid_argument naming the field and the value when something is out of range
  /// (empty lists, duplicates, batch < 1, steps < 1, seeds < 1, ...).
  void validate() const;
};

/// The outcome of one run of the stationarity experiment.
struct RunOutcome {
  double mean_phi = 0; ///< (1/K) sum_{k<K} Phi(g_k)
  double final_gap = 0; ///< f(x_K) - f_*
  double realized_bound = 0; ///< sqrt(||L||_1 / K) (f_0 - f(x_K) + 1/2)
  double high_snr_fraction = 0; ///< fraction of (k, i) with S_i > 2/sqrt(3)
  /// Median, 10% and 90% quantiles of S_i over every step and coordinate (S from the gradient noise alone;
  /// over evenly thinned steps past kMaxSnrSamples values), to set the regime against a real probe's SNR
  /// histogram (`--noise-level`).
  double snr_median = 0, snr_p10 = 0, snr_p90 = 0;
};

/// One run: `seed_index` picks the noise stream (the same for every optimizer: common random numbers).
RunOutcome run_stationarity_once(
    const Problem& problem,
    NoiseKind noise,
    int64_t batch,
    OptimizerKind optimizer,
    int64_t seed_index,
    const LabOptions& options);

/// One row of the stationarity table: a configuration summarised over the seeds.
struct StationarityRow {
  std::string problem, noise, optimizer;
  int64_t batch = 1;
  int64_t seeds = 0;
  double measured_mean = 0, measured_std = 0; ///< (1/K) sum Phi(g_k): mean and sample std over seeds
  double bound = 0; ///< sqrt(||L||_1 / K) (f_0 - f_* + 1/2)
  double ratio = 0; ///< measured_mean / bound (<= 1 where the theorem applies)
  /// Mean and sample std over seeds of realized bound - measured (>= 0 in expectation where the theorem
  /// applies; for the quadratic it equals the expected sum |g_i| (rho_i - phi(S_i)) exactly).
  double slack_mean = 0, slack_std = 0;
  double realized_ratio = 0; ///< measured_mean / mean realized bound
  double final_gap_mean = 0, final_gap_std = 0; ///< f_K - f_*
  double high_snr_fraction = 0; ///< mean over seeds
  double snr_median = 0, snr_p10 = 0, snr_p90 = 0; ///< RunOutcome's, means over seeds
  /// True for SignSGD and dithered SignSGD under unimodal symmetric noise: the theorem's hypotheses.
  bool theorem_applies = false;
  /// measured_mean significantly above the bound: a one-sided t-test over the seeds at level 0.005
  /// (measured_mean - t_{0.995, S-1} measured_std / sqrt(S) > bound); false with one seed.
  bool bound_exceeded = false;
  /// slack_mean + t_{0.995, S-1} slack_std / sqrt(S) < 0: the descent inequality failed beyond seed noise
  /// (same test); false with one seed.
  bool descent_violated = false;
};

/// One row of the wrong-sign table.
struct WrongSignRow {
  std::string noise;
  int64_t batch = 1;
  double snr = 0;
  int64_t draws = 0;
  double wrong_positive = 0; ///< P(xi <= -S): wrong sign when g > 0
  double wrong_negative = 0; ///< P(xi >= S): wrong sign when g < 0
  double worst = 0; ///< max of the two
  double std_error = 0; ///< sqrt(worst (1 - worst) / draws)
  double gauss_bound = 0;
  double gaussian = 0; ///< 0.5 erfc(S / sqrt 2)
  bool violates = false; ///< worst > gauss_bound + 3 std_error
};

/// The Monte Carlo wrong-sign rows of one noise and batch size over `snrs`, from `draws` standardized
/// batch-noise draws of a std::mt19937_64 seeded with `seed`.
std::vector<WrongSignRow> wrong_sign_probabilities(
    NoiseKind noise,
    int64_t batch,
    const std::vector<double>& snrs,
    int64_t draws,
    uint64_t seed);

/// One configuration of the rate experiment at one K, over the seeds.
struct RateRow {
  std::string problem, noise, optimizer;
  int64_t batch = 1, steps = 0, seeds = 0;
  double measured_mean = 0, measured_std = 0; ///< (1/K) sum Phi(g_k)
  double bound = 0; ///< sqrt(||L||_1 / K) (f_0 - f_* + 1/2)
  double ratio = 0; ///< measured_mean / bound
  std::vector<double> measured; ///< per seed
};

/// The fitted rate of one configuration: least squares of log measured on log K over every (K, seed).
struct RateFit {
  std::string problem, noise, optimizer;
  int64_t batch = 1;
  int64_t points = 0; ///< runs in the fit
  double exponent = 0; ///< slope of log measured against log K (the bound's is -1/2)
  double ci_low = 0, ci_high = 0; ///< 95% confidence interval of the slope (Student t, points - 2 dof)
  /// The same fit over the three largest K only: the rate as K grows, where early transients have passed.
  double tail_exponent = 0, tail_ci_low = 0, tail_ci_high = 0;
  double max_ratio = 0; ///< largest measured/bound over the K
  /// The theorem's hypotheses (SignSGD or the absolute dither under unimodal symmetric noise).
  bool theorem_applies = false;
  /// tail_ci_low > -1/2: over the largest K the measured quantity falls significantly slower than the
  /// bound; were that rate to continue, the bound would fail at some larger K even where it holds at every K run.
  bool slower_than_bound = false;
};

/// The fits of consecutive rows that share (problem, noise, optimizer, batch), in order. A configuration with
/// fewer than 3 positive measurements gets NaN exponent and interval.
std::vector<RateFit> fit_rates(const std::vector<RateRow>& rows);

/// One configuration of the fixed-budget experiment (K x B = LabOptions::budget), over the seeds.
struct BudgetRow {
  std::string problem, noise, optimizer;
  int64_t batch = 1, steps = 0, seeds = 0;
  double final_gap_mean = 0, final_gap_std = 0; ///< f_K - f_*
  double measured_mean = 0; ///< (1/K) sum Phi(g_k)
  double bound = 0, ratio = 0; ///< the bound at K and measured_mean / bound
};

/// A problem's facts, for the report.
struct ProblemSummary {
  std::string name;
  int64_t dim = 0;
  double smoothness_l1 = 0, smoothness_min = 0, smoothness_max = 0;
  double f0 = 0, f_star = 0;
  double grad_norm_at_star = 0; ///< infinity norm of grad f(x_*) (Newton's accuracy for Logistic)
  double sigma_min = 0, sigma_max = 0; ///< of sigma_i(1)
  double lr = 0; ///< 1 / sqrt(||L||_1 K)
  double bound = 0; ///< sqrt(||L||_1 / K) (f_0 - f_* + 1/2)
};

/// Everything the lab measured.
struct LabResult {
  LabOptions options;
  std::vector<ProblemSummary> problems;
  std::vector<StationarityRow> stationarity;
  std::vector<WrongSignRow> wrong_sign;
  std::vector<RateRow> rate;
  std::vector<RateFit> rate_fits;
  std::vector<BudgetRow> budget;
  double seconds = 0; ///< wall time
};

/// Receives progress lines ("[stationarity] 120/900 runs ..."); may be called from worker threads, one
/// call at a time.
using ProgressFn = std::function<void(const std::string& line)>;

/// Runs both experiments. Throws std::invalid_argument for bad options (options.validate()).
LabResult run_lab(const LabOptions& options, const ProgressFn& progress = nullptr);

/// One line per stationarity row, with a header.
std::string render_stationarity_csv(const LabResult& result);
/// One line per wrong-sign row, with a header.
std::string render_wrong_sign_csv(const LabResult& result);
/// One line per rate row (rate.csv), per rate fit (rate_fit.csv) and per budget row (budget.csv), with headers.
std::string render_rate_csv(const LabResult& result);
std::string render_rate_fit_csv(const LabResult& result);
std::string render_budget_csv(const LabResult& result);
/// Options, problems, rows and the findings as JSON.
std::string render_summary_json(const LabResult& result);
/// A Markdown report: problems, the stationarity table, per-noise wrong-sign tables, findings.
std::string render_markdown(const LabResult& result, const std::string& command_line = "");
/// Plain-sentence findings drawn from the result (bound held / exceeded, loosest and tightest ratio,
/// wrong-sign violations per noise and the batch sizes where they fade).
std::vector<std::string> findings(const LabResult& result);

} // namespace signopt::theory

// The theory lab of `signopt theory`: the optimizers, the options and the two experiments (the problems
// and noises are in theory_lab_problems.cpp, the reports in theory_lab_render.cpp).
#include <signopt/diag/theory.h>
#include <signopt/experiments/theory_lab.h>
#include <signopt/optim/dither.h>
#include <signopt/optim/hybrid.h>
#include <signopt/optim/sign_sgd.h>
#include <signopt/optim/signum.h>
#include <signopt/stats/stats.h>

#include "theory_lab_internal.h"

#include <torch/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <thread>

namespace signopt::theory {

using detail::derive_seed;
using detail::fmt;
using detail::inf_norm;
using detail::join_names;
using detail::mean_of;
using detail::parallel_jobs;
using detail::std_of;
using detail::splitmix64;

namespace {

const double kThreshold = 2.0 / std::sqrt(3.0);

} // namespace

namespace detail {

double mean_of(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double std_of(const std::vector<double>& v) {
  if (v.size() < 2) {
    return 0.0;
  }
  const double m = mean_of(v);
  double ss = 0;
  for (const double x : v) {
    ss += (x - m) * (x - m);
  }
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

void parallel_jobs(int64_t n, int threads, const std::function<void(int64_t)>& job) {
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&]() {
    for (int64_t i = next++; i < n; i = next++) {
      try {
        job(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) {
          error = std::current_exception();
        }
        next = n;
      }
    }
  };
  const int count = static_cast<int>(std::min<int64_t>(std::max(threads, 1), std::max<int64_t>(n, 1)));
  std::vector<std::thread> pool;
  for (int t = 1; t < count; ++t) {
    pool.emplace_back(worker);
  }
  worker();
  for (auto& t : pool) {
    t.join();
  }
  if (error) {
    std::rethrow_exception(error);
  }
}

} // namespace detail

// ---- optimizers and options -----------------------------------------------------------------------

const std::vector<OptimizerKind>& all_optimizer_kinds() {
  static const std::vector<OptimizerKind> kinds{
      OptimizerKind::SignSGD,
      OptimizerKind::Signum,
      OptimizerKind::DitheredSignSGD,
      OptimizerKind::DitheredSignSGDRms,
      OptimizerKind::DitheredSignum,
      OptimizerKind::HybridSignPhase};
  return kinds;
}

bool has_momentum(OptimizerKind kind) {
  return kind == OptimizerKind::Signum || kind == OptimizerKind::DitheredSignum || kind == OptimizerKind::HybridSignPhase;
}

std::string to_string(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::SignSGD:
      return "signsgd";
    case OptimizerKind::Signum:
      return "signum";
    case OptimizerKind::DitheredSignSGD:
      return "dithered-signsgd";
    case OptimizerKind::DitheredSignSGDRms:
      return "dithered-signsgd-rms";
    case OptimizerKind::DitheredSignum:
      return "dithered-signum";
    case OptimizerKind::HybridSignPhase:
      return "hybrid-sign";
  }
  return "?";
}

OptimizerKind parse_optimizer_kind(const std::string& name) {
  for (const auto k : all_optimizer_kinds()) {
    if (to_string(k) == name) {
      return k;
    }
  }
  throw std::invalid_argument(
      "unknown optimizer '" + name + "' (expected one of: " + join_names(all_optimizer_kinds()) + ")");
}

bool theorem_applies(OptimizerKind optimizer, NoiseKind noise) {
  return (optimizer == OptimizerKind::SignSGD || optimizer == OptimizerKind::DitheredSignSGD) &&
      is_unimodal_symmetric(noise);
}

LabOptions LabOptions::quick() {
  LabOptions o;
  o.steps = 200;
  o.seeds = 2;
  o.problem.dim = 8;
  o.problem.logistic_samples = 64;
  o.batches = {1, 16, 256};
  o.wrong_sign_draws = 40000;
  o.rate_steps = {50, 200};
  o.rate_noises = {NoiseKind::Gaussian};
  o.budget = 256;
  o.budget_batches = {1, 16};
  o.budget_noises = {NoiseKind::Gaussian};
  return o;
}

namespace {

template <typename T>
void check_list(const std::vector<T>& values, const std::string& field) {
  if (values.empty()) {
    throw std::invalid_argument("theory lab: " + field + " must name at least one value");
  }
  for (size_t i = 0; i < values.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (values[i] == values[j]) {
        if constexpr (std::is_arithmetic_v<T>) {
          throw std::invalid_argument(
              "theory lab: " + field + " lists " + std::to_string(values[i]) + " twice; give each value once");
        } else {
          throw std::invalid_argument(
              "theory lab: " + field + " lists '" + to_string(values[i]) + "' twice; give each value once");
        }
      }
    }
  }
}

} // namespace

void LabOptions::validate() const {
  check_list(problems, "problems");
  check_list(noises, "noises");
  check_list(optimizers, "optimizers");
  check_list(batches, "batches");
  for (const auto b : batches) {
    if (b < 1 || b > kMaxLabBatch) {
      throw std::invalid_argument("theory lab: batch sizes must be in [1, 1000000], got " + std::to_string(b));
    }
  }
  if (steps < 1 || steps > kMaxLabSteps) {
    throw std::invalid_argument(
        "theory lab: steps must be in [1, " + std::to_string(kMaxLabSteps) + "], got " + std::to_string(steps));
  }
  if (seeds < 1 || seeds > kMaxLabSeeds) {
    throw std::invalid_argument(
        "theory lab: seeds must be in [1, " + std::to_string(kMaxLabSeeds) + "], got " + std::to_string(seeds));
  }
  if (!(rms_dither_alpha > 0) || !std::isfinite(rms_dither_alpha)) {
    throw std::invalid_argument("theory lab: rms_dither_alpha must be > 0, got " + fmt(rms_dither_alpha));
  }
  if (!rate_steps.empty()) {
    check_list(rate_steps, "rate_steps");
    check_list(rate_noises, "rate_noises");
    if (rate_steps.size() < 2) {
      throw std::invalid_argument("theory lab: rate_steps needs at least two K to fit a rate (or none to skip it)");
    }
    for (const auto k : rate_steps) {
      if (k < 2 || k > kMaxLabSteps) {
        throw std::invalid_argument(
            "theory lab: rate_steps must be in [2, " + std::to_string(kMaxLabSteps) + "], got " + std::to_string(k));
      }
    }
    if (rate_batch < 1 || rate_batch > kMaxLabBatch) {
      throw std::invalid_argument("theory lab: rate_batch must be in [1, 1000000], got " + std::to_string(rate_batch));
    }
  }
  if (budget < 0) {
    throw std::invalid_argument("theory lab: budget must be >= 0 (0 skips it), got " + std::to_string(budget));
  }
  if (budget > kMaxLabBudget) {
    throw std::invalid_argument(
        "theory lab: budget must be at most " + std::to_string(kMaxLabBudget) + ", got " + std::to_string(budget));
  }
  if (budget != 0) {
    check_list(budget_batches, "budget_batches");
    check_list(budget_noises, "budget_noises");
    for (const auto b : budget_batches) {
      if (b < 1 || b > std::min(budget, kMaxLabBatch) || budget % b != 0 || budget / b > kMaxLabSteps) {
        throw std::invalid_argument(
            "theory lab: each budget batch B must divide budget = " + std::to_string(budget) + ", be at most " +
            std::to_string(kMaxLabBatch) + " and leave budget / B <= " + std::to_string(kMaxLabSteps) +
            " steps, got " + std::to_string(b));
      }
    }
  }
  if (!(signum_momentum >= 0 && signum_momentum < 1)) {
    throw std::invalid_argument("theory lab: signum_momentum must be in [0, 1), got " + fmt(signum_momentum));
  }
  if (!(dither_level > 0) || !std::isfinite(dither_level)) {
    throw std::invalid_argument("theory lab: dither_level must be > 0, got " + fmt(dither_level));
  }
  if (!(dither_gamma >= 0) || !std::isfinite(dither_gamma)) {
    throw std::invalid_argument("theory lab: dither_gamma must be >= 0, got " + fmt(dither_gamma));
  }
  if (snr_grid.empty()) {
    throw std::invalid_argument("theory lab: snr_grid must name at least one SNR");
  }
  for (const double s : snr_grid) {
    if (!(s > 0) || !std::isfinite(s)) {
      throw std::invalid_argument("theory lab: SNR grid values must be finite and > 0, got " + fmt(s));
    }
  }
  if (wrong_sign_draws < 100) {
    throw std::invalid_argument(
        "theory lab: wrong_sign_draws must be >= 100 (the standard error would be meaningless), got " +
        std::to_string(wrong_sign_draws));
  }
  if (threads < 1) {
    throw std::invalid_argument("theory lab: threads must be >= 1, got " + std::to_string(threads));
  }
  // The problem options are checked by constructing the problems; check the cheap ones here too.
  if (problem.dim < 2) {
    throw std::invalid_argument("theory lab: problem dim must be >= 2, got " + std::to_string(problem.dim));
  }
  if (!(problem.noise_level > 0) || !std::isfinite(problem.noise_level)) {
    throw std::invalid_argument("theory lab: noise_level must be > 0, got " + fmt(problem.noise_level));
  }
}

// ---- the experiments ------------------------------------------------------------------------------

namespace {

double rms_of(const std::vector<double>& v) {
  double ss = 0;
  for (const double x : v) {
    ss += x * x;
  }
  return std::sqrt(ss / static_cast<double>(v.size()));
}

uint64_t noise_seed(const LabOptions& o, ProblemKind p, NoiseKind noise, int64_t batch, int64_t seed_index) {
  return derive_seed(
      {o.seed,
       static_cast<uint64_t>(p),
       static_cast<uint64_t>(noise),
       static_cast<uint64_t>(batch),
       static_cast<uint64_t>(seed_index)});
}

} // namespace

RunOutcome run_stationarity_once(
    const Problem& problem,
    NoiseKind noise,
    int64_t batch,
    OptimizerKind optimizer,
    int64_t seed_index,
    const LabOptions& o) {
  if (batch < 1 || o.steps < 1) {
    throw std::invalid_argument("theory lab: need batch >= 1 and steps >= 1");
  }
  const int64_t d = problem.dim();
  const int64_t k_steps = o.steps;
  const double l1 = problem.smoothness_l1();
  const double lr = 1.0 / std::sqrt(l1 * static_cast<double>(k_steps));
  const uint64_t seed = noise_seed(o, problem.kind(), noise, batch, seed_index);
  std::mt19937_64 rng(seed);

  auto x = torch::tensor(problem.x0(), torch::TensorOptions().dtype(torch::kDouble));
  x.mutable_grad() = torch::zeros_like(x);
  std::optional<DitherOptions> dither;
  if (optimizer == OptimizerKind::DitheredSignSGD) {
    dither = DitherOptions().alpha(o.dither_level * rms_of(problem.sigma())).scale(DitherScale::Absolute);
  } else if (optimizer == OptimizerKind::DitheredSignSGDRms || optimizer == OptimizerKind::DitheredSignum) {
    dither = DitherOptions().alpha(o.rms_dither_alpha).scale(DitherScale::Rms);
  }
  if (dither) {
    dither->schedule(DitherSchedule::Power)
        .gamma(o.dither_gamma)
        .distribution(DitherDistribution::Gaussian)
        .seed(splitmix64(seed));
  }
  const std::vector<torch::Tensor> params{x};
  std::unique_ptr<signopt::detail::SignoptOptimizer> opt;
  if (optimizer == OptimizerKind::HybridSignPhase) {
    opt = std::make_unique<HybridSignSGD>(params, HybridSignSGDOptions(lr).beta1(o.signum_momentum).switch_never());
  } else if (has_momentum(optimizer)) {
    opt = std::make_unique<Signum>(params, SignumOptions(lr).momentum(o.signum_momentum).dither(dither));
  } else {
    opt = std::make_unique<SignSGD>(params, SignSGDOptions(lr).dither(dither));
  }
  // Phi charges the dither as extra noise where it is added to the gradient itself (the SignSGD variants);
  // with momentum the dither acts on m, and Phi is the gradient noise's alone.
  const bool dither_in_phi = dither && !has_momentum(optimizer);
  const bool rms_dither = dither && dither->scale() == DitherScale::Rms;

  const double inv_root_b = 1.0 / std::sqrt(static_cast<double>(batch));
  std::vector<double> g(d);
  double phi_sum = 0;
  int64_t high_snr = 0;
  // SNRs of the gradient noise alone for the quantiles: every step's, or every stride-th step's past the cap.
  const int64_t stride = (k_steps * d + kMaxSnrSamples - 1) / kMaxSnrSamples;
  std::vector<double> snrs;
  snrs.reserve(static_cast<size_t>(std::min(k_steps * d, kMaxSnrSamples + d)));
  const double f0 = problem.value(problem.x0().data());
  for (int64_t k = 0; k < k_steps; ++k) {
    const double* xd = x.data_ptr<double>();
    problem.gradient(xd, g.data());
    double* gd = x.mutable_grad().data_ptr<double>();
    for (int64_t i = 0; i < d; ++i) {
      gd[i] = g[i] + problem.sigma()[i] * inv_root_b * sample_batch_noise(noise, batch, rng);
    }
    // alpha_t of step t = k + 1 (t0 = k), checked against what the optimizer used below; the dither std is
    // alpha_t itself (absolute scale) or alpha_t x the rms of this step's stochastic gradient (rms scale).
    const double alpha_t = dither ? dither_alpha(*dither, k) : 0.0;
    const double s_t = dither_in_phi ? alpha_t * (rms_dither ? dither_base(x.grad(), DitherScale::Rms) : 1.0) : 0.0;
    for (int64_t i = 0; i < d; ++i) {
      const double batch_std = problem.sigma()[i] * inv_root_b;
      const double effective = std::sqrt(batch_std * batch_std + s_t * s_t);
      const double a = std::abs(g[i]);
      const double snr = a / effective;
      if (k % stride == 0) {
        snrs.push_back(a / batch_std);
      }
      phi_sum += a == 0 ? 0.0 : a * success_margin(snr);
      high_snr += snr > kThreshold ? 1 : 0;
    }
    opt->step();
    if (dither && opt->last_dither_alpha() != alpha_t) {
      throw std::logic_error(
          "theory lab: the optimizer's dither alpha " + fmt(opt->last_dither_alpha()) + " at step " +
          std::to_string(k + 1) + " differs from the predicted " + fmt(alpha_t));
    }
  }
  RunOutcome out;
  const double f_k = problem.value(x.data_ptr<double>());
  out.mean_phi = phi_sum / static_cast<double>(k_steps);
  out.final_gap = f_k - problem.f_star();
  out.realized_bound = sign_sgd_stationarity_bound(l1, k_steps, f0 - f_k);
  out.high_snr_fraction = static_cast<double>(high_snr) / static_cast<double>(k_steps * d);
  auto quantile = [&](double q) {
    const auto k = static_cast<std::ptrdiff_t>(q * static_cast<double>(snrs.size() - 1) + 0.5);
    std::nth_element(snrs.begin(), snrs.begin() + k, snrs.end());
    return snrs[static_cast<size_t>(k)];
  };
  out.snr_median = quantile(0.5);
  out.snr_p10 = quantile(0.1);
  out.snr_p90 = quantile(0.9);
  return out;
}

std::vector<WrongSignRow> wrong_sign_probabilities(
    NoiseKind noise,
    int64_t batch,
    const std::vector<double>& snrs,
    int64_t draws,
    uint64_t seed) {
  if (draws < 1) {
    throw std::invalid_argument("theory lab: draws must be >= 1, got " + std::to_string(draws));
  }
  std::mt19937_64 rng(seed);
  std::vector<double> xi(draws);
  for (auto& v : xi) {
    v = sample_batch_noise(noise, batch, rng);
  }
  std::sort(xi.begin(), xi.end());
  const double n = static_cast<double>(draws);
  std::vector<WrongSignRow> rows;
  for (const double s : snrs) {
    WrongSignRow r;
    r.noise = to_string(noise);
    r.batch = batch;
    r.snr = s;
    r.draws = draws;
    // g > 0 turns wrong when g + sigma xi <= 0 (sign 0 counts as wrong), i.e. xi <= -S; g < 0 when xi >= S.
    r.wrong_positive = static_cast<double>(std::upper_bound(xi.begin(), xi.end(), -s) - xi.begin()) / n;
    r.wrong_negative = static_cast<double>(xi.end() - std::lower_bound(xi.begin(), xi.end(), s)) / n;
    r.worst = std::max(r.wrong_positive, r.wrong_negative);
    r.std_error = std::sqrt(r.worst * (1.0 - r.worst) / n);
    r.gauss_bound = gauss_wrong_sign_bound(s);
    r.gaussian = gaussian_wrong_sign_probability(s);
    r.violates = r.worst > r.gauss_bound + 3.0 * r.std_error;
    rows.push_back(r);
  }
  return rows;
}

namespace {

ProblemSummary summarize_problem(const Problem& p, const LabOptions& o) {
  ProblemSummary s;
  s.name = p.name();
  s.dim = p.dim();
  s.smoothness_l1 = p.smoothness_l1();
  s.smoothness_min = *std::min_element(p.smoothness().begin(), p.smoothness().end());
  s.smoothness_max = *std::max_element(p.smoothness().begin(), p.smoothness().end());
  s.f0 = p.value(p.x0().data());
  s.f_star = p.f_star();
  std::vector<double> g(p.dim());
  p.gradient(p.x_star().data(), g.data());
  s.grad_norm_at_star = inf_norm(g);
  s.sigma_min = *std::min_element(p.sigma().begin(), p.sigma().end());
  s.sigma_max = *std::max_element(p.sigma().begin(), p.sigma().end());
  s.lr = 1.0 / std::sqrt(s.smoothness_l1 * static_cast<double>(o.steps));
  s.bound = sign_sgd_stationarity_bound(s.smoothness_l1, o.steps, s.f0 - s.f_star);
  return s;
}

// One run of the stationarity experiment.
struct StationarityJob {
  size_t problem;
  NoiseKind noise;
  int64_t batch;
  OptimizerKind optimizer;
  int64_t seed_index;
};

// One job per (problem, noise, batch, optimizer, seed), the seeds of a configuration consecutive.
std::vector<StationarityJob> stationarity_jobs(size_t problem_count, const LabOptions& o) {
  std::vector<StationarityJob> jobs;
  for (size_t p = 0; p < problem_count; ++p) {
    for (const auto noise : o.noises) {
      for (const auto batch : o.batches) {
        for (const auto optimizer : o.optimizers) {
          for (int64_t s = 0; s < o.seeds; ++s) {
            jobs.push_back({p, noise, batch, optimizer, s});
          }
        }
      }
    }
  }
  return jobs;
}

// The row of job j's configuration from the outcomes of its o.seeds runs (outcomes[0 .. o.seeds)).
StationarityRow summarize_seeds(
    const StationarityJob& j,
    const ProblemSummary& ps,
    const RunOutcome* outcomes,
    const LabOptions& o) {
  std::vector<double> phi, slack, gap, realized, high, median, p10, p90;
  for (int64_t s = 0; s < o.seeds; ++s) {
    const RunOutcome& r = outcomes[s];
    phi.push_back(r.mean_phi);
    slack.push_back(r.realized_bound - r.mean_phi);
    gap.push_back(r.final_gap);
    realized.push_back(r.realized_bound);
    high.push_back(r.high_snr_fraction);
    median.push_back(r.snr_median);
    p10.push_back(r.snr_p10);
    p90.push_back(r.snr_p90);
  }
  StationarityRow row;
  row.problem = ps.name;
  row.noise = to_string(j.noise);
  row.optimizer = to_string(j.optimizer);
  row.batch = j.batch;
  row.seeds = o.seeds;
  row.measured_mean = mean_of(phi);
  row.measured_std = std_of(phi);
  row.bound = ps.bound;
  row.ratio = row.measured_mean / row.bound;
  row.slack_mean = mean_of(slack);
  row.slack_std = std_of(slack);
  row.realized_ratio = row.measured_mean / mean_of(realized);
  row.final_gap_mean = mean_of(gap);
  row.final_gap_std = std_of(gap);
  row.high_snr_fraction = mean_of(high);
  row.snr_median = mean_of(median);
  row.snr_p10 = mean_of(p10);
  row.snr_p90 = mean_of(p90);
  row.theorem_applies = theorem_applies(j.optimizer, j.noise);
  // One-sided t-tests at level 0.005 over the seeds: a single seed cannot tell noise from a violation.
  const double seeds = static_cast<double>(o.seeds);
  const double t_margin = o.seeds >= 2 ? stats::student_t_quantile(0.995, seeds - 1) / std::sqrt(seeds) : 0;
  row.bound_exceeded = o.seeds >= 2 && row.measured_mean - t_margin * row.measured_std > row.bound;
  row.descent_violated = o.seeds >= 2 && row.slack_mean + t_margin * row.slack_std < 0;
  return row;
}

// Stationarity: one job per (problem, noise, batch, optimizer, seed), outcomes stored by index.
std::vector<StationarityRow> run_stationarity(
    const std::vector<Problem>& problems,
    const std::vector<ProblemSummary>& summaries,
    const LabOptions& o,
    const ProgressFn& say) {
  const std::vector<StationarityJob> jobs = stationarity_jobs(problems.size(), o);
  std::vector<RunOutcome> outcomes(jobs.size());
  std::atomic<int64_t> done{0};
  const int64_t total = static_cast<int64_t>(jobs.size());
  const int64_t report_every = std::max<int64_t>(1, total / 10);
  parallel_jobs(total, o.threads, [&](int64_t i) {
    const StationarityJob& j = jobs[i];
    outcomes[i] = run_stationarity_once(problems[j.problem], j.noise, j.batch, j.optimizer, j.seed_index, o);
    const int64_t n = ++done;
    if (n % report_every == 0 || n == total) {
      say("[stationarity] " + std::to_string(n) + "/" + std::to_string(total) +
          " runs (K = " + std::to_string(o.steps) + " steps each)");
    }
  });
  std::vector<StationarityRow> rows;
  for (size_t first = 0; first < jobs.size(); first += static_cast<size_t>(o.seeds)) {
    const StationarityJob& j = jobs[first];
    rows.push_back(summarize_seeds(j, summaries[j.problem], &outcomes[first], o));
  }
  return rows;
}

// Wrong sign: one job per (noise, batch).
std::vector<WrongSignRow> run_wrong_sign(const LabOptions& o, const ProgressFn& say) {
  std::vector<std::pair<NoiseKind, int64_t>> cells;
  for (const auto noise : o.noises) {
    for (const auto batch : o.batches) {
      cells.emplace_back(noise, batch);
    }
  }
  std::vector<std::vector<WrongSignRow>> cell_rows(cells.size());
  std::atomic<int64_t> cells_done{0};
  parallel_jobs(static_cast<int64_t>(cells.size()), o.threads, [&](int64_t i) {
    const auto [noise, batch] = cells[i];
    const uint64_t seed = derive_seed({o.seed, 0x3a11ULL, static_cast<uint64_t>(noise), static_cast<uint64_t>(batch)});
    cell_rows[i] = wrong_sign_probabilities(noise, batch, o.snr_grid, o.wrong_sign_draws, seed);
    const int64_t n = ++cells_done;
    say("[wrong-sign] " + std::to_string(n) + "/" + std::to_string(cells.size()) + " noise x batch cells (" +
        std::to_string(o.wrong_sign_draws) + " draws each)");
  });
  std::vector<WrongSignRow> rows;
  for (auto& cell : cell_rows) {
    rows.insert(rows.end(), cell.begin(), cell.end());
  }
  return rows;
}

} // namespace

LabResult run_lab(const LabOptions& o, const ProgressFn& progress) {
  o.validate();
  const auto start = std::chrono::steady_clock::now();
  std::mutex progress_mutex;
  const ProgressFn say = [&](const std::string& line) {
    if (progress) {
      std::lock_guard<std::mutex> lock(progress_mutex);
      progress(line);
    }
  };

  LabResult result;
  result.options = o;
  std::vector<Problem> problems;
  for (const auto kind : o.problems) {
    problems.emplace_back(kind, o.problem);
    const ProblemSummary s = summarize_problem(problems.back(), o);
    result.problems.push_back(s);
    say("[theory] problem " + s.name + ": d = " + std::to_string(s.dim) +
        ", ||L||_1 = " + fmt(s.smoothness_l1, "%.4g") + ", f_0 - f_* = " + fmt(s.f0 - s.f_star, "%.4g") +
        ", bound = " + fmt(s.bound, "%.4g"));
  }
  result.stationarity = run_stationarity(problems, result.problems, o, say);
  result.wrong_sign = run_wrong_sign(o, say);
  result.rate = detail::run_rate(problems, o, say);
  result.rate_fits = fit_rates(result.rate);
  result.budget = detail::run_budget(problems, o, say);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

} // namespace signopt::theory

// The theory lab's rate experiment (the bound's K^-1/2 rate, fitted over a sweep of K) and its
// fixed-budget experiment (batch sizes compared at the same number K x B of gradient samples).
#include <signopt/diag/theory.h>
#include <signopt/experiments/theory_lab.h>
#include <signopt/stats/stats.h>

#include "theory_lab_internal.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace signopt::theory::detail {
namespace {

// One run of the rate or budget experiment: a configuration at `steps`, with its own noise streams.
struct Job {
  size_t problem;
  NoiseKind noise;
  OptimizerKind optimizer;
  int64_t batch, steps, seed_index;
};

// Runs every job (the seeds of a configuration consecutive) with K = job.steps and noise streams keyed by
// `salt` and K as well, so runs at different K are independent; returns (1/K) sum Phi and f_K - f_* per job.
std::vector<RunOutcome> run_jobs(
    const std::vector<Problem>& problems,
    const std::vector<Job>& jobs,
    const LabOptions& o,
    uint64_t salt,
    const std::string& label,
    const ProgressFn& say) {
  std::vector<RunOutcome> outcomes(jobs.size());
  std::atomic<int64_t> done{0};
  const int64_t total = static_cast<int64_t>(jobs.size());
  const int64_t report_every = std::max<int64_t>(1, total / 10);
  parallel_jobs(total, o.threads, [&](int64_t i) {
    const Job& j = jobs[static_cast<size_t>(i)];
    LabOptions run = o;
    run.steps = j.steps;
    run.seed = derive_seed({o.seed, salt, static_cast<uint64_t>(j.steps)});
    outcomes[static_cast<size_t>(i)] =
        run_stationarity_once(problems[j.problem], j.noise, j.batch, j.optimizer, j.seed_index, run);
    const int64_t n = ++done;
    if (n % report_every == 0 || n == total)
      say("[" + label + "] " + std::to_string(n) + "/" + std::to_string(total) + " runs");
  });
  return outcomes;
}

double bound_at(const Problem& p, int64_t steps) {
  return sign_sgd_stationarity_bound(p.smoothness_l1(), steps, p.value(p.x0().data()) - p.f_star());
}

} // namespace

namespace {

// The jobs of an experiment: every problem x noise x optimizer x size x seed (the seeds of a configuration
// consecutive), `at(size)` giving the job's (batch, steps).
template <typename At>
std::vector<Job> jobs_of(
    size_t problems,
    const std::vector<NoiseKind>& noises,
    const LabOptions& o,
    const std::vector<int64_t>& sizes,
    At at) {
  std::vector<Job> jobs;
  for (size_t p = 0; p < problems; ++p)
    for (const auto noise : noises)
      for (const auto optimizer : o.optimizers)
        for (const auto size : sizes) {
          const auto [batch, steps] = at(size);
          for (int64_t s = 0; s < o.seeds; ++s)
            jobs.push_back({p, noise, optimizer, batch, steps, s});
        }
  return jobs;
}

// One row per configuration: the fields every row has, then `fill(row, runs)` with its seeds' outcomes.
template <typename Row, typename Fill>
std::vector<Row> rows_of(
    const std::vector<Problem>& problems,
    const std::vector<Job>& jobs,
    const std::vector<RunOutcome>& outcomes,
    int64_t seeds,
    Fill fill) {
  std::vector<Row> rows;
  for (size_t first = 0; first < jobs.size(); first += static_cast<size_t>(seeds)) {
    const Job& j = jobs[first];
    Row r;
    r.problem = problems[j.problem].name();
    r.noise = to_string(j.noise);
    r.optimizer = to_string(j.optimizer);
    r.batch = j.batch;
    r.steps = j.steps;
    r.seeds = seeds;
    r.bound = bound_at(problems[j.problem], j.steps);
    fill(r, std::vector<RunOutcome>(outcomes.begin() + first, outcomes.begin() + first + seeds));
    rows.push_back(std::move(r));
  }
  return rows;
}

} // namespace

std::vector<RateRow> run_rate(const std::vector<Problem>& problems, const LabOptions& o, const ProgressFn& say) {
  if (o.rate_steps.empty())
    return {};
  const auto jobs = jobs_of(problems.size(), o.rate_noises, o, o.rate_steps, [&](int64_t k) {
    return std::pair<int64_t, int64_t>{o.rate_batch, k};
  });
  const auto outcomes = run_jobs(problems, jobs, o, 0x7a7eULL, "rate", say);
  return rows_of<RateRow>(problems, jobs, outcomes, o.seeds, [](RateRow& r, const std::vector<RunOutcome>& runs) {
    for (const auto& run : runs)
      r.measured.push_back(run.mean_phi);
    r.measured_mean = mean_of(r.measured);
    r.measured_std = std_of(r.measured);
    r.ratio = r.measured_mean / r.bound;
  });
}

std::vector<BudgetRow> run_budget(const std::vector<Problem>& problems, const LabOptions& o, const ProgressFn& say) {
  if (o.budget == 0)
    return {};
  const auto jobs = jobs_of(problems.size(), o.budget_noises, o, o.budget_batches, [&](int64_t b) {
    return std::pair<int64_t, int64_t>{b, o.budget / b};
  });
  const auto outcomes = run_jobs(problems, jobs, o, 0xb0d6e7ULL, "budget", say);
  return rows_of<BudgetRow>(problems, jobs, outcomes, o.seeds, [](BudgetRow& r, const std::vector<RunOutcome>& runs) {
    std::vector<double> gap, phi;
    for (const auto& run : runs) {
      gap.push_back(run.final_gap);
      phi.push_back(run.mean_phi);
    }
    r.final_gap_mean = mean_of(gap);
    r.final_gap_std = std_of(gap);
    r.measured_mean = mean_of(phi);
    r.ratio = r.measured_mean / r.bound;
  });
}

} // namespace signopt::theory::detail

namespace signopt::theory {

namespace {

// Least squares of y on x: slope and its 95% Student-t interval (NaN with fewer than 3 points).
struct Slope {
  double value = std::nan(""), low = std::nan(""), high = std::nan("");
};

Slope fit_slope(const std::vector<double>& x, const std::vector<double>& y) {
  Slope out;
  const double mx = detail::mean_of(x), my = detail::mean_of(y);
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
  }
  if (x.size() < 3 || !(sxx > 0))
    return out;
  out.value = sxy / sxx;
  double rss = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double r = y[i] - my - out.value * (x[i] - mx);
    rss += r * r;
  }
  const double dof = static_cast<double>(x.size() - 2);
  const double half = stats::student_t_quantile(0.975, dof) * std::sqrt(rss / dof / sxx);
  out.low = out.value - half;
  out.high = out.value + half;
  return out;
}

} // namespace

std::vector<RateFit> fit_rates(const std::vector<RateRow>& rows) {
  std::vector<RateFit> fits;
  for (size_t first = 0; first < rows.size();) {
    size_t last = first;
    while (last < rows.size() && rows[last].problem == rows[first].problem && rows[last].noise == rows[first].noise &&
           rows[last].optimizer == rows[first].optimizer && rows[last].batch == rows[first].batch)
      ++last;
    RateFit f;
    f.problem = rows[first].problem;
    f.noise = rows[first].noise;
    f.optimizer = rows[first].optimizer;
    f.batch = rows[first].batch;
    f.theorem_applies =
        theorem_applies(parse_optimizer_kind(rows[first].optimizer), parse_noise_kind(rows[first].noise));
    std::vector<int64_t> ks;
    for (size_t i = first; i < last; ++i)
      ks.push_back(rows[i].steps);
    std::sort(ks.begin(), ks.end());
    const int64_t tail_from = ks.size() >= 3 ? ks[ks.size() - 3] : ks.front();
    std::vector<double> x, y, tx, ty;
    for (size_t i = first; i < last; ++i) {
      f.max_ratio = std::max(f.max_ratio, rows[i].ratio);
      for (const double m : rows[i].measured)
        if (m > 0) {
          x.push_back(std::log(static_cast<double>(rows[i].steps)));
          y.push_back(std::log(m));
          if (rows[i].steps >= tail_from) {
            tx.push_back(x.back());
            ty.push_back(y.back());
          }
        }
    }
    f.points = static_cast<int64_t>(x.size());
    const Slope all = fit_slope(x, y), tail = fit_slope(tx, ty);
    f.exponent = all.value;
    f.ci_low = all.low;
    f.ci_high = all.high;
    f.tail_exponent = tail.value;
    f.tail_ci_low = tail.low;
    f.tail_ci_high = tail.high;
    f.slower_than_bound = tail.low > -0.5;
    fits.push_back(f);
    first = last;
  }
  return fits;
}

namespace {

// The leading cells of a rate or budget row, "problem,noise,batch,optimizer,steps,seeds,".
template <typename Row>
std::string key_cells(const Row& x) {
  return x.problem + ',' + x.noise + ',' + std::to_string(x.batch) + ',' + x.optimizer + ',' + std::to_string(x.steps) +
      ',' + std::to_string(x.seeds) + ',';
}

} // namespace

std::string render_rate_csv(const LabResult& r) {
  std::string out = "problem,noise,batch,optimizer,steps,seeds,measured_mean,measured_std,bound,ratio\n";
  for (const auto& x : r.rate)
    out += key_cells(x) + detail::fmt(x.measured_mean, "%.10g") + ',' + detail::fmt(x.measured_std, "%.10g") + ',' +
        detail::fmt(x.bound, "%.10g") + ',' + detail::fmt(x.ratio, "%.10g") + '\n';
  return out;
}

std::string render_rate_fit_csv(const LabResult& r) {
  std::string out =
      "problem,noise,batch,optimizer,points,exponent,ci_low,ci_high,tail_exponent,tail_ci_low,tail_ci_high,max_ratio,"
      "theorem_applies,slower_than_bound\n";
  for (const auto& f : r.rate_fits)
    out += f.problem + ',' + f.noise + ',' + std::to_string(f.batch) + ',' + f.optimizer + ',' + std::to_string(f.points) +
        ',' + detail::fmt(f.exponent, "%.6g") + ',' + detail::fmt(f.ci_low, "%.6g") + ',' + detail::fmt(f.ci_high, "%.6g") +
        ',' + detail::fmt(f.tail_exponent, "%.6g") + ',' + detail::fmt(f.tail_ci_low, "%.6g") + ',' +
        detail::fmt(f.tail_ci_high, "%.6g") + ',' + detail::fmt(f.max_ratio, "%.6g") + ',' + (f.theorem_applies ? "1" : "0") + ',' +
        (f.slower_than_bound ? "1" : "0") + '\n';
  return out;
}

std::string render_budget_csv(const LabResult& r) {
  std::string out = "problem,noise,batch,optimizer,steps,seeds,final_gap_mean,final_gap_std,measured_mean,bound,ratio\n";
  for (const auto& x : r.budget)
    out += key_cells(x) + detail::fmt(x.final_gap_mean, "%.10g") + ',' + detail::fmt(x.final_gap_std, "%.10g") + ',' +
        detail::fmt(x.measured_mean, "%.10g") + ',' + detail::fmt(x.bound, "%.10g") + ',' + detail::fmt(x.ratio, "%.10g") +
        '\n';
  return out;
}

namespace detail {

void add_rate_findings(const LabResult& r, std::vector<std::string>& out) {
  if (r.rate_fits.empty())
    return;
  int64_t covered = 0, covered_slower = 0, covered_over = 0;
  double lo = 1e300, hi = -1e300;
  for (const auto& f : r.rate_fits) {
    if (!f.theorem_applies)
      continue;
    ++covered;
    covered_slower += f.slower_than_bound;
    covered_over += f.max_ratio > 1;
    if (std::isfinite(f.tail_exponent)) {
      lo = std::min(lo, f.tail_exponent);
      hi = std::max(hi, f.tail_exponent);
    }
  }
  if (covered > 0 && std::isfinite(lo) && std::isfinite(hi) && lo < 1e300)
    out.push_back(
        "Rate in K, configurations the theorem covers: exponents of (1/K) sum Phi over the three largest K " +
        fmt(lo, "%.3f") + " .. " + fmt(hi, "%.3f") + " (the bound's is -0.5); " + std::to_string(covered_slower) + " of " +
        std::to_string(covered) + " fall significantly slower than K^-1/2 there (95% CI above -0.5), " +
        std::to_string(covered_over) + " exceed the bound at some K.");
  std::string slower;
  for (const auto& f : r.rate_fits)
    if (!f.theorem_applies && f.slower_than_bound)
      slower += (slower.empty() ? "" : "; ") + f.optimizer + " " + f.noise + " " + f.problem + " (" +
          fmt(f.tail_exponent, "%.3f") + " [" + fmt(f.tail_ci_low, "%.3f") + ", " + fmt(f.tail_ci_high, "%.3f") + "])";
  out.push_back(
      "Rate in K, configurations outside the theorem falling significantly slower than K^-1/2: " +
      (slower.empty() ? std::string("none") : slower) + ".");
}

void add_budget_findings(const LabResult& r, std::vector<std::string>& out) {
  // Per (problem, noise, optimizer): the batch size with the lowest mean final gap at the fixed budget.
  std::string best;
  for (size_t first = 0; first < r.budget.size();) {
    size_t last = first, arg = first;
    while (last < r.budget.size() && r.budget[last].problem == r.budget[first].problem &&
           r.budget[last].noise == r.budget[first].noise && r.budget[last].optimizer == r.budget[first].optimizer) {
      if (r.budget[last].final_gap_mean < r.budget[arg].final_gap_mean)
        arg = last;
      ++last;
    }
    if (r.budget[first].optimizer == to_string(OptimizerKind::SignSGD))
      best += (best.empty() ? "" : ", ") + r.budget[first].problem + "/" + r.budget[first].noise + " B = " +
          std::to_string(r.budget[arg].batch);
    first = last;
  }
  if (!best.empty())
    out.push_back(
        "Fixed budget of " + std::to_string(r.options.budget) +
        " gradient samples: SignSGD's lowest final gap f_K - f_* is at " + best + ".");
}

std::string rate_markdown(const LabResult& r) {
  std::ostringstream out;
  if (!r.rate_fits.empty()) {
    out << "\n## The rate in K\n\nEach configuration run at K in {";
    for (size_t i = 0; i < r.options.rate_steps.size(); ++i)
      out << (i ? ", " : "") << r.options.rate_steps[i];
    out << "} with lr = 1/sqrt(||L||_1 K), batch " << r.options.rate_batch << ", " << r.options.seeds
        << " seeds per K (independent noise streams per K); exponent = least-squares slope of log (1/K) sum Phi "
           "on log K over every run, with its 95% confidence interval, and the same over the three largest K (tail). "
           "The bound falls as K^-1/2: a tail CI above -0.5 (marked !) means the measured quantity still falls "
           "slower there; were that rate to continue, the bound would fail at some larger K (rate.csv has the "
           "ratio per K).\n\n"
           "| problem | noise | optimizer | exponent | 95% CI | tail exponent | tail 95% CI | max measured/bound | theorem |\n"
           "|---|---|---|---:|---|---:|---|---:|---|\n";
    for (const auto& f : r.rate_fits)
      out << "| " << f.problem << " | " << f.noise << " | " << f.optimizer << " | " << fmt(f.exponent, "%.3f") << " | ["
          << fmt(f.ci_low, "%.3f") << ", " << fmt(f.ci_high, "%.3f") << "] | " << fmt(f.tail_exponent, "%.3f") << " | ["
          << fmt(f.tail_ci_low, "%.3f") << ", " << fmt(f.tail_ci_high, "%.3f") << "]" << (f.slower_than_bound ? " !" : "")
          << " | " << fmt(f.max_ratio, "%.3f") << " | " << (f.theorem_applies ? "yes" : "no") << " |\n";
  }
  if (!r.budget.empty()) {
    out << "\n## Batch sizes at a fixed budget of " << r.options.budget
        << " gradient samples\n\nK = budget / B steps at each B, lr = 1/sqrt(||L||_1 K); final gap f_K - f_* and "
           "(1/K) sum Phi, mean +- std over "
        << r.options.seeds << " seeds.\n\n| problem | noise | optimizer | B | K | f_K - f_* | measured | bound | ratio |\n"
           "|---|---|---|---:|---:|---|---:|---:|---:|\n";
    for (const auto& b : r.budget)
      out << "| " << b.problem << " | " << b.noise << " | " << b.optimizer << " | " << b.batch << " | " << b.steps << " | "
          << fmt(b.final_gap_mean, "%.3g") << " +- " << fmt(b.final_gap_std, "%.2g") << " | "
          << fmt(b.measured_mean, "%.4g") << " | " << fmt(b.bound, "%.4g") << " | " << fmt(b.ratio, "%.3f") << " |\n";
  }
  return out.str();
}

} // namespace detail
} // namespace signopt::theory

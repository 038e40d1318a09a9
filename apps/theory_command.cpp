// `signopt theory`: the theory lab (see docs/theory.md): the small-batch SignSGD bound on synthetic problems.
#include "commands.h"
#include <signopt/io/files.h>

#include <signopt/diag/theory.h>
#include <signopt/experiments/theory_lab.h>
#include <signopt/report/figures.h>
#include <signopt/train/config.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace {

namespace fs = std::filesystem;
namespace theory = signopt::theory;
using signopt::train::ConfigError;

const char* kTheoryHelp =
    R"(usage: signopt theory [--out DIR] [--steps K] [--seeds S] [--batches 1,4,16,64,256] [options]

The theory lab: checks the small-batch SignSGD theory (algorithms.md section 6) on synthetic problems
with known coordinate smoothness L_i and minimum f_*, under controlled per-coordinate gradient noise.
 * stationarity: SignSGD, Signum and dithered SignSGD run K steps with lr = 1/sqrt(||L||_1 K); the
   measured (1/K) sum_k Phi(g_k) is compared with the bound sqrt(||L||_1/K) (f_0 - f_* + 1/2)
   (mean and std over seeds, ratio, and f_K - f_*);
 * wrong sign: the Monte Carlo probability that sign(g + noise) != sign(g) at SNR S, per noise and
   batch size, against Gauss's bound and the Gaussian prediction (violations beyond 3 standard errors
   are flagged).
Noises (all zero-mean, unit-variance, scaled by sigma_i and averaged over a batch of B draws):
gaussian, laplace, uniform, student-t (5 dof) -- unimodal symmetric, the theorem's assumption --
and bimodal (mixture of N(+-0.95, 0.0975)) and skewed (Exp(1) - 1), which violate it.

Experiment:
  --problems LIST     comma-separated: quadratic, logistic (default both)
  --noises LIST       gaussian, laplace, uniform, student-t, bimodal, skewed (default all)
  --optimizers LIST   signsgd, signum, dithered-signsgd (absolute dither), dithered-signsgd-rms and
                      dithered-signum (the trainer's rms-scaled dither), hybrid-sign (the hybrid's
                      sign phase, never switching) (default all)
  --batches LIST      batch sizes >= 1 (default 1,4,16,64,256)
  --steps K           steps per run, >= 1 (default 1000)
  --seeds S           runs per configuration, >= 1 (default 5)
  --seed N            master seed of the noise and the dither (default 0)
  --dim D             coordinates of each problem, >= 2 (default 32)
  --noise-level X     sigma_i(1) = X * c_i * max(|grad_i f(x_0)|, 0.1 rms grad f(x_0)) with c_i
                      spread over [1/4, 4], so the initial SNRs at B = 1 span [1/4, 4] / X; > 0
                      (default 1)
  --momentum BETA     Signum's beta in [0, 1) (default 0.9)
  --dither-level X    dither std alpha_0 = X * rms_i sigma_i(1), > 0, annealed as
                      alpha_0 / (1 + t0)^(gamma/2) (default 0.25)
  --dither-gamma G    the dither's power decay gamma >= 0 (default 0.55)
  --rms-dither-alpha A  alpha_0 of the rms-scaled dither: s_t = alpha_t x rms of the sign argument,
                      > 0 (default 1, the trainer's)
Rate in K (the bound's K^-1/2 rate, fitted with a 95% confidence interval):
  --rate-steps LIST   the K of the sweep, >= 2 each, at least two; none skips it
                      (default 100,316,1000,3162,10000)
  --rate-noises LIST  noises of the sweep (default gaussian,laplace,skewed)
  --rate-batch B      batch size of the sweep (default 1)
Batch sizes at a fixed budget of K x B gradient samples:
  --budget N          samples per run, K = N / B; 0 skips it (default 16384)
  --budget-batches LIST  batch sizes, each <= N (default 1,4,16,64,256)
  --budget-noises LIST   noises (default gaussian,laplace,skewed)
  --snr LIST          SNR grid of the wrong-sign experiment, values > 0
                      (default 0.05,0.1,0.2,0.3,0.5,0.75,1,1.1547,1.25,1.5,2,2.5,3,4,5)
  --draws N           Monte Carlo draws per noise and batch size, >= 100 (default 400000)
  --quick             a small setting (K 200, 2 seeds, d 8, batches 1,16,256, 40000 draws) that runs
                      in seconds; options given after it still apply
Output:
  --out DIR           output folder (default runs/theory); existing lab files in it are replaced
  --threads N         worker threads over independent runs, >= 1 (default: all cores); the results
                      do not depend on it
  --no-plots          skip the gnuplot plots
  --help              this text

Writes DIR/theory.md (findings, problem facts, the stationarity table, wrong-sign tables per noise),
summary.json (options, problems, every row, findings), stationarity.csv, wrong_sign.csv, rate.csv,
rate_fit.csv, budget.csv and plots/
(PNG and SVG via gnuplot; without gnuplot the data and figures.gp are still written): the measured
Phi / bound against B per problem and optimizer, the descent check, and the wrong-sign rate against
SNR with the bound and the Gaussian prediction per noise. The default lab takes a minute or two on
2 cores. Exit status: 0 written, 2 bad options, 1 an I/O error.
)";

std::vector<std::string> split_list(const std::string& flag, const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    if (item.empty()) {
      throw ConfigError("invalid value for " + flag + ": '" + text + "' (empty item; give a comma-separated list)");
    }
    out.push_back(item);
  }
  if (out.empty()) {
    throw ConfigError("invalid value for " + flag + ": '' (give a comma-separated list)");
  }
  return out;
}

int64_t parse_integer(const std::string& flag, const std::string& text, int64_t min) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || v < min) {
    throw ConfigError(
        "invalid value for " + flag + ": '" + text + "' (expected an integer >= " + std::to_string(min) + ")");
  }
  return v;
}

double parse_number(const std::string& flag, const std::string& text, const std::string& expected) {
  size_t used = 0;
  double v = std::numeric_limits<double>::quiet_NaN();
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || !std::isfinite(v)) {
    throw ConfigError("invalid value for " + flag + ": '" + text + "' (expected " + expected + ")");
  }
  return v;
}

// Turns a library parse error into the command's error, naming the flag.
template <typename F>
auto named(const std::string& flag, F parse) {
  try {
    return parse();
  } catch (const std::invalid_argument& e) {
    throw ConfigError("invalid value for " + flag + ": " + e.what());
  }
}

// gnuplot's log axes cannot show 0: a probability of 0 is left out of a log-y plot.
double loggable(double v) {
  return v > 0 ? v : std::numeric_limits<double>::quiet_NaN();
}

// The stationarity rows of one problem, noise and optimizer (one per batch size).
std::vector<const theory::StationarityRow*> rows_of(
    const theory::LabResult& r,
    const std::string& problem,
    const std::string& noise,
    const std::string& optimizer) {
  std::vector<const theory::StationarityRow*> rows;
  for (const auto& s : r.stationarity) {
    if (s.problem == problem && s.noise == noise && s.optimizer == optimizer) {
      rows.push_back(&s);
    }
  }
  return rows;
}

// Measured (1/K) sum Phi / bound against B for problem p and optimizer opt, one curve per noise.
signopt::report::Figure stationarity_figure(
    const theory::LabResult& r,
    const std::vector<double>& batches,
    const std::string& p,
    const std::string& opt) {
  using signopt::report::Curve;
  using signopt::report::Figure;
  const auto& o = r.options;
  Figure f;
  f.name = "stationarity-" + p + "-" + opt;
  f.title = opt + " on the " + p + ": measured (1/K) sum Phi / bound";
  f.xlabel = "batch size B";
  f.ylabel = "measured / bound";
  f.log_x = true;
  f.log_y = true;
  f.key_position = "outside right";
  for (const auto noise : o.noises) {
    Curve c;
    c.title = theory::to_string(noise);
    c.style = "linespoints";
    for (const auto* s : rows_of(r, p, c.title, opt)) {
      c.x.push_back(static_cast<double>(s->batch));
      c.y.push_back(loggable(s->ratio));
    }
    f.curves.push_back(c);
  }
  f.curves.push_back({"bound (ratio 1)", batches, std::vector<double>(batches.size(), 1.0), "dashed"});
  return f;
}

// The descent check on problem p: measured / realized bound against B per noise and non-Signum optimizer.
signopt::report::Figure descent_figure(
    const theory::LabResult& r,
    const std::vector<double>& batches,
    const std::string& p) {
  using signopt::report::Curve;
  using signopt::report::Figure;
  const auto& o = r.options;
  Figure d;
  d.name = "descent-" + p;
  d.title = "descent check on the " + p + ": measured / sqrt(||L||_1/K) (f_0 - f_K + 1/2)";
  d.xlabel = "batch size B";
  d.ylabel = "measured / realized bound";
  d.log_x = true;
  d.key_position = "outside right";
  for (const auto optimizer : o.optimizers) {
    if (optimizer == theory::OptimizerKind::Signum) {
      continue;
    }
    for (const auto noise : o.noises) {
      Curve c;
      c.title = theory::to_string(noise) + " " + theory::to_string(optimizer);
      c.style = "linespoints";
      for (const auto* s : rows_of(r, p, theory::to_string(noise), theory::to_string(optimizer))) {
        c.x.push_back(static_cast<double>(s->batch));
        c.y.push_back(s->realized_ratio);
      }
      d.curves.push_back(c);
    }
  }
  d.curves.push_back({"1 (the inequality)", batches, std::vector<double>(batches.size(), 1.0), "dashed"});
  return d;
}

// The wrong-sign probability against SNR for noise n per batch size, with the Gauss bound and Gaussian prediction.
signopt::report::Figure wrong_sign_figure(const theory::LabResult& r, const std::string& n) {
  using signopt::report::Curve;
  using signopt::report::Figure;
  const auto& o = r.options;
  Figure f;
  f.name = "wrong-sign-" + n;
  f.title = "wrong-sign probability, " + n + " noise";
  f.xlabel = "SNR S = |g| / (sigma / sqrt B)";
  f.ylabel = "P(sign(g + noise) != sign(g))";
  f.log_x = true;
  f.log_y = true;
  f.key_position = "bottom left";
  for (const auto b : o.batches) {
    Curve c;
    c.title = "B=" + std::to_string(b);
    c.style = "linespoints";
    for (const auto& w : r.wrong_sign) {
      if (w.noise == n && w.batch == b) {
        c.x.push_back(w.snr);
        c.y.push_back(loggable(w.worst));
      }
    }
    f.curves.push_back(c);
  }
  Curve bound{"Gauss bound", {}, {}, "dashed"}, gaussian{"Gaussian", {}, {}, "dashed"};
  for (const double s : o.snr_grid) {
    bound.x.push_back(s);
    bound.y.push_back(theory::gauss_wrong_sign_bound(s));
    gaussian.x.push_back(s);
    gaussian.y.push_back(loggable(theory::gaussian_wrong_sign_probability(s)));
  }
  f.curves.push_back(bound);
  f.curves.push_back(gaussian);
  return f;
}

std::vector<signopt::report::Figure> lab_figures(const theory::LabResult& r) {
  using signopt::report::Figure;
  std::vector<Figure> figures;
  const auto& o = r.options;
  std::vector<double> batches(o.batches.begin(), o.batches.end());
  for (const auto problem : o.problems) {
    const std::string p = theory::to_string(problem);
    for (const auto optimizer : o.optimizers) {
      const std::string opt = theory::to_string(optimizer);
      figures.push_back(stationarity_figure(r, batches, p, opt));
    }
    figures.push_back(descent_figure(r, batches, p));
  }
  for (const auto noise : o.noises) {
    const std::string n = theory::to_string(noise);
    figures.push_back(wrong_sign_figure(r, n));
  }
  return figures;
}

// Applies a flag that sets one number of the lab (--steps ... --momentum); false for any other flag.
bool apply_number_flag(const std::string& flag, const std::function<std::string()>& take, theory::LabOptions& o) {
  if (flag == "--steps") {
    o.steps = parse_integer(flag, take(), 1);
  } else if (flag == "--seeds") {
    o.seeds = parse_integer(flag, take(), 1);
  } else if (flag == "--seed") {
    o.seed = static_cast<uint64_t>(parse_integer(flag, take(), 0));
  } else if (flag == "--dim") {
    o.problem.dim = parse_integer(flag, take(), 2);
  } else if (flag == "--draws") {
    o.wrong_sign_draws = parse_integer(flag, take(), 100);
  } else if (flag == "--threads") {
    o.threads = static_cast<int>(parse_integer(flag, take(), 1));
  } else if (flag == "--noise-level" || flag == "--dither-level" || flag == "--rms-dither-alpha") {
    const std::string text = take();
    const double v = parse_number(flag, text, "a number > 0");
    if (!(v > 0)) {
      throw ConfigError("invalid value for " + flag + ": '" + text + "' (expected a number > 0)");
    }
    (flag == "--noise-level" ? o.problem.noise_level : flag == "--dither-level" ? o.dither_level : o.rms_dither_alpha) = v;
  } else if (flag == "--rate-batch") {
    o.rate_batch = parse_integer(flag, take(), 1);
  } else if (flag == "--budget") {
    o.budget = parse_integer(flag, take(), 0);
  } else if (flag == "--dither-gamma") {
    const std::string text = take();
    o.dither_gamma = parse_number(flag, text, "a number >= 0");
    if (o.dither_gamma < 0) {
      throw ConfigError("invalid value for --dither-gamma: '" + text + "' (expected a number >= 0)");
    }
  } else if (flag == "--momentum") {
    const std::string text = take();
    o.signum_momentum = parse_number(flag, text, "a number in [0, 1)");
    if (!(o.signum_momentum >= 0 && o.signum_momentum < 1)) {
      throw ConfigError("invalid value for --momentum: '" + text + "' (expected a number in [0, 1))");
    }
  } else {
    return false;
  }
  return true;
}

// Applies a flag that takes a comma-separated list (--batches ... --snr); false for any other flag.
bool apply_list_flag(const std::string& flag, const std::function<std::string()>& take, theory::LabOptions& o) {
  if (flag == "--batches" || flag == "--budget-batches" || flag == "--rate-steps") {
    auto& list = flag == "--batches" ? o.batches : flag == "--budget-batches" ? o.budget_batches : o.rate_steps;
    list.clear();
    const std::string text = take();
    if (flag == "--rate-steps" && text == "none") {
      return true;
    }
    for (const auto& b : split_list(flag, text)) {
      list.push_back(parse_integer(flag, b, 1));
    }
  } else if (flag == "--noises" || flag == "--rate-noises" || flag == "--budget-noises") {
    const auto names = split_list(flag, take());
    auto& list = flag == "--noises" ? o.noises : flag == "--rate-noises" ? o.rate_noises : o.budget_noises;
    list.clear();
    for (const auto& n : names) {
      list.push_back(named(flag, [&] { return theory::parse_noise_kind(n); }));
    }
  } else if (flag == "--problems") {
    const auto names = split_list(flag, take());
    o.problems.clear();
    for (const auto& n : names) {
      o.problems.push_back(named(flag, [&] { return theory::parse_problem_kind(n); }));
    }
  } else if (flag == "--optimizers") {
    const auto names = split_list(flag, take());
    o.optimizers.clear();
    for (const auto& n : names) {
      o.optimizers.push_back(named(flag, [&] { return theory::parse_optimizer_kind(n); }));
    }
  } else if (flag == "--snr") {
    o.snr_grid.clear();
    for (const auto& s : split_list(flag, take())) {
      const double v = parse_number(flag, s, "numbers > 0");
      if (!(v > 0)) {
        throw ConfigError("invalid value for --snr: '" + s + "' (expected numbers > 0)");
      }
      o.snr_grid.push_back(v);
    }
  } else {
    return false;
  }
  return true;
}

// Parses the command's arguments into o, out_dir and plots; false when --help was given (and printed).
bool parse_theory_args(const std::vector<std::string>& args, theory::LabOptions& o, std::string& out_dir, bool& plots) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i], value;
    bool has_value = false;
    if (const auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_value = true;
    }
    auto take = [&]() -> std::string {
      if (has_value) {
        return value;
      }
      if (i + 1 >= args.size()) {
        throw ConfigError(flag + " needs a value (see signopt theory --help)");
      }
      return args[++i];
    };
    if (flag == "--help" || flag == "-h") {
      std::cout << kTheoryHelp;
      return false;
    } else if (flag == "--quick") {
      const int threads = o.threads;
      o = theory::LabOptions::quick();
      o.threads = threads;
    } else if (flag == "--out") {
      out_dir = take();
      if (out_dir.empty()) {
        throw ConfigError("invalid value for --out: '' (expected a folder)");
      }
    } else if (apply_number_flag(flag, take, o) || apply_list_flag(flag, take, o)) {
      // handled
    } else if (flag == "--no-plots") {
      plots = false;
    } else if (flag.rfind("-", 0) == 0) {
      throw ConfigError("unknown option '" + flag + "' for signopt theory (see signopt theory --help)");
    } else {
      throw ConfigError("unexpected argument '" + flag + "': signopt theory takes options only (see --help)");
    }
  }
  return true;
}

// Writes theory.md (with plots unless --no-plots), summary.json and the CSVs into out; prints the findings.
void write_lab_files(
    const theory::LabResult& result,
    const std::string& command_line,
    const fs::path& out,
    bool plots) {
  std::string markdown = theory::render_markdown(result, command_line);
  if (plots) {
    const auto outcome = signopt::report::write_figures(lab_figures(result), (out / "plots").string(), out.string());
    markdown += "\n## Plots\n\n";
    if (outcome.made) {
      for (const auto& file : outcome.files) {
        if (file.size() > 4 && file.compare(file.size() - 4, 4, ".png") == 0) {
          markdown += "![" + file + "](" + file + ")\n";
        }
      }
    } else {
      markdown += outcome.note + "\n";
      std::printf("[theory] plots skipped: %s\n", outcome.note.c_str());
    }
  }
  signopt::io::write_file_atomic(out / "theory.md", markdown);
  signopt::io::write_file_atomic(out / "summary.json", theory::render_summary_json(result));
  signopt::io::write_file_atomic(out / "stationarity.csv", theory::render_stationarity_csv(result));
  signopt::io::write_file_atomic(out / "wrong_sign.csv", theory::render_wrong_sign_csv(result));
  signopt::io::write_file_atomic(out / "rate.csv", theory::render_rate_csv(result));
  signopt::io::write_file_atomic(out / "rate_fit.csv", theory::render_rate_fit_csv(result));
  signopt::io::write_file_atomic(out / "budget.csv", theory::render_budget_csv(result));
  for (const auto& f : theory::findings(result)) {
    std::printf("[finding] %s\n", f.c_str());
  }
  std::printf(
      "[theory] wrote %s/theory.md, summary.json, stationarity.csv, wrong_sign.csv, rate.csv, rate_fit.csv, "
      "budget.csv%s in %.1f s\n",
      out.string().c_str(),
      plots ? ", plots/" : "",
      result.seconds);
}

} // namespace

int theory_command(const std::vector<std::string>& args) {
  theory::LabOptions o;
  std::string out_dir = "runs/theory";
  bool plots = true;
  const unsigned cores = std::thread::hardware_concurrency();
  o.threads = cores > 0 ? static_cast<int>(cores) : 1;
  if (!parse_theory_args(args, o, out_dir, plots)) {
    return 0; // --help
  }
  try {
    o.validate();
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string(e.what()) + " (see signopt theory --help)");
  }

  std::string command_line = "signopt theory";
  for (const auto& a : args) {
    command_line += " " + a;
  }
  const fs::path out(out_dir);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out)) {
    throw std::runtime_error("cannot create the output folder " + out.string() + ": " + ec.message());
  }
  std::printf(
      "[theory] %zu problems x %zu noises x %zu batch sizes x %zu optimizers x %lld seeds, K = %lld, %d threads\n",
      o.problems.size(),
      o.noises.size(),
      o.batches.size(),
      o.optimizers.size(),
      static_cast<long long>(o.seeds),
      static_cast<long long>(o.steps),
      o.threads);
  std::fflush(stdout);
  const auto result = theory::run_lab(o, [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  });
  write_lab_files(result, command_line, out, plots);
  return 0;
}

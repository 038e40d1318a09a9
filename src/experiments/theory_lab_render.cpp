// The theory lab's reports: the CSV tables, the JSON summary, the Markdown report and its findings.
#include <signopt/diag/theory.h>
#include <signopt/experiments/theory_lab.h>

#include "theory_lab_internal.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace signopt::theory {

using detail::fmt;

namespace {

std::string json_number(double v) {
  return std::isfinite(v) ? fmt(v, "%.10g") : "null";
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string batches_text(const std::vector<int64_t>& batches) {
  std::string out;
  for (const auto b : batches) {
    out += (out.empty() ? "" : ", ") + std::to_string(b);
  }
  return out;
}

} // namespace

// ---- reports --------------------------------------------------------------------------------------

std::string render_stationarity_csv(const LabResult& r) {
  std::ostringstream out;
  out << "problem,noise,batch,optimizer,seeds,measured_mean,measured_std,bound,ratio,slack_mean,slack_std,"
         "realized_ratio,final_gap_mean,final_gap_std,high_snr_fraction,snr_median,snr_p10,snr_p90,theorem_applies,"
         "bound_exceeded,"
         "descent_violated\n";
  for (const auto& s : r.stationarity) {
    out << s.problem << ',' << s.noise << ',' << s.batch << ',' << s.optimizer << ',' << s.seeds << ','
        << fmt(s.measured_mean, "%.10g") << ',' << fmt(s.measured_std, "%.10g") << ',' << fmt(s.bound, "%.10g") << ','
        << fmt(s.ratio, "%.10g") << ',' << fmt(s.slack_mean, "%.10g") << ',' << fmt(s.slack_std, "%.10g") << ','
        << fmt(s.realized_ratio, "%.10g") << ',' << fmt(s.final_gap_mean, "%.10g") << ','
        << fmt(s.final_gap_std, "%.10g") << ',' << fmt(s.high_snr_fraction, "%.10g") << ','
        << fmt(s.snr_median, "%.10g") << ',' << fmt(s.snr_p10, "%.10g") << ',' << fmt(s.snr_p90, "%.10g") << ','
        << (s.theorem_applies ? 1 : 0) << ',' << (s.bound_exceeded ? 1 : 0) << ',' << (s.descent_violated ? 1 : 0)
        << '\n';
  }
  return out.str();
}

std::string render_wrong_sign_csv(const LabResult& r) {
  std::ostringstream out;
  out << "noise,batch,snr,draws,wrong_positive,wrong_negative,worst,std_error,gauss_bound,gaussian,violates\n";
  for (const auto& w : r.wrong_sign) {
    out << w.noise << ',' << w.batch << ',' << fmt(w.snr, "%.10g") << ',' << w.draws << ','
        << fmt(w.wrong_positive, "%.10g") << ',' << fmt(w.wrong_negative, "%.10g") << ',' << fmt(w.worst, "%.10g")
        << ',' << fmt(w.std_error, "%.10g") << ',' << fmt(w.gauss_bound, "%.10g") << ',' << fmt(w.gaussian, "%.10g")
        << ',' << (w.violates ? 1 : 0) << '\n';
  }
  return out.str();
}

namespace {

// The theorem's cases.
void add_theorem_findings(const LabResult& r, std::vector<std::string>& out) {
  std::vector<double> ratios, realized;
  int64_t applies = 0, exceeded = 0, descent_bad = 0;
  const StationarityRow* loosest = nullptr;
  const StationarityRow* tightest = nullptr;
  for (const auto& s : r.stationarity) {
    if (!s.theorem_applies) {
      continue;
    }
    ++applies;
    exceeded += s.bound_exceeded ? 1 : 0;
    descent_bad += s.descent_violated ? 1 : 0;
    ratios.push_back(s.ratio);
    realized.push_back(s.realized_ratio);
    if (!loosest || s.ratio < loosest->ratio) {
      loosest = &s;
    }
    if (!tightest || s.ratio > tightest->ratio) {
      tightest = &s;
    }
  }
  if (applies > 0) {
    std::sort(ratios.begin(), ratios.end());
    std::sort(realized.begin(), realized.end());
    out.push_back(
        "Theorem cases (SignSGD and dithered SignSGD under unimodal symmetric noise): the bound held in " +
        std::to_string(applies - exceeded) + " of " + std::to_string(applies) +
        " configurations (no significant excess); measured/bound ranged from " + fmt(ratios.front(), "%.3g") + " (" +
        loosest->problem + ", " + loosest->noise + ", B=" + std::to_string(loosest->batch) + ", " + loosest->optimizer +
        ") to " + fmt(ratios.back(), "%.3g") + " (" + tightest->problem + ", " + tightest->noise +
        ", B=" + std::to_string(tightest->batch) + ", " + tightest->optimizer + "), median " +
        fmt(ratios[ratios.size() / 2], "%.3g") + ".");
    out.push_back(
        "Against the realized bound sqrt(||L||_1/K) (f_0 - f_K + 1/2) the theorem cases reach measured/bound " +
        fmt(realized.front(), "%.3g") + " .. " + fmt(realized.back(), "%.3g") +
        "; the descent inequality failed significantly (one-sided t-test over seeds, level 0.005) in " +
        std::to_string(descent_bad) + " of them.");
  }
}

// The noises that violate the assumption (bimodal, skewed), under the optimizers the theorem covers.
void add_violating_noise_findings(const LabResult& r, std::vector<std::string>& out) {
  for (const std::string noise : {"bimodal", "skewed"}) {
    for (const std::string opt : {"signsgd", "dithered-signsgd"}) {
      std::vector<int64_t> exceeded_b, descent_b;
      bool any = false;
      for (const auto& s : r.stationarity) {
        if (s.noise != noise || s.optimizer != opt) {
          continue;
        }
        any = true;
        if (s.bound_exceeded && std::find(exceeded_b.begin(), exceeded_b.end(), s.batch) == exceeded_b.end()) {
          exceeded_b.push_back(s.batch);
        }
        if (s.descent_violated && std::find(descent_b.begin(), descent_b.end(), s.batch) == descent_b.end()) {
          descent_b.push_back(s.batch);
        }
      }
      if (any) {
        out.push_back(
            noise + " noise, " + opt + ": the bound was significantly exceeded at B in {" + batches_text(exceeded_b) +
            "}; the descent inequality failed (realized slack significantly < 0) at B in {" + batches_text(descent_b) +
            "}.");
      }
    }
  }
}

// Momentum (Signum), which the theorem does not cover.
void add_signum_finding(const LabResult& r, std::vector<std::string>& out) {
  std::vector<double> signum;
  int64_t above = 0, significant = 0;
  std::vector<int64_t> significant_b;
  for (const auto& s : r.stationarity) {
    if (s.optimizer == "signum") {
      signum.push_back(s.ratio);
      above += s.ratio > 1 ? 1 : 0;
      significant += s.bound_exceeded ? 1 : 0;
      if (s.bound_exceeded && std::find(significant_b.begin(), significant_b.end(), s.batch) == significant_b.end()) {
        significant_b.push_back(s.batch);
      }
    }
  }
  if (!signum.empty()) {
    std::sort(signum.begin(), signum.end());
    out.push_back(
        "Signum (not covered by the theorem): measured/bound " + fmt(signum.front(), "%.3g") + " .. " +
        fmt(signum.back(), "%.3g") + ", above 1 in " + std::to_string(above) + " of " + std::to_string(signum.size()) +
        " configurations, significantly in " + std::to_string(significant) + " (at B in {" +
        batches_text(significant_b) + "}).");
  }
}

// Wrong-sign violations per noise.
void add_wrong_sign_findings(const LabResult& r, std::vector<std::string>& out) {
  for (const auto noise : r.options.noises) {
    const std::string name = to_string(noise);
    std::vector<int64_t> flagged_b;
    int64_t flagged = 0, points = 0;
    double worst_excess = -1;
    const WrongSignRow* worst = nullptr;
    for (const auto& w : r.wrong_sign) {
      if (w.noise != name) {
        continue;
      }
      ++points;
      if (w.violates) {
        ++flagged;
        if (std::find(flagged_b.begin(), flagged_b.end(), w.batch) == flagged_b.end()) {
          flagged_b.push_back(w.batch);
        }
      }
      if (w.worst - w.gauss_bound > worst_excess) {
        worst_excess = w.worst - w.gauss_bound;
        worst = &w;
      }
    }
    if (points == 0) {
      continue;
    }
    std::string line = "Wrong sign, " + name + ": " + std::to_string(flagged) + " of " + std::to_string(points) +
        " (B, S) points above the Gauss bound by more than 3 standard errors";
    if (flagged > 0) {
      line += " (at B in {" + batches_text(flagged_b) + "}; worst at B=" + std::to_string(worst->batch) +
          ", S=" + fmt(worst->snr, "%.3g") + ": " + fmt(worst->worst, "%.4f") + " vs bound " +
          fmt(worst->gauss_bound, "%.4f") + ")";
    } else if (worst) {
      line += "; closest approach measured - bound = " + fmt(worst_excess, "%.2g") +
          " at B=" + std::to_string(worst->batch) + ", S=" + fmt(worst->snr, "%.3g");
    }
    out.push_back(line + ".");
  }
}

} // namespace

std::vector<std::string> findings(const LabResult& r) {
  std::vector<std::string> out;
  add_theorem_findings(r, out);
  add_violating_noise_findings(r, out);
  add_signum_finding(r, out);
  add_wrong_sign_findings(r, out);
  detail::add_rate_findings(r, out);
  detail::add_budget_findings(r, out);
  return out;
}

std::string render_summary_json(const LabResult& r) {
  const LabOptions& o = r.options;
  std::ostringstream out;
  auto list = [](const auto& values, auto item) {
    std::string s = "[";
    for (size_t i = 0; i < values.size(); ++i) {
      s += (i ? ", " : "") + item(values[i]);
    }
    return s + "]";
  };
  out << "{\n  \"options\": {\n";
  out << "    \"problems\": " << list(o.problems, [](auto v) { return json_string(to_string(v)); }) << ",\n";
  out << "    \"noises\": " << list(o.noises, [](auto v) { return json_string(to_string(v)); }) << ",\n";
  out << "    \"optimizers\": " << list(o.optimizers, [](auto v) { return json_string(to_string(v)); }) << ",\n";
  out << "    \"batches\": " << list(o.batches, [](auto v) { return std::to_string(v); }) << ",\n";
  out << "    \"steps\": " << o.steps << ",\n    \"seeds\": " << o.seeds << ",\n    \"seed\": " << o.seed << ",\n";
  out << "    \"dim\": " << o.problem.dim << ",\n    \"logistic_samples\": " << o.problem.logistic_samples << ",\n";
  out << "    \"logistic_l2\": " << json_number(o.problem.logistic_l2) << ",\n";
  out << "    \"noise_level\": " << json_number(o.problem.noise_level) << ",\n";
  out << "    \"problem_seed\": " << o.problem.seed << ",\n";
  out << "    \"signum_momentum\": " << json_number(o.signum_momentum) << ",\n";
  out << "    \"dither_level\": " << json_number(o.dither_level) << ",\n";
  out << "    \"dither_gamma\": " << json_number(o.dither_gamma) << ",\n";
  out << "    \"rms_dither_alpha\": " << json_number(o.rms_dither_alpha) << ",\n";
  out << "    \"rate_steps\": " << list(o.rate_steps, [](auto v) { return std::to_string(v); }) << ",\n";
  out << "    \"rate_noises\": " << list(o.rate_noises, [](auto v) { return json_string(to_string(v)); }) << ",\n";
  out << "    \"rate_batch\": " << o.rate_batch << ",\n    \"budget\": " << o.budget << ",\n";
  out << "    \"budget_batches\": " << list(o.budget_batches, [](auto v) { return std::to_string(v); }) << ",\n";
  out << "    \"budget_noises\": " << list(o.budget_noises, [](auto v) { return json_string(to_string(v)); }) << ",\n";
  out << "    \"snr_grid\": " << list(o.snr_grid, [](double v) { return json_number(v); }) << ",\n";
  out << "    \"wrong_sign_draws\": " << o.wrong_sign_draws << ",\n    \"threads\": " << o.threads << "\n  },\n";
  out << "  \"seconds\": " << json_number(r.seconds) << ",\n  \"problems\": [\n";
  for (size_t i = 0; i < r.problems.size(); ++i) {
    const auto& p = r.problems[i];
    out << "    {\"name\": " << json_string(p.name) << ", \"dim\": " << p.dim
        << ", \"smoothness_l1\": " << json_number(p.smoothness_l1)
        << ", \"smoothness_min\": " << json_number(p.smoothness_min)
        << ", \"smoothness_max\": " << json_number(p.smoothness_max) << ", \"f0\": " << json_number(p.f0)
        << ", \"f_star\": " << json_number(p.f_star) << ", \"grad_norm_at_star\": " << json_number(p.grad_norm_at_star)
        << ", \"sigma_min\": " << json_number(p.sigma_min) << ", \"sigma_max\": " << json_number(p.sigma_max)
        << ", \"lr\": " << json_number(p.lr) << ", \"bound\": " << json_number(p.bound) << "}"
        << (i + 1 < r.problems.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"stationarity\": [\n";
  for (size_t i = 0; i < r.stationarity.size(); ++i) {
    const auto& s = r.stationarity[i];
    out << "    {\"problem\": " << json_string(s.problem) << ", \"noise\": " << json_string(s.noise)
        << ", \"batch\": " << s.batch << ", \"optimizer\": " << json_string(s.optimizer) << ", \"seeds\": " << s.seeds
        << ", \"measured_mean\": " << json_number(s.measured_mean)
        << ", \"measured_std\": " << json_number(s.measured_std) << ", \"bound\": " << json_number(s.bound)
        << ", \"ratio\": " << json_number(s.ratio) << ", \"slack_mean\": " << json_number(s.slack_mean)
        << ", \"slack_std\": " << json_number(s.slack_std) << ", \"realized_ratio\": " << json_number(s.realized_ratio)
        << ", \"final_gap_mean\": " << json_number(s.final_gap_mean)
        << ", \"final_gap_std\": " << json_number(s.final_gap_std)
        << ", \"high_snr_fraction\": " << json_number(s.high_snr_fraction)
        << ", \"snr_median\": " << json_number(s.snr_median) << ", \"snr_p10\": " << json_number(s.snr_p10)
        << ", \"snr_p90\": " << json_number(s.snr_p90)
        << ", \"theorem_applies\": " << (s.theorem_applies ? "true" : "false")
        << ", \"bound_exceeded\": " << (s.bound_exceeded ? "true" : "false")
        << ", \"descent_violated\": " << (s.descent_violated ? "true" : "false") << "}"
        << (i + 1 < r.stationarity.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"wrong_sign\": [\n";
  for (size_t i = 0; i < r.wrong_sign.size(); ++i) {
    const auto& w = r.wrong_sign[i];
    out << "    {\"noise\": " << json_string(w.noise) << ", \"batch\": " << w.batch
        << ", \"snr\": " << json_number(w.snr) << ", \"draws\": " << w.draws
        << ", \"wrong_positive\": " << json_number(w.wrong_positive)
        << ", \"wrong_negative\": " << json_number(w.wrong_negative) << ", \"worst\": " << json_number(w.worst)
        << ", \"std_error\": " << json_number(w.std_error) << ", \"gauss_bound\": " << json_number(w.gauss_bound)
        << ", \"gaussian\": " << json_number(w.gaussian) << ", \"violates\": " << (w.violates ? "true" : "false") << "}"
        << (i + 1 < r.wrong_sign.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"rate_fits\": [\n";
  for (size_t i = 0; i < r.rate_fits.size(); ++i) {
    const auto& f = r.rate_fits[i];
    out << "    {\"problem\": " << json_string(f.problem) << ", \"noise\": " << json_string(f.noise)
        << ", \"optimizer\": " << json_string(f.optimizer) << ", \"batch\": " << f.batch << ", \"points\": " << f.points
        << ", \"exponent\": " << json_number(f.exponent) << ", \"ci_low\": " << json_number(f.ci_low)
        << ", \"ci_high\": " << json_number(f.ci_high) << ", \"tail_exponent\": " << json_number(f.tail_exponent)
        << ", \"tail_ci_low\": " << json_number(f.tail_ci_low) << ", \"tail_ci_high\": " << json_number(f.tail_ci_high)
        << ", \"max_ratio\": " << json_number(f.max_ratio)
        << ", \"theorem_applies\": " << (f.theorem_applies ? "true" : "false")
        << ", \"slower_than_bound\": " << (f.slower_than_bound ? "true" : "false") << "}"
        << (i + 1 < r.rate_fits.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"budget\": [\n";
  for (size_t i = 0; i < r.budget.size(); ++i) {
    const auto& b = r.budget[i];
    out << "    {\"problem\": " << json_string(b.problem) << ", \"noise\": " << json_string(b.noise)
        << ", \"optimizer\": " << json_string(b.optimizer) << ", \"batch\": " << b.batch << ", \"steps\": " << b.steps
        << ", \"final_gap_mean\": " << json_number(b.final_gap_mean) << ", \"final_gap_std\": " << json_number(b.final_gap_std)
        << ", \"measured_mean\": " << json_number(b.measured_mean) << ", \"bound\": " << json_number(b.bound) << "}"
        << (i + 1 < r.budget.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"findings\": " << list(findings(r), [](const std::string& s) { return json_string(s); }) << "\n}\n";
  return out.str();
}

std::string render_markdown(const LabResult& r, const std::string& command_line) {
  const LabOptions& o = r.options;
  std::ostringstream out;
  out << "# Theory lab\n\n";
  if (!command_line.empty()) {
    out << "Command: `" << command_line << "`\n\n";
  }
  out << "K = " << o.steps << " steps, " << o.seeds << " seeds per configuration, batch sizes {"
      << batches_text(o.batches) << "}, master seed " << o.seed << ", noise level " << fmt(o.problem.noise_level)
      << ", Signum beta " << fmt(o.signum_momentum) << ", dither alpha_0 = " << fmt(o.dither_level)
      << " x rms sigma_i(1) with power decay gamma " << fmt(o.dither_gamma) << "; " << o.wrong_sign_draws
      << " Monte Carlo draws per noise and batch size. Wall time " << fmt(r.seconds, "%.1f") << " s.\n\n";
  out << "## Findings\n\n";
  for (const auto& f : findings(r)) {
    out << "- " << f << "\n";
  }
  out << "\n## Problems\n\n| problem | d | L_i range | ||L||_1 | f_0 | f_* | ||grad f(x_*)||_inf | sigma_i(1) range | "
         "lr | bound |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& p : r.problems) {
    out << "| " << p.name << " | " << p.dim << " | " << fmt(p.smoothness_min, "%.3g") << " .. "
        << fmt(p.smoothness_max, "%.3g") << " | " << fmt(p.smoothness_l1, "%.4g") << " | " << fmt(p.f0, "%.6g") << " | "
        << fmt(p.f_star, "%.10g") << " | " << fmt(p.grad_norm_at_star, "%.2g") << " | " << fmt(p.sigma_min, "%.3g")
        << " .. " << fmt(p.sigma_max, "%.3g") << " | " << fmt(p.lr, "%.4g") << " | " << fmt(p.bound, "%.4g") << " |\n";
  }
  out << "\n## Stationarity: (1/K) sum_k Phi(g_k) against sqrt(||L||_1/K) (f_0 - f_* + 1/2)\n\n"
         "ratio = measured / bound (the theorem says <= 1 where it applies: SignSGD and dithered SignSGD under "
         "unimodal symmetric noise). realized = measured / sqrt(||L||_1/K) (f_0 - f_K + 1/2); slack = that bound "
         "minus measured, mean +- std over seeds (significantly negative = the descent inequality failed, marked "
         "!). Bold ratio: measured significantly above the bound (one-sided t-test over seeds, level 0.005). high-SNR = share of steps x coordinates with S_i > 2/sqrt 3; S med = their median SNR (batch noise alone).\n\n"
         "| problem | noise | B | optimizer | measured | bound | ratio | realized | slack | f_K - f_* | high-SNR | "
         "S med | theorem |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& s : r.stationarity) {
    out << "| " << s.problem << " | " << s.noise << " | " << s.batch << " | " << s.optimizer << " | "
        << fmt(s.measured_mean, "%.4g") << " +- " << fmt(s.measured_std, "%.2g") << " | " << fmt(s.bound, "%.4g")
        << " | " << (s.bound_exceeded ? "**" : "") << fmt(s.ratio, "%.3f") << (s.bound_exceeded ? "**" : "") << " | "
        << fmt(s.realized_ratio, "%.3f") << " | " << fmt(s.slack_mean, "%.3g") << " +- " << fmt(s.slack_std, "%.2g")
        << (s.descent_violated ? " !" : "") << " | " << fmt(s.final_gap_mean, "%.3g") << " +- "
        << fmt(s.final_gap_std, "%.2g") << " | " << fmt(s.high_snr_fraction, "%.2f") << " | "
        << fmt(s.snr_median, "%.3g") << " | "
        << (s.theorem_applies                                                  ? "yes"
                : has_momentum(parse_optimizer_kind(s.optimizer))                    ? "no (momentum)"
                : parse_optimizer_kind(s.optimizer) == OptimizerKind::DitheredSignSGDRms ? "no (rms dither)"
                                                                                     : "no (noise)")
        << " |\n";
  }
  out << detail::rate_markdown(r);
  out << "\n## Wrong-sign probability against the Gauss bound\n\n"
         "Per noise: the Monte Carlo P(sign(g + noise) != sign(g)) at SNR S (worse of g > 0 and g < 0; "
         "wrong_sign.csv has both), per batch size. Entries above the bound by more than 3 standard errors are "
         "bold.\n";
  for (const auto noise : o.noises) {
    const std::string name = to_string(noise);
    double max_se = 0;
    for (const auto& w : r.wrong_sign) {
      if (w.noise == name) {
        max_se = std::max(max_se, w.std_error);
      }
    }
    out << "\n### " << name << (is_unimodal_symmetric(noise) ? " (unimodal symmetric)" : " (violates the assumption)")
        << "\n\nlargest standard error " << fmt(max_se, "%.2g") << "\n\n| S | Gauss bound | Gaussian |";
    for (const auto b : o.batches) {
      out << " B=" << b << " |";
    }
    out << "\n|---|---|---|";
    for (size_t i = 0; i < o.batches.size(); ++i) {
      out << "---|";
    }
    out << "\n";
    for (const double s : o.snr_grid) {
      out << "| " << fmt(s, "%.4g") << " | " << fmt(gauss_wrong_sign_bound(s), "%.4f") << " | "
          << fmt(gaussian_wrong_sign_probability(s), "%.4f") << " |";
      for (const auto b : o.batches) {
        for (const auto& w : r.wrong_sign) {
          if (w.noise == name && w.batch == b && w.snr == s) {
            out << " " << (w.violates ? "**" : "") << fmt(w.worst, "%.4f") << (w.violates ? "**" : "") << " |";
          }
        }
      }
      out << "\n";
    }
  }
  return out.str();
}

} // namespace signopt::theory

// `signopt probe-noise`: data, model and gradient draws for the noise probe, and its output files.
#include <signopt/data/datasets.h>
#include <signopt/data/loader.h>
#include <signopt/diag/theory.h>
#include <signopt/models/models.h>
#include <signopt/report/figures.h>
#include <signopt/train/config.h>
#include <signopt/experiments/probe_noise.h>

#include <signopt/io/checkpoint_file.h>
#include <signopt/io/files.h>


#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace signopt::experiments {
using namespace signopt::train; // the run directory's config, the models and datasets
namespace fs = std::filesystem;
namespace {

using io::write_file_atomic;

// JSON has no NaN or infinity: they become null.
nlohmann::json number(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

std::string cell(double v) {
  if (std::isnan(v))
    return "";
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string pct(double v) {
  if (!std::isfinite(v))
    return "-";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * v);
  return buf;
}

std::string fixed(double v, int digits = 3) {
  if (std::isnan(v))
    return "-";
  if (std::isinf(v))
    return "inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Deletes the output directory on failure, unless the run got to the end.
struct OutputGuard {
  fs::path dir;
  bool keep = false;
  ~OutputGuard() {
    if (!keep && !dir.empty()) {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }
};

// SNR histogram on a log axis: share of coordinates per bin of log10 S.
report::Figure snr_histogram_figure(const diag::NoiseProbeResult& r, const std::string& what) {
  report::Figure f;
  f.name = "snr-histogram";
  f.title = what + ": per-coordinate SNR S = |mean| / std over all " + std::to_string(r.dimension) + " coordinates";
  f.xlabel = "S (log scale; 2/sqrt(3) = Gauss-bound knee)";
  f.ylabel = "share of coordinates";
  f.log_x = true;
  const double lo = -3, hi = 2, width = 0.1;
  const int bins = static_cast<int>((hi - lo) / width);
  std::vector<double> count(static_cast<size_t>(bins), 0);
  int64_t below = 0, total = 0;
  for (const double s : r.snr_all) {
    ++total;
    if (!(s > 0)) {
      ++below;
      continue;
    }
    const double l = std::isinf(s) ? hi - width / 2 : std::log10(s);
    const int b = std::clamp(static_cast<int>(std::floor((l - lo) / width)), 0, bins - 1);
    count[static_cast<size_t>(b)] += 1;
  }
  report::Curve c;
  c.title = "coordinates (" + std::to_string(below) + " with S = 0 not shown)";
  c.style = "steps";
  for (int b = 0; b < bins; ++b) {
    c.x.push_back(std::pow(10.0, lo + width * b));
    c.y.push_back(count[static_cast<size_t>(b)] / static_cast<double>(std::max<int64_t>(total, 1)));
  }
  f.curves.push_back(c);
  report::Curve knee;
  knee.title = "S = 2/sqrt(3)";
  knee.style = "dashed";
  const double k = 2 / std::sqrt(3.0), top = *std::max_element(c.y.begin(), c.y.end());
  knee.x = {k, k};
  knee.y = {0, top};
  f.curves.push_back(knee);
  return f;
}

// Wrong-sign rate vs SNR: measured per bin, the Gaussian prediction and the Gauss bound as curves.
report::Figure wrong_sign_figure(const diag::NoiseProbeResult& r, const std::string& what) {
  report::Figure f;
  f.name = "wrong-sign-vs-snr";
  f.title = what + ": wrong-sign rate of single minibatch gradients vs SNR (" + std::to_string(r.sampled) +
      " sampled coordinates)";
  f.xlabel = "S = |mean| / std (log scale)";
  f.ylabel = "P(sign of one minibatch gradient != sign of the mean)";
  f.log_x = true;
  report::Curve measured, gauss, bound;
  measured.title = "measured (bin means)";
  measured.style = "linespoints";
  for (const auto& b : r.bins) {
    if (b.count == 0 || !(b.mean_snr > 0))
      continue;
    measured.x.push_back(b.mean_snr);
    measured.y.push_back(b.wrong_sign);
  }
  gauss.title = "Gaussian noise: 0.5 erfc(S / sqrt 2)";
  gauss.style = "lines";
  bound.title = "Gauss bound (unimodal symmetric)";
  bound.style = "dashed";
  for (int i = 0; i <= 100; ++i) {
    const double s = std::pow(10.0, -2 + 3.0 * i / 100);
    gauss.x.push_back(s);
    gauss.y.push_back(theory::gaussian_wrong_sign_probability(s));
    bound.x.push_back(s);
    bound.y.push_back(theory::gauss_wrong_sign_bound(s));
  }
  f.curves = {measured, gauss, bound};
  f.key_position = "bottom left";
  return f;
}

// Standardized draws of a few sampled coordinates, against the standard normal density.
report::Figure noise_histograms_figure(const diag::NoiseProbeResult& r, const std::string& what) {
  report::Figure f;
  f.name = "noise-histograms";
  f.title = what + ": standardized minibatch gradients of sample coordinates (K = " + std::to_string(r.samples) + ")";
  f.xlabel = "(g - mean) / std";
  f.ylabel = "density";
  const double lo = -5, width = 0.5;
  for (const auto& h : r.histograms) {
    report::Curve c;
    c.title = h.label;
    c.style = "steps";
    std::vector<double> count(20, 0);
    for (const double v : h.standardized) {
      const int b = static_cast<int>(std::floor((v - lo) / width));
      if (b >= 0 && b < 20)
        count[static_cast<size_t>(b)] += 1;
    }
    for (int b = 0; b < 20; ++b) {
      c.x.push_back(lo + width * b);
      c.y.push_back(count[static_cast<size_t>(b)] / (static_cast<double>(h.standardized.size()) * width));
    }
    f.curves.push_back(c);
  }
  report::Curve normal;
  normal.title = "N(0, 1)";
  normal.style = "dashed";
  for (int i = 0; i <= 100; ++i) {
    const double x = -5 + 0.1 * i;
    normal.x.push_back(x);
    normal.y.push_back(std::exp(-x * x / 2) / std::sqrt(2 * M_PI));
  }
  f.curves.push_back(normal);
  return f;
}

std::vector<report::Figure> figures(const diag::NoiseProbeResult& r, const std::string& what) {
  std::vector<report::Figure> out;
  out.push_back(snr_histogram_figure(r, what));
  out.push_back(wrong_sign_figure(r, what));
  if (!r.histograms.empty())
    out.push_back(noise_histograms_figure(r, what));
  return out;
}

// "Dither against minibatch noise": per level a, the share of coordinates whose dither std out-noises them.
std::string dither_markdown(const diag::NoiseProbeResult& r) {
  if (r.dither.empty())
    return {};
  std::ostringstream md;
  md << "## Dither against minibatch noise\n\nA dither of level a (std a x the layer's rms gradient, the rms scale "
        "of dithered SignSGD at alpha_t = a) out-noises a coordinate when it exceeds the coordinate's minibatch "
        "noise std; there the injected noise and not the minibatch decides the dithered sign.\n\n| layer | rms gradient |";
  for (const auto& d : r.dither)
    md << " a = " << cell(d.level) << " |";
  md << "\n|---|---:|";
  for (size_t i = 0; i < r.dither.size(); ++i)
    md << "---:|";
  md << "\n";
  for (const auto& L : r.layers) {
    md << "| " << L.name << " | " << cell(L.rms_gradient) << " |";
    for (const double share : L.dither_share)
      md << " " << pct(share) << " |";
    md << "\n";
  }
  md << "| all coordinates | |";
  for (const auto& d : r.dither)
    md << " " << pct(d.share) << " |";
  md << "\n\n";
  return md.str();
}

// "Calibration of the tests at this K": rejection rates on known laws (level on the symmetric unimodal ones).
std::string calibration_markdown(const diag::ShapeTestCalibration& c) {
  if (c.rows.empty())
    return {};
  std::ostringstream md;
  md << "## Calibration of the tests at K = " << c.samples << "\n\nShare of " << c.replicates
     << " samples of K draws from each law that a test rejects at level " << cell(c.alpha)
     << " (per coordinate, before BH). On the symmetric unimodal laws this is the test's level, which should be at most "
     << cell(c.alpha) << " + " << fixed(c.tolerance, 4)
     << " (3 binomial standard errors); elsewhere it is the power. The sign-flip test's null is the paper's assumption, "
        "unimodal and symmetric: it also rejects symmetric bimodal laws.\n\n"
        "The last column is the probe's wrong-sign check (a coordinate's rate above the Gauss bound by more than 2 "
        "binomial standard errors) on these laws, all centred at mean 0 (S = 0, the hardest case): its false rate "
        "on the symmetric laws.\n\n"
        "The sign-flip column is the combined statistic (the default); the two after it are its parts alone.\n\n"
        "| law | symmetric | unimodal | sign-flip | mean alone | signed rank alone | dip | D'Agostino | MGG | above bound |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& row : c.rows)
    md << "| " << diag::to_string(row.law) << " | " << (row.symmetric ? "yes" : "no") << " | "
       << (row.unimodal ? "yes" : "no") << " | " << pct(row.sign_flip) << " | " << pct(row.sign_flip_mean) << " | "
       << pct(row.sign_flip_rank) << " | " << pct(row.dip) << " | "
       << pct(row.skewness) << " | " << pct(row.mgg) << " | " << pct(row.above_bound) << " |\n";
  md << "\n";
  return md.str();
}

std::string markdown(const ProbeNoiseConfig& c, const std::string& what, const diag::NoiseProbeResult& r,
                     const report::PlotOutcome& plots) {
  std::ostringstream md;
  md << "# Gradient-noise probe: " << what << "\n\n"
     << "K = " << r.samples << " minibatch gradients of batch size " << c.batch_size << "; d = " << r.dimension
     << " coordinates (SNR and Phi over all of them); " << r.sampled << " sampled coordinates for the tests, "
     << r.constant << " of them constant over the draws (untested). Tests: the sign-flip test of symmetry about "
     << "the median (valid under heavy tails and atoms at zero; calibration below), Hartigan's dip (unimodality, "
     << "simulated uniform reference) and, for comparison only, D'Agostino's skewness test (assumes normal tails), "
     << "each with Benjamini-Hochberg at FDR " << c.probe.fdr
     << (c.probe.inject != diag::InjectedNoise::None
             ? ". Injected noise: " + diag::to_string(c.probe.inject) + " with std " + cell(c.probe.inject_scale)
             : std::string())
     << ".\n\n**Verdict:** " << r.verdict << ".\n\n"
     << "| quantity | value |\n|---|---|\n"
     << "| SNR median (10%..90%) | " << fixed(r.snr_median) << " (" << fixed(r.snr_p10) << ".." << fixed(r.snr_p90) << ") |\n"
     << "| share with S > 2/sqrt(3) | " << pct(r.snr_above_share) << " |\n"
     << "| Phi = sum abs(g) phi(S) | " << cell(r.phi) << " |\n"
     << "| abs(g)_1 of the mean gradient | " << cell(r.grad_l1) << " |\n"
     << "| Phi / abs(g)_1 | " << fixed(r.phi_ratio) << " |\n"
     << "| mean abs(skewness), median excess kurtosis | " << fixed(r.mean_abs_skewness) << ", "
     << fixed(r.median_excess_kurtosis) << " |\n"
     << "| asymmetric (sign-flip, BH), multimodal (dip, BH) | " << pct(r.asymmetric_share) << ", "
     << pct(r.multimodal_share) << " |\n"
     << "| D'Agostino skewness test rejects (BH; assumes normal tails, not a verdict) | " << pct(r.skew_rejected_share)
     << " |\n"
     << "| wrong-sign rate: measured / Gaussian prediction / Gauss bound | " << fixed(r.wrong_sign) << " / "
     << fixed(r.gaussian_prediction) << " / " << fixed(r.gauss_bound) << " |\n"
     << "| coordinates above the Gauss bound by > 2 binomial s.e. | " << pct(r.bound_violation_share) << " |\n\n"
     << "## Per layer\n\n"
     << "| layer | numel | sampled | median S | S > 2/sqrt3 | Phi/abs(g)_1 | mean abs(skew) | median kurt | asym | multi | "
        "D'Agostino | wrong sign | Gaussian | bound |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& L : r.layers)
    md << "| " << L.name << " | " << L.numel << " | " << L.sampled << " | " << fixed(L.snr_median) << " | "
       << pct(L.snr_above_share) << " | " << fixed(L.grad_l1 > 0 ? L.phi / L.grad_l1 : NAN) << " | "
       << fixed(L.mean_abs_skewness) << " | " << fixed(L.median_excess_kurtosis) << " | " << pct(L.asymmetric_share)
       << " | " << pct(L.multimodal_share) << " | " << pct(L.skew_rejected_share) << " | " << fixed(L.wrong_sign) << " | "
       << fixed(L.gaussian_prediction)
       << " | " << fixed(L.gauss_bound) << " |\n";
  md << "\n## Wrong-sign rate by SNR (sampled coordinates)\n\n"
     << "| S in | n | mean S | measured +- se | Gaussian | Gauss bound |\n|---|---:|---:|---:|---:|---:|\n";
  for (const auto& b : r.bins)
    if (b.count > 0)
      md << "| [" << fixed(b.lo, 3) << ", " << fixed(b.hi, 3) << ") | " << b.count << " | " << fixed(b.mean_snr) << " | "
         << fixed(b.wrong_sign) << " +- " << fixed(b.wrong_sign_se) << " | " << fixed(b.gaussian_prediction) << " | "
         << fixed(b.gauss_bound) << " |\n";
  md << "\nThe measured rate compares each draw's sign with the sign of the K-draw mean, and S is estimated from "
        "the same draws: below S ~ 1/sqrt(K) = "
     << fixed(1 / std::sqrt(static_cast<double>(r.samples))) << " the mean's own sign is uncertain.\n\n";
  md << dither_markdown(r) << calibration_markdown(r.calibration) << "## Plots\n\n";
  if (plots.files.empty())
    md << plots.note << "\n";
  for (const auto& f : plots.files)
    if (f.size() > 4 && f.substr(f.size() - 4) == ".png")
      md << "![" << f << "](" << f << ")\n\n";
  if (!plots.files.empty() && !plots.note.empty())
    md << plots.note << "\n";
  return md.str();
}

// With --from: checks the run directory, reads its config into run, adopts its model and data, finds its checkpoint.
void adopt_source_run(ProbeNoiseConfig& c, TrainConfig& run, fs::path& checkpoint) {
  const fs::path dir(c.from);
  if (!fs::is_directory(dir))
    throw ConfigError("--from " + c.from + ": no such run directory");
  if (!fs::exists(dir / "config.json"))
    throw ConfigError("--from " + c.from + ": config.json is missing, so this is not a signopt run directory");
  checkpoint = dir / "checkpoint.pt";
  if (!fs::exists(checkpoint))
    throw ConfigError("--from " + c.from + ": checkpoint.pt is missing (the run stopped before its first checkpoint)");
  run = from_json_text(io::read_file(dir / "config.json", io::kMaxTextFileBytes), (dir / "config.json").string());
  c.model = run.model;
  c.dataset = run.dataset;
  c.synthetic_train = run.synthetic_train;
  if (c.data_dir.empty())
    c.data_dir = run.data_dir;
}

// The dataset, with synthetic data seeded by --seed or, with --from, by the run's seed.
data::DatasetSplits load_probe_data(const ProbeNoiseConfig& c, const TrainConfig& run) {
  data::SyntheticOptions synthetic;
  synthetic.train_size = c.synthetic_train;
  synthetic.seed = c.from.empty() ? c.seed : run.seed;
  data::DatasetSplits splits;
  try {
    splits = data::load_dataset(c.dataset, c.data_dir, synthetic);
  } catch (const data::DataError& e) {
    throw ConfigError(std::string("--dataset ") + c.dataset + ": " + e.what());
  }
  return splits;
}

// The model, initialised from --seed, then given the checkpoint's parameters when there is one.
std::shared_ptr<models::ClassifierImpl> make_probe_model(
    const ProbeNoiseConfig& c,
    const data::DatasetSplits& splits,
    const fs::path& checkpoint) {
  const auto& images = splits.train.images;
  torch::manual_seed(c.seed);
  std::shared_ptr<models::ClassifierImpl> model;
  try {
    model = models::make_model(
        c.model, models::InputShape{images.size(1), images.size(2), images.size(3)}, splits.train.num_classes);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("--model ") + c.model + ": " + e.what());
  }
  if (!checkpoint.empty()) {
    try {
      const auto verified = io::read_checkpoint(checkpoint); // header and checksums before LibTorch sees a byte
      if (verified.header.model != c.model)
        throw ConfigError(checkpoint.string() + " holds a " + verified.header.model + ", but config.json says " + c.model);
      torch::serialize::InputArchive archive, model_archive;
      archive.load_from(verified.payload.data(), verified.payload.size());
      archive.read("model", model_archive);
      model->load(model_archive);
    } catch (const io::IoError& e) {
      throw ConfigError(std::string("--from ") + c.from + ": " + e.what());
    } catch (const c10::Error& e) {
      throw ConfigError(checkpoint.string() + " is unreadable or does not hold a " + c.model + ": " +
                        e.what_without_backtrace());
    }
  }
  return model;
}

// The output directory (--out, or one named after the model, dataset and batch); refuses a non-empty one.
fs::path output_dir(const ProbeNoiseConfig& c) {
  fs::path out = c.out.empty() ? fs::path("runs") / ("probe-" + c.model + "-" + c.dataset + "-b" + std::to_string(c.batch_size))
                               : fs::path(c.out);
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)))
    throw ConfigError("output directory " + out.string() + " exists and is not empty: choose another --out or remove it");
  return out;
}

// Creates out; the guard removes it on failure unless it existed before.
void create_output_dir(const fs::path& out, OutputGuard& guard) {
  std::error_code ec;
  const bool existed = fs::exists(out);
  fs::create_directories(out, ec);
  if (ec)
    throw ConfigError("cannot create output directory " + out.string() + ": " + ec.message());
  if (!existed)
    guard.dir = out;
}

// Draws the K gradients and probes them, logging progress; start is set to when the drawing began.
diag::NoiseProbeResult draw_and_probe(
    const ProbeNoiseConfig& c,
    const std::shared_ptr<models::ClassifierImpl>& model,
    const data::BatchLoader& loader,
    const std::string& what,
    const fs::path& out,
    std::ostream& log,
    std::chrono::steady_clock::time_point& start) {
  std::vector<diag::ProbeLayer> layers;
  std::vector<torch::Tensor> params;
  for (const auto& p : model->named_parameters()) {
    layers.push_back({p.key(), p.value().numel()});
    params.push_back(p.value());
  }
  model->train();
  const int64_t per_epoch = loader.batches_per_epoch();
  start = std::chrono::steady_clock::now();
  log << "[probe] " << what << ": " << c.probe.samples << " gradients, " << models::count_parameters(*model)
      << " coordinates, " << (c.probe.coords == 0 ? std::string("all") : std::to_string(c.probe.coords))
      << " sampled for the tests -> " << out.string() << "\n"
      << std::flush;
  const diag::GradientDraw draw = [&](int64_t k) {
    const data::Batch b = loader.batch(k / per_epoch, k % per_epoch);
    model->zero_grad();
    torch::nn::functional::cross_entropy(model->forward(b.images), b.labels).backward();
    std::vector<torch::Tensor> g;
    for (const auto& p : params)
      g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    return g;
  };
  int64_t next_report = 1;
  const auto progress = [&](int64_t done, int64_t total) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double eta = elapsed / static_cast<double>(done) * static_cast<double>(total - done);
    char line[160];
    std::snprintf(line, sizeof line, "[probe] gradient %lld/%lld  %.0fs elapsed, ETA %.0fs", static_cast<long long>(done),
                  static_cast<long long>(total), elapsed, eta);
    if (c.progress_bar) {
      log << "\r" << line << (done == total ? "\n" : "") << std::flush;
    } else if (done * 10 >= next_report * total || done == total) {
      log << line << "\n" << std::flush;
      while (next_report * total <= done * 10)
        ++next_report;
    }
  };
  return diag::probe_gradient_noise(layers, draw, c.probe, progress);
}

// CSV tables: layers.csv, snr_bins.csv and coords.csv.
void write_csv_tables(const diag::NoiseProbeResult& r, const fs::path& out) {
  {
    std::ostringstream s;
    s << "layer,numel,sampled,constant,tested,snr_median,snr_above_share,phi,grad_l1,mean_abs_skewness,"
         "median_excess_kurtosis,asymmetric_share,multimodal_share,skew_rejected_share,wrong_sign,gaussian_prediction,"
         "gauss_bound,rms_gradient\n";
    for (const auto& L : r.layers)
      s << L.name << "," << L.numel << "," << L.sampled << "," << L.constant << "," << L.tested << "," << cell(L.snr_median)
        << "," << cell(L.snr_above_share) << "," << cell(L.phi) << "," << cell(L.grad_l1) << "," << cell(L.mean_abs_skewness)
        << "," << cell(L.median_excess_kurtosis) << "," << cell(L.asymmetric_share) << "," << cell(L.multimodal_share)
        << "," << cell(L.skew_rejected_share) << "," << cell(L.wrong_sign) << "," << cell(L.gaussian_prediction) << ","
        << cell(L.gauss_bound) << "," << cell(L.rms_gradient) << "\n";
    write_file_atomic(out / "layers.csv", s.str());
  }
  {
    std::ostringstream s;
    s << "snr_lo,snr_hi,count,mean_snr,wrong_sign,wrong_sign_se,gaussian_prediction,gauss_bound\n";
    for (const auto& b : r.bins)
      s << cell(b.lo) << "," << cell(b.hi) << "," << b.count << "," << cell(b.mean_snr) << "," << cell(b.wrong_sign) << ","
        << cell(b.wrong_sign_se) << "," << cell(b.gaussian_prediction) << "," << cell(b.gauss_bound) << "\n";
    write_file_atomic(out / "snr_bins.csv", s.str());
  }
  {
    std::ostringstream s;
    s << "layer,index,mean,std,snr,skewness,excess_kurtosis,symmetry_t,symmetry_p,skew_p,dip,dip_p,asymmetric,multimodal,"
         "skew_rejected,wrong_sign,zero_share,constant\n";
    for (const auto& x : r.coords)
      s << r.layers[static_cast<size_t>(x.layer)].name << "," << x.index << "," << cell(x.mean) << "," << cell(x.std) << ","
        << cell(x.snr) << "," << cell(x.skewness) << "," << cell(x.excess_kurtosis) << "," << cell(x.symmetry_t) << ","
        << cell(x.symmetry_p) << "," << cell(x.skew_p) << "," << cell(x.dip) << "," << cell(x.dip_p) << "," << x.asymmetric
        << "," << x.multimodal << "," << x.skew_rejected << "," << cell(x.wrong_sign)
        << "," << cell(x.zero_share) << "," << x.constant << "\n";
    write_file_atomic(out / "coords.csv", s.str());
  }
}

// summary.json: the options, the results overall, per layer and per SNR bin, the plots and the elapsed time.
nlohmann::json summary_json(
    const ProbeNoiseConfig& c,
    const std::string& what,
    const diag::NoiseProbeResult& r,
    const report::PlotOutcome& plots,
    const std::chrono::steady_clock::time_point& start) {
  nlohmann::json j;
  j["probe"] = what;
  j["from"] = c.from;
  j["model"] = c.model;
  j["dataset"] = c.dataset;
  j["batch_size"] = c.batch_size;
  j["seed"] = c.seed;
  j["samples"] = r.samples;
  j["coords_option"] = c.probe.coords;
  j["fdr"] = c.probe.fdr;
  j["violation_share"] = c.probe.violation_share;
  j["inject"] = diag::to_string(c.probe.inject);
  if (c.probe.inject != diag::InjectedNoise::None)
    j["inject_scale"] = c.probe.inject_scale;
  j["dimension"] = r.dimension;
  j["sampled"] = r.sampled;
  j["constant"] = r.constant;
  j["tested"] = r.tested;
  j["verdict"] = r.verdict;
  j["symmetric"] = r.symmetric;
  j["unimodal"] = r.unimodal;
  j["asymmetric_share"] = number(r.asymmetric_share);
  j["multimodal_share"] = number(r.multimodal_share);
  j["skew_rejected_share"] = number(r.skew_rejected_share);
  j["symmetry_flips"] = c.probe.symmetry_flips;
  j["symmetry_statistic"] = diag::to_string(c.probe.symmetry_statistic);
  j["dither"] = nlohmann::json::array();
  for (const auto& d : r.dither)
    j["dither"].push_back({{"level", number(d.level)}, {"share", number(d.share)}});
  j["calibration"] = {{"samples", r.calibration.samples}, {"replicates", r.calibration.replicates},
                      {"alpha", number(r.calibration.alpha)}, {"tolerance", number(r.calibration.tolerance)},
                      {"rows", nlohmann::json::array()}};
  for (const auto& row : r.calibration.rows)
    j["calibration"]["rows"].push_back({{"law", diag::to_string(row.law)}, {"symmetric", row.symmetric},
                                        {"unimodal", row.unimodal}, {"sign_flip", number(row.sign_flip)},
                                        {"sign_flip_mean", number(row.sign_flip_mean)},
                                        {"sign_flip_rank", number(row.sign_flip_rank)},
                                        {"dip", number(row.dip)}, {"skewness", number(row.skewness)},
                                        {"mgg", number(row.mgg)}, {"above_bound", number(row.above_bound)}});
  j["mean_abs_skewness"] = number(r.mean_abs_skewness);
  j["median_excess_kurtosis"] = number(r.median_excess_kurtosis);
  j["snr"] = {{"median", number(r.snr_median)}, {"p10", number(r.snr_p10)}, {"p90", number(r.snr_p90)},
              {"above_knee_share", number(r.snr_above_share)}};
  j["phi"] = number(r.phi);
  j["grad_l1"] = number(r.grad_l1);
  j["phi_ratio"] = number(r.phi_ratio);
  j["wrong_sign"] = {{"measured", number(r.wrong_sign)}, {"gaussian_prediction", number(r.gaussian_prediction)},
                     {"gauss_bound", number(r.gauss_bound)}, {"above_bound_share", number(r.bound_violation_share)}};
  j["layers"] = nlohmann::json::array();
  for (const auto& L : r.layers)
    j["layers"].push_back({{"name", L.name}, {"numel", L.numel}, {"sampled", L.sampled}, {"tested", L.tested},
                           {"snr_median", number(L.snr_median)}, {"phi", number(L.phi)}, {"grad_l1", number(L.grad_l1)},
                           {"asymmetric_share", number(L.asymmetric_share)}, {"multimodal_share", number(L.multimodal_share)},
                           {"skew_rejected_share", number(L.skew_rejected_share)}, {"rms_gradient", number(L.rms_gradient)},
                           {"dither_share", L.dither_share},
                           {"wrong_sign", number(L.wrong_sign)}, {"gaussian_prediction", number(L.gaussian_prediction)},
                           {"gauss_bound", number(L.gauss_bound)}});
  j["snr_bins"] = nlohmann::json::array();
  for (const auto& b : r.bins)
    j["snr_bins"].push_back({{"lo", number(b.lo)}, {"hi", number(b.hi)}, {"count", b.count}, {"mean_snr", number(b.mean_snr)},
                             {"wrong_sign", number(b.wrong_sign)}, {"wrong_sign_se", number(b.wrong_sign_se)},
                             {"gaussian_prediction", number(b.gaussian_prediction)}, {"gauss_bound", number(b.gauss_bound)}});
  j["plots"] = plots.files;
  j["plots_note"] = plots.note;
  j["elapsed_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return j;
}

} // namespace

void ProbeNoiseConfig::validate() const {
  if (batch_size < 1)
    throw ConfigError("--batch-size must be >= 1, got " + std::to_string(batch_size));
  if (threads < 0)
    throw ConfigError("--threads must be >= 0 (0 = all cores), got " + std::to_string(threads));
  if (synthetic_train < 1)
    throw ConfigError("--synthetic-train must be >= 1, got " + std::to_string(synthetic_train));
  try {
    probe.validate();
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  }
}

ProbeNoiseOutcome run_probe_noise(const ProbeNoiseConfig& config_in, std::ostream& log) {
  ProbeNoiseConfig c = config_in;
  c.validate();
  at::set_num_threads(static_cast<int>(c.threads > 0 ? c.threads : std::max(1u, std::thread::hardware_concurrency())));

  // The model and the data: from a run (its config and checkpoint) or fresh.
  TrainConfig run;
  fs::path checkpoint;
  if (!c.from.empty())
    adopt_source_run(c, run, checkpoint);
  const data::DatasetSplits splits = load_probe_data(c, run);
  const std::shared_ptr<models::ClassifierImpl> model = make_probe_model(c, splits, checkpoint);
  data::LoaderOptions lo;
  lo.batch_size = c.batch_size;
  lo.seed = c.seed;
  data::BatchLoader loader(splits.train, splits.mean, splits.std, lo);

  const std::string what = c.model + " on " + c.dataset + (c.from.empty() ? " (fresh, seed " + std::to_string(c.seed) + ")" : " (" + c.from + ")") +
      ", batch " + std::to_string(c.batch_size);
  const fs::path out = output_dir(c);
  OutputGuard guard;
  create_output_dir(out, guard);

  std::chrono::steady_clock::time_point start;
  ProbeNoiseOutcome outcome;
  outcome.result = draw_and_probe(c, model, loader, what, out, log, start);
  const auto& r = outcome.result;
  log << "[probe] statistics done; writing " << out.string() << "\n" << std::flush;

  write_csv_tables(r, out);
  if (c.plots)
    outcome.plots = report::write_figures(figures(r, what), (out / "plots").string(), out.string());
  else
    outcome.plots.note = "Plots were not requested (--no-plots).";

  const nlohmann::json j = summary_json(c, what, r, outcome.plots, start);
  write_file_atomic(out / "report.md", markdown(c, what, r, outcome.plots));
  write_file_atomic(out / "summary.json", j.dump(2) + "\n");
  guard.keep = true;
  outcome.out_dir = out.string();
  log << "[probe] " << r.verdict << "\n[probe] SNR median " << fixed(r.snr_median) << ", Phi/|g|_1 " << fixed(r.phi_ratio)
      << ", wrong-sign rate " << fixed(r.wrong_sign) << " (Gaussian " << fixed(r.gaussian_prediction) << ", bound "
      << fixed(r.gauss_bound) << ")\n[probe] wrote " << (out / "report.md").string() << ", summary.json, CSV tables"
      << (outcome.plots.made ? " and plots" : "") << "\n";
  if (!outcome.plots.note.empty())
    log << "[probe] " << outcome.plots.note << "\n";
  return outcome;
}

} // namespace signopt::experiments

// The gradient-noise probe: exact statistics against direct computations, injected noise of known shape
// classified correctly on a tiny model, wrong-sign rates against the Gaussian prediction, the running monitor.
#include <signopt/diag/probe.h>
#include <signopt/diag/theory.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>
#include <vector>

namespace signopt::diag {
namespace {

TEST(Probe, InjectedNoiseNamesRoundTrip) {
  for (const char* name : {"none", "gaussian", "laplace", "uniform", "bimodal", "skewed"})
    EXPECT_EQ(to_string(parse_injected_noise(name)), name);
  try {
    parse_injected_noise("cauchy");
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'cauchy'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("bimodal"), std::string::npos);
  }
}

// Every injected shape is zero-mean with unit variance, and the skewed one has skewness 2. Tolerances are
// 5 standard errors of the estimators: se(mean) = 1/sqrt(n), se(var) = sqrt((mu4 - 1)/n) with mu4 <= 9
// (the exponential's), se(skewness) <= sqrt(40/n) for these shapes.
TEST(Probe, InjectedNoiseHasUnitVarianceAndItsShape) {
  const int64_t n = 200000;
  std::vector<double> x(n);
  for (const auto kind :
       {InjectedNoise::Gaussian, InjectedNoise::Laplace, InjectedNoise::Uniform, InjectedNoise::Bimodal, InjectedNoise::Skewed}) {
    draw_injected_noise(kind, 7, x.data(), n);
    double m = 0;
    for (double v : x)
      m += v;
    m /= n;
    double m2 = 0, m3 = 0;
    for (double v : x) {
      m2 += (v - m) * (v - m);
      m3 += (v - m) * (v - m) * (v - m);
    }
    m2 /= n;
    m3 /= n;
    const double skew = m3 / std::pow(m2, 1.5);
    SCOPED_TRACE(to_string(kind));
    EXPECT_NEAR(m, 0.0, 5 / std::sqrt(double(n)));
    EXPECT_NEAR(m2, 1.0, 5 * std::sqrt(8.0 / n));
    EXPECT_NEAR(skew, kind == InjectedNoise::Skewed ? 2.0 : 0.0, 5 * std::sqrt(40.0 / n));
  }
  std::vector<double> a(10), b(10);
  draw_injected_noise(InjectedNoise::Gaussian, 1, a.data(), 10);
  draw_injected_noise(InjectedNoise::Gaussian, 1, b.data(), 10);
  EXPECT_EQ(a, b);
  draw_injected_noise(InjectedNoise::None, 1, a.data(), 10);
  for (double v : a)
    EXPECT_EQ(v, 0.0);
}

// Draws: the gradient of a tiny linear model on random minibatches of a fixed dataset, plus injected noise
// much larger than the minibatch noise, so the probe must see the injected shape.
struct TinyModel {
  torch::nn::Linear net{torch::nn::LinearOptions(12, 8)};
  torch::Tensor x, y;
  TinyModel() {
    torch::manual_seed(3);
    net = torch::nn::Linear(torch::nn::LinearOptions(12, 8));
    x = torch::randn({256, 12});
    y = torch::randn({256, 8});
  }
  std::vector<ProbeLayer> layers() {
    return {{"weight", net->weight.numel()}, {"bias", net->bias.numel()}};
  }
  GradientDraw draw(int64_t batch) {
    return [this, batch](int64_t k) {
      auto gen = at::detail::createCPUGenerator(1000 + k);
      const auto idx = torch::randperm(x.size(0), gen, torch::kLong).narrow(0, 0, batch);
      net->zero_grad();
      torch::mse_loss(net->forward(x.index_select(0, idx)), y.index_select(0, idx)).backward();
      return std::vector<torch::Tensor>{net->weight.grad().clone(), net->bias.grad().clone()};
    };
  }
};

NoiseProbeResult probe_tiny(InjectedNoise kind) {
  TinyModel model;
  ProbeOptions o;
  o.samples = 200;
  o.coords = 0;
  o.inject = kind;
  o.inject_scale = 5.0; // the model's own minibatch noise has std ~0.1-0.3 per coordinate at batch 16
  o.seed = 11;
  return probe_gradient_noise(model.layers(), model.draw(16), o);
}

TEST(Probe, ClassifiesGaussianNoiseAsUnimodalSymmetric) {
  const auto r = probe_tiny(InjectedNoise::Gaussian);
  EXPECT_EQ(r.tested, 104);
  EXPECT_TRUE(r.symmetric) << r.verdict;
  EXPECT_TRUE(r.unimodal) << r.verdict;
  EXPECT_LE(r.asymmetric_share, 0.05);
  EXPECT_LE(r.multimodal_share, 0.05);
  EXPECT_NE(r.verdict.find("no evidence against unimodal symmetric noise"), std::string::npos) << r.verdict;
  // The whole sentence: a fixed 96-byte buffer used to cut it after "... asymmetric, ".
  EXPECT_NE(r.verdict.find("multimodal by the dip test, at the FDR)"), std::string::npos) << r.verdict;
  // The calibration's power note follows, with the figures of r.calibration.
  ASSERT_EQ(r.calibration.samples, 200);
  ASSERT_EQ(r.calibration.rows.size(), calibration_laws().size());
  EXPECT_NE(r.verdict.find("power per coordinate at K = 200"), std::string::npos) << r.verdict;
}

// Symmetric heavy tails: D'Agostino's test rejects most coordinates, the sign-flip test holds its level.
TEST(Probe, HeavyTailedSymmetricNoiseIsNotCalledAsymmetric) {
  const auto r = probe_tiny(InjectedNoise::Laplace);
  EXPECT_TRUE(r.symmetric) << r.verdict;
  EXPECT_TRUE(r.unimodal) << r.verdict;
  EXPECT_LE(r.asymmetric_share, 0.05);
  EXPECT_GT(r.skew_rejected_share, 0.1); // the failure the sign-flip test replaces (Laplace: about 47% raw at K = 200)
  int64_t flagged = 0;
  for (const auto& c : r.coords)
    if (!c.constant) {
      EXPECT_GE(c.symmetry_p, 1.0 / 10000) << c.index;
      EXPECT_LE(c.symmetry_p, 1.0) << c.index;
      flagged += c.skew_rejected;
    }
  EXPECT_EQ(static_cast<double>(flagged) / static_cast<double>(r.tested), r.skew_rejected_share);
}

TEST(Probe, ClassifiesSkewedNoiseAsAsymmetricUnimodal) {
  const auto r = probe_tiny(InjectedNoise::Skewed);
  EXPECT_FALSE(r.symmetric) << r.verdict;
  EXPECT_TRUE(r.unimodal) << r.verdict;
  EXPECT_GE(r.asymmetric_share, 0.9);
  EXPECT_GT(r.mean_abs_skewness, 1.0);
  EXPECT_NE(r.verdict.find("asymmetric"), std::string::npos);
}

// Symmetric bimodal noise: the dip test finds it; the sign-flip test, whose null is unimodal symmetric noise,
// rejects too, and the verdict says that this need not mean asymmetry.
TEST(Probe, ClassifiesBimodalNoiseAsMultimodal) {
  const auto r = probe_tiny(InjectedNoise::Bimodal);
  EXPECT_FALSE(r.unimodal) << r.verdict;
  EXPECT_GE(r.multimodal_share, 0.9);
  EXPECT_NE(r.verdict.find("multimodal"), std::string::npos);
  EXPECT_LE(r.skew_rejected_share, 0.05); // the bimodal law has no skewness
  // The sign-flip test rejects these modes 6 component stds apart: the verdict explains that.
  EXPECT_FALSE(r.symmetric) << r.verdict;
  EXPECT_NE(r.verdict.find("need not mean asymmetry"), std::string::npos) << r.verdict;
}

// Draws of a fixed vector of means mu (spanning SNR 0..4) plus unit Gaussian noise, in two layers.
GradientDraw gaussian_draws(const torch::Tensor& mu, int64_t split, uint64_t seed) {
  return [=](int64_t k) {
    auto gen = at::detail::createCPUGenerator(seed + static_cast<uint64_t>(k));
    const auto g = mu + torch::randn(mu.sizes(), gen, torch::kDouble);
    return std::vector<torch::Tensor>{g.narrow(0, 0, split).clone(), g.narrow(0, split, mu.size(0) - split).clone()};
  };
}

TEST(Probe, MeansStdsSnrAndPhiMatchADirectComputation) {
  const int64_t d = 300, K = 40;
  const auto mu = torch::linspace(-3, 3, d, torch::kDouble);
  const auto draw = gaussian_draws(mu, 100, 5);
  std::vector<torch::Tensor> rows;
  for (int64_t k = 0; k < K; ++k)
    rows.push_back(torch::cat(draw(k)));
  const auto stacked = torch::stack(rows);
  const auto mean = stacked.mean(0), std = stacked.std(0, /*unbiased=*/true);

  ProbeOptions o;
  o.samples = K;
  o.coords = 0;
  int64_t calls = 0;
  const auto r = probe_gradient_noise({{"a", 100}, {"b", 200}}, draw, o, [&](int64_t done, int64_t total) {
    EXPECT_EQ(done, ++calls);
    EXPECT_EQ(total, K);
  });
  EXPECT_EQ(calls, K);
  ASSERT_EQ(r.coords.size(), size_t(d));
  for (int64_t i = 0; i < d; ++i) {
    const auto& c = r.coords[size_t(i)];
    EXPECT_EQ(c.layer, i < 100 ? 0 : 1);
    EXPECT_EQ(c.index, i < 100 ? i : i - 100);
    EXPECT_NEAR(c.mean, mean[i].item<double>(), 1e-12);
    EXPECT_NEAR(c.std, std[i].item<double>(), 1e-12);
    EXPECT_NEAR(r.snr_all[size_t(i)], std::abs(mean[i].item<double>()) / std[i].item<double>(), 1e-9);
  }
  EXPECT_NEAR(r.phi, theory::snr_weighted_measure(mean, std), 1e-9 * r.phi);
  EXPECT_NEAR(r.grad_l1, mean.abs().sum().item<double>(), 1e-9);
  EXPECT_NEAR(r.layers[0].phi + r.layers[1].phi, r.phi, 1e-9);
  EXPECT_EQ(r.layers[0].sampled, 100);
  EXPECT_EQ(r.layers[1].sampled, 200);
  // Wrong signs of a coordinate counted by hand.
  const auto& c = r.coords[10];
  int64_t opposed = 0;
  for (int64_t k = 0; k < K; ++k)
    opposed += (stacked[k][10].item<double>() > 0) != (c.mean > 0);
  EXPECT_DOUBLE_EQ(c.wrong_sign, double(opposed) / K);
  // The dither shares: each layer's rms gradient over the draws, and the coordinates whose std it out-noises.
  ASSERT_EQ(r.dither.size(), o.dither_levels.size());
  const int64_t split[3] = {0, 100, d};
  for (size_t l = 0; l < 2; ++l) {
    const auto block = stacked.narrow(1, split[l], split[l + 1] - split[l]);
    const double rms = block.square().mean().sqrt().item<double>();
    EXPECT_NEAR(r.layers[l].rms_gradient, rms, 1e-12 * rms);
    ASSERT_EQ(r.layers[l].dither_share.size(), o.dither_levels.size());
  }
  for (size_t a = 0; a < o.dither_levels.size(); ++a) {
    int64_t out_noised = 0;
    for (int64_t i = 0; i < d; ++i)
      out_noised += r.coords[size_t(i)].std < o.dither_levels[a] * r.layers[i < 100 ? 0 : 1].rms_gradient;
    EXPECT_EQ(r.dither[a].level, o.dither_levels[a]);
    EXPECT_DOUBLE_EQ(r.dither[a].share, double(out_noised) / d);
  }
  EXPECT_LT(r.dither.front().share, r.dither.back().share); // levels 0.1 .. 1 of rms ~1.9, noise std ~1
}

// Under Gaussian noise the measured wrong-sign rate per SNR bin matches 0.5 erfc(S / sqrt 2): within 4
// standard errors of the bin mean plus the plug-in error of estimating S from K draws (the prediction's
// slope is at most 1/sqrt(2 pi) and S is off by about 1/sqrt(K)).
TEST(Probe, WrongSignRatesFollowTheGaussianPredictionUnderGaussianNoise) {
  const int64_t d = 4000, K = 400;
  const auto mu = torch::linspace(-4, 4, d, torch::kDouble);
  ProbeOptions o;
  o.samples = K;
  o.coords = 0;
  const auto r = probe_gradient_noise({{"a", 1000}, {"b", d - 1000}}, gaussian_draws(mu, 1000, 99), o);
  const double plug_in = 1.0 / std::sqrt(2 * M_PI) / std::sqrt(double(K));
  int64_t checked = 0;
  for (const auto& b : r.bins) {
    if (b.count < 30)
      continue;
    ++checked;
    EXPECT_NEAR(b.wrong_sign, b.gaussian_prediction, 4 * b.wrong_sign_se + plug_in) << "bin [" << b.lo << ", " << b.hi << ")";
    EXPECT_LE(b.gaussian_prediction, b.gauss_bound + 1e-12);
  }
  EXPECT_GE(checked, 8);
  EXPECT_TRUE(r.symmetric);
  EXPECT_TRUE(r.unimodal);
}

TEST(Probe, ConstantCoordinatesAreCountedAndNotTested) {
  const auto draw = [](int64_t k) {
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(k));
    return std::vector<torch::Tensor>{torch::randn({50}, gen), torch::zeros({20}), torch::full({5}, 2.0)};
  };
  ProbeOptions o;
  o.samples = 30;
  o.coords = 0;
  const auto r = probe_gradient_noise({{"live", 50}, {"dead", 20}, {"frozen", 5}}, draw, o);
  EXPECT_EQ(r.constant, 25);
  EXPECT_EQ(r.tested, 50);
  EXPECT_EQ(r.layers[1].constant, 20);
  EXPECT_EQ(r.layers[1].tested, 0);
  EXPECT_TRUE(std::isnan(r.layers[1].wrong_sign)); // a zero mean has no sign
  EXPECT_EQ(r.layers[2].wrong_sign, 0.0);
  EXPECT_TRUE(std::isinf(r.snr_all[70])); // mean 2, std 0
  EXPECT_EQ(r.snr_all[60], 0.0);
}

TEST(Probe, CoordinateSampleIsUniformSortedAndSeeded) {
  const auto mu = torch::zeros({1000}, torch::kDouble);
  ProbeOptions o;
  o.samples = 10;
  o.coords = 50;
  o.histogram_coords = 3;
  const auto a = probe_gradient_noise({{"x", 400}, {"y", 600}}, gaussian_draws(mu, 400, 1), o);
  const auto b = probe_gradient_noise({{"x", 400}, {"y", 600}}, gaussian_draws(mu, 400, 1), o);
  o.seed = 1;
  const auto c = probe_gradient_noise({{"x", 400}, {"y", 600}}, gaussian_draws(mu, 400, 1), o);
  ASSERT_EQ(a.coords.size(), 50u);
  EXPECT_EQ(a.sampled, 50);
  EXPECT_EQ(a.snr_all.size(), 1000u); // SNRs of every coordinate, not only the sampled ones
  bool differs = false;
  for (size_t j = 0; j < 50; ++j) {
    const int64_t flat = a.coords[j].index + (a.coords[j].layer ? 400 : 0);
    if (j > 0)
      EXPECT_LT(a.coords[j - 1].index + (a.coords[j - 1].layer ? 400 : 0), flat);
    EXPECT_EQ(a.coords[j].index, b.coords[j].index);
    differs = differs || a.coords[j].index != c.coords[j].index;
  }
  EXPECT_TRUE(differs);
  // ~40% of a uniform sample falls in the first layer: 50 draws, hypergeometric sd ~3.4.
  EXPECT_NEAR(double(a.layers[0].sampled), 20.0, 4 * 3.4);
  ASSERT_EQ(a.histograms.size(), 3u);
  EXPECT_EQ(a.histograms[0].standardized.size(), 10u);
}

TEST(Probe, BadInputsAreClearErrors) {
  const auto draw = [](int64_t) { return std::vector<torch::Tensor>{torch::ones({3})}; };
  ProbeOptions o;
  o.samples = 10;
  auto message = [&](const std::vector<ProbeLayer>& layers, const GradientDraw& f, const ProbeOptions& opt) {
    try {
      probe_gradient_noise(layers, f, opt);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{"w", 4}}, draw, o).find("layer w 3 elements, expected 4"), std::string::npos);
  EXPECT_NE(message({{"w", 3}, {"b", 1}}, draw, o).find("returned 1 gradients for 2 layers"), std::string::npos);
  EXPECT_NE(message({}, draw, o).find("no layers"), std::string::npos);
  const auto nan_draw = [](int64_t) { return std::vector<torch::Tensor>{torch::full({3}, NAN)}; };
  EXPECT_NE(message({{"w", 3}}, nan_draw, o).find("non-finite"), std::string::npos);
  ProbeOptions bad = o;
  bad.samples = 5;
  EXPECT_NE(message({{"w", 3}}, draw, bad).find("samples must be >= 8"), std::string::npos);
  bad = o;
  bad.fdr = 1.5;
  EXPECT_NE(message({{"w", 3}}, draw, bad).find("fdr must be in (0, 1)"), std::string::npos);
  bad = o;
  bad.inject = InjectedNoise::Gaussian;
  bad.inject_scale = 0;
  EXPECT_NE(message({{"w", 3}}, draw, bad).find("inject_scale"), std::string::npos);
  bad = o;
  bad.symmetry_flips = 19;
  EXPECT_NE(message({{"w", 3}}, draw, bad).find("symmetry_flips must be in [20, 10^7]"), std::string::npos);
  bad = o;
  bad.calibration_replicates = 50;
  EXPECT_NE(message({{"w", 3}}, draw, bad).find("calibration_replicates"), std::string::npos);
  bad = o;
  bad.dither_levels = {0.1, -1};
  EXPECT_NE(message({{"w", 3}}, draw, bad).find("dither_levels must be finite numbers > 0, got -1"), std::string::npos);
  bad.dither_levels.assign(kMaxDitherLevels + 1, 1.0);
  EXPECT_NE(message({{"w", 3}}, draw, bad).find("at most 32"), std::string::npos);
}

// Stationary draws mu + sigma xi: the running estimates approach the true SNRs, Phi and wrong-sign rates.
TEST(RunningNoiseMonitor, EstimatesStationaryNoise) {
  const int64_t d = 2000;
  const auto mu = torch::linspace(0.05, 3, d, torch::kDouble); // S = mu (sigma = 1), median 1.525
  RunningNoiseMonitor monitor(0.995);
  torch::Tensor last;
  for (int64_t t = 0; t < 3000; ++t) {
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(t));
    last = (mu + torch::randn({d}, gen, torch::kDouble)).to(torch::kFloat);
    monitor.update({last.narrow(0, 0, 500), last.narrow(0, 500, d - 500)});
  }
  const auto s = monitor.snapshot({last.narrow(0, 0, 500), last.narrow(0, 500, d - 500)});
  EXPECT_EQ(s.updates, 3000);
  // Window ~200 effective draws: S is estimated within ~10%.
  EXPECT_NEAR(s.snr_median, 1.525, 0.15);
  double gauss = 0;
  for (int64_t i = 0; i < d; ++i)
    gauss += 0.5 * std::erfc(mu[i].item<double>() / std::sqrt(2.0));
  gauss /= d;
  EXPECT_NEAR(s.gaussian_prediction, gauss, 0.02);
  // One draw's wrong-sign share over 2000 coordinates: binomial sd <= sqrt(0.25 / 2000) ~ 0.011.
  EXPECT_NEAR(s.wrong_sign, gauss, 4 * 0.011 + 0.02);
  EXPECT_GT(s.phi, 0);
  EXPECT_LE(s.phi, s.grad_l1);
  EXPECT_TRUE(std::isnan(s.dither_share));
  // A dither std per tensor: the share of coordinates whose running std (about 1) it exceeds; NaN leaves a
  // tensor out.
  EXPECT_EQ(monitor.dither_share({10.0, 0.01}), 0.25);
  EXPECT_EQ(monitor.dither_share({0.0, 0.0}), 0.0);
  EXPECT_EQ(monitor.dither_share({10.0, std::nan("")}), 1.0);
  EXPECT_TRUE(std::isnan(monitor.dither_share({std::nan(""), std::nan("")})));
  EXPECT_THROW(monitor.dither_share({1.0}), std::invalid_argument);
  EXPECT_THROW(monitor.dither_share({-1.0, 1.0}), std::invalid_argument);
}

TEST(RunningNoiseMonitor, SavesAndLoadsExactly) {
  RunningNoiseMonitor a(0.9);
  std::vector<torch::Tensor> g;
  for (int64_t t = 0; t < 5; ++t) {
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(t));
    g = {torch::randn({7}, gen), torch::randn({2, 3}, gen)};
    a.update(g);
  }
  torch::serialize::OutputArchive out;
  a.save(out, "probe");
  std::stringstream buffer;
  out.save_to(buffer);
  torch::serialize::InputArchive in;
  in.load_from(buffer);
  RunningNoiseMonitor b(0.5);
  ASSERT_TRUE(b.load(in, "probe"));
  EXPECT_EQ(b.beta(), 0.9);
  EXPECT_EQ(b.updates(), 5);
  a.update(g);
  b.update(g);
  const auto sa = a.snapshot(g), sb = b.snapshot(g);
  EXPECT_EQ(sa.snr_median, sb.snr_median);
  EXPECT_EQ(sa.phi, sb.phi);
  torch::serialize::InputArchive empty_in;
  std::stringstream empty_buffer;
  torch::serialize::OutputArchive empty_out;
  empty_out.save_to(empty_buffer);
  empty_in.load_from(empty_buffer);
  RunningNoiseMonitor c(0.9);
  EXPECT_FALSE(c.load(empty_in, "probe"));
  EXPECT_THROW(RunningNoiseMonitor(1.0), std::invalid_argument);
  EXPECT_THROW(c.snapshot(g), std::logic_error);
}

} // namespace
} // namespace signopt::diag

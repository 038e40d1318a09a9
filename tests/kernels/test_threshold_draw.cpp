// The threshold draw of the dithered sign (DitherDraw::Threshold, docs/optimizers.md "The threshold draw"):
// its bias bound checked exactly over all 2^16 uniforms, the erf and clip laws of E[sign(x + s xi)] with
// tolerances from the binomial variance, independence across coordinates and steps, chunk invariance, and the
// edge cases (x = 0, s = 0, NaN). Bitwise fused == reference == CUDA host model, thread counts and the
// portable noise loops: tests/kernels/test_fused.cpp and tests/kernels/test_fused_cuda.cpp.
#include <signopt/kernels/args.h>
#include <signopt/kernels/fused.h>
#include <signopt/kernels/noise.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace signopt::test {
namespace {

// The largest error of gaussian_level against the exact quantile (measured: 4.02e-6 at v = 2^-2 + 2^-17).
constexpr double kLevelError = 4.1e-6;
// The bias bound of the draw's flip probability: the uniforms' half spacing 2^-17, plus one level (2^-16) where
// |x| / s lies within kLevelError of an exact level (BiasIsBoundedForEveryRatio).
constexpr double kBiasBound = 7.62939453125e-6 + 1.52587890625e-5;

double gaussian_flip(double a) {
  return 0.5 * std::erfc(a / std::sqrt(2.0));
}

// Q^{-1}(v) in double for v in (0, 1/2): bisection on gaussian_flip (200 halvings of [0, 40]).
double exact_level(double v) {
  double lo = 0.0, hi = 40.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (gaussian_flip(mid) > v ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

TEST(ThresholdDraw, LevelsAreWithinTheirBound) {
  double worst = 0.0;
  float previous = std::numeric_limits<float>::infinity();
  for (uint32_t k = 0; k < 65536; ++k) {
    const double v = static_cast<double>(kernels::threshold_uniform(k));
    ASSERT_EQ(v, (2.0 * k + 1.0) / 131072.0) << "k = " << k;
    const float t = kernels::gaussian_level(k);
    if (k < 0x8000u) {
      worst = std::max(worst, std::fabs(static_cast<double>(t) - exact_level(v)));
      ASSERT_LT(t, previous) << "the levels must fall as v grows, k = " << k;
      previous = t;
    } else {
      ASSERT_EQ(t, 0.0f) << "v > 1/2 must never flip, k = " << k;
    }
    ASSERT_EQ(static_cast<double>(kernels::uniform_level(k)), 1.0 - 2.0 * v) << "k = " << k;
  }
  EXPECT_LE(worst, kLevelError);
  EXPECT_GT(worst, 1e-7) << "a degree-5 float evaluation cannot be this exact: is the comparison vacuous?";
}

// The 2^16 levels of Gaussian or uniform dither, by k.
const std::vector<float>& all_levels(bool gaussian) {
  static const std::vector<float> tables[2] = {
      [] {
        std::vector<float> t(65536);
        for (uint32_t k = 0; k < 65536; ++k) {
          t[k] = kernels::uniform_level(k);
        }
        return t;
      }(),
      [] {
        std::vector<float> t(65536);
        for (uint32_t k = 0; k < 65536; ++k) {
          t[k] = kernels::gaussian_level(k);
        }
        return t;
      }()};
  return tables[gaussian ? 1 : 0];
}

// The draw's flip probability at a, exactly: the share of the 2^16 levels above a.
double flip_probability(float a, bool gaussian) {
  int64_t above = 0;
  for (float t : all_levels(gaussian)) {
    above += a < t ? 1 : 0;
  }
  return static_cast<double>(above) / 65536.0;
}

// The bias of the flip probability against the exact law: the uniforms' half spacing 2^-17, plus one level
// (2^-16) where a lies within kLevelError of an exact level (never more than one: they are 3.8e-5 apart or more).
TEST(ThresholdDraw, BiasIsBoundedForEveryRatio) {
  std::vector<double> exact(0x8000); // ascending
  for (uint32_t k = 0; k < 0x8000u; ++k) {
    exact[0x7fffu - k] = exact_level((2.0 * k + 1.0) / 131072.0);
  }
  double worst_far = 0.0, worst_near = 0.0;
  int near = 0;
  for (int i = 0; i <= 12000; ++i) {
    const float a = static_cast<float>(i) * 4e-4f;
    const auto above = std::lower_bound(exact.begin(), exact.end(), static_cast<double>(a) - kLevelError);
    const bool close = above != exact.end() && *above <= static_cast<double>(a) + kLevelError;
    const double bias = std::fabs(flip_probability(a, true) - gaussian_flip(a));
    (close ? worst_near : worst_far) = std::max(close ? worst_near : worst_far, bias);
    near += close ? 1 : 0;
    const double uniform_exact = std::max(0.0, (1.0 - static_cast<double>(a)) / 2.0);
    EXPECT_LE(std::fabs(flip_probability(a, false) - uniform_exact), 7.62939453125e-6) << "a = " << a;
  }
  EXPECT_LE(worst_far, 7.62939453125e-6 + 1e-12);
  EXPECT_LE(worst_near, kBiasBound);
  EXPECT_GT(worst_far, 7e-6) << "the grid should reach the uniforms' quantisation";
  EXPECT_LT(near, 1200) << "levels within kLevelError of a should be rare";
  EXPECT_EQ(flip_probability(0.0f, true), 0.5) << "x = 0 must be a fair coin";
  EXPECT_EQ(flip_probability(0.0f, false), 0.5);
  EXPECT_EQ(flip_probability(4.4f, true), 0.0) << "below the smallest uniform, 2^-17, nothing flips";
  EXPECT_EQ(flip_probability(std::numeric_limits<float>::infinity(), true), 0.0);
}

TEST(ThresholdDraw, EdgeCasesOfTheSign) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float top = kernels::gaussian_level(0); // the largest level, 4.34
  // s = 0 (a = |x| * inf): sign(x), and 0 for x = 0 (a = NaN), as sign(x + 0 xi).
  EXPECT_EQ(kernels::threshold_sign(2.0f, inf, top), 1.0f);
  EXPECT_EQ(kernels::threshold_sign(-2.0f, inf, top), -1.0f);
  EXPECT_EQ(kernels::threshold_sign(0.0f, nan, top), 0.0f);
  EXPECT_EQ(kernels::threshold_sign(nan, nan, top), 0.0f);
  // x = 0 with s > 0: +1 for v above 1/2 (level 0), -1 below; a large ratio keeps x's sign for every v.
  EXPECT_EQ(kernels::threshold_sign(0.0, 0.0f, kernels::gaussian_level(0x8000u)), 1.0);
  EXPECT_EQ(kernels::threshold_sign(0.0, 0.0f, kernels::gaussian_level(0x7fffu)), -1.0);
  EXPECT_EQ(kernels::threshold_sign(-3.0, 20.0f, kernels::uniform_level(0)), -1.0);
  EXPECT_EQ(kernels::threshold_sign(-3.0, 4.4f, top), -1.0);
}

// The directions u of `steps` steps of SignSGD with threshold dither on a constant gradient x (absolute
// scale s): row t holds step t + 1's u, read from p = -u (lr 1, p reset each step).
torch::Tensor directions(double x, double s, bool gaussian, int64_t n, int steps, torch::Dtype dtype, uint64_t seed) {
  auto p = torch::zeros({n}, dtype);
  auto g = torch::full({n}, x, dtype);
  torch::Tensor none;
  auto out = torch::empty({steps, n}, torch::kFloat);
  for (int t = 0; t < steps; ++t) {
    kernels::SignStepArgs a;
    a.lr = 1.0;
    a.dither.enabled = true;
    a.dither.draw = DitherDraw::Threshold;
    a.dither.gaussian = gaussian;
    a.dither.scale = DitherScale::Absolute;
    a.dither.alpha = s;
    a.dither.seed = seed;
    a.dither.step = t + 1;
    a.dither.param_index = 3;
    p.zero_();
    kernels::sign_descent_step(p, g, none, a);
    out[t].copy_(-p);
  }
  return out;
}

// E[sign(x + s xi)] = erf(x / (s sqrt 2)) at the ratios, over 2^25 draws (8 steps of 2^22 coordinates):
// the tolerance, 4 binomial standard errors plus twice the bias bound, stays under 1e-3, so a bias of 1e-3
// in the mean would fail.
TEST(ThresholdDraw, GaussianDrawFollowsTheErfLaw) {
  const double ratios[] = {0.1, 0.5, 1.0, 2.0};
  const double spec_values[] = {0.07966, 0.38292, 0.68269, 0.95450};
  const int64_t n = int64_t{1} << 22;
  const int steps = 8;
  for (int i = 0; i < 4; ++i) {
    const double expected = std::erf(ratios[i] / std::sqrt(2.0));
    EXPECT_NEAR(expected, spec_values[i], 1e-5);
    const auto u = directions(ratios[i] * 0.3, 0.3, true, n, steps, i % 2 == 0 ? torch::kFloat : torch::kDouble, 40 + i);
    EXPECT_EQ(u.abs().min().item<float>(), 1.0f) << "every coordinate gets a sign";
    const double draws = static_cast<double>(n) * steps;
    const double measured = u.sum(torch::kDouble).item<double>() / draws;
    const double tol = 4.0 * std::sqrt((1.0 - expected * expected) / draws) + 2.0 * kBiasBound;
    EXPECT_LT(tol, 1e-3);
    EXPECT_NEAR(measured, expected, tol) << "x/s = " << ratios[i];
  }
}

TEST(ThresholdDraw, UniformDrawFollowsTheClipLaw) {
  const int64_t n = int64_t{1} << 22;
  const int steps = 4;
  for (double ratio : {0.1, 0.5, 0.9, 1.5}) {
    const double expected = std::min(ratio, 1.0);
    const auto u = directions(ratio * 2.0, 2.0, false, n, steps, torch::kFloat, 7);
    const double draws = static_cast<double>(n) * steps;
    const double measured = u.sum(torch::kDouble).item<double>() / draws;
    const double tol = std::max(4.0 * std::sqrt((1.0 - expected * expected) / draws) + 2.0 * 7.7e-6, 1e-12);
    EXPECT_NEAR(measured, expected, tol) << "x/s = " << ratio;
  }
}

// Pearson correlation of two +-1 samples.
double correlation(const torch::Tensor& a, const torch::Tensor& b) {
  const auto x = a.to(torch::kDouble), y = b.to(torch::kDouble);
  const auto xc = x - x.mean(), yc = y - y.mean();
  return ((xc * yc).sum() / (xc.square().sum() * yc.square().sum()).sqrt()).item<double>();
}

// At x = 0 the signs are fair coins; at x = 0.5 s biased ones. Neighbours that share a Philox word (lag 1), the
// next word (lag 2), the next block (lag 8) and the same coordinate on the next step are uncorrelated: each
// correlation within 5 standard errors (1 / sqrt(n)) of 0.
TEST(ThresholdDraw, SignsAreIndependentAcrossCoordinatesAndSteps) {
  const int64_t n = int64_t{1} << 21;
  for (double x : {0.0, 0.5}) {
    const auto u = directions(x, 1.0, true, n, 2, torch::kFloat, 11);
    const double tol = 5.0 / std::sqrt(static_cast<double>(n));
    for (int64_t lag : {1, 2, 3, 8, 4096}) {
      const auto a = u[0].narrow(0, 0, n - lag), b = u[0].narrow(0, lag, n - lag);
      EXPECT_NEAR(correlation(a, b), 0.0, tol) << "x = " << x << " lag " << lag;
    }
    // Even and odd coordinates (the low and high halves of one word).
    const auto pairs = u[0].view({-1, 2});
    EXPECT_NEAR(correlation(pairs.select(1, 0), pairs.select(1, 1)), 0.0, tol * std::sqrt(2.0)) << "x = " << x;
    EXPECT_NEAR(correlation(u[0], u[1]), 0.0, tol) << "x = " << x << " across steps";
    if (x == 0.0) {
      EXPECT_NEAR(u.mean().item<double>(), 0.0, 5.0 / std::sqrt(2.0 * static_cast<double>(n)));
    }
  }
}

// A coordinate's draw depends on its index, the step and the parameter only: a tensor's prefix draws what
// the longer tensor draws there (the chunking and the AVX-512 groups differ at the ends).
TEST(ThresholdDraw, DrawsDoNotDependOnTensorLength) {
  const auto long_run = directions(0.2, 1.0, true, 20011, 3, torch::kFloat, 5);
  for (int64_t n : {1, 7, 63, 64, 65, 4095, 4097, 10007}) {
    const auto short_run = directions(0.2, 1.0, true, n, 3, torch::kFloat, 5);
    EXPECT_TRUE(torch::equal(short_run, long_run.narrow(1, 0, n))) << "n = " << n;
  }
}

// The threshold draw uses different random bits from the additive draw: same law, other trajectories.
TEST(ThresholdDraw, DiffersFromTheAdditiveDrawInItsDraws) {
  auto p1 = torch::zeros({4096}), p2 = torch::zeros({4096});
  const auto g = torch::full({4096}, 0.1f);
  torch::Tensor none;
  kernels::SignStepArgs a;
  a.lr = 1.0;
  a.dither.enabled = true;
  a.dither.scale = DitherScale::Absolute;
  a.dither.alpha = 1.0;
  a.dither.step = 1;
  kernels::sign_descent_step(p1, g, none, a);
  a.dither.draw = DitherDraw::Threshold;
  kernels::sign_descent_step(p2, g, none, a);
  EXPECT_FALSE(torch::equal(p1, p2));
}

} // namespace
} // namespace signopt::test

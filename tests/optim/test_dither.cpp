// Pre-sign dithering: the counter-based generator, schedules, scales, and the expectation laws
// E[sign(x + s xi)] = erf(x / (s sqrt 2)) (Gaussian) and clip(x / s, -1, 1) (uniform).
#include "support/problems.h"

#include <signopt/kernels/args.h>
#include <signopt/kernels/dither_schedule.h>
#include <signopt/kernels/noise.h>
#include <signopt/kernels/fused.h>
#include <signopt/kernels/reference.h>
#include <signopt/optim/common.h>
#include <signopt/optim/hybrid.h>
#include <signopt/optim/sign_sgd.h>
#include <signopt/optim/signum.h>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace signopt::test {
namespace {

using kernels::PhiloxBlock;

void expect_block(PhiloxBlock got, PhiloxBlock want) {
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(got.x[i], want.x[i]) << "word " << i;
  }
}

// Known answers from the Random123 distribution (kat_vectors, philox4x32 10 rounds).
TEST(Dither, PhiloxMatchesRandom123KnownAnswers) {
  expect_block(kernels::philox4x32_10({{0, 0, 0, 0}}, 0, 0), {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}});
  expect_block(
      kernels::philox4x32_10({{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, 0xffffffff, 0xffffffff),
      {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}});
  expect_block(
      kernels::philox4x32_10({{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, 0xa4093822, 0x299f31d0),
      {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}});
}

// Bit patterns computed by the independent Python implementation (tests/golden/README.md).
TEST(Dither, NoiseMatchesTheIndependentImplementationBitForBit) {
  const uint32_t gaussian[8] = {
      0x3fd95c58, 0x3fc52c61, 0x3fc4efea, 0x3ec9eb20, 0xbf9d6ccb, 0xbffdeabc, 0x3fc204f7, 0xbf11aca2};
  const uint32_t uniform[8] = {
      0xbf5b0824, 0xbf43f718, 0xbeddef54, 0xbf6b8d98, 0xbf5e6732, 0x3ea58d28, 0xbeebe548, 0x3f62bc3e};
  const auto like = torch::empty({8}, torch::kFloat);
  const auto g = dither_noise(like, DitherOptions().seed(1), 1, 0);
  const auto u = dither_noise(like, DitherOptions().seed(1).distribution(DitherDistribution::Uniform), 1, 0);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(kernels::float_to_bits(g[i].item<float>()), gaussian[i]) << "gaussian element " << i;
    EXPECT_EQ(kernels::float_to_bits(u[i].item<float>()), uniform[i]) << "uniform element " << i;
  }
}

// The float32 log and sin/cos approximations against libm over their whole input grids' samples.
TEST(Dither, NoiseApproximationsAreAccurate) {
  double worst_log = 0, worst_trig = 0;
  for (uint32_t k = 1; k <= (1u << 24); k += 97) {
    const float u = static_cast<float>(k) * 5.9604644775390625e-8f;
    worst_log = std::max(worst_log, std::abs(kernels::noise_log(u) - std::log(static_cast<double>(u))) /
                                        std::max(1e-30, std::abs(std::log(static_cast<double>(u)))));
    float s, c;
    kernels::noise_sincos_2pi(kernels::noise_uniform24(k << 8), &s, &c);
    const double angle = 2 * M_PI * static_cast<double>(kernels::noise_uniform24(k << 8));
    worst_trig = std::max({worst_trig, std::abs(s - std::sin(angle)), std::abs(c - std::cos(angle))});
  }
  EXPECT_LT(worst_log, 2e-7);
  EXPECT_LT(worst_trig, 2e-7);
}

TEST(Dither, SchedulesFollowTheirFormulas) {
  DitherOptions o;
  o.alpha(2.0).gamma(0.55);
  EXPECT_DOUBLE_EQ(dither_alpha(o, 0), 2.0);
  EXPECT_DOUBLE_EQ(dither_alpha(o, 3), 2.0 / std::pow(4.0, 0.275));
  o.schedule(DitherSchedule::Constant);
  EXPECT_DOUBLE_EQ(dither_alpha(o, 100), 2.0);
  o.schedule(DitherSchedule::Linear).alpha_min(0.5).horizon(10);
  EXPECT_DOUBLE_EQ(dither_alpha(o, 0), 2.0);
  EXPECT_DOUBLE_EQ(dither_alpha(o, 5), 1.25);
  EXPECT_DOUBLE_EQ(dither_alpha(o, 10), 0.5);
  EXPECT_DOUBLE_EQ(dither_alpha(o, 50), 0.5);
  o.schedule(DitherSchedule::Cosine);
  EXPECT_DOUBLE_EQ(dither_alpha(o, 0), 2.0);
  EXPECT_NEAR(dither_alpha(o, 5), 1.25, 1e-15);
  EXPECT_DOUBLE_EQ(dither_alpha(o, 10), 0.5);
  EXPECT_DOUBLE_EQ(dither_alpha(o, 11), 0.5);
  o.schedule(DitherSchedule::Exponential).decay_rate(0.5);
  EXPECT_DOUBLE_EQ(dither_alpha(o, 3), 0.25);
}

// The torch-free defaults (kernels::DitherScheduleArgs, kernels::DitherArgs), which the registry's JSON gives
// the Python package, are DitherOptions' defaults.
TEST(Dither, KernelDefaultsAreTheOptionsDefaults) {
  const DitherOptions o;
  const kernels::DitherScheduleArgs s;
  const kernels::DitherArgs a;
  EXPECT_EQ(o.alpha(), s.alpha);
  EXPECT_EQ(o.schedule(), s.schedule);
  EXPECT_EQ(o.gamma(), s.gamma);
  EXPECT_EQ(o.alpha_min(), s.alpha_min);
  EXPECT_EQ(o.horizon(), s.horizon);
  EXPECT_EQ(o.decay_rate(), s.decay_rate);
  EXPECT_EQ(o.scale(), a.scale);
  EXPECT_EQ(o.distribution() == DitherDistribution::Gaussian, a.gaussian);
  EXPECT_EQ(o.target() == DitherTarget::Gradient, a.target_gradient);
  EXPECT_EQ(o.draw(), a.draw);
  EXPECT_EQ(o.scale_from(), a.scale_from);
  EXPECT_EQ(o.clock(), DitherClock::Step);
  EXPECT_EQ(o.seed(), a.seed);
  EXPECT_EQ(static_cast<uint64_t>(o.stream()), a.stream);
}

TEST(Dither, ScaleBasesArePerTensorStatistics) {
  const auto x = torch::tensor({3.0, -4.0, 0.0, 1.0}, torch::kDouble);
  EXPECT_DOUBLE_EQ(dither_base(x, DitherScale::Absolute), 1.0);
  EXPECT_DOUBLE_EQ(dither_base(x, DitherScale::Rms), std::sqrt(26.0 / 4.0));
  EXPECT_DOUBLE_EQ(dither_base(x, DitherScale::Max3Sigma), 4.0 / 3.0);
  EXPECT_DOUBLE_EQ(dither_base(x, DitherScale::MeanAbs), 2.0);
  EXPECT_DOUBLE_EQ(dither_base(torch::empty({0}, torch::kDouble), DitherScale::Rms), 0.0);
}

TEST(Dither, NoiseIsKeyedBySeedStreamStepAndParameter) {
  const auto like = torch::empty({1001}, torch::kDouble);
  const DitherOptions base = DitherOptions().seed(17);
  const auto reference = dither_noise(like, base, 5, 2);
  EXPECT_TRUE(torch::equal(reference, dither_noise(like, base, 5, 2)));
  auto differs = [&](const torch::Tensor& other) { return (other - reference).abs().max().item<double>() > 0.1; };
  EXPECT_TRUE(differs(dither_noise(like, DitherOptions().seed(18), 5, 2)));
  EXPECT_TRUE(differs(dither_noise(like, DitherOptions().seed(17).stream(1), 5, 2)));
  EXPECT_TRUE(differs(dither_noise(like, base, 6, 2)));
  EXPECT_TRUE(differs(dither_noise(like, base, 5, 3)));
  // A prefix of a longer tensor draws the same numbers: element e depends on e only.
  const auto longer = dither_noise(torch::empty({4000}, torch::kDouble), base, 5, 2);
  EXPECT_TRUE(torch::equal(longer.slice(0, 0, 1001), reference));
  // float32 noise is the double draw rounded.
  EXPECT_TRUE(torch::equal(dither_noise(like.to(torch::kFloat), base, 5, 2), reference.to(torch::kFloat)));
}

TEST(Dither, NoiseDoesNotDependOnThreadCount) {
  const int original = at::get_num_threads();
  const auto like = torch::empty({1 << 20}, torch::kFloat);
  at::set_num_threads(1);
  const auto one = dither_noise(like, DitherOptions().seed(3), 1, 0);
  at::set_num_threads(3);
  const auto three = dither_noise(like, DitherOptions().seed(3), 1, 0);
  at::set_num_threads(original);
  EXPECT_TRUE(torch::equal(one, three));
}

// Moments of n draws: tolerances are 5 standard errors of the estimators.
TEST(Dither, NoiseHasTheRightMoments) {
  const int64_t n = 1 << 20;
  const auto like = torch::empty({n}, torch::kDouble);
  const auto g = dither_noise(like, DitherOptions().seed(21), 1, 0);
  EXPECT_LT(std::abs(g.mean().item<double>()), 5.0 / std::sqrt(n));
  EXPECT_LT(std::abs(g.square().mean().item<double>() - 1.0), 5.0 * std::sqrt(2.0 / n));
  const auto u = dither_noise(like, DitherOptions().seed(21).distribution(DitherDistribution::Uniform), 1, 0);
  EXPECT_LE(u.abs().max().item<double>(), 1.0);
  EXPECT_LT(std::abs(u.mean().item<double>()), 5.0 * std::sqrt(1.0 / 3.0 / n));
  EXPECT_LT(std::abs(u.square().mean().item<double>() - 1.0 / 3.0), 5.0 * std::sqrt(4.0 / 45.0 / n));
}

// One SignSGD step with lr = 1 on a constant gradient x and absolute dither s: the mean step
// estimates E[sign(x + s xi)]; each sign is +-1, so the standard error is sqrt((1 - E^2) / n).
double mean_dithered_sign(double x, double s, DitherDistribution dist, int64_t n, uint64_t seed) {
  auto p = torch::zeros({n}, torch::kDouble).requires_grad_(true);
  SignSGD opt(
      {p},
      SignSGDOptions(1.0).dither(DitherOptions()
                                     .alpha(s)
                                     .scale(DitherScale::Absolute)
                                     .schedule(DitherSchedule::Constant)
                                     .distribution(dist)
                                     .seed(seed)));
  p.mutable_grad() = torch::full({n}, x, torch::kDouble);
  opt.step();
  return -p.detach().mean().item<double>();
}

TEST(Dither, GaussianDitherFollowsTheErfLaw) {
  const int64_t n = 200000;
  const double spec_values[] = {0.07966, 0.38292, 0.68269, 0.95450};
  const double ratios[] = {0.1, 0.5, 1.0, 2.0};
  for (int i = 0; i < 4; ++i) {
    const double expected = theory::dithered_sign_expectation_gaussian(ratios[i] * 0.3, 0.3);
    EXPECT_NEAR(expected, spec_values[i], 1e-5);
    const double measured = mean_dithered_sign(ratios[i] * 0.3, 0.3, DitherDistribution::Gaussian, n, 100 + i);
    EXPECT_NEAR(measured, expected, 5.0 * std::sqrt((1 - expected * expected) / n)) << "x/s = " << ratios[i];
  }
}

TEST(Dither, UniformDitherFollowsTheClipLaw) {
  const int64_t n = 200000;
  for (double ratio : {0.25, 0.75, 1.5}) {
    const double expected = theory::dithered_sign_expectation_uniform(ratio * 2.0, 2.0);
    const double measured = mean_dithered_sign(ratio * 2.0, 2.0, DitherDistribution::Uniform, n, 7);
    const double tol = std::max(5.0 * std::sqrt((1 - expected * expected) / n), 1e-12);
    EXPECT_NEAR(measured, expected, tol) << "x/s = " << ratio;
  }
}

TEST(Dither, EpochClockUsesTheEpochSetByTheTrainer) {
  auto p = torch::zeros({8}, torch::kDouble).requires_grad_(true);
  const auto d = DitherOptions().clock(DitherClock::Epoch).schedule(DitherSchedule::Exponential).decay_rate(0.5);
  Signum opt({p}, SignumOptions(0.1).dither(d));
  opt.set_epoch(3);
  p.mutable_grad() = torch::ones({8}, torch::kDouble);
  opt.step();
  EXPECT_DOUBLE_EQ(opt.last_dither_alpha(), 0.125);
  opt.step();
  EXPECT_DOUBLE_EQ(opt.last_dither_alpha(), 0.125);
}

} // namespace
} // namespace signopt::test

namespace signopt::test {
namespace {

torch::serialize::InputArchive reread(torch::serialize::OutputArchive& out) {
  std::ostringstream bytes;
  out.save_to(bytes);
  std::istringstream in(bytes.str());
  torch::serialize::InputArchive archive;
  archive.load_from(in);
  return archive;
}

// The draw round-trips through a checkpoint; a checkpoint without it (written before the threshold draw) reads
// as additive; a damaged value is refused with its key.
TEST(Dither, CheckpointsRecordTheDraw) {
  {
    torch::serialize::OutputArchive out;
    detail::write_dither(out, DitherOptions().draw(DitherDraw::Threshold).scale_from(DitherScaleFrom::Previous).seed(4));
    auto in = reread(out);
    const auto d = detail::read_dither(in);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->draw(), DitherDraw::Threshold);
    EXPECT_EQ(d->scale_from(), DitherScaleFrom::Previous);
    EXPECT_EQ(d->seed(), 4u);
  }
  {
    torch::serialize::OutputArchive out;
    detail::write_int(out, "dither_enabled", 1);
    auto in = reread(out);
    const auto d = detail::read_dither(in);
    EXPECT_EQ(d->draw(), DitherDraw::Additive);
    EXPECT_EQ(d->scale_from(), DitherScaleFrom::Current);
  }
  {
    torch::serialize::OutputArchive out;
    detail::write_int(out, "dither_enabled", 1);
    detail::write_int(out, "dither_draw", 7);
    auto in = reread(out);
    try {
      detail::read_dither(in);
      ADD_FAILURE() << "a dither_draw of 7 was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("dither_draw must be one of 0 (additive), 1 (threshold), got 7"), std::string::npos)
          << e.what();
    }
  }
  // Every stored enum is checked against its table, the older ones too.
  for (const char* key : {"dither_scale", "dither_schedule", "dither_distribution", "dither_target", "dither_scale_from",
                          "dither_clock"}) {
    torch::serialize::OutputArchive out;
    detail::write_int(out, "dither_enabled", 1);
    detail::write_int(out, key, 9);
    auto in = reread(out);
    try {
      detail::read_dither(in);
      ADD_FAILURE() << key << " = 9 was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::string(key) + " must be one of 0 ("), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("got 9"), std::string::npos) << e.what();
    }
  }
}

} // namespace
} // namespace signopt::test

namespace signopt::test {
namespace {

// DitherScaleFrom::Previous: step t's scale is alpha base(x_{t-1}) (alpha base(x_1) on the first step), and
// the stored base after step t is base(x_t), where x is the tensor that gets the noise (m for the momentum
// target, g for the gradient target); the base is the reference's dither_base, bit for bit.
TEST(Dither, ScaleFromThePreviousStepIsTheLastStepsBase) {
  for (DitherScale scale : {DitherScale::Rms, DitherScale::Max3Sigma, DitherScale::MeanAbs}) {
    for (DitherTarget target : {DitherTarget::Momentum, DitherTarget::Gradient}) {
      for (double beta : {0.0, 0.9}) {
        const std::string where = to_string(scale) + " " + to_string(target) + " beta " + std::to_string(beta);
        auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
        const int64_t n = 9000; // three chunks
        auto p = torch::zeros({n});
        auto m = torch::zeros({n});
        torch::Tensor none;
        double state = std::nan("");
        double previous = std::nan("");
        for (int t = 1; t <= 4; ++t) {
          const auto g = torch::randn({n}, gen) * static_cast<double>(t);
          // The tensor that gets the noise, with the kernels' operations: m beta + g (1 - beta) in float.
          const auto m_next = beta > 0 ? m * static_cast<float>(beta) + g * static_cast<float>(1.0 - beta) : g;
          const auto x = target == DitherTarget::Gradient ? g : m_next;
          const double base = kernels::reference::dither_base(x, scale);
          kernels::SignStepArgs a;
          a.lr = 0.01;
          a.beta = beta;
          a.dither.enabled = true;
          a.dither.scale = scale;
          a.dither.target_gradient = target == DitherTarget::Gradient;
          a.dither.alpha = 0.5;
          a.dither.step = t;
          a.dither.scale_from = DitherScaleFrom::Previous;
          a.dither.scale_state = &state;
          a.dither.scale_state_ready = std::isfinite(state);
          const double s = kernels::sign_descent_step(p, g, beta > 0 ? m : none, a);
          EXPECT_EQ(s, 0.5 * (t == 1 ? base : previous)) << where << " step " << t;
          EXPECT_EQ(state, base) << where << " step " << t;
          if (beta > 0 && target == DitherTarget::Momentum) { // (with the gradient target, m holds noise too)
            EXPECT_TRUE(torch::equal(m, m_next)) << where << " step " << t;
          } else if (beta > 0) {
            m.copy_(m_next); // only the statistic of g matters from here; keep m noise-free for the next x
          }
          previous = base;
        }
      }
    }
  }
}

// last_dither_stds(): the dither std each parameter's sign saw in the last step, alpha_t x base of the sign
// argument (the momentum after the step for Signum and the hybrid's sign phase, the gradient for SignSGD),
// on the fused and the reference paths; NaN for a parameter without a gradient, 0 without dithering.
TEST(Dither, OptimizersRecordTheDitherStdOfTheirLastStep) {
  torch::manual_seed(3);
  const auto d = DitherOptions().alpha(0.7).scale(DitherScale::Rms).schedule(DitherSchedule::Power).gamma(0.55);
  for (const bool fused : {true, false}) {
    // A float64 parameter takes the reference path; float32 contiguous the fused one.
    const auto dtype = fused ? torch::kFloat : torch::kDouble;
    auto a = torch::randn({1000}, dtype), b = torch::randn({7}, dtype), idle = torch::randn({3}, dtype);
    Signum signum({a, b, idle}, SignumOptions(1e-3).momentum(0.9).dither(d));
    for (int64_t step = 1; step <= 3; ++step) {
      a.mutable_grad() = torch::randn_like(a);
      b.mutable_grad() = torch::randn_like(b);
      signum.step();
      const auto& stds = signum.last_dither_stds();
      ASSERT_EQ(stds.size(), 3u);
      const double alpha = dither_alpha(d, step - 1);
      for (int i = 0; i < 2; ++i) {
        const auto& p = i == 0 ? a : b;
        const auto& m = static_cast<SignumParamState&>(*signum.state().at(detail::state_key(p))).momentum_buffer();
        const double expected = alpha * dither_base(m, DitherScale::Rms);
        EXPECT_NEAR(stds[static_cast<size_t>(i)], expected, 1e-6 * expected) << "fused " << fused << " step " << step;
      }
      EXPECT_TRUE(std::isnan(stds[2])); // no gradient: not stepped
    }
  }
  // SignSGD: the gradient's scale; without dithering, 0.
  auto x = torch::randn({500});
  x.mutable_grad() = torch::randn_like(x);
  SignSGD sgd({x}, SignSGDOptions(1e-3).dither(d));
  sgd.step();
  EXPECT_NEAR(sgd.last_dither_stds().at(0), dither_alpha(d, 0) * dither_base(x.grad(), DitherScale::Rms), 1e-6);
  SignSGD plain({x}, SignSGDOptions(1e-3));
  plain.step();
  EXPECT_EQ(plain.last_dither_stds().at(0), 0.0);
  // The hybrid's sign phase records the same as Signum on the same data.
  auto h1 = torch::randn({300}), h2 = h1.clone();
  h1.mutable_grad() = torch::randn_like(h1);
  h2.mutable_grad() = h1.grad().clone();
  Signum s1({h1}, SignumOptions(1e-3).momentum(0.9).dither(d));
  HybridSignSGD s2({h2}, HybridSignSGDOptions(1e-3).beta1(0.9).dither(d).switch_never());
  s1.step();
  s2.step();
  EXPECT_EQ(s1.last_dither_stds().at(0), s2.last_dither_stds().at(0));
}

} // namespace
} // namespace signopt::test

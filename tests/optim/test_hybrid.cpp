// HybridSignSGD: golden trajectories of every trigger and option mix, Signum equality before the
// switch, the spec's worked example, the SGD phase's schedule, fallback and option checks.
#include "support/golden.h"
#include "support/problems.h"

#include <gtest/gtest.h>

#include <cmath>

namespace signopt::test {
namespace {

// Checks the reported phase and calibrated rate against the golden `hybrid` lines.
void expect_hybrid_golden(const std::string& name, HybridSignSGDOptions options) {
  const GoldenCase& c = golden_case(name);
  expect_golden(
      name,
      [&](auto p) { return std::make_unique<HybridSignSGD>(p, options); },
      1e-12,
      [&](torch::optim::Optimizer& opt, int step) {
        auto it = c.hybrid.find(step);
        if (it == c.hybrid.end()) {
          return;
        }
        const auto& h = static_cast<HybridSignSGD&>(opt);
        EXPECT_EQ(static_cast<int>(h.phase()), it->second.first) << name << " step " << step;
        EXPECT_NEAR(h.calibrated_lr(), it->second.second, 1e-12 * std::abs(it->second.second))
            << name << " step " << step;
        // Every estimator of the diagnostics bank, from the reference's `calib` lines.
        for (const auto& calib : c.calib) {
          if (calib.step != step) {
            continue;
          }
          for (size_t e = 0; e < kEstimators.size(); ++e) {
            const Calibrator& cal = h.calibration_bank().at(kEstimators[e]);
            const double last = calib.values[2 * e], lbar = calib.values[2 * e + 1];
            EXPECT_NEAR(cal.lambda(), last, 1e-12 * std::abs(last)) << name << " step " << step << " " << to_string(kEstimators[e]);
            EXPECT_NEAR(cal.smoothed(), lbar, 1e-12 * std::abs(lbar)) << name << " step " << step << " " << to_string(kEstimators[e]);
          }
        }
      });
}

int count_calib_lines(const std::string& name) {
  return static_cast<int>(golden_case(name).calib.size());
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithStepTrigger) {
  expect_hybrid_golden("hybrid_step3", HybridSignSGDOptions(0.01).calibration(CalibrationEstimator::LeastSquares).beta1(0.9).beta2(0.999).eps(1e-8).switch_at_step(3));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryPerTensorWithPostSwitchMomentum) {
  expect_hybrid_golden(
      "hybrid_pertensor_mom",
      HybridSignSGDOptions(0.01)
          .calibration(CalibrationEstimator::LeastSquares)
          .switch_at_step(3)
          .calibration_scope(CalibrationScope::PerTensor)
          .post_switch_momentum(0.9)
          .weight_decay(1e-3));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithHandover) {
  expect_hybrid_golden("hybrid_handover", HybridSignSGDOptions(0.01).calibration(CalibrationEstimator::LeastSquares).beta2(0.9).switch_at_step(2).handover_steps(3));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithAutoTrigger) {
  expect_hybrid_golden("hybrid_auto", HybridSignSGDOptions(0.01).calibration(CalibrationEstimator::LeastSquares).beta2(0.5).switch_auto(0.3));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithDither) {
  expect_hybrid_golden("hybrid_dither", HybridSignSGDOptions(0.01).calibration(CalibrationEstimator::LeastSquares).switch_at_step(4).dither(DitherOptions().seed(2)));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithoutBiasCorrection) {
  expect_hybrid_golden("hybrid_nobias", HybridSignSGDOptions(0.01).calibration(CalibrationEstimator::LeastSquares).switch_at_step(3).bias_correction(false));
}

// The estimators and SGD-phase conventions of issue 15 (tests/golden/README.md, cases 19-26).
TEST(HybridSignSGD, MatchesGoldenTrajectoryWithSwatsProjection) {
  expect_hybrid_golden(
      "hybrid_swats",
      HybridSignSGDOptions(0.01).beta2(0.9).switch_at_step(3).calibration(CalibrationEstimator::Swats));
  EXPECT_EQ(count_calib_lines("hybrid_swats"), 3) << "the reference logs every sign step, the switch step included";
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithNormEstimatorAndDampenedMomentum) {
  expect_hybrid_golden(
      "hybrid_norm_mom",
      HybridSignSGDOptions(0.01).beta2(0.9).switch_at_step(3).calibration(CalibrationEstimator::Norm).post_switch_momentum(0.9));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithMomentumLsAndUndampenedMomentum) {
  expect_hybrid_golden(
      "hybrid_mls_undampened",
      HybridSignSGDOptions(0.01)
          .beta2(0.9)
          .switch_at_step(3)
          .calibration(CalibrationEstimator::MomentumLs)
          .post_switch_momentum(0.9)
          .post_switch_convention(SgdConvention::Undampened));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithFixedRateContinuingTheMomentum) {
  expect_hybrid_golden(
      "hybrid_fixed_continue",
      HybridSignSGDOptions(0.01)
          .switch_at_step(3)
          .calibration(CalibrationEstimator::Fixed)
          .fixed_lr(0.05)
          .post_switch_momentum(0.9)
          .post_switch_init(SgdMomentumInit::Momentum));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithPerTensorSwatsAndScale) {
  expect_hybrid_golden(
      "hybrid_swats_pertensor_scale",
      HybridSignSGDOptions(0.01)
          .beta2(0.9)
          .switch_at_step(3)
          .calibration(CalibrationEstimator::Swats)
          .calibration_scope(CalibrationScope::PerTensor)
          .calibration_scale(0.5)
          .weight_decay(1e-3));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithSwatsAbsoluteCriterion) {
  expect_hybrid_golden(
      "hybrid_auto_absolute",
      HybridSignSGDOptions(0.01).calibration(CalibrationEstimator::LeastSquares).beta2(0.5).switch_auto(7.8e-4).auto_criterion(SwitchCriterion::Swats));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithNormEstimatorAndDither) {
  expect_hybrid_golden(
      "hybrid_norm_dither",
      HybridSignSGDOptions(0.01).switch_at_step(4).calibration(CalibrationEstimator::Norm).dither(DitherOptions().seed(2)));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithScaledLeastSquaresUndampenedContinuing) {
  expect_hybrid_golden(
      "hybrid_ls_undampened_continue",
      HybridSignSGDOptions(0.01).calibration(CalibrationEstimator::LeastSquares)
          .beta2(0.9)
          .switch_at_step(3)
          .calibration_scale(2.0)
          .post_switch_momentum(0.9)
          .post_switch_convention(SgdConvention::Undampened)
          .post_switch_init(SgdMomentumInit::Momentum)
          .weight_decay(5e-4));
}

// The relation between the estimators (algorithms.md section 4): swats / least-squares = nnz (||g||^2 + eps)
// / <u, g>^2 and norm^2 = swats * least-squares * (||g||^2 + eps) / ||g||^2, from one step's sums.
TEST(Calibrator, EstimatorsAgreeWithTheirDefinitions) {
  const auto sums = CalibrationSums::of_tensor(0.01, 3.5, 5.25, 3.0, 2.0, 1.75);
  const double eps = 1e-8;
  const double swats = lambda_of(CalibrationEstimator::Swats, sums, eps);
  const double ls = lambda_of(CalibrationEstimator::LeastSquares, sums, eps);
  const double norm = lambda_of(CalibrationEstimator::Norm, sums, eps);
  EXPECT_NEAR(swats, 0.01 * 3.0 / 3.5, 1e-15);
  EXPECT_NEAR(ls, 0.01 * 3.5 / (5.25 + eps), 1e-15);
  EXPECT_NEAR(norm, 0.01 * std::sqrt(3.0) / std::sqrt(5.25), 1e-15);
  EXPECT_NEAR(lambda_of(CalibrationEstimator::MomentumLs, sums, eps), 0.01 * 2.0 / 1.75, 1e-15);
  EXPECT_NEAR(norm * norm, swats * ls * (5.25 + eps) / 5.25, 1e-15);
  EXPECT_TRUE(std::isnan(lambda_of(CalibrationEstimator::Fixed, sums, eps)));
}

TEST(Calibrator, SkipsWhatTheSpecificationSkips) {
  const double eps = 1e-8;
  // SWATS skips a non-positive <u, g>; least-squares takes its absolute value.
  const auto against = CalibrationSums::of_tensor(0.01, -1.0, 2.0, 4.0, 1.0, 1.0);
  EXPECT_TRUE(std::isnan(lambda_of(CalibrationEstimator::Swats, against, eps)));
  EXPECT_NEAR(lambda_of(CalibrationEstimator::LeastSquares, against, eps), 0.01 / (2.0 + eps), 1e-15);
  const auto zero = CalibrationSums::of_tensor(0.01, 0.0, 0.0, 4.0, 0.0, 0.0);
  for (const auto e : kEstimators) {
    EXPECT_TRUE(std::isnan(lambda_of(e, zero, eps))) << to_string(e) << " must skip a zero denominator";
  }
  Calibrator c(CalibratorOptions{CalibrationEstimator::Swats, 0.9, eps, true, 1.0, 0.0});
  EXPECT_TRUE(c.update(CalibrationSums::of_tensor(0.01, 1.0, 1.0, 2.0, 1.0, 1.0)));
  EXPECT_FALSE(c.update(against));
  EXPECT_EQ(c.state().updates, 1);
  EXPECT_DOUBLE_EQ(c.lambda(), 0.02) << "a skipped step keeps the last lambda";
  EXPECT_NEAR(c.smoothed(), 0.02, 1e-15);
  EXPECT_FALSE(c.converged(1.0, SwitchCriterion::Relative)) << "no convergence on a skipped step";
}

TEST(Calibrator, ScaleMultipliesTheRateNotTheTest) {
  Calibrator c(CalibratorOptions{CalibrationEstimator::LeastSquares, 0.5, 0.0, true, 4.0, 0.0});
  c.update(CalibrationSums::of_tensor(0.1, 3.5, 5.25, 3.0, 1.0, 1.0));
  EXPECT_NEAR(c.smoothed(), 0.1 * 3.5 / 5.25, 1e-15);
  EXPECT_NEAR(c.rate(), 4.0 * 0.1 * 3.5 / 5.25, 1e-15);
  EXPECT_TRUE(c.converged(1e-12, SwitchCriterion::Relative)) << "one update: Lbar = lambda";
  Calibrator fixed(CalibratorOptions{CalibrationEstimator::Fixed, 0.5, 0.0, true, 2.0, 0.3});
  EXPECT_DOUBLE_EQ(fixed.rate(), 0.6);
  EXPECT_FALSE(fixed.converged(1.0, SwitchCriterion::Swats));
}

TEST(SwitchPolicy, FiresWhereItsTriggerSays) {
  SwitchPolicy step{SwitchTrigger::Step, 4};
  EXPECT_FALSE(step.fires(3, true));
  EXPECT_TRUE(step.fires(4, false));
  SwitchPolicy epoch{SwitchTrigger::Epoch, 0, 2, 10};
  EXPECT_TRUE(epoch.fires(20, false));
  EXPECT_FALSE(epoch.fires(10, true));
  SwitchPolicy automatic;
  EXPECT_FALSE(automatic.fires(1, true)) << "SWATS tests only after step t > 1";
  EXPECT_TRUE(automatic.fires(2, true));
  EXPECT_FALSE(automatic.fires(2, false));
  SwitchPolicy never{SwitchTrigger::Never};
  EXPECT_FALSE(never.fires(5, true));
}

TEST(HybridSignSGD, FixedCalibrationNeedsARateAndAnExplicitTrigger) {
  auto p = random_params(10);
  EXPECT_THROW(
      HybridSignSGD(p, HybridSignSGDOptions(0.01).calibration(CalibrationEstimator::Fixed).switch_at_step(2)),
      std::invalid_argument);
  try {
    HybridSignSGD(p, HybridSignSGDOptions(0.01).calibration(CalibrationEstimator::Fixed).fixed_lr(0.1).switch_auto());
    ADD_FAILURE() << "fixed + auto accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("auto trigger"), std::string::npos) << e.what();
  }
  EXPECT_THROW(HybridSignSGD(p, HybridSignSGDOptions(0.01).calibration_scale(0)), std::invalid_argument);
  EXPECT_THROW(HybridSignSGD(p, HybridSignSGDOptions(0.01).fixed_lr(-1)), std::invalid_argument);
}

// Undampened momentum at rate eta is dampened momentum at eta / (1 - mu), step for step.
TEST(HybridSignSGD, UndampenedConventionIsTheDampenedOneAtAScaledRate) {
  const double mu = 0.75; // 1 - mu = 0.25 and 4 eta: exact in binary, so the two agree to rounding
  auto a = random_params(30);
  auto b = random_params(30);
  HybridSignSGD undampened(
      a,
      HybridSignSGDOptions(0.01)
          .switch_at_step(2)
          .calibration(CalibrationEstimator::Fixed)
          .fixed_lr(0.05)
          .post_switch_momentum(mu)
          .post_switch_convention(SgdConvention::Undampened));
  HybridSignSGD dampened(
      b,
      HybridSignSGDOptions(0.01).switch_at_step(2).calibration(CalibrationEstimator::Fixed).fixed_lr(0.2).post_switch_momentum(mu));
  for (int s = 1; s <= 8; ++s) {
    for (size_t i = 0; i < a.size(); ++i) {
      a[i].mutable_grad() = replay_grad(a[i], 3, s, static_cast<int64_t>(i));
      b[i].mutable_grad() = a[i].grad().clone();
    }
    undampened.step();
    dampened.step();
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(torch::allclose(a[i].detach(), b[i].detach(), 1e-6, 1e-7)) << "step " << s;
    }
  }
}

// With --post-switch-init momentum the first dampened SGD step is mu m + (1 - mu) g: the EMA continues.
TEST(HybridSignSGD, MomentumInitContinuesTheEma) {
  auto p = torch::zeros({4}, torch::kDouble).requires_grad_(true);
  const double mu = 0.9;
  HybridSignSGD opt(
      {p},
      HybridSignSGDOptions(0.01)
          .beta1(mu)
          .switch_at_step(1)
          .calibration(CalibrationEstimator::Fixed)
          .fixed_lr(1.0)
          .post_switch_momentum(mu)
          .post_switch_init(SgdMomentumInit::Momentum));
  const auto g1 = torch::tensor({1.0, -2.0, 0.5, 0.0}, torch::kDouble);
  const auto g2 = torch::tensor({0.5, 1.0, -1.0, 2.0}, torch::kDouble);
  p.mutable_grad() = g1.clone();
  opt.step(); // sign step, m = (1 - mu) g1, then the switch
  const auto before = p.detach().clone();
  p.mutable_grad() = g2.clone();
  opt.step();
  const auto m1 = (1 - mu) * g1;
  const auto expected_step = mu * m1 + (1 - mu) * g2;
  EXPECT_TRUE(torch::allclose(before - p.detach(), expected_step, 1e-12, 1e-14))
      << before - p.detach() << " vs " << expected_step;
}

// Every estimator resumes exactly across the switch: save mid-sign-phase, load into a fresh optimizer.
TEST(HybridSignSGD, EveryEstimatorResumesExactlyAcrossTheSwitch) {
  const std::vector<CalibrationEstimator> all = {
      CalibrationEstimator::Swats, CalibrationEstimator::LeastSquares, CalibrationEstimator::Norm,
      CalibrationEstimator::MomentumLs, CalibrationEstimator::Fixed};
  for (const auto estimator : all) {
    for (const auto scope : {CalibrationScope::Global, CalibrationScope::PerTensor}) {
      auto options = HybridSignSGDOptions(0.01)
                         .beta2(0.9)
                         .switch_at_step(5)
                         .calibration(estimator)
                         .calibration_scope(scope)
                         .fixed_lr(0.03)
                         .post_switch_momentum(0.9)
                         .post_switch_init(SgdMomentumInit::Momentum);
      auto a = random_params(50);
      auto b = random_params(50);
      HybridSignSGD straight(a, options);
      auto feed = [](std::vector<torch::Tensor>& params, int s) {
        for (size_t i = 0; i < params.size(); ++i) {
          params[i].mutable_grad() = replay_grad(params[i], 17, s, static_cast<int64_t>(i));
        }
      };
      std::string saved;
      {
        HybridSignSGD first(b, options);
        for (int s = 1; s <= 3; ++s) {
          feed(b, s);
          first.step();
        }
        torch::serialize::OutputArchive archive;
        first.save(archive);
        std::ostringstream out;
        archive.save_to(out);
        saved = out.str();
      }
      HybridSignSGD resumed(b, options);
      torch::serialize::InputArchive in;
      in.load_from(saved.data(), saved.size());
      resumed.load(in);
      for (int s = 1; s <= 9; ++s) {
        feed(a, s);
        straight.step();
        if (s > 3) {
          feed(b, s);
          resumed.step();
        }
      }
      const std::string what = to_string(estimator) + " " + to_string(scope);
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_TRUE(torch::equal(a[i].detach(), b[i].detach())) << what;
      }
      EXPECT_EQ(straight.calibrated_lr(), resumed.calibrated_lr()) << what;
      for (const auto e : kEstimators) {
        EXPECT_EQ(straight.calibration_bank().at(e).smoothed(), resumed.calibration_bank().at(e).smoothed()) << what;
      }
    }
  }
}

// The fused sign phase (nnz counted from m) and the unfused one (counted from u) calibrate alike.
TEST(HybridSignSGD, FusedAndUnfusedCalibrationAgree) {
  for (const bool dithered : {false, true}) {
    for (const auto estimator : {CalibrationEstimator::Swats, CalibrationEstimator::Norm, CalibrationEstimator::MomentumLs}) {
      std::optional<DitherOptions> dither;
      if (dithered) {
        dither = DitherOptions().seed(4);
      }
      auto options = HybridSignSGDOptions(0.01).switch_at_step(4).calibration(estimator).dither(dither);
      auto a = random_params(25);
      auto b = random_params(25);
      for (auto& t : {a[0], b[0]}) {
        torch::NoGradGuard no_grad;
        t.view(-1).narrow(0, 0, 3).zero_(); // zeros the gradient below keeps at m = 0
      }
      HybridSignSGD fused(a, options);
      HybridSignSGD unfused(b, options);
      for (int s = 1; s <= 6; ++s) {
        for (size_t i = 0; i < a.size(); ++i) {
          auto g = replay_grad(a[i], 5, s, static_cast<int64_t>(i));
          if (i == 0) {
            g.view(-1).narrow(0, 0, 3).zero_();
          }
          a[i].mutable_grad() = g;
          b[i].mutable_grad() = g.clone();
        }
        kernels::set_fused_enabled(true);
        fused.step();
        kernels::set_fused_enabled(false);
        unfused.step();
        kernels::set_fused_enabled(true);
        const std::string what = to_string(estimator) + (dithered ? " dithered" : "") + " step " + std::to_string(s);
        for (const auto e : kEstimators) {
          const double x = fused.calibration_bank().at(e).smoothed(), y = unfused.calibration_bank().at(e).smoothed();
          EXPECT_NEAR(x, y, 1e-12 * std::abs(y)) << what << " " << to_string(e);
        }
        for (size_t i = 0; i < a.size(); ++i) {
          EXPECT_TRUE(torch::allclose(a[i].detach(), b[i].detach(), 1e-6, 1e-7)) << what;
        }
      }
    }
  }
}

TEST(HybridSignSGD, BeforeTheSwitchItIsSignumBitForBit) {
  for (bool dithered : {false, true}) {
    auto a = random_params(40);
    auto b = random_params(40);
    std::optional<DitherOptions> dither;
    if (dithered) {
      dither = DitherOptions().seed(6);
    }
    HybridSignSGD hybrid(
        a, HybridSignSGDOptions(0.003).beta1(0.8).weight_decay(1e-2).switch_at_step(12).dither(dither));
    Signum signum(b, SignumOptions(0.003).momentum(0.8).weight_decay(1e-2).dither(dither));
    for (int s = 1; s <= 12; ++s) {
      for (size_t i = 0; i < a.size(); ++i) {
        a[i].mutable_grad() = replay_grad(a[i], 8, s, static_cast<int64_t>(i));
        b[i].mutable_grad() = a[i].grad().clone();
      }
      if (s == 5) { // a parameter without a gradient must not shift the other's dither stream
        a[0].mutable_grad() = torch::Tensor();
        b[0].mutable_grad() = torch::Tensor();
      }
      hybrid.step();
      signum.step();
      for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_TRUE(torch::equal(a[i].detach(), b[i].detach())) << "dithered=" << dithered << " step " << s;
      }
    }
    EXPECT_EQ(hybrid.phase(), HybridPhase::Sgd);
    EXPECT_EQ(hybrid.switch_step(), 12);
  }
}

// algorithms.md: g = (1, -2, 0.5), m = g, gamma = 0.1, eps = 0 -> lambda = 0.0666667; one EMA step
// with b2 = 0.9 gives lbar = 0.00666667 and Lbar = 0.0666667.
TEST(HybridSignSGD, ReproducesTheSpecsWorkedExample) {
  auto p = torch::zeros({3}, torch::kDouble).requires_grad_(true);
  HybridSignSGD opt(
      {p}, HybridSignSGDOptions(0.1).calibration(CalibrationEstimator::LeastSquares).beta1(0).beta2(0.9).eps(0).switch_never());
  p.mutable_grad() = torch::tensor({1.0, -2.0, 0.5}, torch::kDouble);
  opt.step();
  EXPECT_NEAR(opt.last_lambda(), 0.0666667, 1e-7);
  EXPECT_NEAR(opt.calibrated_lr(), 0.0666667, 1e-7);
  EXPECT_TRUE(torch::equal(p.detach(), torch::tensor({-0.1, 0.1, -0.1}, torch::kDouble)));
  EXPECT_EQ(opt.phase(), HybridPhase::Sign);
}

TEST(HybridSignSGD, SgdPhaseStepIsCalibratedRateScaledByTheGroupLrShape) {
  auto p = torch::zeros({4}, torch::kDouble).requires_grad_(true);
  HybridSignSGD opt({p}, HybridSignSGDOptions(0.02).switch_at_step(3));
  for (int s = 1; s <= 3; ++s) {
    p.mutable_grad() = replay_grad(p, 1, s, 0);
    opt.step();
  }
  ASSERT_EQ(opt.phase(), HybridPhase::Sgd);
  const double lr_sgd = opt.calibrated_lr();
  ASSERT_GT(lr_sgd, 0);
  // A scheduler halves the group lr: the SGD step halves too (eta = lr_sgd * lr_t / s_sw).
  set_lr(opt, 0.01);
  const auto before = p.detach().clone();
  const auto g = replay_grad(p, 1, 4, 0);
  p.mutable_grad() = g;
  opt.step();
  EXPECT_TRUE(torch::allclose(p.detach(), before - g * (lr_sgd * 0.5), 0, 1e-15));
  EXPECT_EQ(opt.calibrated_lr(), lr_sgd) << "the rate is frozen after the switch";
}

TEST(HybridSignSGD, TrackAfterSwitchKeepsCalibratingAndStepsWithTheTrackedRate) {
  auto p = torch::zeros({6}, torch::kDouble).requires_grad_(true);
  HybridSignSGD opt({p}, HybridSignSGDOptions(0.02).switch_at_step(3).track_after_switch(true));
  for (int s = 1; s <= 3; ++s) {
    p.mutable_grad() = replay_grad(p, 4, s, 0);
    opt.step();
  }
  ASSERT_EQ(opt.phase(), HybridPhase::Sgd);
  double previous = opt.calibrated_lr();
  for (int s = 4; s <= 6; ++s) {
    const auto before = p.detach().clone();
    const auto g = replay_grad(p, 4, s, 0);
    p.mutable_grad() = g;
    opt.step();
    const double eta = opt.calibrated_lr();
    EXPECT_NE(eta, previous) << "step " << s;
    EXPECT_TRUE(torch::allclose(p.detach(), before - g * eta, 0, 1e-15)) << "step " << s;
    previous = eta;
  }
}

TEST(HybridSignSGD, EpochTriggerSwitchesAfterTheLastStepOfTheEpoch) {
  auto p = torch::zeros({4}, torch::kDouble).requires_grad_(true);
  HybridSignSGD opt({p}, HybridSignSGDOptions(0.01).switch_at_epoch(2, 5));
  for (int s = 1; s <= 12; ++s) {
    p.mutable_grad() = replay_grad(p, 2, s, 0);
    opt.step();
    EXPECT_EQ(opt.phase(), s < 10 ? HybridPhase::Sign : HybridPhase::Sgd) << "step " << s;
  }
  EXPECT_EQ(opt.switch_step(), 10);
}

TEST(HybridSignSGD, NeverTriggerStaysInTheSignPhaseUntilSwitchNow) {
  auto p = torch::zeros({4}, torch::kDouble).requires_grad_(true);
  HybridSignSGD opt({p}, HybridSignSGDOptions(0.01).switch_never());
  for (int s = 1; s <= 30; ++s) {
    p.mutable_grad() = replay_grad(p, 3, s, 0);
    opt.step();
  }
  EXPECT_EQ(opt.phase(), HybridPhase::Sign);
  EXPECT_EQ(opt.switch_step(), -1);
  opt.switch_now();
  EXPECT_EQ(opt.phase(), HybridPhase::Sgd);
  EXPECT_EQ(opt.switch_step(), 30);
}

TEST(HybridSignSGD, FallsBackWhenNoCalibrationWasPossible) {
  auto p = torch::ones({3}, torch::kDouble).requires_grad_(true);
  HybridSignSGD opt({p}, HybridSignSGDOptions(0.01).switch_at_step(2).fallback_lr(0.25));
  for (int s = 1; s <= 2; ++s) {
    p.mutable_grad() = torch::zeros({3}, torch::kDouble); // ||g||^2 = 0: the EMA is never updated
    opt.step();
  }
  ASSERT_EQ(opt.phase(), HybridPhase::Sgd);
  EXPECT_EQ(opt.calibrated_lr(), 0.25);
  p.mutable_grad() = torch::tensor({1.0, 2.0, -4.0}, torch::kDouble);
  opt.step();
  EXPECT_TRUE(torch::equal(p.detach(), torch::tensor({0.75, 0.5, 2.0}, torch::kDouble)));
}

TEST(HybridSignSGD, RejectsBadOptionsNamingFieldAndValue) {
  auto p = torch::zeros({2}, torch::requires_grad());
  auto message = [&](HybridSignSGDOptions o) {
    try {
      HybridSignSGD opt({p}, o);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(HybridSignSGDOptions(-1)), "HybridSignSGDOptions: lr must be > 0, got -1");
  EXPECT_EQ(message(HybridSignSGDOptions(1e-4).beta2(1)), "HybridSignSGDOptions: beta2 must be in [0, 1), got 1");
  EXPECT_EQ(
      message(HybridSignSGDOptions(1e-4).switch_at_step(0)),
      "HybridSignSGDOptions: switch_step must be > 0 with the step trigger, got 0");
  EXPECT_NE(
      message(HybridSignSGDOptions(1e-4).trigger(SwitchTrigger::Epoch).switch_epoch(3)).find("steps_per_epoch"),
      std::string::npos);
  EXPECT_EQ(message(HybridSignSGDOptions(1e-4)), "no error");
}

} // namespace
} // namespace signopt::test

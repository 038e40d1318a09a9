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
      });
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithStepTrigger) {
  expect_hybrid_golden("hybrid_step3", HybridSignSGDOptions(0.01).beta1(0.9).beta2(0.999).eps(1e-8).switch_at_step(3));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryPerTensorWithPostSwitchMomentum) {
  expect_hybrid_golden(
      "hybrid_pertensor_mom",
      HybridSignSGDOptions(0.01)
          .switch_at_step(3)
          .calibration(Calibration::PerTensor)
          .post_switch_momentum(0.9)
          .weight_decay(1e-3));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithHandover) {
  expect_hybrid_golden("hybrid_handover", HybridSignSGDOptions(0.01).beta2(0.9).switch_at_step(2).handover_steps(3));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithAutoTrigger) {
  expect_hybrid_golden("hybrid_auto", HybridSignSGDOptions(0.01).beta2(0.5).switch_auto(0.3));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithDither) {
  expect_hybrid_golden("hybrid_dither", HybridSignSGDOptions(0.01).switch_at_step(4).dither(DitherOptions().seed(2)));
}

TEST(HybridSignSGD, MatchesGoldenTrajectoryWithoutBiasCorrection) {
  expect_hybrid_golden("hybrid_nobias", HybridSignSGDOptions(0.01).switch_at_step(3).bias_correction(false));
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
  HybridSignSGD opt({p}, HybridSignSGDOptions(0.1).beta1(0).beta2(0.9).eps(0).switch_never());
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

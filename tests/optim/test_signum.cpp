// Signum: golden trajectories (plain, decoupled decay, every dither mix) and Signum(0) == SignSGD.
#include "support/golden.h"
#include "support/problems.h"

#include <gtest/gtest.h>

namespace signopt::test {
namespace {

std::unique_ptr<torch::optim::Optimizer> make_signum(std::vector<torch::Tensor> p, SignumOptions o) {
  return std::make_unique<Signum>(std::move(p), o);
}

TEST(Signum, MatchesGoldenTrajectory) {
  expect_golden("signum", [](auto p) { return make_signum(p, SignumOptions(0.01).momentum(0.9).weight_decay(5e-4)); });
}

TEST(Signum, MatchesGoldenTrajectoryWithDecoupledWeightDecay) {
  expect_golden("signum_decoupled", [](auto p) {
    return make_signum(p, SignumOptions(0.01).momentum(0.5).weight_decay(0.1).decoupled_weight_decay(true));
  });
}

TEST(Signum, MatchesGoldenTrajectoryWithDefaultDither) {
  expect_golden("signum_dither_default", [](auto p) {
    return make_signum(p, SignumOptions(0.01).momentum(0.9).dither(DitherOptions().seed(1)));
  });
}

TEST(Signum, MatchesGoldenTrajectoryWithMax3SigmaLinearDither) {
  expect_golden("signum_dither_max3sigma_linear", [](auto p) {
    return make_signum(
        p,
        SignumOptions(0.01).dither(DitherOptions()
                                       .alpha(2)
                                       .scale(DitherScale::Max3Sigma)
                                       .schedule(DitherSchedule::Linear)
                                       .alpha_min(0.1)
                                       .horizon(4)
                                       .seed(3)));
  });
}

TEST(Signum, MatchesGoldenTrajectoryWithMeanAbsCosineGradientDither) {
  expect_golden("signum_dither_meanabs_cosine_grad", [](auto p) {
    return make_signum(
        p,
        SignumOptions(0.01).dither(DitherOptions()
                                       .alpha(1.5)
                                       .scale(DitherScale::MeanAbs)
                                       .schedule(DitherSchedule::Cosine)
                                       .alpha_min(0)
                                       .horizon(5)
                                       .target(DitherTarget::Gradient)
                                       .seed(11)));
  });
}

TEST(Signum, MatchesGoldenTrajectoryWithExponentialDitherOnAnotherStream) {
  expect_golden("signum_dither_rms_exponential_stream", [](auto p) {
    return make_signum(
        p,
        SignumOptions(0.01).dither(
            DitherOptions().schedule(DitherSchedule::Exponential).decay_rate(0.8).seed(5).stream(2)));
  });
}

TEST(Signum, MatchesGoldenTrajectoryWithA64BitSeed) {
  expect_golden("signum_dither_bigseed", [](auto p) {
    return make_signum(p, SignumOptions(0.01).dither(DitherOptions().seed(0x123456789ABCDEF0ull)));
  });
}

TEST(Signum, MatchesGoldenTrajectoryWithTheThresholdDraw) {
  expect_golden("signum_dither_threshold", [](auto p) {
    return make_signum(p, SignumOptions(0.01).momentum(0.9).dither(DitherOptions().seed(13).draw(DitherDraw::Threshold)));
  });
}

TEST(Signum, MatchesGoldenTrajectoryWithTheUniformThresholdDrawOnTheGradient) {
  expect_golden("signsgd_dither_threshold_uniform_grad", [](auto p) {
    return make_signum(
        p,
        SignumOptions(0.01).momentum(0).dither(DitherOptions()
                                                   .alpha(0.8)
                                                   .scale(DitherScale::Absolute)
                                                   .schedule(DitherSchedule::Constant)
                                                   .distribution(DitherDistribution::Uniform)
                                                   .target(DitherTarget::Gradient)
                                                   .draw(DitherDraw::Threshold)
                                                   .seed(21)));
  });
}

TEST(Signum, ZeroMomentumIsExactlySignSGD) {
  for (bool dithered : {false, true}) {
    auto a = random_params(8);
    auto b = random_params(8);
    std::optional<DitherOptions> dither;
    if (dithered) {
      dither = DitherOptions().seed(4).target(DitherTarget::Gradient);
    }
    Signum signum(a, SignumOptions(0.02).momentum(0).weight_decay(0.01).dither(dither));
    SignSGD sign_sgd(b, SignSGDOptions(0.02).weight_decay(0.01).dither(dither));
    for (int s = 1; s <= 8; ++s) {
      for (size_t i = 0; i < a.size(); ++i) {
        a[i].mutable_grad() = replay_grad(a[i], 9, s, static_cast<int64_t>(i));
        b[i].mutable_grad() = a[i].grad().clone();
      }
      signum.step();
      sign_sgd.step();
    }
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(torch::equal(a[i].detach(), b[i].detach())) << "dithered=" << dithered << " parameter " << i;
    }
  }
}

TEST(Signum, RejectsMomentumOutsideUnitInterval) {
  auto p = torch::zeros({2}, torch::requires_grad());
  try {
    Signum opt({p}, SignumOptions(1e-3).momentum(1.0));
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "SignumOptions: momentum must be in [0, 1), got 1");
  }
}

TEST(Signum, IssueApiExamplesCompile) {
  auto p = torch::zeros({4}, torch::requires_grad());
  std::vector<torch::Tensor> params{p};
  signopt::SignSGD a(params, signopt::SignSGDOptions(0.01));
  signopt::Signum b(params, signopt::SignumOptions(1e-4).momentum(0.9).weight_decay(5e-4));
  signopt::Signum c(params, signopt::SignumOptions(1e-4).dither(signopt::DitherOptions().seed(1)));
  signopt::SignSGD d(
      params,
      signopt::SignSGDOptions(1.0).dither(signopt::DitherOptions()
                                              .alpha(0.5)
                                              .scale(signopt::DitherScale::Absolute)
                                              .schedule(signopt::DitherSchedule::Constant)
                                              .seed(7)));
  signopt::HybridSignSGD e(
      params, signopt::HybridSignSGDOptions(1e-4).beta1(0.9).beta2(0.999).eps(1e-8).switch_at_step(30));
  signopt::EFSignSGD f(params, signopt::EFSignSGDOptions(0.05));
  signopt::Lion g(params, signopt::LionOptions(1e-4).beta1(0.9).beta2(0.99).weight_decay(0.01));
  EXPECT_TRUE(static_cast<const SignumOptions&>(c.defaults()).dither().has_value());
  EXPECT_EQ(static_cast<const SignSGDOptions&>(d.defaults()).dither()->seed(), 7u);
  EXPECT_EQ(static_cast<const HybridSignSGDOptions&>(e.defaults()).trigger(), SwitchTrigger::Step);
}

} // namespace
} // namespace signopt::test

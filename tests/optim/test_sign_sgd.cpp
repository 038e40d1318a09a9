// SignSGD: golden trajectories, the exact step, sign dynamics and option checks.
#include "support/golden.h"
#include "support/problems.h"

#include <gtest/gtest.h>

namespace signopt::test {
namespace {

std::unique_ptr<torch::optim::Optimizer> make_sign_sgd(std::vector<torch::Tensor> p, SignSGDOptions o) {
  return std::make_unique<SignSGD>(std::move(p), o);
}

TEST(SignSGD, MatchesGoldenTrajectory) {
  expect_golden("signsgd", [](auto p) { return make_sign_sgd(p, SignSGDOptions(0.01)); });
}

TEST(SignSGD, MatchesGoldenTrajectoryWithCoupledWeightDecay) {
  expect_golden("signsgd_wd", [](auto p) { return make_sign_sgd(p, SignSGDOptions(0.01).weight_decay(0.1)); });
}

TEST(SignSGD, MatchesGoldenTrajectoryWithUniformGradientDither) {
  expect_golden("signsgd_dither_abs_uniform_grad", [](auto p) {
    return make_sign_sgd(
        p,
        SignSGDOptions(0.01).dither(DitherOptions()
                                        .alpha(0.5)
                                        .scale(DitherScale::Absolute)
                                        .schedule(DitherSchedule::Constant)
                                        .distribution(DitherDistribution::Uniform)
                                        .target(DitherTarget::Gradient)
                                        .seed(7)));
  });
}

TEST(SignSGD, MovesEveryCoordinateByExactlyLrAndLeavesZeroGradientsAlone) {
  auto p = torch::tensor({0.5, -0.25, 2.0, 1.0}, torch::kDouble).requires_grad_(true);
  SignSGD opt({p}, SignSGDOptions(0.125));
  p.mutable_grad() = torch::tensor({3.0, -1e-9, 0.0, -7.0}, torch::kDouble);
  opt.step();
  EXPECT_TRUE(torch::equal(p.detach(), torch::tensor({0.375, -0.125, 2.0, 1.125}, torch::kDouble)));
}

// With a constant lr sign descent reaches a ball of radius lr around the optimum and stays there.
TEST(SignSGD, ConstantLrStaysInABallOfRadiusLrAroundTheOptimum) {
  Quadratic problem(30);
  auto x = torch::zeros({30}, torch::kDouble).requires_grad_(true);
  const double lr = 0.01;
  SignSGD opt({x}, SignSGDOptions(lr));
  const int reach = static_cast<int>(problem.c.abs().max().item<double>() / lr) + 2;
  for (int s = 1; s <= reach + 200; ++s) {
    x.mutable_grad() = problem.grad(x.detach());
    opt.step();
    if (s >= reach) {
      ASSERT_LE((x.detach() - problem.c).abs().max().item<double>(), lr * (1 + 1e-9)) << "step " << s;
    }
  }
}

TEST(SignSGD, RejectsBadOptionsNamingFieldAndValue) {
  auto p = torch::zeros({2}, torch::requires_grad());
  auto message = [&](SignSGDOptions o) {
    try {
      SignSGD opt({p}, o);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(SignSGDOptions(-1)), "SignSGDOptions: lr must be > 0, got -1");
  EXPECT_EQ(message(SignSGDOptions(0.1).weight_decay(-0.5)), "SignSGDOptions: weight_decay must be >= 0, got -0.5");
  EXPECT_NE(
      message(SignSGDOptions(0.1).dither(DitherOptions().schedule(DitherSchedule::Linear))).find("horizon must be > 0"),
      std::string::npos);
  EXPECT_EQ(
      message(SignSGDOptions(0.1).dither(DitherOptions().alpha(-2))),
      "SignSGDOptions dither: alpha must be >= 0, got -2");
}

TEST(SignSGD, ThrowPolicyReportsTheParameterAndChangesNothing) {
  auto a = torch::ones({3}, torch::kDouble).requires_grad_(true);
  auto b = torch::ones({2}, torch::kDouble).requires_grad_(true);
  SignSGD opt({a, b}, SignSGDOptions(0.1).nonfinite(NonFinitePolicy::Throw));
  a.mutable_grad() = torch::ones({3}, torch::kDouble);
  b.mutable_grad() = torch::tensor({1.0, std::nan("")}, torch::kDouble);
  try {
    opt.step();
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("parameter 1"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(torch::equal(a.detach(), torch::ones({3}, torch::kDouble)));
  EXPECT_EQ(opt.skipped_steps(), 0);
}

} // namespace
} // namespace signopt::test

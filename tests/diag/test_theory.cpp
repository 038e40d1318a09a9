// The small-batch theory helpers against the values in algorithms.md section 6.
#include <signopt/diag/theory.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace signopt::theory {
namespace {

TEST(Theory, WrongSignBoundAndGaussianProbabilityMatchTheSpec) {
  const double snr[] = {0.5, 1, 2, 3};
  const double bound[] = {0.3557, 0.2113, 0.0556, 0.0247};
  const double gaussian[] = {0.3085, 0.1587, 0.0228, 0.00135};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(gauss_wrong_sign_bound(snr[i]), bound[i], 5e-5) << "S = " << snr[i];
    EXPECT_NEAR(gaussian_wrong_sign_probability(snr[i]), gaussian[i], 5e-5) << "S = " << snr[i];
    EXPECT_LE(gaussian_wrong_sign_probability(snr[i]), gauss_wrong_sign_bound(snr[i]));
  }
}

TEST(Theory, BothBranchesGiveOneSixthAtTheThreshold) {
  const double t = 2.0 / std::sqrt(3.0);
  EXPECT_NEAR(gauss_wrong_sign_bound(t), 1.0 / 6.0, 1e-15);
  EXPECT_NEAR(gauss_wrong_sign_bound(std::nextafter(t, 10.0)), 1.0 / 6.0, 1e-12);
  EXPECT_NEAR(success_margin(t), 2.0 / 3.0, 1e-15);
  EXPECT_NEAR(success_margin(std::nextafter(t, 10.0)), 2.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(gauss_wrong_sign_bound(0), 0.5);
}

TEST(Theory, SuccessMarginBoundsOneMinusTwiceTheWrongSignBound) {
  for (double s = 0.01; s < 6; s += 0.01) {
    EXPECT_NEAR(success_margin(s), 1 - 2 * gauss_wrong_sign_bound(s), 1e-12) << s;
  }
}

TEST(Theory, SnrWeightedMeasureSumsAbsGradientTimesPhi) {
  const auto g = torch::tensor({1.0, -2.0, 0.5, 3.0});
  const auto sigma = torch::tensor({2.0, 1.0, 0.0, 1.0});
  const double expected = 1.0 * (0.5 / std::sqrt(3.0)) + 2.0 * (1 - 4.0 / (9 * 4)) + 0.5 * 1.0 + 3.0 * (1 - 4.0 / 81);
  EXPECT_NEAR(snr_weighted_measure(g, sigma), expected, 1e-6);
  EXPECT_THROW(snr_weighted_measure(g, torch::ones({3})), std::invalid_argument);
  EXPECT_THROW(gauss_wrong_sign_bound(-1), std::invalid_argument);
}

TEST(Theory, DitherExpectationAndStationarityBound) {
  EXPECT_NEAR(dithered_sign_expectation_gaussian(1.0, 1.0), 0.68269, 1e-5);
  EXPECT_DOUBLE_EQ(dithered_sign_expectation_uniform(3.0, 2.0), 1.0);
  EXPECT_DOUBLE_EQ(dithered_sign_expectation_uniform(-1.0, 2.0), -0.5);
  EXPECT_DOUBLE_EQ(sign_sgd_stationarity_bound(4.0, 16, 1.5), 0.5 * 2.0); // sqrt(4 / 16) * (1.5 + 0.5)
}

} // namespace
} // namespace signopt::theory

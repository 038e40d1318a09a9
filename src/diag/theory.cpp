// The small-batch theory helpers of algorithms.md section 6.
#include <signopt/diag/theory.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace signopt::theory {
namespace {

const double kSqrt3 = std::sqrt(3.0);
const double kThreshold = 2.0 / std::sqrt(3.0);

void check_snr(double snr) {
  if (!(snr >= 0)) {
    throw std::invalid_argument("signopt::theory: SNR must be >= 0, got " + std::to_string(snr));
  }
}

} // namespace

double gauss_wrong_sign_bound(double snr) {
  check_snr(snr);
  if (snr > kThreshold) {
    return 2.0 / (9.0 * snr * snr);
  }
  return 0.5 - snr / (2.0 * kSqrt3);
}

double gaussian_wrong_sign_probability(double snr) {
  check_snr(snr);
  return 0.5 * std::erfc(snr / std::sqrt(2.0));
}

double success_margin(double snr) {
  check_snr(snr);
  if (std::isinf(snr)) {
    return 1.0;
  }
  if (snr <= kThreshold) {
    return snr / kSqrt3;
  }
  return 1.0 - 4.0 / (9.0 * snr * snr);
}

double snr_weighted_measure(const torch::Tensor& g_in, const torch::Tensor& sigma_in) {
  if (g_in.numel() != sigma_in.numel()) {
    throw std::invalid_argument(
        "signopt::theory::snr_weighted_measure: g has " + std::to_string(g_in.numel()) + " elements but sigma has " +
        std::to_string(sigma_in.numel()));
  }
  const auto g = g_in.to(torch::kDouble).contiguous().view(-1);
  const auto sigma = sigma_in.to(torch::kDouble).contiguous().view(-1);
  const double* gd = g.data_ptr<double>();
  const double* sd = sigma.data_ptr<double>();
  double total = 0.0;
  for (int64_t i = 0; i < g.numel(); ++i) {
    const double a = std::abs(gd[i]);
    if (sd[i] < 0) {
      throw std::invalid_argument(
          "signopt::theory::snr_weighted_measure: sigma must be >= 0, got " + std::to_string(sd[i]) + " at index " +
          std::to_string(i));
    }
    const double snr = sd[i] == 0 ? std::numeric_limits<double>::infinity() : a / sd[i];
    total += a * (a == 0 ? 0.0 : success_margin(snr));
  }
  return total;
}

double dithered_sign_expectation_gaussian(double x, double s) {
  if (s <= 0) {
    return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0);
  }
  return std::erf(x / (s * std::sqrt(2.0)));
}

double dithered_sign_expectation_uniform(double x, double s) {
  if (s <= 0) {
    return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0);
  }
  return std::clamp(x / s, -1.0, 1.0);
}

double sign_sgd_stationarity_bound(double l1_smoothness, int64_t steps, double initial_gap) {
  if (steps <= 0 || l1_smoothness < 0) {
    throw std::invalid_argument("signopt::theory::sign_sgd_stationarity_bound: need steps > 0 and ||L||_1 >= 0");
  }
  return std::sqrt(l1_smoothness / static_cast<double>(steps)) * (initial_gap + 0.5);
}

} // namespace signopt::theory

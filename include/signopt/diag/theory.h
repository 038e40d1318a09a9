// The paper's small-batch theory (algorithms.md section 6) as plain functions, for diagnostics and tests.
#pragma once

#include <torch/types.h>

namespace signopt::theory {

/// Gauss-inequality bound on P(sign(g_hat_i) != sign(g_i)) for unimodal symmetric noise at
/// signal-to-noise ratio S = |g_i| / sigma_i >= 0:
/// 2 / (9 S^2) for S > 2/sqrt(3), else 1/2 - S / (2 sqrt(3)).
double gauss_wrong_sign_bound(double snr);

/// Exact wrong-sign probability for Gaussian noise: 0.5 * erfc(S / sqrt(2)).
double gaussian_wrong_sign_probability(double snr);

/// The success-margin lower bound phi(S) <= 1 - 2 q: S / sqrt(3) for S <= 2/sqrt(3), else 1 - 4 / (9 S^2).
double success_margin(double snr);

/// SNR-weighted stationarity measure Phi(g) = sum_i |g_i| phi(|g_i| / sigma_i), where sigma_i = 0
/// counts as infinite SNR (phi = 1). g and sigma have equal numel.
double snr_weighted_measure(const torch::Tensor& g, const torch::Tensor& sigma);

/// E[sign(x + s xi)] for xi ~ N(0, 1): erf(x / (s sqrt 2)); for uniform noise on [-s, s]: clip(x / s, -1, 1).
double dithered_sign_expectation_gaussian(double x, double s);
double dithered_sign_expectation_uniform(double x, double s);

/// The constant-lr SignSGD bound on (1/K) sum_k E Phi(g_k): sqrt(||L||_1 / K) (f_0 - f_* + 1/2).
double sign_sgd_stationarity_bound(double l1_smoothness, int64_t steps, double initial_gap);

} // namespace signopt::theory

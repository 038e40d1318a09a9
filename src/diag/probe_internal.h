// Helpers shared by the noise probe, the running noise monitor and the shape tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace signopt::diag::detail {

/// The knee of the Gauss bound, S = 2 / sqrt 3.
inline const double kKnee = 2.0 / std::sqrt(3.0);
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// phi(S) = 1 - 2 q_max(S) from Gauss's bound on the wrong-sign probability (algorithms.md section 6).
inline double phi_of(double snr) {
  if (std::isinf(snr))
    return 1.0;
  return snr <= kKnee ? snr / std::sqrt(3.0) : 1.0 - 4.0 / (9.0 * snr * snr);
}

/// |mean| / std, +inf when std = 0 and mean != 0, 0 when both are 0.
inline double snr_of(double mean, double std) {
  if (std == 0)
    return mean == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::abs(mean) / std;
}

/// Uniform in (0, 1) from 53 random bits, never 0 (for logarithms).
inline double open_uniform(std::mt19937_64& rng) {
  return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53;
}

/// N(0, 1) by Box-Muller, one value per pair of uniforms: simple and portable (std::normal_distribution is not).
inline double standard_normal(std::mt19937_64& rng) {
  const double u1 = open_uniform(rng), u2 = open_uniform(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

} // namespace signopt::diag::detail

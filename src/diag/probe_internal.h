// Helpers shared by the noise probe and the running noise monitor.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
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

} // namespace signopt::diag::detail

// Dither noise from Philox bits in float32 with fixed-operation-order approximations of log, sin/cos
// and the normal quantile, so the scalar reference, the vectorized CPU kernels and CUDA produce identical bits: the
// additive draws (Gaussian by Box-Muller, uniform) and the threshold draw's levels (docs/optimizers.md,
// "The threshold draw").
// Code using these functions must be compiled without floating-point contraction (-ffp-contract=off).
#pragma once

#include <signopt/kernels/philox.h>

#include <cmath>
#include <cstdint>
#include <cstring>

namespace signopt::kernels {

SIGNOPT_HOST_DEVICE float bits_to_float(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

SIGNOPT_HOST_DEVICE uint32_t float_to_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

/// Natural log of u in [2^-24, 1] (Cephes logf's polynomial, every operation rounded separately).
SIGNOPT_HOST_DEVICE float noise_log(float u) {
  const uint32_t bits = float_to_bits(u);
  int e = static_cast<int>(bits >> 23) - 126; // u = m * 2^e, m in [0.5, 1)
  const float m = bits_to_float((bits & 0x007fffffu) | 0x3f000000u);
  const bool low = m < 0.707106781186547524f;
  e = low ? e - 1 : e;
  const float x = low ? (m + m) - 1.0f : m - 1.0f;
  const float z = x * x;
  float y = 7.0376836292E-2f;
  y = y * x + -1.1514610310E-1f;
  y = y * x + 1.1676998740E-1f;
  y = y * x + -1.2420140846E-1f;
  y = y * x + 1.4249322787E-1f;
  y = y * x + -1.6668057665E-1f;
  y = y * x + 2.0000714765E-1f;
  y = y * x + -2.4999993993E-1f;
  y = y * x + 3.3333331174E-1f;
  y = y * x;
  y = y * z;
  const float fe = static_cast<float>(e);
  y = y + -2.12194440e-4f * fe;
  y = y + -0.5f * z;
  float r = x + y;
  r = r + 0.693359375f * fe;
  return r;
}

/// sin(2 pi u) and cos(2 pi u) for u in [0, 1): quadrant reduction, Cephes polynomials on [-pi/4, pi/4].
SIGNOPT_HOST_DEVICE void noise_sincos_2pi(float u, float* sin_out, float* cos_out) {
  const float w = u * 4.0f; // exact
  const int n = static_cast<int>(w + 0.5f); // nearest quadrant, 0..4
  const float t = w - static_cast<float>(n); // exact, in [-0.5, 0.5]
  const float a = t * 1.57079632679489661923f;
  const float z = a * a;
  float ps = -1.9515295891E-4f;
  ps = ps * z + 8.3321608736E-3f;
  ps = ps * z + -1.6666654611E-1f;
  float s = ps * z;
  s = s * a;
  s = s + a;
  float pc = 2.443315711809948E-5f;
  pc = pc * z + -1.388731625493765E-3f;
  pc = pc * z + 4.166664568298827E-2f;
  float c = pc * z;
  c = c * z;
  c = c - 0.5f * z;
  c = c + 1.0f;
  const int q = n & 3;
  *sin_out = q == 0 ? s : (q == 1 ? c : (q == 2 ? -s : -c));
  *cos_out = q == 0 ? c : (q == 1 ? -s : (q == 2 ? -c : s));
}

/// The 24 high bits of x as k * 2^-24 in [0, 1) (exact in float).
SIGNOPT_HOST_DEVICE float noise_uniform24(uint32_t x) {
  return static_cast<float>(x >> 8) * 5.9604644775390625e-8f;
}

/// Four standard normals from one Philox block: Box-Muller on lanes (0, 1) and (2, 3);
/// u1 = ((x_even >> 8) + 1) 2^-24 in (0, 1], u2 = (x_odd >> 8) 2^-24; even lane r cos, odd lane r sin.
SIGNOPT_HOST_DEVICE void noise_gaussian4(const PhiloxBlock& b, float out[4]) {
  for (int pair = 0; pair < 4; pair += 2) {
    const float u1 = static_cast<float>((b.x[pair] >> 8) + 1u) * 5.9604644775390625e-8f;
    const float u2 = noise_uniform24(b.x[pair + 1]);
    const float r = std::sqrt(-2.0f * noise_log(u1));
    float s, c;
    noise_sincos_2pi(u2, &s, &c);
    out[pair] = r * c;
    out[pair + 1] = r * s;
  }
}

/// Four uniforms on [-1, 1) from one Philox block: (x >> 8) 2^-23 - 1 per lane (exact).
SIGNOPT_HOST_DEVICE void noise_uniform4(const PhiloxBlock& b, float out[4]) {
  for (int lane = 0; lane < 4; ++lane) {
    out[lane] = static_cast<float>(b.x[lane] >> 8) * 1.1920928955078125e-7f - 1.0f;
  }
}

/// What a noise buffer holds per element: unit noise added before the sign (Gaussian or uniform on
/// [-1, 1)), or the threshold draw's level t of the element's 16 random bits (gaussian_level, uniform_level).
enum class NoiseKind : int { Gaussian = 0, Uniform = 1, ThresholdGaussian = 2, ThresholdUniform = 3 };

/// The threshold draw's uniform from 16 random bits k: v = (k + 1/2) 2^-16 = (2k + 1) 2^-17 (exact).
SIGNOPT_HOST_DEVICE float threshold_uniform(uint32_t k16) {
  return static_cast<float>(2u * k16 + 1u) * 7.62939453125e-6f;
}

/// The threshold draw's 16 random bits of element e of a Philox block (e in [0, 8)): word e / 2, its low half for
/// even e and its high half for odd e.
SIGNOPT_HOST_DEVICE uint32_t threshold_bits(const PhiloxBlock& b, int e) {
  return (b.x[e >> 1] >> (16 * (e & 1))) & 0xffffu;
}

/// The degree of gaussian_level's polynomials.
constexpr int kGaussianLevelDegree = 5;

/// The coefficients of w^j in gaussian_level's polynomials: entry `row` (0..15) is the octave whose biased float32
/// exponent is 16 q + row. Chebyshev interpolants of Q^{-1} on each octave, rounded to float32.
SIGNOPT_HOST_DEVICE const float* gaussian_level_row(int j) {
  // One row per power of w, six octaves per line.
  // clang-format off
  static constexpr float kCoeff[kGaussianLevelDegree + 1][16] = {
      {3.91195488f, 3.74125433f, 3.56330967f, 3.37714791f, 3.18156171f, 2.97502279f,
       2.7555511f, 2.52050447f, 2.26622915f, 1.98743045f, 1.67594254f, 1.31801391f,
       0.887149751f, 0.318642706f, 4.23467731f, 4.07620811f},
      {-0.16096656f, -0.167526335f, -0.174929574f, -0.183370113f, -0.193109423f, -0.204510078f,
       -0.218091473f, -0.234628201f, -0.255334616f, -0.282241791f, -0.319054633f, -0.373417616f,
       -0.464415938f, -0.659298122f, -0.149822816f, -0.155103296f},
      {0.0505513959f, 0.0523667969f, 0.0543823466f, 0.0566358007f, 0.0591749512f, 0.0620609075f,
       0.0653722286f, 0.0692095011f, 0.0736975372f, 0.0789727867f, 0.0851030424f, 0.0916793346f,
       0.0954414532f, 0.0690148547f, 0.0474063382f, 0.0489060171f},
      {-0.021855304f, -0.0226012841f, -0.0234252661f, -0.0243412033f, -0.0253666062f, -0.0265237f,
       -0.0278409962f, -0.0293554291f, -0.0311151743f, -0.0331833512f, -0.0356447026f, -0.038640447f,
       -0.0427689627f, -0.0572352521f, -0.0205544662f, -0.021176083f},
      {0.0121144811f, 0.0125130527f, 0.0129517699f, 0.0134375514f, 0.0139790215f, 0.0145870484f,
       0.0152754867f, 0.0160621814f, 0.0169703346f, 0.0180302318f, 0.0192811415f, 0.020770805f,
       0.0224976391f, 0.021519836f, 0.0114163412f, 0.0117504429f},
      {-0.00657558255f, -0.00678702164f, -0.00701926649f, -0.00727582024f, -0.00756102987f, -0.00788035057f,
       -0.00824070349f, -0.00865097065f, -0.00912266318f, -0.00967080519f, -0.0103150206f, -0.0110807801f,
       -0.012007609f, -0.0141076231f, -0.00620421767f, -0.00638209656f},
  };
  // clang-format on
  return kCoeff[j];
}

/// The Gaussian threshold level of 16 random bits k: t ~ Q^{-1}(v) (Q(a) = P(xi > a) for a standard normal xi)
/// with v = threshold_uniform(k), for v < 1/2 (k < 2^15); 0 for v > 1/2 (no flip: Q(a) <= 1/2 for every a >= 0).
/// v = 2^E (1.5 + w) with E in [-17, -2] and w in [-0.5, 0.5) (both exact); t = a degree-5 polynomial in w with
/// the coefficients of v's octave (gaussian_level_row), picked by the low 4 bits of v's biased exponent
/// (110..125 for the 16 octaves), by Horner with every operation rounded separately. The largest error over the
/// 2^15 levels is 4.02e-6 (at v = 2^-2 + 2^-17; tests/kernels/test_threshold_draw.cpp bounds it by 4.1e-6), so a
/// flip probability differs from the exact 16-bit one only for |x| / s within 4.1e-6 of a level, by one level
/// (2^-16).
SIGNOPT_HOST_DEVICE float gaussian_level(uint32_t k16) {
  const uint32_t bits = float_to_bits(threshold_uniform(k16));
  const uint32_t row = (bits >> 23) & 15u;
  const float w = bits_to_float((bits & 0x007fffffu) | 0x3f800000u) - 1.5f;
  float t = gaussian_level_row(kGaussianLevelDegree)[row];
  for (int j = kGaussianLevelDegree - 1; j >= 0; --j) {
    t = t * w + gaussian_level_row(j)[row];
  }
  return k16 < 0x8000u ? t : 0.0f;
}

/// The uniform-dither threshold level of 16 random bits k: 1 - 2v with v = threshold_uniform(k) (exact; negative
/// for v > 1/2): |x| / s < 1 - 2v exactly when v < (1 - |x| / s) / 2 = P(xi < -|x| / s) for xi uniform on [-1, 1].
SIGNOPT_HOST_DEVICE float uniform_level(uint32_t k16) {
  return 1.0f - static_cast<float>(2u * k16 + 1u) * 1.52587890625e-5f;
}

/// The threshold level of 16 random bits k for Gaussian (gaussian_level) or uniform (uniform_level) dither.
SIGNOPT_HOST_DEVICE float threshold_level(uint32_t k16, bool gaussian) {
  return gaussian ? gaussian_level(k16) : uniform_level(k16);
}

/// The threshold levels of element group `group` (elements 4 group .. 4 group + 3): element e takes Philox
/// block e / 8 and threshold_bits(block, e % 8).
SIGNOPT_HOST_DEVICE void threshold_level4(const PhiloxBlock& b, uint64_t group, bool gaussian, float out[4]) {
  const int e0 = static_cast<int>(group % 2) * 4;
  for (int lane = 0; lane < 4; ++lane) {
    out[lane] = threshold_level(threshold_bits(b, e0 + lane), gaussian);
  }
}

/// The unit noise (or threshold levels) of element group `group`: elements [4 group, 4 group + 4).
SIGNOPT_HOST_DEVICE void unit_noise4(const DrawKey& key, uint64_t group, NoiseKind kind, float out[4]) {
  if (kind == NoiseKind::ThresholdGaussian || kind == NoiseKind::ThresholdUniform) {
    threshold_level4(key.block(group / 2), group, kind == NoiseKind::ThresholdGaussian, out);
  } else if (kind == NoiseKind::Gaussian) {
    noise_gaussian4(key.block(group), out);
  } else {
    noise_uniform4(key.block(group), out);
  }
}

/// The threshold draw of sign(x + s xi) (xi standard normal or uniform on [-1, 1]) from a = |x| / s (float;
/// +inf for s = 0) and the element's level t (threshold_level): the sign of x, flipped when a < t, which has
/// probability P(v < P(xi < -a)) for the element's uniform v. x = 0 with s > 0 gives +1 or -1 with probability
/// 1/2 each; x = 0 with s = 0 and NaN x give 0.
template <typename T>
SIGNOPT_HOST_DEVICE T threshold_sign(T x, float a, float t) {
  const T s = x < T(0) ? T(-1) : T(1);
  const T u = a < t ? -s : s;
  return a != a ? T(0) : u;
}

} // namespace signopt::kernels

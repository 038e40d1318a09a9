// Dither noise from Philox bits in float32 with fixed-operation-order approximations of log, sin/cos
// and exp, so the scalar reference, the vectorized CPU kernels and CUDA produce identical bits: the
// additive draws (Gaussian by Box-Muller, uniform) and the threshold draw's uniforms and tail
// probabilities (docs/optimizers.md, "The threshold draw").
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
/// [-1, 1)), or the threshold draw's uniform v in (0, 1) (16 bits per element).
enum class NoiseKind : int { Gaussian = 0, Uniform = 1, Threshold = 2 };

/// The threshold draw's uniform from 16 random bits k: v = (k + 1/2) 2^-16 = (2k + 1) 2^-17 (exact).
SIGNOPT_HOST_DEVICE float threshold_uniform(uint32_t k16) {
  return static_cast<float>(2u * k16 + 1u) * 7.62939453125e-6f;
}

/// The threshold draw's four uniforms of element group `group` (elements 4 group .. 4 group + 3): element e
/// takes Philox block e / 8, word (e % 8) / 2, its low 16 bits for even e and high 16 bits for odd e.
SIGNOPT_HOST_DEVICE void threshold_uniform4(const PhiloxBlock& b, uint64_t group, float out[4]) {
  const int w = static_cast<int>(group % 2) * 2;
  out[0] = threshold_uniform(b.x[w] & 0xffffu);
  out[1] = threshold_uniform(b.x[w] >> 16);
  out[2] = threshold_uniform(b.x[w + 1] & 0xffffu);
  out[3] = threshold_uniform(b.x[w + 1] >> 16);
}

/// The unit noise (or threshold uniforms) of element group `group`: elements [4 group, 4 group + 4).
SIGNOPT_HOST_DEVICE void unit_noise4(const DrawKey& key, uint64_t group, NoiseKind kind, float out[4]) {
  if (kind == NoiseKind::Threshold) {
    threshold_uniform4(key.block(group / 2), group, out);
  } else if (kind == NoiseKind::Gaussian) {
    noise_gaussian4(key.block(group), out);
  } else {
    noise_uniform4(key.block(group), out);
  }
}

/// exp(y) for y in [-80, 0] (Cephes expf's reduction and polynomial, every operation rounded separately):
/// n = y log2(e) rounded to nearest (even) by adding 1.5 * 2^23, which also leaves n in the sum's low
/// mantissa bits (no float-to-int conversion, so compilers vectorize it); r = y - n ln 2 in two steps
/// (Cody-Waite); e^r by a degree-5 polynomial; times 2^n through the exponent bits.
SIGNOPT_HOST_DEVICE float noise_exp(float y) {
  const float round_shift = 12582912.0f; // 1.5 * 2^23
  const float shifted = y * 1.44269504088896341f + round_shift;
  const float fn = shifted - round_shift; // exact
  const uint32_t n = float_to_bits(shifted) - 0x4B400000u; // n in two's complement
  float r = y - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  const float z = r * r;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * z;
  p = p + r;
  p = p + 1.0f;
  return p * bits_to_float((n + 127u) << 23);
}

/// The largest |x| / s at which the threshold draw evaluates the Gaussian tail; beyond it the tail is
/// below 1.2e-19, far under the uniforms' resolution 2^-16.
constexpr float kThresholdTailClamp = 9.0f;

/// P(xi < -a) = Phi(-a) for a standard normal xi and a >= 0 (Abramowitz & Stegun 26.2.17: absolute error
/// below 7.5e-8 before rounding; the measured error of this float evaluation is in docs/optimizers.md).
SIGNOPT_HOST_DEVICE float gaussian_tail(float a) {
  a = a < kThresholdTailClamp ? a : kThresholdTailClamp;
  const float k = 1.0f / (1.0f + 0.2316419f * a);
  float poly = 1.330274429f;
  poly = poly * k + -1.821255978f;
  poly = poly * k + 1.781477937f;
  poly = poly * k + -0.356563782f;
  poly = poly * k + 0.319381530f;
  poly = poly * k;
  const float density = 0.3989422804014327f * noise_exp(-0.5f * (a * a));
  return density * poly;
}

/// P(xi < -a) for xi uniform on [-1, 1] and a >= 0: (1 - a) / 2, 0 beyond a = 1.
SIGNOPT_HOST_DEVICE float uniform_tail(float a) {
  return a < 1.0f ? (1.0f - a) * 0.5f : 0.0f;
}

/// The threshold draw of sign(x + s xi) (xi standard normal when kGaussian, else uniform on [-1, 1]) from
/// a = |x| / s (float; +inf for s = 0) and the element's uniform v: the sign of x, flipped when
/// v < P(xi < -a). x = 0 with s > 0 gives +1 or -1 with probability 1/2 each; x = 0 with s = 0 and NaN x give 0.
template <bool kGaussian, typename T>
SIGNOPT_HOST_DEVICE T threshold_sign(T x, float a, float v) {
  const float q = kGaussian ? gaussian_tail(a) : uniform_tail(a);
  const T s = x < T(0) ? T(-1) : T(1);
  const T u = v < q ? -s : s;
  return a != a ? T(0) : u;
}

} // namespace signopt::kernels

// Dither noise from Philox bits in float32 with fixed-operation-order approximations of log and
// sin/cos, so the scalar reference, the vectorized CPU kernels and CUDA produce identical bits.
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

} // namespace signopt::kernels

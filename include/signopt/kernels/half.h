// 16-bit floating-point storage (bfloat16 and IEEE float16) for the fused kernels' low-precision
// parameters: conversions to and from float32 on the bits, the same on the host and on a device, and the
// stochastic rounding of a float32 value to 16 bits. Torch-free (the kernels' core includes it).
//
// Stochastic rounding (SR) of x to a 16-bit format with random bits r: the result is one of the two
// representable neighbours of x (x itself when exact), the one further from zero with probability
// (|x| - |lo|) / (|hi| - |lo|). bfloat16 drops exactly 16 bits of a float32, so adding a 16-bit r to them
// and truncating is exact SR. float16 normals drop 13 bits: the top 13 bits of r make that exact too.
// float16 subnormals (|x| < 2^-14) have a fixed ulp of 2^-24; r is compared with the float32 fraction
// of |x| / 2^-24 in 2^-16 steps, so their rounding probability is quantized to 2^-16 (a bias below 2^-16 ulp).
// Rounding up past the largest finite value gives infinity, as round-to-nearest does past its midpoint.
// NaN becomes the quiet NaN that torch's conversion gives, infinities stay themselves.
#pragma once

#include <signopt/kernels/noise.h>
#include <signopt/kernels/philox.h>

#include <cstdint>
#include <cstring>

namespace signopt::kernels {

/// The 16-bit storage formats of the low-precision kernels.
enum class HalfType { kBFloat16, kFloat16 };

namespace half {

// The float32 bit views are kernels::float_to_bits / bits_to_float (noise.h).
using kernels::bits_to_float;
using kernels::float_to_bits;

/// bfloat16 bits -> float32 (exact).
SIGNOPT_HOST_DEVICE float bf16_to_float(uint16_t h) {
  return bits_to_float(static_cast<uint32_t>(h) << 16);
}

/// float32 -> bfloat16, round to nearest even, as torch converts (NaN -> 0x7fc0).
SIGNOPT_HOST_DEVICE uint16_t bf16_nearest(float x) {
  const uint32_t b = float_to_bits(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) {
    return 0x7fc0u;
  }
  return static_cast<uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

/// float32 -> bfloat16 by stochastic rounding with 16 random bits r (exact SR).
SIGNOPT_HOST_DEVICE uint16_t bf16_stochastic(float x, uint32_t r) {
  const uint32_t b = float_to_bits(x);
  const uint32_t magnitude = b & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) { // infinity stays, NaN becomes bf16_nearest's NaN
    return bf16_nearest(x);
  }
  return static_cast<uint16_t>((b + (r & 0xffffu)) >> 16);
}

/// float16 bits -> float32 (exact, subnormals included).
SIGNOPT_HOST_DEVICE float f16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1fu) {
    return bits_to_float(sign | 0x7f800000u | (mantissa << 13));
  }
  if (exponent == 0) {
    // mantissa * 2^-24, exact in float32
    const float v = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    return sign != 0 ? -v : v;
  }
  return bits_to_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

/// |x| -> float16 magnitude bits for a float32 magnitude that is exactly representable in float16 or too
/// large for it (then infinity): the normals' and subnormals' encodings.
SIGNOPT_HOST_DEVICE uint32_t f16_exact_magnitude(uint32_t magnitude) {
  if (magnitude >= 0x47800000u) { // >= 2^16: beyond the largest finite float16 (65504)
    return 0x7c00u;
  }
  if (magnitude >= 0x38800000u) { // >= 2^-14: a normal
    return ((magnitude >> 23) - 112u) << 10 | ((magnitude >> 13) & 0x3ffu);
  }
  // a subnormal: |x| / 2^-24 is an integer here
  return static_cast<uint32_t>(bits_to_float(magnitude) * 16777216.0f);
}

/// float32 -> float16, round to nearest even, as torch converts (NaN -> 0x7e00 with x's sign).
SIGNOPT_HOST_DEVICE uint16_t f16_nearest(float x) {
  const uint32_t b = float_to_bits(x);
  const uint32_t sign = (b >> 16) & 0x8000u;
  const uint32_t magnitude = b & 0x7fffffffu;
  if (magnitude > 0x7f800000u) {
    return static_cast<uint16_t>(sign | 0x7e00u);
  }
  if (magnitude >= 0x38800000u) { // normal range or beyond: round the 13 dropped bits to nearest even
    const uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u);
    return static_cast<uint16_t>(sign | f16_exact_magnitude(rounded & 0xffffe000u));
  }
  // subnormal range: |x| / 2^-24 rounded to the nearest integer, ties to even (exact in float32 arithmetic)
  const float q = bits_to_float(magnitude) * 16777216.0f;
  float whole = static_cast<float>(static_cast<uint32_t>(q));
  const float frac = q - whole;
  if (frac > 0.5f || (frac == 0.5f && (static_cast<uint32_t>(whole) & 1u) != 0)) {
    whole += 1.0f;
  }
  return static_cast<uint16_t>(sign | static_cast<uint32_t>(whole)); // 1024 becomes the smallest normal
}

/// float32 -> float16 by stochastic rounding with 16 random bits r (see the file comment).
SIGNOPT_HOST_DEVICE uint16_t f16_stochastic(float x, uint32_t r) {
  const uint32_t b = float_to_bits(x);
  const uint32_t sign = (b >> 16) & 0x8000u;
  const uint32_t magnitude = b & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) {
    return f16_nearest(x);
  }
  if (magnitude >= 0x38800000u) {
    const uint32_t up = magnitude + ((r & 0xffffu) >> 3);
    return static_cast<uint16_t>(sign | f16_exact_magnitude(up & 0xffffe000u));
  }
  const float q = bits_to_float(magnitude) * 16777216.0f;
  const float whole = static_cast<float>(static_cast<uint32_t>(q));
  const float frac = q - whole; // in [0, 1), exact
  const uint32_t bump = static_cast<float>(r & 0xffffu) < frac * 65536.0f ? 1u : 0u;
  return static_cast<uint16_t>(sign | (static_cast<uint32_t>(whole) + bump));
}

SIGNOPT_HOST_DEVICE float to_float(HalfType t, uint16_t h) {
  return t == HalfType::kBFloat16 ? bf16_to_float(h) : f16_to_float(h);
}

SIGNOPT_HOST_DEVICE uint16_t nearest(HalfType t, float x) {
  return t == HalfType::kBFloat16 ? bf16_nearest(x) : f16_nearest(x);
}

SIGNOPT_HOST_DEVICE uint16_t stochastic(HalfType t, float x, uint32_t r) {
  return t == HalfType::kBFloat16 ? bf16_stochastic(x, r) : f16_stochastic(x, r);
}

/// Where the rounding bits of a step sit: element e takes 16 bits of the Philox block e / 8 of `key`, word
/// (e % 8) / 2, the low half for even e. The blocks' counters have the top bit of their high word set, which
/// no dither draw reaches (those blocks count elements, and tensors hold fewer than 2^62), so the rounding
/// never reuses a dither draw's bits even with the same seed and stream.
constexpr uint64_t kRoundingBlockFlag = uint64_t{1} << 63;

/// The key of a step's rounding bits: (seed, stream 0) at counter (step, param_index).
SIGNOPT_HOST_DEVICE DrawKey rounding_key(uint64_t seed, int64_t step, int64_t param_index) {
  return DrawKey::make(seed, 0, static_cast<uint64_t>(step), static_cast<uint64_t>(param_index));
}

/// The Philox block that holds the rounding bits of elements [8 b, 8 b + 8).
SIGNOPT_HOST_DEVICE PhiloxBlock rounding_block(const DrawKey& key, int64_t b) {
  return key.block(kRoundingBlockFlag | static_cast<uint64_t>(b));
}

/// Element 8 b + k's 16 rounding bits in its block (k in [0, 8)).
SIGNOPT_HOST_DEVICE uint32_t rounding_bits_in_block(const PhiloxBlock& block, int64_t k) {
  const uint32_t word = block.x[k / 2];
  return (k % 2 == 0) ? (word & 0xffffu) : (word >> 16);
}

/// Element e's 16 rounding bits.
SIGNOPT_HOST_DEVICE uint32_t rounding_bits(const DrawKey& key, int64_t e) {
  return rounding_bits_in_block(rounding_block(key, e / 8), e % 8);
}

} // namespace half
} // namespace signopt::kernels

// AVX-512 Philox4x32-10 + Box-Muller, and the raw Philox words and Gaussian levels for the threshold draw. Every
// floating-point operation is the scalar definition's (signopt/kernels/noise.h), in the same order and separately
// rounded (no FMA), so the bits equal the reference draws; tests/kernels/test_fused.cpp compares this path with the
// scalar one.
#include "noise_avx512.h"

#include <signopt/kernels/noise.h>

#include "isa.h"

#ifdef SIGNOPT_X86_INTRINSICS
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm512_undefined_* temporaries.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define SIGNOPT_HAVE_AVX512_PATH 1
#endif

namespace signopt::kernels::detail {

bool avx512_noise_available() {
  return isa() == Isa::Avx512;
}

#ifdef SIGNOPT_HAVE_AVX512_PATH

namespace {

#define SIGNOPT_AVX512 __attribute__((target("avx512f"), always_inline)) inline

// hi and lo 32-bit halves of a * m for 16 lanes (m broadcast).
SIGNOPT_AVX512 void mulhilo(__m512i a, __m512i m, __m512i& hi, __m512i& lo) {
  const __m512i even = _mm512_mul_epu32(a, m);
  const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
  lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}

SIGNOPT_AVX512 __m512 mul(__m512 a, __m512 b) {
  return _mm512_mul_ps(a, b);
}
SIGNOPT_AVX512 __m512 add(__m512 a, __m512 b) {
  return _mm512_add_ps(a, b);
}
SIGNOPT_AVX512 __m512 set(float v) {
  return _mm512_set1_ps(v);
}
SIGNOPT_AVX512 __m512 neg(__m512 v) {
  return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32(int(0x80000000u))));
}

// noise_log, lane by lane.
SIGNOPT_AVX512 __m512 log16(__m512 u) {
  const __m512i bits = _mm512_castps_si512(u);
  __m512i e = _mm512_sub_epi32(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(126));
  const __m512 m = _mm512_castsi512_ps(
      _mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x3f000000)));
  const __mmask16 low = _mm512_cmp_ps_mask(m, set(0.707106781186547524f), _CMP_LT_OQ);
  e = _mm512_mask_sub_epi32(e, low, e, _mm512_set1_epi32(1));
  const __m512 one = set(1.0f);
  const __m512 x = _mm512_mask_blend_ps(low, _mm512_sub_ps(m, one), _mm512_sub_ps(add(m, m), one));
  const __m512 z = mul(x, x);
  __m512 y = set(7.0376836292E-2f);
  y = add(mul(y, x), set(-1.1514610310E-1f));
  y = add(mul(y, x), set(1.1676998740E-1f));
  y = add(mul(y, x), set(-1.2420140846E-1f));
  y = add(mul(y, x), set(1.4249322787E-1f));
  y = add(mul(y, x), set(-1.6668057665E-1f));
  y = add(mul(y, x), set(2.0000714765E-1f));
  y = add(mul(y, x), set(-2.4999993993E-1f));
  y = add(mul(y, x), set(3.3333331174E-1f));
  y = mul(y, x);
  y = mul(y, z);
  const __m512 fe = _mm512_cvtepi32_ps(e);
  y = add(y, mul(set(-2.12194440e-4f), fe));
  y = add(y, mul(set(-0.5f), z));
  __m512 r = add(x, y);
  r = add(r, mul(set(0.693359375f), fe));
  return r;
}

// noise_sincos_2pi, lane by lane.
SIGNOPT_AVX512 void sincos16(__m512 u, __m512& sin_out, __m512& cos_out) {
  const __m512 w = mul(u, set(4.0f));
  const __m512i n = _mm512_cvttps_epi32(add(w, set(0.5f)));
  const __m512 t = _mm512_sub_ps(w, _mm512_cvtepi32_ps(n));
  const __m512 a = mul(t, set(1.57079632679489661923f));
  const __m512 z = mul(a, a);
  __m512 ps = set(-1.9515295891E-4f);
  ps = add(mul(ps, z), set(8.3321608736E-3f));
  ps = add(mul(ps, z), set(-1.6666654611E-1f));
  __m512 s = mul(ps, z);
  s = mul(s, a);
  s = add(s, a);
  __m512 pc = set(2.443315711809948E-5f);
  pc = add(mul(pc, z), set(-1.388731625493765E-3f));
  pc = add(mul(pc, z), set(4.166664568298827E-2f));
  __m512 c = mul(pc, z);
  c = mul(c, z);
  c = _mm512_sub_ps(c, mul(set(0.5f), z));
  c = add(c, set(1.0f));
  const __m512i q = _mm512_and_si512(n, _mm512_set1_epi32(3));
  const __mmask16 q1 = _mm512_cmpeq_epi32_mask(q, _mm512_set1_epi32(1));
  const __mmask16 q2 = _mm512_cmpeq_epi32_mask(q, _mm512_set1_epi32(2));
  const __mmask16 q3 = _mm512_cmpeq_epi32_mask(q, _mm512_set1_epi32(3));
  __m512 sn = s, cs = c;
  sn = _mm512_mask_mov_ps(sn, q1, c);
  sn = _mm512_mask_mov_ps(sn, q2, neg(s));
  sn = _mm512_mask_mov_ps(sn, q3, neg(c));
  cs = _mm512_mask_mov_ps(cs, q1, neg(s));
  cs = _mm512_mask_mov_ps(cs, q2, neg(c));
  cs = _mm512_mask_mov_ps(cs, q3, s);
  sin_out = sn;
  cos_out = cs;
}

// Lanes 0 and 1 of 16 Philox blocks -> the 16 (r cos, r sin) pairs of noise_gaussian4.
SIGNOPT_AVX512 void box_muller16(__m512i x_even, __m512i x_odd, __m512& rc, __m512& rs) {
  const __m512 scale = set(5.9604644775390625e-8f);
  const __m512 u1 = mul(_mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_srli_epi32(x_even, 8), _mm512_set1_epi32(1))), scale);
  const __m512 u2 = mul(_mm512_cvtepi32_ps(_mm512_srli_epi32(x_odd, 8)), scale);
  const __m512 r = _mm512_sqrt_ps(mul(set(-2.0f), log16(u1)));
  __m512 s, c;
  sincos16(u2, s, c);
  rc = mul(r, c);
  rs = mul(r, s);
}

// noise_uniform4's (x >> 8) 2^-23 - 1, lane by lane.
SIGNOPT_AVX512 __m512 uniform(__m512i x) {
  return _mm512_sub_ps(mul(_mm512_cvtepi32_ps(_mm512_srli_epi32(x, 8)), set(1.1920928955078125e-7f)), set(1.0f));
}

// Stores 16 blocks given per-lane vectors (v0[j], v1[j], v2[j], v3[j]) as out[4 j + lane].
SIGNOPT_AVX512 void store_blocks(float* out, __m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 t0 = _mm512_unpacklo_ps(a, b), t1 = _mm512_unpackhi_ps(a, b);
  const __m512 t2 = _mm512_unpacklo_ps(c, d), t3 = _mm512_unpackhi_ps(c, d);
  const __m512 v0 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
  const __m512 v1 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
  const __m512 v2 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
  const __m512 v3 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
  // 128-bit lane L of v_k is block 4 L + k: transpose the 4x4 lanes.
  const __m512 w0 = _mm512_shuffle_f32x4(v0, v1, _MM_SHUFFLE(1, 0, 1, 0));
  const __m512 w1 = _mm512_shuffle_f32x4(v2, v3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m512 w2 = _mm512_shuffle_f32x4(v0, v1, _MM_SHUFFLE(3, 2, 3, 2));
  const __m512 w3 = _mm512_shuffle_f32x4(v2, v3, _MM_SHUFFLE(3, 2, 3, 2));
  _mm512_storeu_ps(out, _mm512_shuffle_f32x4(w0, w1, _MM_SHUFFLE(2, 0, 2, 0)));
  _mm512_storeu_ps(out + 16, _mm512_shuffle_f32x4(w0, w1, _MM_SHUFFLE(3, 1, 3, 1)));
  _mm512_storeu_ps(out + 32, _mm512_shuffle_f32x4(w2, w3, _MM_SHUFFLE(2, 0, 2, 0)));
  _mm512_storeu_ps(out + 48, _mm512_shuffle_f32x4(w2, w3, _MM_SHUFFLE(3, 1, 3, 1)));
}


// Philox4x32-10 of the 16 blocks first .. first + 15: word k of block j in lane j of c[k].
SIGNOPT_AVX512 void philox16(uint64_t first, const DrawKey& key, __m512i c[4]) {
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i m0 = _mm512_set1_epi32(int(0xD2511F53u)), m1 = _mm512_set1_epi32(int(0xCD9E8D57u));
  // Counter lanes: (block lo, block hi, param, step) for blocks first .. first + 15.
  const __m512i lo_base = _mm512_set1_epi32(int(static_cast<uint32_t>(first)));
  __m512i c0 = _mm512_add_epi32(lo_base, iota);
  const __mmask16 carry = _mm512_cmplt_epu32_mask(c0, lo_base);
  __m512i c1 = _mm512_mask_add_epi32(
      _mm512_set1_epi32(int(static_cast<uint32_t>(first >> 32))), carry,
      _mm512_set1_epi32(int(static_cast<uint32_t>(first >> 32))), _mm512_set1_epi32(1));
  __m512i c2 = _mm512_set1_epi32(int(key.param));
  __m512i c3 = _mm512_set1_epi32(int(key.step));
  uint32_t k0 = key.k0, k1 = key.k1;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    __m512i hi0, lo0, hi1, lo1;
    mulhilo(c0, m0, hi0, lo0);
    mulhilo(c2, m1, hi1, lo1);
    const __m512i n0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32(int(k0)));
    const __m512i n2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32(int(k1)));
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  c[0] = c0;
  c[1] = c1;
  c[2] = c2;
  c[3] = c3;
}

} // namespace

__attribute__((target("avx512f"))) int64_t fill_noise_avx512(
    float* out,
    uint64_t block0,
    int64_t blocks,
    const DrawKey& key,
    bool gaussian,
    ChunkPrefetch* prefetch,
    int64_t lines) {
  const int64_t groups = blocks / 16;
  pace(prefetch, groups, lines);
  for (int64_t gi = 0; gi < groups; ++gi) {
    tick(prefetch);
    __m512i c[4];
    philox16(block0 + static_cast<uint64_t>(gi) * 16, key, c);
    float* dst = out + gi * 64;
    if (gaussian) {
      __m512 a_c, a_s, b_c, b_s;
      box_muller16(c[0], c[1], a_c, a_s);
      box_muller16(c[2], c[3], b_c, b_s);
      store_blocks(dst, a_c, a_s, b_c, b_s);
    } else {
      store_blocks(dst, uniform(c[0]), uniform(c[1]), uniform(c[2]), uniform(c[3]));
    }
  }
  return groups * 16;
}

__attribute__((target("avx512f"))) int64_t philox_words_avx512(
    uint32_t* out,
    uint64_t block0,
    int64_t blocks,
    const DrawKey& key,
    ChunkPrefetch* prefetch,
    int64_t lines) {
  const int64_t groups = blocks / 16;
  pace(prefetch, groups, lines);
  for (int64_t gi = 0; gi < groups; ++gi) {
    tick(prefetch);
    __m512i c[4];
    philox16(block0 + static_cast<uint64_t>(gi) * 16, key, c);
    // store_blocks moves 32-bit lanes; the words pass through it as floats' bit patterns.
    store_blocks(
        reinterpret_cast<float*>(out + gi * 64), _mm512_castsi512_ps(c[0]), _mm512_castsi512_ps(c[1]),
        _mm512_castsi512_ps(c[2]), _mm512_castsi512_ps(c[3]));
  }
  return groups * 16;
}

namespace {

// Entry `row` (0..15) of the 16-entry table (low, high): `upper` carries bit 3 of row in its sign bit.
__attribute__((target("avx2"), always_inline)) inline __m256 octave_coefficient(
    __m256 low,
    __m256 high,
    __m256i row,
    __m256 upper) {
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(low, row), _mm256_permutevar8x32_ps(high, row), upper);
}

} // namespace

// gaussian_level for 16 elements per iteration: the octave's coefficients by a permutation of one register per
// power of w (the 16 octaves fill a register), the polynomial in gaussian_level's order.
__attribute__((target("avx512f"))) int64_t gaussian_levels_avx512(
    float* out,
    const uint32_t* words,
    int64_t count,
    ChunkPrefetch* prefetch,
    int64_t lines) {
  __m512 coeff[kGaussianLevelDegree + 1];
  for (int j = 0; j <= kGaussianLevelDegree; ++j) {
    coeff[j] = _mm512_loadu_ps(gaussian_level_row(j));
  }
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i mantissa = _mm512_set1_epi32(0x007fffff);
  const __m512i exponent_of_one = _mm512_set1_epi32(0x3f800000);
  const __m512i half_range = _mm512_set1_epi32(0x8000);
  const int64_t groups = count / 16;
  pace(prefetch, groups, lines);
  for (int64_t gi = 0; gi < groups; ++gi) {
    tick(prefetch);
    // 16 consecutive 16-bit halves of the words, in element order (little-endian: the low half first).
    const __m512i k = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + 8 * gi)));
    const __m512 v = mul(_mm512_cvtepi32_ps(_mm512_or_si512(_mm512_slli_epi32(k, 1), one)), set(7.62939453125e-6f));
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i row = _mm512_srli_epi32(bits, 23); // the permutation reads its low 4 bits
    const __m512 w = _mm512_sub_ps(
        _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(bits, mantissa), exponent_of_one)), set(1.5f));
    __m512 t = _mm512_permutexvar_ps(row, coeff[kGaussianLevelDegree]);
    for (int j = kGaussianLevelDegree - 1; j >= 0; --j) {
      t = add(mul(t, w), _mm512_permutexvar_ps(row, coeff[j]));
    }
    _mm512_storeu_ps(out + 16 * gi, _mm512_maskz_mov_ps(_mm512_cmplt_epu32_mask(k, half_range), t));
  }
  return groups * 16;
}

// gaussian_levels_avx512 on 8 elements per iteration: the 16 octaves' coefficients of a power are two registers,
// the permutations read the row's low 3 bits and the blend its bit 3 (moved to the sign bit).
__attribute__((target("avx2"))) int64_t gaussian_levels_avx2(
    float* out,
    const uint32_t* words,
    int64_t count,
    ChunkPrefetch* prefetch,
    int64_t lines) {
  __m256 low[kGaussianLevelDegree + 1], high[kGaussianLevelDegree + 1];
  for (int j = 0; j <= kGaussianLevelDegree; ++j) {
    low[j] = _mm256_loadu_ps(gaussian_level_row(j));
    high[j] = _mm256_loadu_ps(gaussian_level_row(j) + 8);
  }
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i mantissa = _mm256_set1_epi32(0x007fffff);
  const __m256i exponent_of_one = _mm256_set1_epi32(0x3f800000);
  const __m256i half_range = _mm256_set1_epi32(0x8000);
  const int64_t groups = count / 8;
  pace(prefetch, groups, lines);
  for (int64_t gi = 0; gi < groups; ++gi) {
    tick(prefetch);
    const __m256i k = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(words + 4 * gi)));
    const __m256 v = _mm256_mul_ps(
        _mm256_cvtepi32_ps(_mm256_or_si256(_mm256_slli_epi32(k, 1), one)), _mm256_set1_ps(7.62939453125e-6f));
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i row = _mm256_srli_epi32(bits, 23);
    const __m256 upper = _mm256_castsi256_ps(_mm256_slli_epi32(row, 28));
    const __m256 w = _mm256_sub_ps(
        _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, mantissa), exponent_of_one)), _mm256_set1_ps(1.5f));
    __m256 t = octave_coefficient(low[kGaussianLevelDegree], high[kGaussianLevelDegree], row, upper);
    for (int j = kGaussianLevelDegree - 1; j >= 0; --j) {
      t = _mm256_add_ps(_mm256_mul_ps(t, w), octave_coefficient(low[j], high[j], row, upper));
    }
    const __m256 below_half = _mm256_castsi256_ps(_mm256_cmpgt_epi32(half_range, k));
    _mm256_storeu_ps(out + 8 * gi, _mm256_and_ps(t, below_half));
  }
  return groups * 8;
}

#else

int64_t fill_noise_avx512(float*, uint64_t, int64_t, const DrawKey&, bool, ChunkPrefetch*, int64_t) {
  return 0;
}

int64_t philox_words_avx512(uint32_t*, uint64_t, int64_t, const DrawKey&, ChunkPrefetch*, int64_t) {
  return 0;
}

int64_t gaussian_levels_avx512(float*, const uint32_t*, int64_t, ChunkPrefetch*, int64_t) {
  return 0;
}

int64_t gaussian_levels_avx2(float*, const uint32_t*, int64_t, ChunkPrefetch*, int64_t) {
  return 0;
}

#endif

} // namespace signopt::kernels::detail

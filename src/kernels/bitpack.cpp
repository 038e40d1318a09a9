// Sign packing, unpacking and majority vote kernels (signopt/kernels/bitpack.h): hand-vectorized pack
// and unpack (AVX-512, AVX2, scalar; chosen at run time) and a bit-sliced vote auto-vectorized per ISA; the
// tensor API is in bitpack_tensor.cpp, the bit ranges in bitpack_ranges.cpp and the plain references the
// tests hold them to in bitpack_reference.cpp.
// Every output word depends only on its own input words (and the zero-sign key), so the results are the
// same for any thread count, chunking and ISA.
#include <signopt/kernels/bitpack_words.h>

#include "bitpack_internal.h"
#include "isa.h"

#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#ifdef SIGNOPT_X86_INTRINSICS
#include <immintrin.h>
#endif

#define SIGNOPT_ALWAYS_INLINE inline __attribute__((always_inline))

namespace signopt::kernels {

using detail::bitpack_fail;
using detail::check_vote_workers;

namespace {

// Words per parallel_for task: 64K coordinates, enough to amortize scheduling; the split does not
// change any result.
constexpr int64_t kGrainWords = 1024;
// The vote's bit planes live on the stack: counts up to 2^32 - 1 workers.
constexpr int kMaxPlanes = 32;
constexpr int64_t kMaxWorkers = (int64_t{1} << kMaxPlanes) - 1;
// Words per vote block: the planes of a block (kMaxPlanes x 64 words, 16 KiB) stay in L1.
constexpr int kVoteBlock = 64;

int bit_width(uint64_t v) {
  return v == 0 ? 0 : 64 - __builtin_clzll(v);
}

// The 64 zero-sign coins of word w: lanes 2 (w % 2) and 2 (w % 2) + 1 of Philox block w / 2, i.e.
// coordinate i gets bit i % 32 of lane (i / 32) % 4 of block i / 128 (the header's definition).
SIGNOPT_ALWAYS_INLINE uint64_t zero_coins(const DrawKey& key, int64_t word) {
  const PhiloxBlock b = key.block(static_cast<uint64_t>(word) >> 1);
  const int lane = 2 * static_cast<int>(word & 1);
  return static_cast<uint64_t>(b.x[lane]) | (static_cast<uint64_t>(b.x[lane + 1]) << 32);
}

// One packed word from its positive and negative masks; coordinates in neither (zero, NaN) are encoded
// by the policy. `valid` marks the coordinates that exist (all but the tail of the last word).
SIGNOPT_ALWAYS_INLINE uint64_t finish_word(
    uint64_t pos,
    uint64_t neg,
    uint64_t valid,
    int64_t word,
    ZeroSign zero,
    const DrawKey& key,
    int64_t& zeros) {
  const uint64_t z = ~(pos | neg) & valid;
  if (z == 0) {
    return pos;
  }
  zeros += __builtin_popcountll(z);
  return pos | (zero == ZeroSign::Positive ? z : z & zero_coins(key, word));
}

template <typename T>
SIGNOPT_ALWAYS_INLINE void masks_scalar(const T* x, int len, uint64_t& pos, uint64_t& neg) {
  pos = 0;
  neg = 0;
  for (int j = 0; j < len; ++j) {
    pos |= static_cast<uint64_t>(x[j] > T(0)) << j;
    neg |= static_cast<uint64_t>(x[j] < T(0)) << j;
  }
}

template <typename T>
SIGNOPT_ALWAYS_INLINE void unpack_scalar(uint64_t b, uint64_t z, int len, T scale, T* out) {
  for (int j = 0; j < len; ++j) {
    out[j] = ((z >> j) & 1) ? T(0) : (((b >> j) & 1) ? scale : -scale);
  }
}

// Full words [w0, w1) of the pack, one per ISA: `masks` gives the positive and negative masks of 64
// values, the zero policy is shared.
#define SIGNOPT_PACK_WORDS_LOOP(masks)                                 \
  int64_t zeros = 0;                                                   \
  for (int64_t w = w0; w < w1; ++w) {                                  \
    uint64_t pos, neg;                                                 \
    masks(x + 64 * w, pos, neg);                                       \
    out[w] = finish_word(pos, neg, ~uint64_t{0}, w, zero, key, zeros); \
  }                                                                    \
  return zeros


// Full words [w0, w1) of two planes: sign (x > 0) and zero (x neither > 0 nor < 0: 0, -0, NaN).
#define SIGNOPT_PLANES_WORDS_LOOP(masks)           \
  int64_t zeros = 0;                               \
  for (int64_t w = w0; w < w1; ++w) {              \
    uint64_t pos, neg;                             \
    masks(x + 64 * w, pos, neg);                   \
    const uint64_t z = ~(pos | neg);               \
    sign[w] = pos;                                 \
    zero[w] = z;                                   \
    zeros += __builtin_popcountll(z);              \
  }                                                \
  return zeros

SIGNOPT_ALWAYS_INLINE void masks_64(const float* x, uint64_t& pos, uint64_t& neg) {
  masks_scalar(x, 64, pos, neg);
}
SIGNOPT_ALWAYS_INLINE void masks_64(const double* x, uint64_t& pos, uint64_t& neg) {
  masks_scalar(x, 64, pos, neg);
}

template <typename T>
int64_t pack_words_scalar(const T* x, int64_t w0, int64_t w1, uint64_t* out, ZeroSign zero, const DrawKey& key) {
  SIGNOPT_PACK_WORDS_LOOP(masks_64);
}

template <typename T>
int64_t planes_words_scalar(const T* x, int64_t w0, int64_t w1, uint64_t* sign, uint64_t* zero) {
  SIGNOPT_PLANES_WORDS_LOOP(masks_64);
}

template <typename T>
void unpack_words_scalar(const uint64_t* bits, const uint64_t* zmask, int64_t w0, int64_t w1, T scale, T* out) {
  for (int64_t w = w0; w < w1; ++w) {
    unpack_scalar(bits[w], zmask ? zmask[w] : 0, 64, scale, out + 64 * w);
  }
}

#ifdef SIGNOPT_X86_INTRINSICS
#define SIGNOPT_AVX512 __attribute__((target("avx512f")))
#define SIGNOPT_AVX2 __attribute__((target("avx2")))

// ---- AVX-512: one compare gives 16 (float) or 8 (double) mask bits -----------------------------------

SIGNOPT_AVX512 SIGNOPT_ALWAYS_INLINE void masks_avx512(const float* v, uint64_t& pos, uint64_t& neg) {
  const __m512 z = _mm512_setzero_ps();
  pos = 0;
  neg = 0;
  for (int k = 0; k < 4; ++k) {
    const __m512 a = _mm512_loadu_ps(v + 16 * k);
    pos |= static_cast<uint64_t>(_mm512_cmp_ps_mask(a, z, _CMP_GT_OQ)) << (16 * k);
    neg |= static_cast<uint64_t>(_mm512_cmp_ps_mask(a, z, _CMP_LT_OQ)) << (16 * k);
  }
}

SIGNOPT_AVX512 SIGNOPT_ALWAYS_INLINE void masks_avx512(const double* v, uint64_t& pos, uint64_t& neg) {
  const __m512d z = _mm512_setzero_pd();
  pos = 0;
  neg = 0;
  for (int k = 0; k < 8; ++k) {
    const __m512d a = _mm512_loadu_pd(v + 8 * k);
    pos |= static_cast<uint64_t>(_mm512_cmp_pd_mask(a, z, _CMP_GT_OQ)) << (8 * k);
    neg |= static_cast<uint64_t>(_mm512_cmp_pd_mask(a, z, _CMP_LT_OQ)) << (8 * k);
  }
}

template <typename T>
SIGNOPT_AVX512 int64_t
pack_words_avx512(const T* x, int64_t w0, int64_t w1, uint64_t* out, ZeroSign zero, const DrawKey& key) {
  SIGNOPT_PACK_WORDS_LOOP(masks_avx512);
}

template <typename T>
SIGNOPT_AVX512 int64_t planes_words_avx512(const T* x, int64_t w0, int64_t w1, uint64_t* sign, uint64_t* zero) {
  SIGNOPT_PLANES_WORDS_LOOP(masks_avx512);
}

SIGNOPT_AVX512 void unpack_words_avx512(
    const uint64_t* bits,
    const uint64_t* zmask,
    int64_t w0,
    int64_t w1,
    float scale,
    float* out) {
  const __m512 plus = _mm512_set1_ps(scale), minus = _mm512_set1_ps(-scale);
  for (int64_t w = w0; w < w1; ++w) {
    const uint64_t b = bits[w], z = zmask ? zmask[w] : 0;
    for (int k = 0; k < 4; ++k) {
      const __m512 v = _mm512_mask_blend_ps(static_cast<__mmask16>(b >> (16 * k)), minus, plus);
      _mm512_storeu_ps(out + 64 * w + 16 * k, _mm512_maskz_mov_ps(static_cast<__mmask16>(~(z >> (16 * k))), v));
    }
  }
}

SIGNOPT_AVX512 void unpack_words_avx512(
    const uint64_t* bits,
    const uint64_t* zmask,
    int64_t w0,
    int64_t w1,
    double scale,
    double* out) {
  const __m512d plus = _mm512_set1_pd(scale), minus = _mm512_set1_pd(-scale);
  for (int64_t w = w0; w < w1; ++w) {
    const uint64_t b = bits[w], z = zmask ? zmask[w] : 0;
    for (int k = 0; k < 8; ++k) {
      const __m512d v = _mm512_mask_blend_pd(static_cast<__mmask8>(b >> (8 * k)), minus, plus);
      _mm512_storeu_pd(out + 64 * w + 8 * k, _mm512_maskz_mov_pd(static_cast<__mmask8>(~(z >> (8 * k))), v));
    }
  }
}

// ---- AVX2: compare + movemask gives 8 (float) or 4 (double) bits; unpack tests one bit per lane -------

SIGNOPT_AVX2 SIGNOPT_ALWAYS_INLINE void masks_avx2(const float* v, uint64_t& pos, uint64_t& neg) {
  const __m256 z = _mm256_setzero_ps();
  pos = 0;
  neg = 0;
  for (int k = 0; k < 8; ++k) {
    const __m256 a = _mm256_loadu_ps(v + 8 * k);
    pos |= static_cast<uint64_t>(_mm256_movemask_ps(_mm256_cmp_ps(a, z, _CMP_GT_OQ))) << (8 * k);
    neg |= static_cast<uint64_t>(_mm256_movemask_ps(_mm256_cmp_ps(a, z, _CMP_LT_OQ))) << (8 * k);
  }
}

SIGNOPT_AVX2 SIGNOPT_ALWAYS_INLINE void masks_avx2(const double* v, uint64_t& pos, uint64_t& neg) {
  const __m256d z = _mm256_setzero_pd();
  pos = 0;
  neg = 0;
  for (int k = 0; k < 16; ++k) {
    const __m256d a = _mm256_loadu_pd(v + 4 * k);
    pos |= static_cast<uint64_t>(_mm256_movemask_pd(_mm256_cmp_pd(a, z, _CMP_GT_OQ))) << (4 * k);
    neg |= static_cast<uint64_t>(_mm256_movemask_pd(_mm256_cmp_pd(a, z, _CMP_LT_OQ))) << (4 * k);
  }
}

template <typename T>
SIGNOPT_AVX2 int64_t
pack_words_avx2(const T* x, int64_t w0, int64_t w1, uint64_t* out, ZeroSign zero, const DrawKey& key) {
  SIGNOPT_PACK_WORDS_LOOP(masks_avx2);
}

template <typename T>
SIGNOPT_AVX2 int64_t planes_words_avx2(const T* x, int64_t w0, int64_t w1, uint64_t* sign, uint64_t* zero) {
  SIGNOPT_PLANES_WORDS_LOOP(masks_avx2);
}

SIGNOPT_AVX2 void unpack_words_avx2(
    const uint64_t* bits,
    const uint64_t* zmask,
    int64_t w0,
    int64_t w1,
    float scale,
    float* out) {
  const __m256 plus = _mm256_set1_ps(scale), minus = _mm256_set1_ps(-scale);
  const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  for (int64_t w = w0; w < w1; ++w) {
    const uint64_t b = bits[w], z = zmask ? zmask[w] : 0;
    for (int k = 0; k < 8; ++k) {
      const __m256i bk = _mm256_and_si256(_mm256_set1_epi32(static_cast<int>((b >> (8 * k)) & 0xFF)), lane_bit);
      const __m256i zk = _mm256_and_si256(_mm256_set1_epi32(static_cast<int>((z >> (8 * k)) & 0xFF)), lane_bit);
      const __m256 v = _mm256_blendv_ps(minus, plus, _mm256_castsi256_ps(_mm256_cmpeq_epi32(bk, lane_bit)));
      _mm256_storeu_ps(
          out + 64 * w + 8 * k, _mm256_andnot_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(zk, lane_bit)), v));
    }
  }
}

SIGNOPT_AVX2 void unpack_words_avx2(
    const uint64_t* bits,
    const uint64_t* zmask,
    int64_t w0,
    int64_t w1,
    double scale,
    double* out) {
  const __m256d plus = _mm256_set1_pd(scale), minus = _mm256_set1_pd(-scale);
  const __m256i lane_bit = _mm256_setr_epi64x(1, 2, 4, 8);
  for (int64_t w = w0; w < w1; ++w) {
    const uint64_t b = bits[w], z = zmask ? zmask[w] : 0;
    for (int k = 0; k < 16; ++k) {
      const __m256i bk = _mm256_and_si256(_mm256_set1_epi64x(static_cast<int64_t>((b >> (4 * k)) & 0xF)), lane_bit);
      const __m256i zk = _mm256_and_si256(_mm256_set1_epi64x(static_cast<int64_t>((z >> (4 * k)) & 0xF)), lane_bit);
      const __m256d v = _mm256_blendv_pd(minus, plus, _mm256_castsi256_pd(_mm256_cmpeq_epi64(bk, lane_bit)));
      _mm256_storeu_pd(
          out + 64 * w + 4 * k, _mm256_andnot_pd(_mm256_castsi256_pd(_mm256_cmpeq_epi64(zk, lane_bit)), v));
    }
  }
}
#endif // SIGNOPT_X86_INTRINSICS

template <typename T>
int64_t pack_impl(const T* x, int64_t n, uint64_t* out, ZeroSign zero, const DrawKey& key) {
  if (n < 0) {
    bitpack_fail("pack_signs: n must be >= 0, got " + std::to_string(n));
  }
  const int64_t full = n / 64;
  const auto isa = detail::isa();
  std::atomic<int64_t> zeros{0};
  detail::parallel_for(0, full, kGrainWords, [&](int64_t w0, int64_t w1) {
    int64_t z;
#ifdef SIGNOPT_X86_INTRINSICS
    if (isa == detail::Isa::Avx512) {
      z = pack_words_avx512(x, w0, w1, out, zero, key);
    } else if (isa == detail::Isa::Avx2) {
      z = pack_words_avx2(x, w0, w1, out, zero, key);
    } else
#endif
    {
      (void)isa;
      z = pack_words_scalar(x, w0, w1, out, zero, key);
    }
    zeros.fetch_add(z, std::memory_order_relaxed);
  });
  int64_t total = zeros.load();
  if (const int tail = static_cast<int>(n % 64); tail > 0) {
    uint64_t pos, neg;
    masks_scalar(x + 64 * full, tail, pos, neg);
    out[full] = finish_word(pos, neg, (uint64_t{1} << tail) - 1, full, zero, key, total);
  }
  return total;
}

template <typename T>
int64_t planes_impl(const T* x, int64_t n, uint64_t* sign, uint64_t* zero) {
  if (n < 0) {
    bitpack_fail("pack_sign_planes: n must be >= 0, got " + std::to_string(n));
  }
  const int64_t full = n / 64;
  int64_t zeros;
#ifdef SIGNOPT_X86_INTRINSICS
  const auto isa = detail::isa();
  if (isa == detail::Isa::Avx512) {
    zeros = planes_words_avx512(x, 0, full, sign, zero);
  } else if (isa == detail::Isa::Avx2) {
    zeros = planes_words_avx2(x, 0, full, sign, zero);
  } else
#endif
  {
    zeros = planes_words_scalar(x, 0, full, sign, zero);
  }
  if (const int tail = static_cast<int>(n % 64); tail > 0) {
    uint64_t pos, neg;
    masks_scalar(x + 64 * full, tail, pos, neg);
    const uint64_t z = ~(pos | neg) & ((uint64_t{1} << tail) - 1);
    sign[full] = pos;
    zero[full] = z;
    zeros += __builtin_popcountll(z);
  }
  return zeros;
}

template <typename T>
void unpack_impl(const uint64_t* bits, const uint64_t* zmask, int64_t n, T scale, T* out) {
  if (n < 0) {
    bitpack_fail("unpack_signs: n must be >= 0, got " + std::to_string(n));
  }
  const int64_t full = n / 64;
  const auto isa = detail::isa();
  detail::parallel_for(0, full, kGrainWords, [&](int64_t w0, int64_t w1) {
#ifdef SIGNOPT_X86_INTRINSICS
    if (isa == detail::Isa::Avx512) {
      return unpack_words_avx512(bits, zmask, w0, w1, scale, out);
    }
    if (isa == detail::Isa::Avx2) {
      return unpack_words_avx2(bits, zmask, w0, w1, scale, out);
    }
#endif
    (void)isa;
    unpack_words_scalar(bits, zmask, w0, w1, scale, out);
  });
  if (const int tail = static_cast<int>(n % 64); tail > 0) {
    unpack_scalar(bits[full], zmask ? zmask[full] : 0, tail, scale, out + 64 * full);
  }
}

// The vote of words [w0, w0 + len), len <= kVoteBlock. Each input is added to bit-sliced counters
// (plane p holds bit p of the 64 counts of a word) by a chain of half adders; after k inputs a count is
// at most k, so input k (0-based) only ripples through bit_width(k + 1) planes. Then count > W / 2 and
// count == W / 2 are evaluated plane by plane from the top, again 64 coordinates per word operation.
// Every loop runs over the words of the block, which the compiler vectorizes in each clone. This is the
// general path (any W, and the last words of a range); vote_words keeps the planes in registers instead.
SIGNOPT_ALWAYS_INLINE void vote_block(
    const uint64_t* const* inputs,
    int64_t workers,
    int64_t w0,
    int len,
    uint64_t* sign,
    uint64_t* tie) {
  uint64_t planes[kMaxPlanes][kVoteBlock];
  uint64_t carry[kVoteBlock];
  uint64_t gt[kVoteBlock];
  uint64_t eq[kVoteBlock];
  const int nplanes = bit_width(static_cast<uint64_t>(workers));
  for (int p = 0; p < nplanes; ++p) {
    for (int j = 0; j < len; ++j) {
      planes[p][j] = 0;
    }
  }
  for (int64_t k = 0; k < workers; ++k) {
    const uint64_t* src = inputs[k] + w0;
    for (int j = 0; j < len; ++j) {
      carry[j] = src[j];
    }
    const int depth = bit_width(static_cast<uint64_t>(k + 1));
    for (int p = 0; p < depth; ++p) {
      uint64_t* plane = planes[p];
      for (int j = 0; j < len; ++j) {
        const uint64_t c = plane[j] & carry[j];
        plane[j] ^= carry[j];
        carry[j] = c;
      }
    }
  }
  const uint64_t half = static_cast<uint64_t>(workers) / 2;
  for (int j = 0; j < len; ++j) {
    gt[j] = 0;
    eq[j] = ~uint64_t{0};
  }
  for (int p = nplanes - 1; p >= 0; --p) {
    const uint64_t* plane = planes[p];
    if ((half >> p) & 1) {
      for (int j = 0; j < len; ++j) {
        eq[j] &= plane[j];
      }
    } else {
      for (int j = 0; j < len; ++j) {
        gt[j] |= eq[j] & plane[j];
        eq[j] &= ~plane[j];
      }
    }
  }
  for (int j = 0; j < len; ++j) {
    sign[w0 + j] = gt[j];
  }
  if (tie != nullptr) {
    // An odd number of workers cannot tie; count == W / 2 then means 2c == W - 1.
    const uint64_t even = (workers % 2 == 0) ? ~uint64_t{0} : 0;
    for (int j = 0; j < len; ++j) {
      tie[w0 + j] = eq[j] & even;
    }
  }
}

// Eight words (512 coordinates) as one value: GCC lowers it to one AVX-512, two AVX2 or four SSE2
// registers in each clone.
typedef uint64_t WordVec __attribute__((vector_size(64)));
constexpr int kVecWords = 8;

// The vote of words [w0, w1) with P = bit_width(W) planes held in registers: every input ripples through
// all P planes (a count never exceeds W < 2^P, so nothing carries out), then the same comparison as in
// vote_block. Returns the first word it left for vote_block (fewer than kVecWords remain).
template <int P>
SIGNOPT_ALWAYS_INLINE int64_t
vote_registers(const uint64_t* const* inputs, int64_t workers, int64_t w0, int64_t w1, uint64_t* sign, uint64_t* tie) {
  const uint64_t half = static_cast<uint64_t>(workers) / 2;
  const bool even = workers % 2 == 0;
  int64_t w = w0;
  for (; w + kVecWords <= w1; w += kVecWords) {
    WordVec planes[P] = {};
    for (int64_t k = 0; k < workers; ++k) {
      WordVec carry;
      std::memcpy(&carry, inputs[k] + w, sizeof(carry));
      for (int p = 0; p < P; ++p) {
        const WordVec c = planes[p] & carry;
        planes[p] ^= carry;
        carry = c;
      }
    }
    WordVec gt = {}, eq = ~WordVec{};
    for (int p = P - 1; p >= 0; --p) {
      if ((half >> p) & 1) {
        eq &= planes[p];
      } else {
        gt |= eq & planes[p];
        eq &= ~planes[p];
      }
    }
    std::memcpy(sign + w, &gt, sizeof(gt));
    if (tie != nullptr) {
      const WordVec t = even ? eq : WordVec{};
      std::memcpy(tie + w, &t, sizeof(t));
    }
  }
  return w;
}

// The vote of words [w0, w1): up to W = 63 in registers, the rest (and larger W) by vote_block.
SIGNOPT_CLONES void vote_words(
    const uint64_t* const* inputs,
    int64_t workers,
    int64_t w0,
    int64_t w1,
    uint64_t* sign,
    uint64_t* tie) {
  int64_t w = w0;
  switch (bit_width(static_cast<uint64_t>(workers))) {
    case 1:
      w = vote_registers<1>(inputs, workers, w0, w1, sign, tie);
      break;
    case 2:
      w = vote_registers<2>(inputs, workers, w0, w1, sign, tie);
      break;
    case 3:
      w = vote_registers<3>(inputs, workers, w0, w1, sign, tie);
      break;
    case 4:
      w = vote_registers<4>(inputs, workers, w0, w1, sign, tie);
      break;
    case 5:
      w = vote_registers<5>(inputs, workers, w0, w1, sign, tie);
      break;
    case 6:
      w = vote_registers<6>(inputs, workers, w0, w1, sign, tie);
      break;
    default:
      break;
  }
  for (; w < w1; w += kVoteBlock) {
    vote_block(inputs, workers, w, static_cast<int>(std::min<int64_t>(kVoteBlock, w1 - w)), sign, tie);
  }
}

} // namespace

namespace detail {

[[noreturn]] void bitpack_fail(const std::string& message) {
  throw std::invalid_argument("signopt::kernels::" + message);
}

void check_vote_workers(const char* fn, int64_t workers) {
  if (workers < 1 || workers > kMaxWorkers) {
    bitpack_fail(
        std::string(fn) + ": the number of workers must be in [1, " + std::to_string(kMaxWorkers) + "], got " +
        std::to_string(workers));
  }
}

} // namespace detail

int64_t packed_words(int64_t n) {
  if (n < 0) {
    bitpack_fail("packed_words: n must be >= 0, got " + std::to_string(n));
  }
  return n / 64 + (n % 64 != 0);
}

DrawKey zero_sign_key(uint64_t seed, uint64_t step, uint64_t rank, uint64_t bucket) {
  return DrawKey::make(seed, kZeroSignStream + rank, step, bucket);
}

// ---- raw kernels ----------------------------------------------------------------------------------------

int64_t pack_signs(const float* x, int64_t n, uint64_t* out, ZeroSign zero, const DrawKey& key) {
  return pack_impl(x, n, out, zero, key);
}

int64_t pack_signs(const double* x, int64_t n, uint64_t* out, ZeroSign zero, const DrawKey& key) {
  return pack_impl(x, n, out, zero, key);
}

void unpack_signs(const uint64_t* bits, const uint64_t* zero_mask, int64_t n, float scale, float* out) {
  unpack_impl(bits, zero_mask, n, scale, out);
}

void unpack_signs(const uint64_t* bits, const uint64_t* zero_mask, int64_t n, double scale, double* out) {
  unpack_impl(bits, zero_mask, n, scale, out);
}

int64_t pack_sign_planes(const float* x, int64_t n, uint64_t* sign, uint64_t* zero) {
  return planes_impl(x, n, sign, zero);
}

int64_t pack_sign_planes(const double* x, int64_t n, uint64_t* sign, uint64_t* zero) {
  return planes_impl(x, n, sign, zero);
}

void resolve_zero_signs(uint64_t* sign, const uint64_t* zero, int64_t words, ZeroSign rule, const DrawKey& key) {
  if (words < 0) {
    bitpack_fail("resolve_zero_signs: words must be >= 0, got " + std::to_string(words));
  }
  for (int64_t w = 0; w < words; ++w) {
    const uint64_t z = zero[w];
    if (z != 0) {
      sign[w] = (sign[w] & ~z) | (rule == ZeroSign::Positive ? z : z & zero_coins(key, w));
    }
  }
}

void majority_vote(const uint64_t* const* inputs, int64_t workers, int64_t words, uint64_t* sign, uint64_t* tie) {
  check_vote_workers("majority_vote", workers);
  if (words < 0) {
    bitpack_fail("majority_vote: words must be >= 0, got " + std::to_string(words));
  }
  detail::parallel_for(
      0, words, kGrainWords, [&](int64_t w0, int64_t w1) { vote_words(inputs, workers, w0, w1, sign, tie); });
}


} // namespace signopt::kernels

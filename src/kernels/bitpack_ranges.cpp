// Bit ranges of packed vectors (signopt/kernels/bitpack.h): placing, reading and counting the bits of n
// coordinates at any bit offset, a word at a time.
#include <signopt/kernels/bitpack_words.h>

#include "bitpack_internal.h"

#include <algorithm>
#include <cstdint>
#include <string>

namespace signopt::kernels {

using detail::bitpack_fail;

void or_bits_at(const uint64_t* src, int64_t n, uint64_t* dst, int64_t offset) {
  if (n < 0 || offset < 0) {
    bitpack_fail(
        "or_bits_at: n and offset must be >= 0, got n = " + std::to_string(n) + ", offset = " + std::to_string(offset));
  }
  if (n == 0) {
    return;
  }
  const int64_t words = packed_words(n);
  const int64_t q = offset / 64;
  const int r = static_cast<int>(offset % 64);
  const int64_t last = (offset + n - 1) / 64; // the last destination word holding one of the bits
  // The first and last destination words may hold bits of a neighbouring range that another thread is
  // placing at the same time: they take an atomic OR. The words between belong to this range alone.
  const auto put = [&](int64_t k, uint64_t v) {
    if (v == 0) {
      return;
    }
    if (k == q || k == last) {
      __atomic_fetch_or(dst + k, v, __ATOMIC_RELAXED);
    } else {
      dst[k] |= v;
    }
  };
  // Source word k lands in bits [r, 64) of destination word q + k and, for r > 0, bits [0, r) of word
  // q + k + 1 while that word holds coordinates.
  for (int64_t k = 0; k < words; ++k) {
    put(q + k, src[k] << r);
    if (r != 0 && q + k + 1 <= last) {
      put(q + k + 1, src[k] >> (64 - r));
    }
  }
}

void read_bits_at(const uint64_t* src, int64_t offset, int64_t n, uint64_t* dst) {
  if (n < 0 || offset < 0) {
    bitpack_fail(
        "read_bits_at: n and offset must be >= 0, got n = " + std::to_string(n) + ", offset = " + std::to_string(offset));
  }
  const int64_t words = packed_words(n);
  const int64_t q = offset / 64;
  const int r = static_cast<int>(offset % 64);
  const int64_t last = packed_words(offset + n) - 1; // the last source word holding a wanted bit
  for (int64_t k = 0; k < words; ++k) {
    uint64_t v = src[q + k] >> r;
    if (r != 0 && q + k + 1 <= last) {
      v |= src[q + k + 1] << (64 - r);
    }
    dst[k] = v;
  }
  if (n % 64 != 0) {
    dst[words - 1] &= (uint64_t{1} << (n % 64)) - 1;
  }
}

int64_t count_bits_at(const uint64_t* src, int64_t offset, int64_t n) {
  if (n < 0 || offset < 0) {
    bitpack_fail(
        "count_bits_at: n and offset must be >= 0, got n = " + std::to_string(n) + ", offset = " + std::to_string(offset));
  }
  if (offset % 64 == 0) { // aligned: whole words in place, then the tail
    const uint64_t* w = src + offset / 64;
    int64_t count = 0;
    for (int64_t k = 0; k < n / 64; ++k) {
      count += __builtin_popcountll(w[k]);
    }
    if (n % 64 != 0) {
      count += __builtin_popcountll(w[n / 64] & ((uint64_t{1} << (n % 64)) - 1));
    }
    return count;
  }
  constexpr int64_t kBlock = 4096; // bits realigned per read_bits_at call
  uint64_t buffer[kBlock / 64];
  int64_t count = 0;
  for (int64_t o = 0; o < n; o += kBlock) {
    const int64_t len = std::min(kBlock, n - o);
    read_bits_at(src, offset + o, len, buffer);
    for (int64_t k = 0; k < packed_words(len); ++k) {
      count += __builtin_popcountll(buffer[k]);
    }
  }
  return count;
}

} // namespace signopt::kernels

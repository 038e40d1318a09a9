// The plain references of the sign-packing kernels (signopt/kernels/bitpack.h): one coordinate at a time,
// written from the definitions; the tests hold the kernels of bitpack.cpp to them bit for bit.
#include <signopt/kernels/bitpack_words.h>

#include "bitpack_internal.h"

#include <cstdint>

namespace signopt::kernels {

using detail::check_vote_workers;

// ---- references ---------------------------------------------------------------------------------------------

namespace reference {
namespace {

template <typename T>
int64_t planes(const T* x, int64_t n, uint64_t* sign, uint64_t* zero) {
  for (int64_t w = 0; w < packed_words(n); ++w) {
    sign[w] = 0;
    zero[w] = 0;
  }
  int64_t zeros = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] > T(0)) {
      sign[i / 64] |= uint64_t{1} << (i % 64);
    } else if (!(x[i] < T(0))) {
      zero[i / 64] |= uint64_t{1} << (i % 64);
      ++zeros;
    }
  }
  return zeros;
}

template <typename T>
int64_t pack(const T* x, int64_t n, uint64_t* out, ZeroSign zero, const DrawKey& key) {
  for (int64_t w = 0; w < packed_words(n); ++w) {
    out[w] = 0;
  }
  int64_t zeros = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool bit;
    if (x[i] > T(0)) {
      bit = true;
    } else if (x[i] < T(0)) {
      bit = false;
    } else {
      ++zeros;
      if (zero == ZeroSign::Positive) {
        bit = true;
      } else {
        const PhiloxBlock b = key.block(static_cast<uint64_t>(i / 128));
        bit = (b.x[(i / 32) % 4] >> (i % 32)) & 1;
      }
    }
    if (bit) {
      out[i / 64] |= uint64_t{1} << (i % 64);
    }
  }
  return zeros;
}

bool bit_at(const uint64_t* v, int64_t i) {
  return (v[i / 64] >> (i % 64)) & 1;
}

template <typename T>
void unpack(const uint64_t* bits, const uint64_t* zero_mask, int64_t n, T scale, T* out) {
  for (int64_t i = 0; i < n; ++i) {
    if (zero_mask != nullptr && bit_at(zero_mask, i)) {
      out[i] = T(0);
    } else {
      out[i] = bit_at(bits, i) ? scale : -scale;
    }
  }
}

} // namespace

int64_t pack_signs(const float* x, int64_t n, uint64_t* out, ZeroSign zero, const DrawKey& key) {
  return pack(x, n, out, zero, key);
}

int64_t pack_signs(const double* x, int64_t n, uint64_t* out, ZeroSign zero, const DrawKey& key) {
  return pack(x, n, out, zero, key);
}

void unpack_signs(const uint64_t* bits, const uint64_t* zero_mask, int64_t n, float scale, float* out) {
  unpack(bits, zero_mask, n, scale, out);
}

void unpack_signs(const uint64_t* bits, const uint64_t* zero_mask, int64_t n, double scale, double* out) {
  unpack(bits, zero_mask, n, scale, out);
}

void majority_vote(const uint64_t* const* inputs, int64_t workers, int64_t n, uint64_t* sign, uint64_t* tie) {
  check_vote_workers("reference::majority_vote", workers);
  for (int64_t w = 0; w < packed_words(n); ++w) {
    sign[w] = 0;
    if (tie != nullptr) {
      tie[w] = 0;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t ones = 0;
    for (int64_t k = 0; k < workers; ++k) {
      ones += bit_at(inputs[k], i);
    }
    if (2 * ones > workers) {
      sign[i / 64] |= uint64_t{1} << (i % 64);
    }
    if (tie != nullptr && 2 * ones == workers) {
      tie[i / 64] |= uint64_t{1} << (i % 64);
    }
  }
}

int64_t pack_sign_planes(const float* x, int64_t n, uint64_t* sign, uint64_t* zero) {
  return planes(x, n, sign, zero);
}

int64_t pack_sign_planes(const double* x, int64_t n, uint64_t* sign, uint64_t* zero) {
  return planes(x, n, sign, zero);
}

void or_bits_at(const uint64_t* src, int64_t n, uint64_t* dst, int64_t offset) {
  for (int64_t i = 0; i < n; ++i) {
    if ((src[i / 64] >> (i % 64)) & 1) {
      const int64_t j = offset + i;
      dst[j / 64] |= uint64_t{1} << (j % 64);
    }
  }
}

void read_bits_at(const uint64_t* src, int64_t offset, int64_t n, uint64_t* dst) {
  for (int64_t w = 0; w < packed_words(n); ++w) {
    dst[w] = 0;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = offset + i;
    if ((src[j / 64] >> (j % 64)) & 1) {
      dst[i / 64] |= uint64_t{1} << (i % 64);
    }
  }
}

int64_t count_bits_at(const uint64_t* src, int64_t offset, int64_t n) {
  int64_t count = 0;
  for (int64_t j = offset; j < offset + n; ++j) {
    count += static_cast<int64_t>((src[j / 64] >> (j % 64)) & 1);
  }
  return count;
}

} // namespace reference

} // namespace signopt::kernels

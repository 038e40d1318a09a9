// 1-bit sign packing, unpacking and the bitwise majority vote on plain arrays (algorithms.md section 7):
// the packed layout, the zero-sign keys and the raw kernels with their plain references. Torch-free: the
// fused kernels' core uses it; signopt/kernels/bitpack.h adds the tensor API.
#pragma once

#include <signopt/kernels/enums.h>
#include <signopt/kernels/philox.h>

#include <cstdint>

namespace signopt::kernels {

// Layout of a packed sign vector of n coordinates: ceil(n / 64) 64-bit words; coordinate i is bit
// i % 64 of word i / 64 (bit 0 = least significant). A set bit means +1, a clear bit -1. The bits of the
// last word past n are always 0. As tensors, packed vectors are 1-D int64 tensors of those words (the
// bits are what matters; int64 only because torch has no uint64 for every operation the transport needs).

/// Number of 64-bit words that hold n packed coordinates: ceil(n / 64). Throws std::invalid_argument
/// for n < 0.
int64_t packed_words(int64_t n);

/// The Philox stream reserved for zero-sign coins (zero_sign_key), distinct from the dither streams.
constexpr uint64_t kZeroSignStream = 0x5A3051000ull;

/// The key of the zero-sign coins of one packed vector: run seed, optimizer step, the worker's rank and
/// the bucket (or parameter) index. Different ranks get independent coins, so zeros on several workers
/// do not agree with each other by construction. Coordinate i of a packed vector uses bit i % 32 of
/// lane (i / 32) % 4 of key.block(i / 128): the draw depends only on the key and i, never on threads.
DrawKey zero_sign_key(uint64_t seed, uint64_t step, uint64_t rank, uint64_t bucket = 0);

// ---- raw kernels ------------------------------------------------------------------------------------
// The same operations on plain arrays, checking only n >= 0 and the worker count; multi-threaded over words
// (kernels' parallel loop with a fixed grain; the results never depend on the thread count) and vectorized (AVX-512, AVX2 or
// scalar, chosen at run time). `out`, `sign`, `tie` have packed_words(n) words; inputs must not overlap
// outputs.

/// Packs x[0..n) into out; returns the number of zero/NaN coordinates.
int64_t pack_signs(const float* x, int64_t n, uint64_t* out, ZeroSign zero, const DrawKey& key);
int64_t pack_signs(const double* x, int64_t n, uint64_t* out, ZeroSign zero, const DrawKey& key);

/// Writes out[0..n) = zero_mask bit ? 0 : (bit ? scale : -scale); zero_mask may be null (no zeros).
void unpack_signs(const uint64_t* bits, const uint64_t* zero_mask, int64_t n, float scale, float* out);
void unpack_signs(const uint64_t* bits, const uint64_t* zero_mask, int64_t n, double scale, double* out);

/// Votes over `workers` packed vectors inputs[0..workers) of `words` words each, with bit-sliced
/// counters (64 coordinates per word operation). Bits past the last coordinate must be 0 in the inputs
/// (pack_signs guarantees it); they stay 0 in the outputs. `tie` may be null when not wanted.
void majority_vote(const uint64_t* const* inputs, int64_t workers, int64_t words, uint64_t* sign, uint64_t* tie);

// The pieces of a packed exchange whose signs come straight from a fused optimizer pass (kernels/fused.h,
// sign_descent_pack): each parameter's signs are packed chunk by chunk, placed at the parameter's bit offset
// in the bucket, and the zeros are resolved once for the whole bucket. These run on the calling thread.

/// Packs x[0..n) into two planes of packed_words(n) words: `sign` has a 1 where x > 0, `zero` a 1 where
/// x is 0, -0 or NaN (neither > 0 nor < 0); bits past n are 0 in both. Returns the number of zero bits.
/// resolve_zero_signs then turns the planes into exactly what pack_signs gives.
int64_t pack_sign_planes(const float* x, int64_t n, uint64_t* sign, uint64_t* zero);
int64_t pack_sign_planes(const double* x, int64_t n, uint64_t* sign, uint64_t* zero);

/// ORs bits [0, n) of `src` (packed_words(n) words, bits past n 0) into bits [offset, offset + n) of `dst`,
/// which must have at least packed_words(offset + n) words; no other word of dst is touched. The first and
/// last destination words take an atomic OR, so threads may place disjoint bit ranges of one vector at once
/// (the fused pass of the packed path places each chunk this way).
void or_bits_at(const uint64_t* src, int64_t n, uint64_t* dst, int64_t offset);

/// Writes bits [offset, offset + n) of `src` (at least packed_words(offset + n) words) to bits [0, n) of
/// `dst` (packed_words(n) words); bits of dst past n are 0.
void read_bits_at(const uint64_t* src, int64_t offset, int64_t n, uint64_t* dst);

/// The number of set bits among bits [offset, offset + n) of `src` (at least packed_words(offset + n)
/// words), e.g. the zeros of one parameter in a bucket's zero plane. Throws std::invalid_argument for a
/// negative n or offset.
int64_t count_bits_at(const uint64_t* src, int64_t offset, int64_t n);

/// Encodes the zeros of a packed vector as pack_signs does: where `zero` has a 1, the sign bit becomes 1
/// (ZeroSign::Positive) or the coordinate's coin under `key` (ZeroSign::Random; coordinate i of the vector
/// gets the coin pack_signs would give index i). Other bits are left alone.
void resolve_zero_signs(uint64_t* sign, const uint64_t* zero, int64_t words, ZeroSign rule, const DrawKey& key);

namespace reference {
// Plain one-coordinate-at-a-time versions of the raw kernels, written from the definitions above; the
// tests require the fused kernels to match them bit for bit.

int64_t pack_signs(const float* x, int64_t n, uint64_t* out, ZeroSign zero, const DrawKey& key);
int64_t pack_signs(const double* x, int64_t n, uint64_t* out, ZeroSign zero, const DrawKey& key);
void unpack_signs(const uint64_t* bits, const uint64_t* zero_mask, int64_t n, float scale, float* out);
void unpack_signs(const uint64_t* bits, const uint64_t* zero_mask, int64_t n, double scale, double* out);
/// Counts each coordinate's 1 bits over the workers; n is the number of coordinates.
void majority_vote(const uint64_t* const* inputs, int64_t workers, int64_t n, uint64_t* sign, uint64_t* tie);
int64_t pack_sign_planes(const float* x, int64_t n, uint64_t* sign, uint64_t* zero);
int64_t pack_sign_planes(const double* x, int64_t n, uint64_t* sign, uint64_t* zero);
void or_bits_at(const uint64_t* src, int64_t n, uint64_t* dst, int64_t offset);
void read_bits_at(const uint64_t* src, int64_t offset, int64_t n, uint64_t* dst);
int64_t count_bits_at(const uint64_t* src, int64_t offset, int64_t n);
} // namespace reference

} // namespace signopt::kernels

// Fused CPU second half of a packed exchange: the agreed sign direction applied to p
// (apply_packed_direction), element_rules.h's ApplyDirectionRule over each chunk's unpacked direction.
#include <signopt/kernels/bitpack_words.h>

#include "fused_cpu_internal.h"

#include <vector>

namespace signopt::kernels::cpu {

using detail::chunks_of;
using detail::kChunk;
using detail::kGrainChunks;

namespace {

template <typename T, bool kCalib, bool kWd>
void apply_packed_typed(
    T* p,
    int64_t n,
    double lr,
    double wd,
    bool decoupled,
    const uint64_t* sign,
    const uint64_t* zero,
    int64_t bit_offset,
    const T* g,
    double* dot_gg) {
  using Rule = rules::ApplyDirectionRule<T, kCalib, kWd>;
  const int64_t chunks = chunks_of(n);
  const T wd_t = static_cast<T>(wd);
  const T decay = static_cast<T>(rules::decoupled_decay(lr, wd, decoupled));
  const T neg_lr = static_cast<T>(-lr);
  std::vector<double> dots(kCalib ? chunks : 0), ggs(kCalib ? chunks : 0);
  detail::parallel_for(0, chunks, kGrainChunks, [&](int64_t begin, int64_t end) {
    uint64_t sw[kChunk / 64], zw[kChunk / 64];
    std::vector<T> u(kChunk);
    for (int64_t c = begin; c < end; ++c) {
      const int64_t o = c * kChunk;
      const int64_t len = std::min(n, o + kChunk) - o;
      read_bits_at(sign, bit_offset + o, len, sw);
      if (zero != nullptr) {
        read_bits_at(zero, bit_offset + o, len, zw);
      }
      unpack_signs(sw, zero != nullptr ? zw : nullptr, len, T(1), u.data());
      // The rule of this chunk: p and g from element o, u the chunk's unpacked direction.
      const Rule rule{p + o, kCalib ? g + o : nullptr, u.data(), wd_t, decay, neg_lr};
      if constexpr (kCalib) {
        detail::two_sums_chunk<Rule, false>(rule, 0, len, nullptr, &dots[c], &ggs[c]);
      } else {
        detail::elementwise_chunk<Rule, false>(rule, 0, len, nullptr);
      }
    }
  });
  if constexpr (kCalib) {
    dot_gg[0] = detail::sum_in_order(dots);
    dot_gg[1] = detail::sum_in_order(ggs);
  }
}

} // namespace

void apply_packed_direction(
    Dtype dtype,
    void* p,
    int64_t n,
    double lr,
    double weight_decay,
    bool decoupled,
    const uint64_t* sign,
    const uint64_t* zero,
    int64_t bit_offset,
    const void* g,
    double* dot_gg) {
  const bool coupled_wd = !decoupled && weight_decay != 0.0;
  detail::with_float_type(dtype, [&](auto zero_value) {
    using T = decltype(zero_value);
    T* pt = static_cast<T*>(p);
    const T* gt = dot_gg != nullptr ? static_cast<const T*>(g) : nullptr;
    if (dot_gg == nullptr) {
      apply_packed_typed<T, false, false>(pt, n, lr, weight_decay, decoupled, sign, zero, bit_offset, gt, dot_gg);
    } else if (coupled_wd) {
      apply_packed_typed<T, true, true>(pt, n, lr, weight_decay, decoupled, sign, zero, bit_offset, gt, dot_gg);
    } else {
      apply_packed_typed<T, true, false>(pt, n, lr, weight_decay, decoupled, sign, zero, bit_offset, gt, dot_gg);
    }
  });
}

} // namespace signopt::kernels::cpu

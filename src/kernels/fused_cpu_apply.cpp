// Fused CPU second half of a packed exchange: the agreed sign direction applied to p (apply_packed_direction).
#include <signopt/kernels/bitpack.h>
#include <signopt/kernels/fused.h>

#include "chunk_sum.h"
#include "clones.h"
#include "fused_cpu_internal.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>
#include <vector>

namespace signopt::kernels {

using detail::check_packed_tensor;
using detail::chunks_of;
using detail::g_fused_calls;
using detail::kChunk;
using detail::kGrainChunks;
using detail::packed_target;

namespace {

// The second half: p = p decay + neg_lr u with u in {-1, 0, +1} unpacked from the agreed bits.
template <typename T>
SIGNOPT_ALWAYS_INLINE void apply_chunk(T* p, const T* u, int64_t n, T decay, T neg_lr) {
  for (int64_t i = 0; i < n; ++i) {
    p[i] = p[i] * decay + neg_lr * u[i];
  }
}

// apply_chunk plus the hybrid's calibration sums over the chunk, from p before its update: <u, g'> and
// ||g'||^2 with g' = g + p wd (kWd: coupled decay) or g, both in chunk_sum8's order (kernels::dot's).
template <typename T, bool kWd>
SIGNOPT_ALWAYS_INLINE void apply_calib_chunk(
    T* p,
    const T* g,
    const T* u,
    int64_t n,
    T wd,
    T decay,
    T neg_lr,
    double* dot,
    double* gg) {
  detail::chunk_sum8_pair(
      n,
      [&](int64_t i, double& d, double& q) SIGNOPT_ALWAYS_INLINE_LAMBDA {
        T gi = g[i];
        if constexpr (kWd) {
          gi = gi + p[i] * wd;
        }
        d = static_cast<double>(u[i]) * static_cast<double>(gi);
        q = static_cast<double>(gi) * static_cast<double>(gi);
        p[i] = p[i] * decay + neg_lr * u[i];
      },
      dot,
      gg);
}

SIGNOPT_CLONES void apply_calib_chunk_f32(
    bool wd_on,
    float* p,
    const float* g,
    const float* u,
    int64_t n,
    float wd,
    float decay,
    float neg_lr,
    double* dot,
    double* gg) {
  if (wd_on) {
    apply_calib_chunk<float, true>(p, g, u, n, wd, decay, neg_lr, dot, gg);
  } else {
    apply_calib_chunk<float, false>(p, g, u, n, wd, decay, neg_lr, dot, gg);
  }
}

SIGNOPT_CLONES void apply_calib_chunk_f64(
    bool wd_on,
    double* p,
    const double* g,
    const double* u,
    int64_t n,
    double wd,
    double decay,
    double neg_lr,
    double* dot,
    double* gg) {
  if (wd_on) {
    apply_calib_chunk<double, true>(p, g, u, n, wd, decay, neg_lr, dot, gg);
  } else {
    apply_calib_chunk<double, false>(p, g, u, n, wd, decay, neg_lr, dot, gg);
  }
}

SIGNOPT_CLONES void apply_chunk_f32(float* p, const float* u, int64_t n, float decay, float neg_lr) {
  apply_chunk<float>(p, u, n, decay, neg_lr);
}

SIGNOPT_CLONES void apply_chunk_f64(double* p, const double* u, int64_t n, double decay, double neg_lr) {
  apply_chunk<double>(p, u, n, decay, neg_lr);
}

template <typename T>
void apply_packed_typed(
    torch::Tensor& p_t,
    double lr,
    double wd,
    bool decoupled,
    const uint64_t* sign,
    const uint64_t* zero,
    int64_t bit_offset,
    const T* g,
    double* dot_gg) {
  T* p = p_t.data_ptr<T>();
  const int64_t n = p_t.numel();
  const int64_t chunks = chunks_of(n);
  const T decay = static_cast<T>(decoupled ? 1.0 - lr * wd : 1.0);
  const T neg_lr = static_cast<T>(-lr);
  const bool coupled_wd = !decoupled && wd != 0.0;
  const T wd_t = static_cast<T>(wd);
  std::vector<double> dots(dot_gg ? chunks : 0), ggs(dot_gg ? chunks : 0);
  at::parallel_for(0, chunks, kGrainChunks, [&](int64_t begin, int64_t end) {
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
      if (dot_gg != nullptr) {
        if constexpr (std::is_same_v<T, float>) {
          apply_calib_chunk_f32(coupled_wd, p + o, g + o, u.data(), len, wd_t, decay, neg_lr, &dots[c], &ggs[c]);
        } else {
          apply_calib_chunk_f64(coupled_wd, p + o, g + o, u.data(), len, wd_t, decay, neg_lr, &dots[c], &ggs[c]);
        }
      } else if constexpr (std::is_same_v<T, float>) {
        apply_chunk_f32(p + o, u.data(), len, decay, neg_lr);
      } else {
        apply_chunk_f64(p + o, u.data(), len, decay, neg_lr);
      }
    }
  });
  if (dot_gg != nullptr) {
    double dot = 0, gg = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      dot += dots[c];
      gg += ggs[c];
    }
    dot_gg[0] = dot;
    dot_gg[1] = gg;
  }
}

} // namespace

void apply_packed_direction(
    torch::Tensor& p,
    double lr,
    double weight_decay,
    bool decoupled,
    const torch::Tensor& sign_words,
    const torch::Tensor& zero_words,
    int64_t bit_offset,
    const torch::Tensor& g,
    double* dot_gg) {
  check_packed_tensor("apply_packed_direction", p);
  TORCH_CHECK(bit_offset >= 0, "signopt::kernels::apply_packed_direction: bit_offset must be >= 0, got ", bit_offset);
  const int64_t end = bit_offset + p.numel();
  const uint64_t* sign = packed_target("apply_packed_direction", "sign_words", sign_words, end);
  const uint64_t* zero =
      zero_words.defined() ? packed_target("apply_packed_direction", "zero_words", zero_words, end) : nullptr;
  if (dot_gg != nullptr) {
    TORCH_CHECK(
        g.defined() && g.device().is_cpu() && g.is_contiguous() && g.scalar_type() == p.scalar_type() &&
            g.numel() == p.numel(),
        "signopt::kernels::apply_packed_direction: with dot_gg, g must be a contiguous CPU tensor of p's dtype and "
        "size");
  }
  ++g_fused_calls;
  if (p.scalar_type() == at::kFloat) {
    apply_packed_typed<float>(
        p, lr, weight_decay, decoupled, sign, zero, bit_offset, dot_gg ? g.data_ptr<float>() : nullptr, dot_gg);
  } else {
    apply_packed_typed<double>(
        p, lr, weight_decay, decoupled, sign, zero, bit_offset, dot_gg ? g.data_ptr<double>() : nullptr, dot_gg);
  }
}

} // namespace signopt::kernels

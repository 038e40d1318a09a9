// Fused CPU sign descent (SignSGD, Signum, the hybrid's sign phase): the step and a packed exchange's first half.
#include <signopt/kernels/bitpack.h>
#include <signopt/kernels/fused.h>
#include <signopt/kernels/noise.h>
#include <signopt/kernels/philox.h>
#include <signopt/kernels/reductions.h>

#include "chunk_sum.h"
#include "clones.h"
#include "fused_cpu_internal.h"
#include "noise_avx512.h"
#ifdef SIGNOPT_WITH_CUDA
#include "fused_cuda_dispatch.h"
#endif

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <type_traits>
#include <vector>

namespace signopt::kernels {

using detail::check_packed_tensor;
using detail::chunks_of;
using detail::for_each_chunk;
using detail::g_fused_calls;
using detail::kChunk;
using detail::kGrainChunks;
using detail::packed_target;
using detail::sgn;

namespace {

// ---- noise ---------------------------------------------------------------------------------------

// Unit noise for elements [first, first + count) of one tensor; `first` is a multiple of 4. Whole
// groups of 16 Philox blocks take the hand-vectorized AVX-512 path where the CPU has it; the rest
// (and CPUs without AVX-512) the loops below, which GCC vectorizes per clone. Both give the same bits.
SIGNOPT_CLONES void fill_noise(float* out, int64_t first, int64_t count, DrawKey key, bool gaussian) {
  uint32_t raw[kChunk];
  const int64_t blocks = (count + 3) / 4;
  const uint64_t block0 = static_cast<uint64_t>(first / 4);
  const int64_t done = detail::avx512_noise_available() ? detail::fill_noise_avx512(out, block0, blocks, key, gaussian) : 0;
  for (int64_t b = done; b < blocks; ++b) {
    const PhiloxBlock bits = key.block(block0 + static_cast<uint64_t>(b));
    raw[4 * b] = bits.x[0];
    raw[4 * b + 1] = bits.x[1];
    raw[4 * b + 2] = bits.x[2];
    raw[4 * b + 3] = bits.x[3];
  }
  if (gaussian) {
    for (int64_t j = 2 * done; j < 2 * blocks; ++j) {
      const float u1 = static_cast<float>((raw[2 * j] >> 8) + 1u) * 5.9604644775390625e-8f;
      const float u2 = noise_uniform24(raw[2 * j + 1]);
      const float r = std::sqrt(-2.0f * noise_log(u1));
      float s, c;
      noise_sincos_2pi(u2, &s, &c);
      out[2 * j] = r * c;
      out[2 * j + 1] = r * s;
    }
  } else {
    for (int64_t i = 4 * done; i < 4 * blocks; ++i) {
      out[i] = static_cast<float>(raw[i] >> 8) * 1.1920928955078125e-7f - 1.0f;
    }
  }
}

// ---- sign descent (SignSGD, Signum, the hybrid's sign phase) -------------------------------------

template <typename T>
struct SignArgs {
  T wd; // coupled weight decay (0 when decoupled)
  T decay; // decoupled factor 1 - lr wd (1 when coupled)
  T beta, one_minus_beta;
  T neg_lr;
  T s_grad, s_x; // dither scale on the gradient / on the sign argument (0 when unused)
};

enum MomentumMode { kNoMomentum = 0, kUpdateMomentum = 1, kMomentumReady = 2 };

// The sign argument x of one element from its gradient gi (weight decay applied) and unit noise z: the
// dithered gradient, the momentum update (stored into m[i]) or the ready momentum, then the noise after it.
template <typename T, int kMode>
SIGNOPT_ALWAYS_INLINE T sign_argument(T gi, T z, T* m, int64_t i, const SignArgs<T>& a) {
  const T gn = gi + z * a.s_grad;
  T x;
  if constexpr (kMode == kUpdateMomentum) {
    x = m[i] * a.beta + gn * a.one_minus_beta;
    m[i] = x;
  } else if constexpr (kMode == kMomentumReady) {
    x = m[i];
  } else {
    x = gn;
  }
  return x + z * a.s_x;
}

// The per-element rule; statistics of g' (dot, gg) when kCalib.
template <typename T, int kMode, bool kCalib>
SIGNOPT_ALWAYS_INLINE void sign_chunk(
    T* p,
    const T* g,
    T* m,
    const float* noise,
    int64_t n,
    const SignArgs<T>& a,
    double* dot,
    double* gg) {
  auto element = [&](int64_t i, double* dot_term, double* gg_term) SIGNOPT_ALWAYS_INLINE_LAMBDA {
    const T gi = g[i] + p[i] * a.wd;
    const T u = sgn(sign_argument<T, kMode>(gi, static_cast<T>(noise[i]), m, i, a));
    p[i] = p[i] * a.decay + a.neg_lr * u;
    if constexpr (kCalib) {
      *dot_term = static_cast<double>(u) * static_cast<double>(gi);
      *gg_term = static_cast<double>(gi) * static_cast<double>(gi);
    }
  };
  if constexpr (kCalib) {
    detail::chunk_sum8_pair(
        n, [&](int64_t i, double& td, double& tg) SIGNOPT_ALWAYS_INLINE_LAMBDA { element(i, &td, &tg); }, dot, gg);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      element(i, nullptr, nullptr);
    }
  }
}

template <typename T>
SIGNOPT_ALWAYS_INLINE void sign_chunk_dispatch(
    int mode,
    bool calib,
    T* p,
    const T* g,
    T* m,
    const float* noise,
    int64_t n,
    const SignArgs<T>& a,
    double* dot,
    double* gg) {
  switch (mode * 2 + (calib ? 1 : 0)) {
    case 0:
      return sign_chunk<T, kNoMomentum, false>(p, g, m, noise, n, a, dot, gg);
    case 1:
      return sign_chunk<T, kNoMomentum, true>(p, g, m, noise, n, a, dot, gg);
    case 2:
      return sign_chunk<T, kUpdateMomentum, false>(p, g, m, noise, n, a, dot, gg);
    case 3:
      return sign_chunk<T, kUpdateMomentum, true>(p, g, m, noise, n, a, dot, gg);
    case 4:
      return sign_chunk<T, kMomentumReady, false>(p, g, m, noise, n, a, dot, gg);
    default:
      return sign_chunk<T, kMomentumReady, true>(p, g, m, noise, n, a, dot, gg);
  }
}

SIGNOPT_CLONES void sign_chunk_f32(
    int mode,
    bool calib,
    float* p,
    const float* g,
    float* m,
    const float* noise,
    int64_t n,
    const SignArgs<float>& a,
    double* dot,
    double* gg) {
  sign_chunk_dispatch<float>(mode, calib, p, g, m, noise, n, a, dot, gg);
}

SIGNOPT_CLONES void sign_chunk_f64(
    int mode,
    bool calib,
    double* p,
    const double* g,
    double* m,
    const float* noise,
    int64_t n,
    const SignArgs<double>& a,
    double* dot,
    double* gg) {
  sign_chunk_dispatch<double>(mode, calib, p, g, m, noise, n, a, dot, gg);
}

// The sign argument x of sign_chunk (momentum updated as there) written to xs instead of moving p: the
// first half of a step whose direction is agreed by a packed exchange (sign_descent_pack). kWd: coupled
// weight decay is on (p is read only then).
template <typename T, int kMode, bool kWd>
SIGNOPT_ALWAYS_INLINE void argument_chunk(
    const T* p,
    const T* g,
    T* m,
    const float* noise,
    int64_t n,
    const SignArgs<T>& a,
    T* xs) {
  for (int64_t i = 0; i < n; ++i) {
    T gi = g[i];
    if constexpr (kWd) {
      gi = gi + p[i] * a.wd;
    }
    xs[i] = sign_argument<T, kMode>(gi, static_cast<T>(noise[i]), m, i, a);
  }
}

template <typename T>
SIGNOPT_ALWAYS_INLINE void argument_dispatch(
    int mode,
    bool wd,
    const T* p,
    const T* g,
    T* m,
    const float* noise,
    int64_t n,
    const SignArgs<T>& a,
    T* xs) {
  switch (mode * 2 + (wd ? 1 : 0)) {
    case 0:
      return argument_chunk<T, kNoMomentum, false>(p, g, m, noise, n, a, xs);
    case 1:
      return argument_chunk<T, kNoMomentum, true>(p, g, m, noise, n, a, xs);
    case 2:
      return argument_chunk<T, kUpdateMomentum, false>(p, g, m, noise, n, a, xs);
    case 3:
      return argument_chunk<T, kUpdateMomentum, true>(p, g, m, noise, n, a, xs);
    case 4:
      return argument_chunk<T, kMomentumReady, false>(p, g, m, noise, n, a, xs);
    default:
      return argument_chunk<T, kMomentumReady, true>(p, g, m, noise, n, a, xs);
  }
}

SIGNOPT_CLONES void argument_chunk_f32(
    int mode,
    bool wd,
    const float* p,
    const float* g,
    float* m,
    const float* noise,
    int64_t n,
    const SignArgs<float>& a,
    float* xs) {
  argument_dispatch<float>(mode, wd, p, g, m, noise, n, a, xs);
}

SIGNOPT_CLONES void argument_chunk_f64(
    int mode,
    bool wd,
    const double* p,
    const double* g,
    double* m,
    const float* noise,
    int64_t n,
    const SignArgs<double>& a,
    double* xs) {
  argument_dispatch<double>(mode, wd, p, g, m, noise, n, a, xs);
}

// x = g' (kMode 0) or the updated momentum m (kMode 1, stored); one statistic of x per chunk:
// kStat 1 sum x^2, 3 sum |x| (both in chunk_sum8's order), 2 max |x|.
template <typename T, int kMode, int kStat>
SIGNOPT_ALWAYS_INLINE double stats_chunk(const T* p, const T* g, T* m, int64_t n, const SignArgs<T>& a) {
  auto x_at = [&](int64_t i) SIGNOPT_ALWAYS_INLINE_LAMBDA {
    const T gi = g[i] + p[i] * a.wd;
    if constexpr (kMode == kUpdateMomentum) {
      const T x = m[i] * a.beta + gi * a.one_minus_beta;
      m[i] = x;
      return x;
    } else {
      return gi;
    }
  };
  // x first (a plain loop that vectorizes, with the momentum store), then the statistic over the
  // buffer in chunk_sum8's order.
  T xs[kChunk];
  for (int64_t i = 0; i < n; ++i) {
    xs[i] = x_at(i);
  }
  if constexpr (kStat == 2) {
    T mx = T(0);
    for (int64_t i = 0; i < n; ++i) {
      const T ax = xs[i] < T(0) ? -xs[i] : xs[i];
      mx = ax > mx ? ax : mx;
    }
    return static_cast<double>(mx);
  } else {
    return detail::chunk_sum8(n, [&](int64_t i) SIGNOPT_ALWAYS_INLINE_LAMBDA {
      const double v = static_cast<double>(xs[i]);
      if constexpr (kStat == 1) {
        return v * v;
      } else {
        return v < 0 ? -v : v;
      }
    });
  }
}

template <typename T>
SIGNOPT_ALWAYS_INLINE double stats_dispatch(
    int mode,
    int stat,
    const T* p,
    const T* g,
    T* m,
    int64_t n,
    const SignArgs<T>& a) {
  const bool mom = mode == kUpdateMomentum;
  switch (stat) {
    case 1:
      return mom ? stats_chunk<T, kUpdateMomentum, 1>(p, g, m, n, a) : stats_chunk<T, kNoMomentum, 1>(p, g, m, n, a);
    case 2:
      return mom ? stats_chunk<T, kUpdateMomentum, 2>(p, g, m, n, a) : stats_chunk<T, kNoMomentum, 2>(p, g, m, n, a);
    default:
      return mom ? stats_chunk<T, kUpdateMomentum, 3>(p, g, m, n, a) : stats_chunk<T, kNoMomentum, 3>(p, g, m, n, a);
  }
}

SIGNOPT_CLONES double stats_chunk_f32(
    int mode,
    int stat,
    const float* p,
    const float* g,
    float* m,
    int64_t n,
    const SignArgs<float>& a) {
  return stats_dispatch<float>(mode, stat, p, g, m, n, a);
}

SIGNOPT_CLONES double stats_chunk_f64(
    int mode,
    int stat,
    const double* p,
    const double* g,
    double* m,
    int64_t n,
    const SignArgs<double>& a) {
  return stats_dispatch<double>(mode, stat, p, g, m, n, a);
}

template <typename T>
SignArgs<T> sign_args(double lr, double wd, bool decoupled, double beta) {
  SignArgs<T> a;
  a.wd = static_cast<T>(decoupled ? 0.0 : wd);
  a.decay = static_cast<T>(decoupled ? 1.0 - lr * wd : 1.0);
  a.beta = static_cast<T>(beta);
  a.one_minus_beta = static_cast<T>(1.0 - beta);
  a.neg_lr = static_cast<T>(-lr);
  a.s_grad = T(0);
  a.s_x = T(0);
  return a;
}

// The dither scale s_t of one tensor (0 without dithering), stored into `a` (s_grad or s_x). A
// data-dependent scale takes a statistics pass first, which also updates the momentum when the noise goes
// after it (`mode` becomes kMomentumReady then).
// The statistic of a data-dependent scale as the stats chunks number it (their kStat): 1 sum x^2 (rms),
// 2 max |x| (max3sigma), 3 sum |x| (meanabs), which is DitherScale's own numbering.
static_assert(static_cast<int>(DitherScale::Rms) == 1 && static_cast<int>(DitherScale::Max3Sigma) == 2 &&
              static_cast<int>(DitherScale::MeanAbs) == 3);
constexpr int stat_of(DitherScale scale) {
  return static_cast<int>(scale);
}

template <typename T>
double prepare_dither(const T* p, const T* g, T* m, int64_t n, const DitherArgs& d, SignArgs<T>& a, int& mode) {
  const int64_t chunks = chunks_of(n);
  double s = 0.0;
  if (d.enabled) {
    double base = 1.0;
    if (d.scale != DitherScale::Absolute && n > 0) {
      // Pass 1: the statistic of the tensor that gets the noise (and the momentum update, if the
      // noise goes after it), in the fixed chunk order.
      const int stats_mode = d.target_gradient ? kNoMomentum : mode;
      std::vector<double> partial(static_cast<size_t>(chunks));
      for_each_chunk(n, [&](int64_t c, int64_t o, int64_t len) {
        if constexpr (std::is_same_v<T, float>) {
          partial[c] = stats_chunk_f32(stats_mode, stat_of(d.scale), p + o, g + o, m ? m + o : nullptr, len, a);
        } else {
          partial[c] = stats_chunk_f64(stats_mode, stat_of(d.scale), p + o, g + o, m ? m + o : nullptr, len, a);
        }
      });
      double total = 0.0;
      for (double v : partial) {
        total = d.scale == DitherScale::Max3Sigma ? std::max(total, v) : total + v;
      }
      const double count = static_cast<double>(n);
      base = d.scale == DitherScale::Rms ? std::sqrt(total / count)
                                       : (d.scale == DitherScale::Max3Sigma ? total / 3.0 : total / count);
      if (!d.target_gradient && mode == kUpdateMomentum) {
        mode = kMomentumReady;
      }
    }
    s = d.alpha * base;
    (d.target_gradient ? a.s_grad : a.s_x) = static_cast<T>(s);
  }
  return s;
}

template <typename T>
double sign_descent_typed(
    torch::Tensor& p_t,
    const torch::Tensor& g_t,
    torch::Tensor& m_t,
    double lr,
    double wd,
    bool decoupled,
    double beta,
    const DitherArgs& d,
    double* dot_gg) {
  T* p = p_t.data_ptr<T>();
  const T* g = g_t.data_ptr<T>();
  T* m = beta > 0 ? m_t.data_ptr<T>() : nullptr;
  const int64_t n = p_t.numel();
  const int64_t chunks = chunks_of(n);
  SignArgs<T> a = sign_args<T>(lr, wd, decoupled, beta);
  int mode = beta > 0 ? kUpdateMomentum : kNoMomentum;

  const double s = prepare_dither<T>(p, g, m, n, d, a, mode);

  const DrawKey key =
      DrawKey::make(d.seed, d.stream, static_cast<uint64_t>(d.step), static_cast<uint64_t>(d.param_index));
  static const std::vector<float> zeros(kChunk, 0.0f);
  const bool calib = dot_gg != nullptr;
  std::vector<double> dots(calib ? chunks : 0), ggs(calib ? chunks : 0);
  at::parallel_for(0, chunks, kGrainChunks, [&](int64_t begin, int64_t end) {
    std::vector<float> noise_buffer(d.enabled ? kChunk : 0);
    for (int64_t c = begin; c < end; ++c) {
      const int64_t o = c * kChunk;
      const int64_t len = std::min(n, o + kChunk) - o;
      const float* noise = zeros.data();
      if (d.enabled) {
        fill_noise(noise_buffer.data(), o, len, key, d.gaussian);
        noise = noise_buffer.data();
      }
      double dot = 0, gg = 0;
      if constexpr (std::is_same_v<T, float>) {
        sign_chunk_f32(mode, calib, p + o, g + o, m ? m + o : nullptr, noise, len, a, &dot, &gg);
      } else {
        sign_chunk_f64(mode, calib, p + o, g + o, m ? m + o : nullptr, noise, len, a, &dot, &gg);
      }
      if (calib) {
        dots[c] = dot;
        ggs[c] = gg;
      }
    }
  });
  if (calib) {
    double dot = 0, gg = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      dot += dots[c];
      gg += ggs[c];
    }
    dot_gg[0] = dot;
    dot_gg[1] = gg;
  }
  return s;
}

template <typename T>
int64_t sign_descent_pack_typed(
    const torch::Tensor& p_t,
    const torch::Tensor& g_t,
    torch::Tensor& m_t,
    double lr,
    double wd,
    bool decoupled,
    double beta,
    const DitherArgs& d,
    uint64_t* sign,
    uint64_t* zero,
    int64_t bit_offset) {
  const T* p = p_t.data_ptr<T>();
  const T* g = g_t.data_ptr<T>();
  T* m = beta > 0 ? m_t.data_ptr<T>() : nullptr;
  const int64_t n = p_t.numel();
  const int64_t chunks = chunks_of(n);
  SignArgs<T> a = sign_args<T>(lr, wd, decoupled, beta);
  int mode = beta > 0 ? kUpdateMomentum : kNoMomentum;
  prepare_dither<T>(p, g, m, n, d, a, mode);
  const bool coupled_wd = !decoupled && wd != 0.0;

  const DrawKey key =
      DrawKey::make(d.seed, d.stream, static_cast<uint64_t>(d.step), static_cast<uint64_t>(d.param_index));
  static const std::vector<float> no_noise(kChunk, 0.0f);
  std::atomic<int64_t> zeros{0};
  at::parallel_for(0, chunks, kGrainChunks, [&](int64_t begin, int64_t end) {
    std::vector<float> noise_buffer(d.enabled ? kChunk : 0);
    std::vector<T> xs(kChunk);
    uint64_t chunk_sign[kChunk / 64], chunk_zero[kChunk / 64];
    int64_t z = 0;
    for (int64_t c = begin; c < end; ++c) {
      const int64_t o = c * kChunk;
      const int64_t len = std::min(n, o + kChunk) - o;
      const float* noise = no_noise.data();
      if (d.enabled) {
        fill_noise(noise_buffer.data(), o, len, key, d.gaussian);
        noise = noise_buffer.data();
      }
      if constexpr (std::is_same_v<T, float>) {
        argument_chunk_f32(mode, coupled_wd, p + o, g + o, m ? m + o : nullptr, noise, len, a, xs.data());
      } else {
        argument_chunk_f64(mode, coupled_wd, p + o, g + o, m ? m + o : nullptr, noise, len, a, xs.data());
      }
      const int64_t chunk_zeros = pack_sign_planes(xs.data(), len, chunk_sign, chunk_zero);
      or_bits_at(chunk_sign, len, sign, bit_offset + o);
      if (chunk_zeros > 0) {
        or_bits_at(chunk_zero, len, zero, bit_offset + o);
      }
      z += chunk_zeros;
    }
    zeros.fetch_add(z, std::memory_order_relaxed);
  });
  return zeros.load();
}

} // namespace

double sign_descent_step(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    const SignStepArgs& args,
    double* dot_gg) {
  ++g_fused_calls;
#ifdef SIGNOPT_WITH_CUDA
  if (p.is_cuda()) {
    return detail::sign_descent_step_cuda(p, g, buf, args, dot_gg);
  }
#endif
  const double lr = args.lr, weight_decay = args.weight_decay, beta = args.beta;
  const bool decoupled = args.decoupled;
  const DitherArgs& dither = args.dither;
  if (p.scalar_type() == at::kFloat) {
    return sign_descent_typed<float>(p, g, buf, lr, weight_decay, decoupled, beta, dither, dot_gg);
  }
  return sign_descent_typed<double>(p, g, buf, lr, weight_decay, decoupled, beta, dither, dot_gg);
}

namespace detail {

// The packed-words tensor of a packed exchange: a contiguous int64 CPU tensor with room for `bits` bits.
uint64_t* packed_target(const char* fn, const char* what, const torch::Tensor& t, int64_t bits) {
  TORCH_CHECK(
      t.defined() && t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == at::kLong,
      "signopt::kernels::", fn, ": ", what, " must be a contiguous int64 CPU tensor of packed words");
  TORCH_CHECK(
      t.numel() >= packed_words(bits),
      "signopt::kernels::", fn, ": ", what, " has ", t.numel(), " words but bit ", bits,
      " must fit (packed_words = ", packed_words(bits), ")");
  return reinterpret_cast<uint64_t*>(t.data_ptr<int64_t>());
}

void check_packed_tensor(const char* fn, const torch::Tensor& p) {
  TORCH_CHECK(
      p.device().is_cpu() && p.is_contiguous() && (p.scalar_type() == at::kFloat || p.scalar_type() == at::kDouble),
      "signopt::kernels::", fn, ": the parameter must be a contiguous float32 or float64 CPU tensor");
}

} // namespace detail

int64_t sign_descent_pack(
    const torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    const SignStepArgs& args,
    torch::Tensor& sign_words,
    torch::Tensor& zero_words,
    int64_t bit_offset) {
  const double lr = args.lr, weight_decay = args.weight_decay, beta = args.beta;
  const bool decoupled = args.decoupled;
  const DitherArgs& dither = args.dither;
  check_packed_tensor("sign_descent_pack", p);
  TORCH_CHECK(bit_offset >= 0, "signopt::kernels::sign_descent_pack: bit_offset must be >= 0, got ", bit_offset);
  const auto matches_p = [&](const torch::Tensor& t) {
    return t.defined() && t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == p.scalar_type() &&
        t.numel() == p.numel();
  };
  TORCH_CHECK(
      matches_p(g), "signopt::kernels::sign_descent_pack: g must be a contiguous CPU tensor of p's dtype and size");
  TORCH_CHECK(
      beta <= 0 || matches_p(buf),
      "signopt::kernels::sign_descent_pack: with beta > 0, buf must be a contiguous CPU tensor of p's dtype and size");
  const int64_t end = bit_offset + p.numel();
  uint64_t* sign = packed_target("sign_descent_pack", "sign_words", sign_words, end);
  uint64_t* zero = packed_target("sign_descent_pack", "zero_words", zero_words, end);
  ++g_fused_calls;
  if (p.scalar_type() == at::kFloat) {
    return sign_descent_pack_typed<float>(p, g, buf, lr, weight_decay, decoupled, beta, dither, sign, zero, bit_offset);
  }
  return sign_descent_pack_typed<double>(p, g, buf, lr, weight_decay, decoupled, beta, dither, sign, zero, bit_offset);
}

} // namespace signopt::kernels

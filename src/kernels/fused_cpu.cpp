// Fused CPU update kernels. Each step walks a tensor once (twice where a per-tensor statistic must
// be known before the update: dither scales of the updated momentum, EF-SignSGD's ||c||_1) in
// chunks of kReductionChunk elements on at::parallel_for. Per-chunk work is compiled for AVX-512,
// AVX2 and baseline x86-64 (target_clones: one binary, dispatch at load time) and performs exactly
// the operations of the reference torch-op composition, each rounded alike (no contraction), so the
// results are bit-identical to the reference path for any thread count and ISA.
#include <signopt/kernels/bitpack.h>
#include <signopt/kernels/fused.h>
#include <signopt/kernels/noise.h>
#include <signopt/kernels/philox.h>
#include <signopt/kernels/reductions.h>

#include "chunk_sum.h"
#include "noise_avx512.h"
#ifdef SIGNOPT_WITH_CUDA
#include "fused_cuda_dispatch.h"
#endif

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#define SIGNOPT_ALWAYS_INLINE inline __attribute__((always_inline))
#define SIGNOPT_ALWAYS_INLINE_LAMBDA __attribute__((always_inline))

namespace signopt::kernels {
namespace {

std::atomic<bool> g_fused_enabled{true};
std::atomic<int64_t> g_fused_calls{0};
constexpr int64_t kChunk = kReductionChunk;
static_assert(kChunk % 4 == 0, "chunks must hold whole Philox blocks");

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

template <typename T>
SIGNOPT_ALWAYS_INLINE T sgn(T x) {
  return static_cast<T>((x > T(0)) - (x < T(0)));
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

int64_t chunks_of(int64_t n) {
  return (n + kChunk - 1) / kChunk;
}

// Grain: enough chunks per task to amortize scheduling, few enough to balance 2..N threads.
constexpr int64_t kGrainChunks = 4;

// Calls f(chunk index, first element, length) for every chunk of an n-element tensor, in parallel.
template <typename F>
void for_each_chunk(int64_t n, F f) {
  at::parallel_for(0, chunks_of(n), kGrainChunks, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t o = c * kChunk;
      f(c, o, std::min(n, o + kChunk) - o);
    }
  });
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
template <typename T>
double prepare_dither(const T* p, const T* g, T* m, int64_t n, const DitherArgs& d, SignArgs<T>& a, int& mode) {
  const int64_t chunks = chunks_of(n);
  double s = 0.0;
  if (d.enabled) {
    double base = 1.0;
    if (d.scale != 0 && n > 0) {
      // Pass 1: the statistic of the tensor that gets the noise (and the momentum update, if the
      // noise goes after it), in the fixed chunk order.
      const int stats_mode = d.target_gradient ? kNoMomentum : mode;
      std::vector<double> partial(static_cast<size_t>(chunks));
      for_each_chunk(n, [&](int64_t c, int64_t o, int64_t len) {
        if constexpr (std::is_same_v<T, float>) {
          partial[c] = stats_chunk_f32(stats_mode, d.scale, p + o, g + o, m ? m + o : nullptr, len, a);
        } else {
          partial[c] = stats_chunk_f64(stats_mode, d.scale, p + o, g + o, m ? m + o : nullptr, len, a);
        }
      });
      double total = 0.0;
      for (double v : partial) {
        total = d.scale == 2 ? std::max(total, v) : total + v;
      }
      const double count = static_cast<double>(n);
      base = d.scale == 1 ? std::sqrt(total / count) : (d.scale == 2 ? total / 3.0 : total / count);
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

static_assert(kChunk % 64 == 0, "chunks must hold whole packed words");

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

// ---- SGD phase, EF-SignSGD, Lion -----------------------------------------------------------------

template <typename T, bool kMomentum>
SIGNOPT_ALWAYS_INLINE void sgd_chunk(T* p, const T* g, T* v, int64_t n, T wd, T decay, T mu, T one_minus_mu, T eta) {
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + p[i] * wd;
    T d = gi;
    if constexpr (kMomentum) {
      const T vi = v[i] * mu + gi;
      v[i] = vi;
      d = vi * one_minus_mu;
    }
    p[i] = p[i] * decay - d * eta;
  }
}

template <typename T>
SIGNOPT_ALWAYS_INLINE void sgd_dispatch(
    bool momentum,
    T* p,
    const T* g,
    T* v,
    int64_t n,
    T wd,
    T decay,
    T mu,
    T omm,
    T eta) {
  if (momentum) {
    sgd_chunk<T, true>(p, g, v, n, wd, decay, mu, omm, eta);
  } else {
    sgd_chunk<T, false>(p, g, v, n, wd, decay, mu, omm, eta);
  }
}

SIGNOPT_CLONES void sgd_chunk_f32(
    bool mom,
    float* p,
    const float* g,
    float* v,
    int64_t n,
    float wd,
    float decay,
    float mu,
    float omm,
    float eta) {
  sgd_dispatch<float>(mom, p, g, v, n, wd, decay, mu, omm, eta);
}
SIGNOPT_CLONES void sgd_chunk_f64(
    bool mom,
    double* p,
    const double* g,
    double* v,
    int64_t n,
    double wd,
    double decay,
    double mu,
    double omm,
    double eta) {
  sgd_dispatch<double>(mom, p, g, v, n, wd, decay, mu, omm, eta);
}

// EF pass 1: c = g'' lr + e (g'' = momentum buffer after its update, or g'), sum |c| in chunk_sum8 order.
template <typename T, bool kMomentum>
SIGNOPT_ALWAYS_INLINE double ef_pass1(const T* p, const T* g, const T* e, T* buf, int64_t n, T wd, T mu, T lr) {
  T cs[kChunk];
  for (int64_t i = 0; i < n; ++i) {
    T gi = g[i] + p[i] * wd;
    if constexpr (kMomentum) {
      gi = buf[i] * mu + gi;
      buf[i] = gi;
    }
    cs[i] = gi * lr + e[i];
  }
  return detail::chunk_sum8(n, [&](int64_t i) { return std::abs(static_cast<double>(cs[i])); });
}

// EF pass 2: recompute c from the stored momentum (or g'), then Delta, p and e.
template <typename T, bool kMomentum>
SIGNOPT_ALWAYS_INLINE void ef_pass2(T* p, const T* g, T* e, const T* buf, int64_t n, T wd, T decay, T lr, T scale) {
  for (int64_t i = 0; i < n; ++i) {
    const T gi = kMomentum ? buf[i] : g[i] + p[i] * wd;
    const T c = gi * lr + e[i];
    const T delta = sgn(c) * scale;
    p[i] = p[i] * decay - delta;
    e[i] = c - delta;
  }
}

SIGNOPT_CLONES double ef_pass1_f32(
    bool mom,
    const float* p,
    const float* g,
    const float* e,
    float* buf,
    int64_t n,
    float wd,
    float mu,
    float lr) {
  return mom ? ef_pass1<float, true>(p, g, e, buf, n, wd, mu, lr) : ef_pass1<float, false>(p, g, e, buf, n, wd, mu, lr);
}
SIGNOPT_CLONES double ef_pass1_f64(
    bool mom,
    const double* p,
    const double* g,
    const double* e,
    double* buf,
    int64_t n,
    double wd,
    double mu,
    double lr) {
  return mom ? ef_pass1<double, true>(p, g, e, buf, n, wd, mu, lr)
             : ef_pass1<double, false>(p, g, e, buf, n, wd, mu, lr);
}
SIGNOPT_CLONES void ef_pass2_f32(
    bool mom,
    float* p,
    const float* g,
    float* e,
    const float* buf,
    int64_t n,
    float wd,
    float decay,
    float lr,
    float scale) {
  mom ? ef_pass2<float, true>(p, g, e, buf, n, wd, decay, lr, scale)
      : ef_pass2<float, false>(p, g, e, buf, n, wd, decay, lr, scale);
}
SIGNOPT_CLONES void ef_pass2_f64(
    bool mom,
    double* p,
    const double* g,
    double* e,
    const double* buf,
    int64_t n,
    double wd,
    double decay,
    double lr,
    double scale) {
  mom ? ef_pass2<double, true>(p, g, e, buf, n, wd, decay, lr, scale)
      : ef_pass2<double, false>(p, g, e, buf, n, wd, decay, lr, scale);
}

template <typename T>
SIGNOPT_ALWAYS_INLINE void lion_chunk(
    T* p,
    const T* g,
    T* m,
    int64_t n,
    T wd,
    T decay,
    T b1,
    T omb1,
    T b2,
    T omb2,
    T neg_lr) {
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + p[i] * wd;
    const T c = m[i] * b1 + gi * omb1;
    p[i] = p[i] * decay + neg_lr * sgn(c);
    m[i] = m[i] * b2 + gi * omb2;
  }
}

SIGNOPT_CLONES void lion_chunk_f32(
    float* p,
    const float* g,
    float* m,
    int64_t n,
    float wd,
    float decay,
    float b1,
    float omb1,
    float b2,
    float omb2,
    float neg_lr) {
  lion_chunk<float>(p, g, m, n, wd, decay, b1, omb1, b2, omb2, neg_lr);
}
SIGNOPT_CLONES void lion_chunk_f64(
    double* p,
    const double* g,
    double* m,
    int64_t n,
    double wd,
    double decay,
    double b1,
    double omb1,
    double b2,
    double omb2,
    double neg_lr) {
  lion_chunk<double>(p, g, m, n, wd, decay, b1, omb1, b2, omb2, neg_lr);
}

} // namespace

void set_fused_enabled(bool enabled) {
  g_fused_enabled.store(enabled);
}

bool fused_enabled() {
  return g_fused_enabled.load();
}

int64_t fused_call_count() {
  return g_fused_calls.load();
}

bool fused_eligible(std::initializer_list<torch::Tensor> tensors) {
  if (!fused_enabled()) {
    return false;
  }
  c10::optional<at::ScalarType> dtype;
  c10::optional<c10::Device> device;
  for (const auto& t : tensors) {
    if (!t.defined()) {
      continue;
    }
#ifdef SIGNOPT_WITH_CUDA
    const bool supported_device = t.device().is_cpu() || t.device().is_cuda();
#else
    const bool supported_device = t.device().is_cpu();
#endif
    if (!supported_device || !t.is_contiguous() || t.is_complex() ||
        (t.scalar_type() != at::kFloat && t.scalar_type() != at::kDouble)) {
      return false;
    }
    if ((dtype && *dtype != t.scalar_type()) || (device && *device != t.device())) {
      return false;
    }
    dtype = t.scalar_type();
    device = t.device();
  }
  return true;
}

double sign_descent_step(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    double lr,
    double weight_decay,
    bool decoupled,
    double beta,
    const DitherArgs& dither,
    double* dot_gg) {
  ++g_fused_calls;
#ifdef SIGNOPT_WITH_CUDA
  if (p.is_cuda()) {
    return detail::sign_descent_step_cuda(p, g, buf, lr, weight_decay, decoupled, beta, dither, dot_gg);
  }
#endif
  if (p.scalar_type() == at::kFloat) {
    return sign_descent_typed<float>(p, g, buf, lr, weight_decay, decoupled, beta, dither, dot_gg);
  }
  return sign_descent_typed<double>(p, g, buf, lr, weight_decay, decoupled, beta, dither, dot_gg);
}

namespace {

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

} // namespace

int64_t sign_descent_pack(
    const torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    double lr,
    double weight_decay,
    bool decoupled,
    double beta,
    const DitherArgs& dither,
    torch::Tensor& sign_words,
    torch::Tensor& zero_words,
    int64_t bit_offset) {
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

void sgd_step(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& v,
    double eta,
    double weight_decay,
    bool decoupled,
    double mu,
    bool dampened) {
  ++g_fused_calls;
#ifdef SIGNOPT_WITH_CUDA
  if (p.is_cuda()) {
    return detail::sgd_step_cuda(p, g, v, eta, weight_decay, decoupled, mu, dampened);
  }
#endif
  const int64_t n = p.numel();
  const bool mom = mu > 0;
  const double omm = dampened ? 1.0 - mu : 1.0; // the step's factor on v
  const double wd = decoupled ? 0.0 : weight_decay;
  const double decay = decoupled ? 1.0 - eta * weight_decay : 1.0;
  for_each_chunk(n, [&](int64_t, int64_t o, int64_t len) {
    if (p.scalar_type() == at::kFloat) {
      sgd_chunk_f32(
          mom,
          p.data_ptr<float>() + o,
          g.data_ptr<float>() + o,
          mom ? v.data_ptr<float>() + o : nullptr,
          len,
          wd,
          decay,
          mu,
          omm,
          eta);
    } else {
      sgd_chunk_f64(
          mom,
          p.data_ptr<double>() + o,
          g.data_ptr<double>() + o,
          mom ? v.data_ptr<double>() + o : nullptr,
          len,
          wd,
          decay,
          mu,
          omm,
          eta);
    }
  });
}

void ef_sign_sgd_step(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& e,
    torch::Tensor& buf,
    double lr,
    double weight_decay,
    bool decoupled,
    double momentum) {
  ++g_fused_calls;
#ifdef SIGNOPT_WITH_CUDA
  if (p.is_cuda()) {
    return detail::ef_sign_sgd_step_cuda(p, g, e, buf, lr, weight_decay, decoupled, momentum);
  }
#endif
  const int64_t n = p.numel();
  const int64_t chunks = chunks_of(n);
  const bool mom = momentum > 0;
  const double wd = decoupled ? 0.0 : weight_decay;
  const double decay = decoupled ? 1.0 - lr * weight_decay : 1.0;
  std::vector<double> partial(static_cast<size_t>(chunks));
  const bool f32 = p.scalar_type() == at::kFloat;
  for_each_chunk(n, [&](int64_t c, int64_t o, int64_t len) {
    partial[c] = f32 ? ef_pass1_f32(
                           mom,
                           p.data_ptr<float>() + o,
                           g.data_ptr<float>() + o,
                           e.data_ptr<float>() + o,
                           mom ? buf.data_ptr<float>() + o : nullptr,
                           len,
                           wd,
                           momentum,
                           lr)
                     : ef_pass1_f64(
                           mom,
                           p.data_ptr<double>() + o,
                           g.data_ptr<double>() + o,
                           e.data_ptr<double>() + o,
                           mom ? buf.data_ptr<double>() + o : nullptr,
                           len,
                           wd,
                           momentum,
                           lr);
  });
  double l1 = 0.0;
  for (double v : partial) {
    l1 += v;
  }
  const double scale = l1 / static_cast<double>(std::max<int64_t>(n, 1));
  for_each_chunk(n, [&](int64_t, int64_t o, int64_t len) {
    if (f32) {
      ef_pass2_f32(
          mom,
          p.data_ptr<float>() + o,
          g.data_ptr<float>() + o,
          e.data_ptr<float>() + o,
          mom ? buf.data_ptr<float>() + o : nullptr,
          len,
          wd,
          decay,
          lr,
          scale);
    } else {
      ef_pass2_f64(
          mom,
          p.data_ptr<double>() + o,
          g.data_ptr<double>() + o,
          e.data_ptr<double>() + o,
          mom ? buf.data_ptr<double>() + o : nullptr,
          len,
          wd,
          decay,
          lr,
          scale);
    }
  });
}

void lion_step(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& m,
    double lr,
    double weight_decay,
    bool decoupled,
    double beta1,
    double beta2) {
  ++g_fused_calls;
#ifdef SIGNOPT_WITH_CUDA
  if (p.is_cuda()) {
    return detail::lion_step_cuda(p, g, m, lr, weight_decay, decoupled, beta1, beta2);
  }
#endif
  const int64_t n = p.numel();
  const double wd = decoupled ? 0.0 : weight_decay;
  const double decay = decoupled ? 1.0 - lr * weight_decay : 1.0;
  for_each_chunk(n, [&](int64_t, int64_t o, int64_t len) {
    if (p.scalar_type() == at::kFloat) {
      lion_chunk_f32(
          p.data_ptr<float>() + o,
          g.data_ptr<float>() + o,
          m.data_ptr<float>() + o,
          len,
          wd,
          decay,
          beta1,
          1.0 - beta1,
          beta2,
          1.0 - beta2,
          -lr);
    } else {
      lion_chunk_f64(
          p.data_ptr<double>() + o,
          g.data_ptr<double>() + o,
          m.data_ptr<double>() + o,
          len,
          wd,
          decay,
          beta1,
          1.0 - beta1,
          beta2,
          1.0 - beta2,
          -lr);
    }
  });
}

} // namespace signopt::kernels

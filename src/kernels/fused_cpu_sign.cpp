// Fused CPU sign descent (SignSGD, Signum, the hybrid's sign phase): the step and a packed exchange's
// first half, running element_rules.h's SignRule and SignStatsRule through fused_cpu_internal.h's
// per-ISA chunk loops, with the dither noise drawn per chunk.
#include <signopt/kernels/bitpack_words.h>
#include <signopt/kernels/noise.h>
#include <signopt/kernels/philox.h>

#include "fused_cpu_internal.h"
#include "noise_avx512.h"

#include <atomic>
#include <cmath>
#include <type_traits>
#include <vector>

namespace signopt::kernels::cpu {

using detail::chunks_of;
using detail::kChunk;
using detail::kGrainChunks;
using rules::kMomentumReady;
using rules::kNoMomentum;
using rules::kUpdateMomentum;
using rules::SignCoeffs;
using rules::SignRule;
using rules::SignStatsRule;

// ---- noise ---------------------------------------------------------------------------------------

// Unit noise for elements [first, first + count) of one tensor; `first` is a multiple of 8. Whole
// groups of 16 Philox blocks take the hand-vectorized AVX-512 path where the CPU has it; the rest
// (and CPUs without AVX-512) the loops below, which GCC vectorizes per clone. Both give the same bits.
// The threshold draw's levels take 16 bits each: 8 elements per Philox block (threshold_level4).
// `prefetch` (may be null) is the next chunk's: all its lines are issued over the Philox words (with AVX-512,
// over the Box-Muller of the additive draws too), or half of them when the Gaussian levels have a vectorized loop
// to take the other half.
SIGNOPT_CLONES void fill_chunk_noise(
    float* out,
    int64_t first,
    int64_t count,
    DrawKey key,
    NoiseKind kind,
    detail::ChunkPrefetch* prefetch) {
  uint32_t raw[kChunk];
  const bool threshold = kind == NoiseKind::ThresholdGaussian || kind == NoiseKind::ThresholdUniform;
  const int64_t blocks = threshold ? (count + 7) / 8 : (count + 3) / 4;
  const uint64_t block0 = static_cast<uint64_t>(threshold ? first / 8 : first / 4);
  const bool avx512 = detail::avx512_noise_available();
  const detail::Isa isa = detail::isa();
  const bool level_loop = kind == NoiseKind::ThresholdGaussian && isa != detail::Isa::Scalar;
  const int64_t lines = level_loop ? detail::remaining(prefetch) / 2 : detail::remaining(prefetch);
  int64_t done = 0; // the additive draws' blocks the AVX-512 path drew
  if (threshold) {
    detail::philox_words_paced(raw, block0, blocks, key, prefetch, lines);
  } else {
    done =
        avx512 ? detail::fill_noise_avx512(out, block0, blocks, key, kind == NoiseKind::Gaussian, prefetch, lines) : 0;
    detail::philox_words(raw, block0, done, blocks, key, avx512 ? nullptr : prefetch, lines);
  }
  if (kind == NoiseKind::ThresholdGaussian) {
    const int64_t rest = detail::remaining(prefetch);
    int64_t e = isa == detail::Isa::Avx512 ? detail::gaussian_levels_avx512(out, raw, 8 * blocks, prefetch, rest)
        : isa == detail::Isa::Avx2         ? detail::gaussian_levels_avx2(out, raw, 8 * blocks, prefetch, rest)
                                           : 0;
    for (; e < 8 * blocks; ++e) {
      out[e] = gaussian_level((raw[e / 2] >> (16 * (e % 2))) & 0xffffu);
    }
  } else if (threshold) {
    for (int64_t w = 0; w < 4 * blocks; ++w) {
      out[2 * w] = uniform_level(raw[w] & 0xffffu);
      out[2 * w + 1] = uniform_level(raw[w] >> 16);
    }
  } else if (kind == NoiseKind::Gaussian) {
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

// ---- the dither scale ----------------------------------------------------------------------------

// The statistic of a data-dependent scale as the stats rules number it (their kStat): DitherScale's own
// numbering, 1 sum x^2 (rms), 2 max |x| (max3sigma), 3 sum |x| (meanabs).
static_assert(static_cast<int>(DitherScale::Rms) == 1 && static_cast<int>(DitherScale::Max3Sigma) == 2 &&
              static_cast<int>(DitherScale::MeanAbs) == 3);

// The statistic `stat` of elements [o, o + len) with the stats rule of mode kMode (which stores the
// momentum for kUpdateMomentum).
template <typename T, int kMode>
double chunk_statistic(int stat, const T* p, const T* g, T* m, const SignCoeffs<T>& c, int64_t o, int64_t len) {
  double total = 0.0;
  rules::with_stat(stat, [&](auto stat_constant) {
    constexpr int kStat = decltype(stat_constant)::value;
    total = detail::statistic_chunk<SignStatsRule<T, kMode, kStat>, T, kStat == 2>({p, g, m, c}, o, len);
  });
  return total;
}

// The chunk partials of a statistic in chunk order: their max for max3sigma (stat 2), else their sum.
double combine_partials(int stat, const std::vector<double>& partial) {
  if (stat == 2) {
    double total = 0.0;
    for (double v : partial) {
      total = std::max(total, v);
    }
    return total;
  }
  return detail::sum_in_order(partial);
}

namespace {

template <typename T, int kMode>
double statistic_total(DitherScale scale, const T* p, const T* g, T* m, int64_t n, const SignCoeffs<T>& c) {
  const int stat = static_cast<int>(scale);
  std::vector<double> partial(static_cast<size_t>(chunks_of(n)));
  detail::for_each_chunk(n, [&](int64_t ci, int64_t o, int64_t len) {
    partial[ci] = chunk_statistic<T, kMode>(stat, p, g, m, c, o, len);
  });
  return combine_partials(stat, partial);
}

// The dither scale s_t of one tensor (0 without dithering), stored into `c` (s_grad or s_x). A
// data-dependent scale takes a statistics pass first (the statistic of the tensor that gets the noise, in
// the fixed chunk order), which also updates the momentum when the noise goes after it (`mode` becomes
// kMomentumReady then).
// `base_out` receives the measured base (unchanged when nothing was measured).
template <typename T>
double prepare_dither(
    const T* p, const T* g, T* m, int64_t n, const DitherArgs& d, SignCoeffs<T>& c, int& mode, double* base_out) {
  if (!d.enabled) {
    return 0.0;
  }
  double base = 1.0;
  if (d.scale != DitherScale::Absolute && n > 0) {
    const bool momentum_stats = !d.target_gradient && mode == kUpdateMomentum;
    const double total = momentum_stats ? statistic_total<T, kUpdateMomentum>(d.scale, p, g, m, n, c)
                                        : statistic_total<T, kNoMomentum>(d.scale, p, g, m, n, c);
    base = rules::dither_base(total, static_cast<int>(d.scale), n);
    *base_out = base;
    if (momentum_stats) {
      mode = kMomentumReady;
    }
  }
  const double s = d.alpha * base;
  (d.target_gradient ? c.s_grad : c.s_x) = static_cast<T>(s);
  return s;
}

// A step's scale under DitherScaleFrom::Previous: the plan of the step, and where its statistic goes.
struct ScalePlan {
  bool store = false; // previous_scale(d) on a non-empty tensor: the step stores base(x_t)
  bool one_pass = false; // the stored base is ready: s from it, and the statistic measured in the update pass
  int stat = 0; // the statistic measured in the update pass (DitherScale's number), 0 for none
  double base_now = std::nan(""); // base(x_t), from the statistics pass or the update pass
};

// The dither scale of a step into `c`, as prepare_dither, but from the stored base when the plan is one pass
// (then the update pass stores the momentum first where the noise goes after it: `mode` becomes ready).
template <typename T>
double plan_dither(
    const T* p, const T* g, T* m, int64_t n, const DitherArgs& d, SignCoeffs<T>& c, int& mode, ScalePlan& plan) {
  plan.store = previous_scale(d) && n > 0;
  plan.one_pass = plan.store && d.scale_state_ready;
  if (!plan.one_pass) {
    return prepare_dither<T>(p, g, m, n, d, c, mode, &plan.base_now);
  }
  const double s = d.alpha * *d.scale_state;
  (d.target_gradient ? c.s_grad : c.s_x) = static_cast<T>(s);
  plan.stat = static_cast<int>(d.scale);
  if (!d.target_gradient && mode == kUpdateMomentum) {
    mode = kMomentumReady;
  }
  return s;
}

// What the update pass and a packed exchange's first half share: the coefficients, the momentum mode, the
// scale's plan and s, whether the sign is drawn by threshold (then c holds 1 / s), and the update pass's
// partials of a measured statistic.
template <typename T>
struct SignStep {
  SignCoeffs<T> c;
  int mode = kNoMomentum;
  ScalePlan plan;
  double s = 0.0;
  bool threshold = false;
  std::vector<double> partial;
};

template <typename T>
SignStep<T> begin_sign_step(const T* p, const T* g, T* m, int64_t n, const SignStepArgs& a) {
  SignStep<T> st;
  st.c = rules::sign_coeffs<T>(a);
  st.mode = a.beta > 0 ? kUpdateMomentum : kNoMomentum;
  st.s = plan_dither<T>(p, g, m, n, a.dither, st.c, st.mode, st.plan);
  st.threshold = threshold_applies(a.dither, a.beta);
  if (st.threshold) {
    rules::use_threshold_scale(st.c, st.s);
  }
  st.partial.resize(st.plan.stat != 0 ? static_cast<size_t>(chunks_of(n)) : 0);
  return st;
}

// Stores base(x_t) where the plan says so: from the statistics pass, or from the update pass's partials.
template <typename T>
void end_sign_step(const DitherArgs& d, int64_t n, const SignStep<T>& st) {
  if (!st.plan.store) {
    return;
  }
  *d.scale_state = st.plan.one_pass ? rules::dither_base(combine_partials(st.plan.stat, st.partial), st.plan.stat, n)
                                    : st.plan.base_now;
}

DrawKey draw_key(const DitherArgs& d) {
  return DrawKey::make(d.seed, d.stream, static_cast<uint64_t>(d.step), static_cast<uint64_t>(d.param_index));
}

// ---- the step ------------------------------------------------------------------------------------

// The update pass: SignRule over every chunk (with the calibration sums <u, g'> and ||g'||^2 when dot_gg).
// With plan.stat, each chunk's statistic (kStatsModeOf<kMode>) goes into `partial`: measured in the update loop
// (measure_in_update), or else first.
template <typename T, int kMode, int kDraw>
void sign_update(
    const SignRule<T, kMode, kDraw>& rule,
    int64_t n,
    const DitherArgs& d,
    double* dot_gg,
    const ScalePlan& plan,
    std::vector<double>& partial) {
  using Rule = SignRule<T, kMode, kDraw>;
  const NoiseKind kind = rules::noise_kind(d, kDraw != rules::kAdditive);
  const int64_t chunks = chunks_of(n);
  const DrawKey key = draw_key(d);
  const bool calib = dot_gg != nullptr;
  std::vector<double> dots(calib ? chunks : 0), ggs(calib ? chunks : 0);
  detail::parallel_for(0, chunks, kGrainChunks, [&](int64_t begin, int64_t end) {
    std::vector<float> noise(d.enabled ? kChunk : 0);
    for (int64_t c = begin; c < end; ++c) {
      const int64_t o = c * kChunk;
      const int64_t len = std::min(n, o + kChunk) - o;
      const bool measured = measure_in_update(plan.stat, d.enabled, calib);
      if (plan.stat != 0 && !measured) {
        partial[c] = chunk_statistic<T, rules::kStatsModeOf<kMode>>(plan.stat, rule.p, rule.g, rule.m, rule.c, o, len);
      }
      if (d.enabled) {
        const bool reads_g = detail::update_reads_gradient(kMode, calib, plan.stat);
        detail::ChunkPrefetch prefetch = detail::next_chunk_prefetch(
            c, end, n, rule.p, reads_g ? rule.g : nullptr, kMode != kNoMomentum ? rule.m : nullptr);
        fill_chunk_noise(noise.data(), o, len, key, kind, &prefetch);
        if (measured) {
          partial[c] = measured_chunk(plan.stat, rule, o, len, noise.data());
        } else if (calib) {
          detail::two_sums_chunk<Rule, true>(rule, o, len, noise.data(), &dots[c], &ggs[c]);
        } else {
          detail::elementwise_chunk<Rule, true>(rule, o, len, noise.data());
        }
      } else if (calib) {
        detail::two_sums_chunk<Rule, false>(rule, o, len, nullptr, &dots[c], &ggs[c]);
      } else {
        detail::elementwise_chunk<Rule, false>(rule, o, len, nullptr);
      }
    }
  });
  if (calib) {
    dot_gg[0] = detail::sum_in_order(dots);
    dot_gg[1] = detail::sum_in_order(ggs);
  }
}

template <typename T>
double sign_descent_typed(T* p, const T* g, T* m, int64_t n, const SignStepArgs& a, double* dot_gg) {
  SignStep<T> st = begin_sign_step<T>(p, g, m, n, a);
  rules::with_sign_mode(st.mode, [&](auto mode_constant) {
    constexpr int kMode = decltype(mode_constant)::value;
    rules::with_draw(st.threshold, [&](auto draw_constant) {
      constexpr int kDraw = decltype(draw_constant)::value;
      sign_update<T, kMode, kDraw>(SignRule<T, kMode, kDraw>{p, g, m, st.c}, n, a.dither, dot_gg, st.plan, st.partial);
    });
  });
  end_sign_step(a.dither, n, st);
  return st.s;
}

// ---- a packed exchange's first half ----------------------------------------------------------------

// The sign argument x of every element of a chunk into xs (momentum updated as in the step), without moving p.
template <typename T, int kMode, int kDraw, bool kWd, bool kNoise>
SIGNOPT_CLONES void argument_chunk(const SignRule<T, kMode, kDraw> rule, int64_t o, int64_t n, const float* noise, T* xs) {
  for (int64_t k = 0; k < n; ++k) {
    xs[k] = rule.template argument<kWd>(o + k, detail::noise_at<kNoise>(noise, k));
  }
}

template <typename T, int kMode, int kDraw>
int64_t sign_pack_chunks(
    const SignRule<T, kMode, kDraw>& rule,
    int64_t n,
    bool coupled_wd,
    const DitherArgs& d,
    uint64_t* sign,
    uint64_t* zero,
    int64_t bit_offset,
    const ScalePlan& plan,
    std::vector<double>& partial) {
  const DrawKey key = draw_key(d);
  const NoiseKind kind = rules::noise_kind(d, kDraw != rules::kAdditive);
  std::atomic<int64_t> zeros{0};
  detail::parallel_for(0, chunks_of(n), kGrainChunks, [&](int64_t begin, int64_t end) {
    std::vector<float> noise(d.enabled ? kChunk : 0);
    std::vector<T> xs(kChunk);
    uint64_t chunk_sign[kChunk / 64], chunk_zero[kChunk / 64];
    int64_t z = 0;
    for (int64_t c = begin; c < end; ++c) {
      const int64_t o = c * kChunk;
      const int64_t len = std::min(n, o + kChunk) - o;
      if (plan.stat != 0) {
        partial[c] = chunk_statistic<T, rules::kStatsModeOf<kMode>>(plan.stat, rule.p, rule.g, rule.m, rule.c, o, len);
      }
      if (d.enabled) {
        // p is read only for coupled weight decay, g as by the update pass (no calibration sums here).
        const bool reads_g = detail::update_reads_gradient(kMode, false, plan.stat);
        detail::ChunkPrefetch prefetch = detail::next_chunk_prefetch(
            c,
            end,
            n,
            coupled_wd ? rule.p : nullptr,
            reads_g ? rule.g : nullptr,
            kMode != kNoMomentum ? rule.m : nullptr);
        fill_chunk_noise(noise.data(), o, len, key, kind, &prefetch);
      }
      switch ((coupled_wd ? 2 : 0) + (d.enabled ? 1 : 0)) {
        case 0:
          argument_chunk<T, kMode, kDraw, false, false>(rule, o, len, nullptr, xs.data());
          break;
        case 1:
          argument_chunk<T, kMode, kDraw, false, true>(rule, o, len, noise.data(), xs.data());
          break;
        case 2:
          argument_chunk<T, kMode, kDraw, true, false>(rule, o, len, nullptr, xs.data());
          break;
        default:
          argument_chunk<T, kMode, kDraw, true, true>(rule, o, len, noise.data(), xs.data());
          break;
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
int64_t sign_descent_pack_typed(
    const T* p,
    const T* g,
    T* m,
    int64_t n,
    const SignStepArgs& a,
    uint64_t* sign,
    uint64_t* zero,
    int64_t bit_offset) {
  SignStep<T> st = begin_sign_step<T>(p, g, m, n, a);
  const bool coupled_wd = !a.decoupled && a.weight_decay != 0.0;
  int64_t zeros = 0;
  rules::with_sign_mode(st.mode, [&](auto mode_constant) {
    constexpr int kMode = decltype(mode_constant)::value;
    rules::with_draw(st.threshold, [&](auto draw_constant) {
      constexpr int kDraw = decltype(draw_constant)::value;
      // The rule only reads p (argument<kWd>); it never writes it.
      const SignRule<T, kMode, kDraw> rule{const_cast<T*>(p), g, m, st.c};
      zeros = sign_pack_chunks<T, kMode, kDraw>(rule, n, coupled_wd, a.dither, sign, zero, bit_offset, st.plan, st.partial);
    });
  });
  end_sign_step(a.dither, n, st);
  return zeros;
}

} // namespace

double sign_descent_step(Dtype dtype, void* p, const void* g, void* m, int64_t n, const SignStepArgs& args, double* dot_gg) {
  return detail::with_float_type(dtype, [&](auto zero) {
    using T = decltype(zero);
    return sign_descent_typed<T>(static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(m), n, args, dot_gg);
  });
}

int64_t sign_descent_pack(
    Dtype dtype,
    const void* p,
    const void* g,
    void* m,
    int64_t n,
    const SignStepArgs& args,
    uint64_t* sign,
    uint64_t* zero,
    int64_t bit_offset) {
  return detail::with_float_type(dtype, [&](auto z) {
    using T = decltype(z);
    return sign_descent_pack_typed<T>(
        static_cast<const T*>(p), static_cast<const T*>(g), static_cast<T*>(m), n, args, sign, zero, bit_offset);
  });
}

} // namespace signopt::kernels::cpu

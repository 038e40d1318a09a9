// Fused CPU sign descent (SignSGD, Signum) on 16-bit parameters and gradients (bfloat16, float16). Each
// chunk is widened to float32 copies, the float32 element rules of element_rules.h run on the copies (the
// same SignRule and SignStatsRule as a float32 step, so the arithmetic is float32's), and the parameter is
// stored back to 16 bits by stochastic rounding (signopt/kernels/half.h) or to nearest. The momentum is
// float32 (updated in place) or of the parameter's type: then the step computes the EMA in float32 from the
// stored momentum, takes the sign of that float32 value, and stores it rounded to nearest. A data-dependent
// dither scale measures the float32 sign argument in a statistics pass first, as the float32 step does; with
// a 16-bit momentum that pass does not store the EMA, and the update pass computes it again with the same
// operations. With DitherScaleFrom::Previous the scale comes from the stored base of the previous step's
// argument and each chunk's statistic is measured in the update pass, as the float32 step does. With the
// hybrid's calibration sums, <u, g'> and ||g'||^2 are summed from the float32 copies in chunk_sum8's order,
// as the float32 step sums them. The hybrid's SGD phase (sgd_step_half) runs the float32 SgdRule on the
// copies the same way, its momentum float32 or 16-bit, the parameter stored alike.
#include <signopt/kernels/half.h>

#include "fused_cpu_internal.h"

#include <cstring>
#include <vector>

namespace signopt::kernels::cpu {
namespace {

using detail::chunks_of;
using detail::kChunk;
using detail::kGrainChunks;
using detail::update_reads_gradient;
using rules::kMomentumReady;
using rules::kNoMomentum;
using rules::kUpdateMomentum;
using rules::SignCoeffs;
using rules::SignRule;
using rules::SignStatsRule;

template <HalfType kType>
SIGNOPT_CLONES void widen(const uint16_t* in, int64_t n, float* out) {
  for (int64_t k = 0; k < n; ++k) {
    out[k] = half::to_float(kType, in[k]);
  }
}

template <HalfType kType>
SIGNOPT_CLONES void narrow_nearest(const float* in, int64_t n, uint16_t* out) {
  for (int64_t k = 0; k < n; ++k) {
    out[k] = half::nearest(kType, in[k]);
  }
}

// bits[k] is element k's 16 rounding bits: the low half of rounding word k / 2 for even k, else the high half,
// which is the words' memory order on a little-endian CPU (one copy of the bytes, then a loop that vectorizes).
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the rounding words are split in memory order");

template <HalfType kType>
SIGNOPT_CLONES void narrow_stochastic(const float* in, int64_t n, const uint16_t* bits, uint16_t* out) {
  for (int64_t k = 0; k < n; ++k) {
    out[k] = half::stochastic(kType, in[k], bits[k]);
  }
}

// The rounding words of elements [first, first + count) (`first` a multiple of 8): half::rounding_bits's
// layout, whole Philox blocks. What `prefetch` (may be null) has left is spread over them.
void fill_rounding_words(
    uint32_t* raw,
    int64_t first,
    int64_t count,
    const DrawKey& key,
    detail::ChunkPrefetch* prefetch) {
  const int64_t blocks = (count + 7) / 8;
  const uint64_t block0 = half::kRoundingBlockFlag | static_cast<uint64_t>(first / 8);
  detail::philox_words_paced(raw, block0, blocks, key, prefetch, detail::remaining(prefetch));
}

// One task's float32 copies of a chunk (and its noise and rounding words).
struct ChunkCopies {
  std::vector<float> p, g, m, noise;
  std::vector<uint32_t> raw;
  std::vector<uint16_t> bits;
  ChunkCopies() : p(kChunk), g(kChunk), m(kChunk), noise(kChunk), raw(kChunk / 2), bits(kChunk) {}
};

// Stores the chunk's float32 parameter copy at p + o: stochastically rounded with the step's bits (over which the
// lines `prefetch` has left are spread), or to nearest.
template <HalfType kType>
void store_parameter(
    ChunkCopies& copies,
    int64_t o,
    int64_t len,
    const RoundingArgs& rounding,
    const DrawKey& key,
    uint16_t* p,
    detail::ChunkPrefetch* prefetch) {
  if (rounding.stochastic) {
    fill_rounding_words(copies.raw.data(), o, len, key, prefetch);
    std::memcpy(copies.bits.data(), copies.raw.data(), static_cast<size_t>(len) * sizeof(uint16_t));
    narrow_stochastic<kType>(copies.p.data(), len, copies.bits.data(), p + o);
  } else {
    narrow_nearest<kType>(copies.p.data(), len, p + o);
  }
}

template <HalfType kType, bool kHalfMomentum>
struct HalfTensors {
  uint16_t* p;
  const uint16_t* g;
  void* m; // float* or uint16_t* (kHalfMomentum); null without momentum

  // Widens elements [o, o + len) into the copies (the momentum only when it is 16-bit and `momentum`; the
  // parameter unless `parameter` is false; the gradient unless `gradient` is false, where the rule does not
  // read it: detail::update_reads_gradient).
  void load(ChunkCopies& c, int64_t o, int64_t len, bool momentum, bool parameter = true, bool gradient = true) const {
    if (parameter) {
      widen<kType>(p + o, len, c.p.data());
    }
    if (gradient) {
      widen<kType>(g + o, len, c.g.data());
    }
    if (kHalfMomentum && momentum) {
      widen<kType>(static_cast<const uint16_t*>(m) + o, len, c.m.data());
    }
  }

  // The prefetch of the chunk a task processes after chunk ci (its p, g unless `gradient` is false, and m with
  // `momentum`).
  detail::ChunkPrefetch next_chunk(int64_t ci, int64_t end, int64_t n, bool momentum, bool gradient = true) const {
    const void* mm = momentum ? m : nullptr;
    const uint16_t* gg = gradient ? g : nullptr;
    return kHalfMomentum ? detail::next_chunk_prefetch(ci, end, n, p, gg, static_cast<const uint16_t*>(mm))
                         : detail::next_chunk_prefetch(ci, end, n, p, gg, static_cast<const float*>(mm));
  }

  // The momentum the rules use for the chunk at o: the copy (16-bit) or the float32 buffer in place.
  float* momentum(ChunkCopies& c, int64_t o) const {
    if (m == nullptr) {
      return nullptr;
    }
    return kHalfMomentum ? c.m.data() : static_cast<float*>(m) + o;
  }
};

// The dither statistic's total over the tensor (DitherScale's number `stat`) with the stats rule of mode
// kMode, on float32 copies.
template <HalfType kType, bool kHalfMomentum, int kMode>
double half_statistic(const HalfTensors<kType, kHalfMomentum>& t, int64_t n, int stat, const SignCoeffs<float>& c) {
  std::vector<double> partial(static_cast<size_t>(chunks_of(n)));
  detail::parallel_for(0, chunks_of(n), kGrainChunks, [&](int64_t begin, int64_t end) {
    ChunkCopies copies;
    for (int64_t ci = begin; ci < end; ++ci) {
      const int64_t o = ci * kChunk;
      const int64_t len = std::min(n, o + kChunk) - o;
      // Without coupled weight decay the statistics rule does not read p.
      t.load(copies, o, len, kMode == kUpdateMomentum, c.wd != 0.0f);
      const float* cp = copies.p.data();
      const float* cg = copies.g.data();
      float* cm = t.momentum(copies, o);
      rules::with_stat(stat, [&](auto stat_constant) {
        constexpr int kStat = decltype(stat_constant)::value;
        partial[ci] =
            detail::statistic_chunk<SignStatsRule<float, kMode, kStat>, float, kStat == 2>({cp, cg, cm, c}, 0, len);
      });
    }
  });
  return combine_partials(stat, partial);
}

// What the update pass does to each chunk besides the sign rule.
struct HalfPass {
  int one_pass_stat; // the one-pass scale's statistic measured first (0: none)
  bool noise; // dithered: the chunk's noise (or threshold uniforms) of `kind` from noise_key
  DrawKey noise_key;
  NoiseKind kind;
  RoundingArgs rounding;
  DrawKey round_key;
};

// One chunk of the update pass on its float32 copies: the one-pass statistic into *partial (in the update loop
// where measure_in_update says so, else first), the sign rule (with the calibration sums into *dot and *gg when
// they are non-null), then the parameter and a 16-bit momentum stored.
// The next chunk's `prefetch` is spread over the noise, or else over the rounding words.
template <HalfType kType, bool kHalfMomentum, int kMode, int kDraw>
void update_chunk(
    const HalfTensors<kType, kHalfMomentum>& t,
    ChunkCopies& copies,
    int64_t o,
    int64_t len,
    const SignCoeffs<float>& c,
    const HalfPass& pass,
    double* partial,
    double* dot,
    double* gg,
    detail::ChunkPrefetch* prefetch) {
  using Rule = SignRule<float, kMode, kDraw>;
  // With the float32 momentum ready from a statistics pass, the rule does not read g: it is not widened (the
  // copy keeps an earlier chunk's values, which the rule leaves unused).
  t.load(copies, o, len, kMode != kNoMomentum, true, update_reads_gradient(kMode, dot != nullptr, pass.one_pass_stat));
  float* cm = t.momentum(copies, o);
  const Rule rule{copies.p.data(), copies.g.data(), cm, c};
  const bool measured = measure_in_update(pass.one_pass_stat, pass.noise, dot != nullptr);
  if (pass.one_pass_stat != 0 && !measured) {
    const float* cp = copies.p.data();
    const float* cg = copies.g.data();
    rules::with_stat(pass.one_pass_stat, [&](auto stat_constant) {
      constexpr int kStat = decltype(stat_constant)::value;
      constexpr int kStatsMode = rules::kStatsModeOf<kMode>;
      *partial =
          detail::statistic_chunk<SignStatsRule<float, kStatsMode, kStat>, float, kStat == 2>({cp, cg, cm, c}, 0, len);
    });
  }
  if (pass.noise) {
    fill_chunk_noise(copies.noise.data(), o, len, pass.noise_key, pass.kind, prefetch);
    if (measured) {
      *partial = measured_chunk(pass.one_pass_stat, rule, 0, len, copies.noise.data());
    } else if (dot != nullptr) {
      detail::two_sums_chunk<Rule, true>(rule, 0, len, copies.noise.data(), dot, gg);
    } else {
      detail::elementwise_chunk<Rule, true>(rule, 0, len, copies.noise.data());
    }
  } else if (dot != nullptr) {
    detail::two_sums_chunk<Rule, false>(rule, 0, len, nullptr, dot, gg);
  } else {
    detail::elementwise_chunk<Rule, false>(rule, 0, len, nullptr);
  }
  store_parameter<kType>(copies, o, len, pass.rounding, pass.round_key, t.p, prefetch);
  if (kHalfMomentum && kMode != kNoMomentum) {
    narrow_nearest<kType>(copies.m.data(), len, static_cast<uint16_t*>(t.m) + o);
  }
}

template <HalfType kType, bool kHalfMomentum>
double half_sign_step(const HalfTensors<kType, kHalfMomentum>& t, int64_t n, const SignStepArgs& a, double* dot_gg) {
  const DitherArgs& d = a.dither;
  SignCoeffs<float> c = rules::sign_coeffs<float>(a);
  int mode = a.beta > 0 ? kUpdateMomentum : kNoMomentum;
  double s = 0.0;
  // DitherScaleFrom::Previous: `store` the base of this step's argument; `one_pass` when the stored base is
  // ready, so that s comes from it and each chunk's statistic is measured in the update pass (on the chunk's
  // float32 copies, which also update the copy of the momentum first where the noise goes after it).
  const bool store = previous_scale(d) && n > 0;
  const bool one_pass = store && d.scale_state_ready;
  const int one_pass_stat = one_pass ? static_cast<int>(d.scale) : 0;
  if (d.enabled && one_pass) {
    s = d.alpha * *d.scale_state;
    (d.target_gradient ? c.s_grad : c.s_x) = static_cast<float>(s);
  } else if (d.enabled) {
    double base = 1.0;
    if (d.scale != DitherScale::Absolute && n > 0) {
      const int stat = static_cast<int>(d.scale);
      const bool momentum_stats = !d.target_gradient && mode == kUpdateMomentum;
      const double total = momentum_stats ? half_statistic<kType, kHalfMomentum, kUpdateMomentum>(t, n, stat, c)
                                          : half_statistic<kType, kHalfMomentum, kNoMomentum>(t, n, stat, c);
      base = rules::dither_base(total, stat, n);
      if (store) {
        *d.scale_state = base; // the first step measures its own argument
      }
      if (momentum_stats && !kHalfMomentum) {
        mode = kMomentumReady; // the float32 momentum was stored by the statistics pass
      }
    }
    s = d.alpha * base;
    (d.target_gradient ? c.s_grad : c.s_x) = static_cast<float>(s);
  }
  // In the one-pass step with the noise after the momentum, each chunk's statistics rule updates the momentum
  // (the float32 buffer in place, or the chunk's copy of a 16-bit one) before the update rule reads it.
  const bool stats_update_momentum = one_pass && !d.target_gradient && mode == kUpdateMomentum;
  if (stats_update_momentum) {
    mode = kMomentumReady;
  }
  std::vector<double> partial(one_pass ? static_cast<size_t>(chunks_of(n)) : 0);
  const bool calib = dot_gg != nullptr;
  std::vector<double> dots(calib ? static_cast<size_t>(chunks_of(n)) : 0), ggs(dots.size());
  const bool threshold = threshold_applies(d, a.beta);
  if (threshold) {
    rules::use_threshold_scale(c, s);
  }
  const HalfPass pass{
      one_pass_stat,
      d.enabled,
      DrawKey::make(d.seed, d.stream, static_cast<uint64_t>(d.step), static_cast<uint64_t>(d.param_index)),
      rules::noise_kind(d, threshold),
      a.rounding,
      half::rounding_key(a.rounding.seed, a.rounding.step, a.rounding.param_index)};
  rules::with_sign_mode(mode, [&](auto mode_constant) {
    constexpr int kMode = decltype(mode_constant)::value;
    rules::with_draw(threshold, [&](auto draw_constant) {
      constexpr int kDraw = decltype(draw_constant)::value;
      detail::parallel_for(0, chunks_of(n), kGrainChunks, [&](int64_t begin, int64_t end) {
        ChunkCopies copies;
        for (int64_t ci = begin; ci < end; ++ci) {
          const int64_t o = ci * kChunk;
          detail::ChunkPrefetch prefetch =
              t.next_chunk(ci, end, n, kMode != kNoMomentum, update_reads_gradient(kMode, calib, one_pass_stat));
          update_chunk<kType, kHalfMomentum, kMode, kDraw>(
              t,
              copies,
              o,
              std::min(n, o + kChunk) - o,
              c,
              pass,
              one_pass ? &partial[ci] : nullptr,
              calib ? &dots[ci] : nullptr,
              calib ? &ggs[ci] : nullptr,
              &prefetch);
        }
      });
    });
  });
  if (one_pass) {
    *d.scale_state = rules::dither_base(combine_partials(one_pass_stat, partial), one_pass_stat, n);
  }
  if (calib) {
    dot_gg[0] = detail::sum_in_order(dots);
    dot_gg[1] = detail::sum_in_order(ggs);
  }
  return s;
}

// The SGD phase's step on float32 copies: v = mu v + g' in float32 (a 16-bit v stored to nearest), the
// direction from the unrounded float32 v, the parameter stored by a.rounding.
template <HalfType kType, bool kHalfMomentum>
void half_sgd_step(const HalfTensors<kType, kHalfMomentum>& t, int64_t n, const SgdStepArgs& a) {
  const DrawKey round_key = half::rounding_key(a.rounding.seed, a.rounding.step, a.rounding.param_index);
  const bool momentum = a.mu > 0;
  detail::parallel_for(0, chunks_of(n), kGrainChunks, [&](int64_t begin, int64_t end) {
    ChunkCopies copies;
    for (int64_t ci = begin; ci < end; ++ci) {
      const int64_t o = ci * kChunk;
      const int64_t len = std::min(n, o + kChunk) - o;
      t.load(copies, o, len, momentum);
      float* v = t.momentum(copies, o);
      if (momentum) {
        const auto rule = rules::sgd_rule<float, true>(copies.p.data(), copies.g.data(), v, a);
        detail::elementwise_chunk<decltype(rule), false>(rule, 0, len, nullptr);
      } else {
        const auto rule = rules::sgd_rule<float, false>(copies.p.data(), copies.g.data(), nullptr, a);
        detail::elementwise_chunk<decltype(rule), false>(rule, 0, len, nullptr);
      }
      detail::ChunkPrefetch prefetch = t.next_chunk(ci, end, n, momentum);
      store_parameter<kType>(copies, o, len, a.rounding, round_key, t.p, &prefetch);
      if (kHalfMomentum && momentum) {
        narrow_nearest<kType>(copies.m.data(), len, static_cast<uint16_t*>(t.m) + o);
      }
    }
  });
}

// Calls f(HalfTensors<kType, half momentum>{p, g, state}) for the runtime type and momentum dtype.
template <class F>
void with_half_tensors(HalfType type, bool half_momentum, uint16_t* p, const uint16_t* g, void* state, F f) {
  const auto typed = [&](auto type_constant) {
    constexpr HalfType kType = decltype(type_constant)::value;
    if (half_momentum) {
      f(HalfTensors<kType, true>{p, g, state});
    } else {
      f(HalfTensors<kType, false>{p, g, state});
    }
  };
  if (type == HalfType::kBFloat16) {
    typed(std::integral_constant<HalfType, HalfType::kBFloat16>{});
  } else {
    typed(std::integral_constant<HalfType, HalfType::kFloat16>{});
  }
}

} // namespace

double sign_descent_step_half(
    HalfType type,
    bool half_momentum,
    uint16_t* p,
    const uint16_t* g,
    void* m,
    int64_t n,
    const SignStepArgs& args,
    double* dot_gg) {
  double s = 0.0;
  with_half_tensors(type, half_momentum, p, g, args.beta > 0 ? m : nullptr, [&](const auto& t) {
    s = half_sign_step(t, n, args, dot_gg);
  });
  return s;
}

void sgd_step_half(
    HalfType type,
    bool half_momentum,
    uint16_t* p,
    const uint16_t* g,
    void* v,
    int64_t n,
    const SgdStepArgs& args) {
  with_half_tensors(
      type, half_momentum, p, g, args.mu > 0 ? v : nullptr, [&](const auto& t) { half_sgd_step(t, n, args); });
}

} // namespace signopt::kernels::cpu

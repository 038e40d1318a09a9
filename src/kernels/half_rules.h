// Internal: the 16-bit (bfloat16, float16) element rules of the CUDA kernels and their host model. Each wraps a
// float32 rule of element_rules.h: element i's parameter, gradient and 16-bit momentum are widened to float32
// locals, the float32 rule runs on them (at index 0; a float32 momentum is used in place), and the parameter is
// stored back by stochastic rounding with half::rounding_bits of the step's key, or to nearest, and a 16-bit
// momentum to nearest. These are the operations of the CPU's 16-bit kernel (fused_cpu_half.cpp), which widens
// whole chunks instead, so the results are bit-identical. Host/device, torch-free; compile without contraction.
#pragma once

#include "element_rules.h"

#include <signopt/kernels/half.h>

#include <cstdint>

namespace signopt::kernels::rules {

/// Element i of a 16-bit step as float32 locals: p, g and a 16-bit momentum widened, `m_ptr` at the momentum the
/// float32 rule uses (the local copy, the float32 buffer's element i, or null without momentum).
template <HalfType kType, bool kHalfMomentum>
struct WidenedElement {
  float p = 0.0f;
  float g = 0.0f;
  float m = 0.0f;
  float* m_ptr = nullptr;

  SIGNOPT_HOST_DEVICE WidenedElement(const uint16_t* P, const uint16_t* G, void* M, int64_t i)
      : p(half::to_float(kType, P[i])), g(half::to_float(kType, G[i])) {
    if (M != nullptr) {
      if constexpr (kHalfMomentum) {
        m = half::to_float(kType, static_cast<const uint16_t*>(M)[i]);
        m_ptr = &m;
      } else {
        m_ptr = static_cast<float*>(M) + i;
      }
    }
  }
};

// Points a float32 rule at an element's locals (index 0).
template <typename R>
SIGNOPT_HOST_DEVICE void bind_locals(R& r, float* p, float* g, float* m) {
  r.p = p;
  r.g = g;
  r.m = m;
}
template <bool kMomentum>
SIGNOPT_HOST_DEVICE void bind_locals(SgdRule<float, kMomentum>& r, float* p, float* g, float* m) {
  r.p = p;
  r.g = g;
  r.v = m;
}
template <int kStatsMode, int kStat, int kMode, int kDraw>
SIGNOPT_HOST_DEVICE void bind_locals(
    MeasuredSignRule<float, kStatsMode, kStat, kMode, kDraw>& r,
    float* p,
    float* g,
    float* m) {
  bind_locals(r.stats, p, g, m);
  bind_locals(r.sign, p, g, m);
}

/// How a 16-bit step stores its parameter: stochastic rounding with the step's rounding key, or to nearest.
struct HalfStore {
  DrawKey key;
  bool stochastic = true;
};

/// A float32 rule `Inner` run on 16-bit storage. kStores: the rule moves p (sign and SGD updates), so p and a
/// 16-bit momentum are stored back; a statistics rule stores nothing (a float32 momentum it updates is updated
/// in place, a 16-bit one's update is dropped, as on the CPU).
template <HalfType kType, bool kHalfMomentum, bool kStores, class Inner>
struct HalfRule {
  uint16_t* p;
  const uint16_t* g;
  void* m;
  Inner inner;
  HalfStore store;

  SIGNOPT_HOST_DEVICE void load_scalars() {
    inner.load_scalars();
  }

  SIGNOPT_HOST_DEVICE void apply(int64_t i, float noise, double* term0, double* term1) const {
    WidenedElement<kType, kHalfMomentum> e(p, g, m, i);
    Inner r = inner;
    bind_locals(r, &e.p, &e.g, e.m_ptr);
    r.apply(0, noise, term0, term1);
    if constexpr (kStores) {
      p[i] = store.stochastic ? half::stochastic(kType, e.p, half::rounding_bits(store.key, i))
                              : half::nearest(kType, e.p);
      if constexpr (kHalfMomentum) {
        if (m != nullptr) {
          static_cast<uint16_t*>(m)[i] = half::nearest(kType, e.m);
        }
      }
    }
  }
};

/// The storage of a step's rules: Direct (float32/float64 pointers, the rules as they are) or Widened (16-bit
/// parameters through HalfRule). `stats_keeps_momentum`: whether a statistics pass's momentum update is kept
/// (then the update pass reads it ready).
struct Direct {
  static constexpr bool stats_keeps_momentum = true;
  template <bool kStores, class R>
  SIGNOPT_HOST_DEVICE R wrap(const R& r) const {
    return r;
  }
};

template <HalfType kType, bool kHalfMomentum>
struct Widened {
  static constexpr bool stats_keeps_momentum = !kHalfMomentum;
  uint16_t* p;
  const uint16_t* g;
  void* m;
  HalfStore store;
  template <bool kStores, class R>
  SIGNOPT_HOST_DEVICE HalfRule<kType, kHalfMomentum, kStores, R> wrap(const R& r) const {
    return {p, g, m, r, store};
  }
};

} // namespace signopt::kernels::rules

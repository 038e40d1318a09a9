// The table of kernel cases shared by tests/kernels/test_fused_cuda.cpp and cuda_kernel_check: every rule
// and option mix of the fused kernels, deterministic inputs, and a bitwise comparison that says
// where and by how many ulps two results differ. No LibTorch, no CUDA headers.
#pragma once

#include <signopt/kernels/fused_cuda.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace signopt::test::cuda_cases {

using kernels::cuda::Dtype;

enum class Rule { kSign, kSgd, kEf, kLion };

/// One rule with one set of scalar arguments.
struct Case {
  std::string name;
  Rule rule = Rule::kSign;
  kernels::cuda::SignStepArgs sign;
  bool calibrate = false; // sign steps: the hybrid's <u, g> and ||g||^2
  kernels::cuda::SgdStepArgs sgd;
  kernels::cuda::EfStepArgs ef;
  kernels::cuda::LionStepArgs lion;

  /// Whether the step needs a workspace (a reduction).
  bool needs_workspace() const {
    return rule == Rule::kEf ||
        (rule == Rule::kSign && (calibrate || (sign.dither.enabled && sign.dither.scale != DitherScale::Absolute)));
  }
};

/// Sizes: empty, one element, below a Philox block pair, across a chunk boundary, many chunks.
inline const std::vector<int64_t>& sizes() {
  static const std::vector<int64_t> s = {0, 1, 7, 4097, 100003};
  return s;
}

inline const char* scale_name(int scale) {
  static const char* names[] = {"absolute", "rms", "max3sigma", "meanabs"};
  return names[scale];
}

// Appends a sign-descent case and returns it for the caller to complete.
inline Case& add_sign_case(
    std::vector<Case>& out,
    const std::string& name,
    double lr,
    double wd,
    bool decoupled,
    double beta) {
  Case c;
  c.name = name;
  c.rule = Rule::kSign;
  c.sign.lr = lr;
  c.sign.weight_decay = wd;
  c.sign.decoupled = decoupled;
  c.sign.beta = beta;
  out.push_back(c);
  return out.back();
}

// The sign-descent cases: plain, every dither scale/target/distribution, and the hybrid's calibration.
inline void add_sign_cases(std::vector<Case>& out) {
  auto sign = [&](const std::string& name, double lr, double wd, bool decoupled, double beta) -> Case& {
    return add_sign_case(out, name, lr, wd, decoupled, beta);
  };
  sign("SignSGD", 0.01, 0.0, false, 0.0);
  sign("SignSGDCoupledDecay", 0.01, 0.01, false, 0.0);
  sign("Signum", 0.01, 0.01, false, 0.9);
  sign("SignumDecoupledDecay", 0.01, 0.1, true, 0.9);
  for (int scale = 0; scale < 4; ++scale) {
    for (bool on_gradient : {false, true}) {
      for (double beta : {0.0, 0.9}) {
        for (int variant = 0; variant < 4; ++variant) {
          const bool gaussian = variant % 2 == 0;
          const bool threshold = variant >= 2;
          Case& c = sign(
              std::string("Dither_") + scale_name(scale) + (on_gradient ? "_gradient_" : "_momentum_") +
                  (beta > 0 ? "signum_" : "signsgd_") + (gaussian ? "gaussian" : "uniform") +
                  (threshold ? "_threshold" : ""),
              0.01,
              0.01,
              false,
              beta);
          c.sign.dither.enabled = true;
          c.sign.dither.draw = threshold ? DitherDraw::Threshold : DitherDraw::Additive;
          c.sign.dither.gaussian = gaussian;
          c.sign.dither.target_gradient = on_gradient;
          c.sign.dither.scale = static_cast<DitherScale>(scale);
          c.sign.dither.alpha = 0.7;
          c.sign.dither.seed = 3;
          c.sign.dither.stream = 1;
          c.sign.dither.param_index = 5;
        }
      }
    }
  }
  sign("DitherDecoupledLargeSeed", 0.01, 0.1, true, 0.9);
  out.back().sign.dither.enabled = true;
  out.back().sign.dither.seed = 0x123456789abcdefull;
  out.back().sign.dither.stream = 7;
  out.back().sign.dither.param_index = 70000;
  out.back().sign.dither.alpha = 0.25;
  {
    Case& c = sign("HybridCalibrationThresholdRms", 0.01, 0.05, false, 0.9);
    c.calibrate = true;
    c.sign.dither.enabled = true;
    c.sign.dither.draw = DitherDraw::Threshold;
    c.sign.dither.alpha = 0.5;
    c.sign.dither.seed = 12;
  }
  {
    // alpha 0: the scale is 0, so the threshold draw leaves sign(x), zeros included.
    Case& c = sign("DitherThresholdZeroScale", 0.01, 0.0, false, 0.9);
    c.sign.dither.enabled = true;
    c.sign.dither.draw = DitherDraw::Threshold;
    c.sign.dither.alpha = 0.0;
  }
  sign("HybridCalibration", 0.01, 0.05, false, 0.9).calibrate = true;
  sign("HybridCalibrationNoMomentum", 0.01, 0.0, false, 0.0).calibrate = true;
  {
    Case& c = sign("HybridCalibrationDitherMeanAbsDecoupled", 0.01, 0.05, true, 0.9);
    c.calibrate = true;
    c.sign.dither.enabled = true;
    c.sign.dither.scale = DitherScale::MeanAbs;
    c.sign.dither.alpha = 0.5;
    c.sign.dither.seed = 2;
  }
  {
    Case& c = sign("HybridCalibrationDitherRmsGradient", 0.01, 0.02, false, 0.9);
    c.calibrate = true;
    c.sign.dither.enabled = true;
    c.sign.dither.scale = DitherScale::Rms;
    c.sign.dither.target_gradient = true;
    c.sign.dither.alpha = 0.5;
    c.sign.dither.seed = 4;
  }
  {
    Case& c = sign("HybridCalibrationDitherAbsoluteUniform", 0.01, 0.02, false, 0.9);
    c.calibrate = true;
    c.sign.dither.enabled = true;
    c.sign.dither.scale = DitherScale::Absolute;
    c.sign.dither.gaussian = false;
    c.sign.dither.alpha = 0.05;
    c.sign.dither.seed = 9;
  }
}

// The one-pass scale's cases (DitherScaleFrom::Previous): steps 2 and 3 take the stored base.
inline void add_previous_scale_cases(std::vector<Case>& out) {
  auto sign = [&](const std::string& name, double lr, double wd, bool decoupled, double beta) -> Case& {
    return add_sign_case(out, name, lr, wd, decoupled, beta);
  };
  for (int scale = 1; scale < 4; ++scale) {
    for (int variant = 0; variant < 3; ++variant) {
      const bool on_gradient = variant == 1;
      const bool threshold = variant == 2;
      Case& c = sign(
          std::string("DitherPrevious_") + scale_name(scale) + (on_gradient ? "_gradient" : "_momentum") +
              (threshold ? "_threshold" : ""),
          0.01,
          0.01,
          false,
          0.9);
      c.sign.dither.enabled = true;
      c.sign.dither.scale = static_cast<DitherScale>(scale);
      c.sign.dither.target_gradient = on_gradient;
      c.sign.dither.draw = threshold ? DitherDraw::Threshold : DitherDraw::Additive;
      c.sign.dither.scale_from = DitherScaleFrom::Previous;
      c.sign.dither.alpha = 0.6;
      c.sign.dither.seed = 17;
    }
  }
  {
    Case& c = sign("HybridCalibrationPreviousRms", 0.01, 0.05, false, 0.9);
    c.calibrate = true;
    c.sign.dither.enabled = true;
    c.sign.dither.scale_from = DitherScaleFrom::Previous;
    c.sign.dither.alpha = 0.5;
    c.sign.dither.seed = 19;
  }
}

// The SGD-phase, EF-SignSGD and Lion cases.
inline void add_other_cases(std::vector<Case>& out) {
  auto sgd = [&](const std::string& name, double wd, bool decoupled, double mu) {
    Case c;
    c.name = name;
    c.rule = Rule::kSgd;
    c.sgd.eta = 0.03;
    c.sgd.weight_decay = wd;
    c.sgd.decoupled = decoupled;
    c.sgd.mu = mu;
    out.push_back(c);
  };
  sgd("SgdMomentumCoupled", 0.01, false, 0.9);
  sgd("SgdPlainDecoupled", 0.05, true, 0.0);
  sgd("SgdMomentumDecoupled", 0.05, true, 0.5);
  auto ef = [&](const std::string& name, double wd, bool decoupled, double momentum) {
    Case c;
    c.name = name;
    c.rule = Rule::kEf;
    c.ef.lr = 0.05;
    c.ef.weight_decay = wd;
    c.ef.decoupled = decoupled;
    c.ef.momentum = momentum;
    out.push_back(c);
  };
  ef("EFPlainCoupled", 0.1, false, 0.0);
  ef("EFMomentumDecoupled", 0.1, true, 0.3);
  ef("EFMomentumCoupled", 0.01, false, 0.3);
  auto lion = [&](const std::string& name, double wd, bool decoupled) {
    Case c;
    c.name = name;
    c.rule = Rule::kLion;
    c.lion.lr = 0.01;
    c.lion.weight_decay = wd;
    c.lion.decoupled = decoupled;
    c.lion.beta1 = 0.9;
    c.lion.beta2 = 0.99;
    out.push_back(c);
  };
  lion("LionCoupled", 0.1, false);
  lion("LionDecoupled", 0.1, true);
}

inline std::vector<Case> cases() {
  std::vector<Case> out;
  add_sign_cases(out);
  add_previous_scale_cases(out);
  add_other_cases(out);
  return out;
}

/// The 16-bit layouts of the sign and SGD cases: p and g bfloat16 or float16, the state `a` float32 or (half_state)
/// of their type, stored by stochastic rounding or (nearest) to nearest.
struct HalfLayout {
  std::string name;
  kernels::HalfType type;
  bool half_state;
  bool stochastic;
};

inline const std::vector<HalfLayout>& half_layouts() {
  static const std::vector<HalfLayout> l = {
      {"bf16", kernels::HalfType::kBFloat16, false, true},
      {"bf16_16state", kernels::HalfType::kBFloat16, true, true},
      {"f16_nearest", kernels::HalfType::kFloat16, false, false},
      {"f16_16state", kernels::HalfType::kFloat16, true, true}};
  return l;
}

/// Whether a case runs on 16-bit layouts: the sign steps and the SGD phase.
inline bool has_half_version(const Case& c) {
  return c.rule == Rule::kSign || c.rule == Rule::kSgd;
}

/// The host memory of one step's tensors: p, g and two state buffers (m/v/e and EF's momentum),
/// each n elements of the dtype (or of a HalfLayout: p, g 16-bit, a float32 or 16-bit, b unused), plus the
/// result slots of the last step.
struct Arrays {
  Dtype dtype = Dtype::kFloat32;
  bool half = false; ///< a 16-bit layout (half_type, half_state, stochastic)
  kernels::HalfType half_type = kernels::HalfType::kBFloat16;
  bool half_state = false;
  bool stochastic = true;
  int64_t n = 0;
  std::vector<unsigned char> p, g, a, b;
  kernels::cuda::StepResults results;
  double base = std::nan(""); // the one-pass scale's stored base (DitherScaleFrom::Previous)

  /// Bytes per element of array k (0 p, 1 g, 2 a, 3 b).
  size_t size_of(int k) const {
    if (half) {
      return k < 2 || half_state ? 2 : 4;
    }
    return dtype == Dtype::kFloat32 ? 4 : 8;
  }
  size_t bytes_of(int k) const {
    return static_cast<size_t>(n) * size_of(k);
  }
  double value(int k, const std::vector<unsigned char>& v, int64_t i) const {
    const size_t es = size_of(k);
    if (es == 2) {
      uint16_t h;
      std::memcpy(&h, v.data() + 2 * i, 2);
      return kernels::half::to_float(half_type, h);
    }
    if (es == 4) {
      float f;
      std::memcpy(&f, v.data() + 4 * i, 4);
      return f;
    }
    double d;
    std::memcpy(&d, v.data() + 8 * i, 8);
    return d;
  }
  void set(int k, std::vector<unsigned char>& v, int64_t i, double x) {
    const size_t es = size_of(k);
    if (es == 2) {
      const uint16_t h = kernels::half::nearest(half_type, static_cast<float>(x));
      std::memcpy(v.data() + 2 * i, &h, 2);
    } else if (es == 4) {
      const float f = static_cast<float>(x);
      std::memcpy(v.data() + 4 * i, &f, 4);
    } else {
      std::memcpy(v.data() + 8 * i, &x, 8);
    }
  }
};

/// splitmix64: a fixed, platform-independent sequence.
inline uint64_t mix(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Deterministic inputs: values in (-1, 1) of varied magnitudes, with exact zeros (and -0) in g and
/// the state so that sign(0) and signed zeros are exercised.
inline Arrays make_arrays(Dtype dtype, int64_t n, uint64_t seed, const HalfLayout* layout = nullptr) {
  Arrays x;
  x.dtype = dtype;
  if (layout != nullptr) {
    x.half = true;
    x.half_type = layout->type;
    x.half_state = layout->half_state;
    x.stochastic = layout->stochastic;
  }
  x.n = n;
  std::vector<unsigned char>* arrays[] = {&x.p, &x.g, &x.a, &x.b};
  for (int k = 0; k < 4; ++k) {
    arrays[k]->assign(x.bytes_of(k), 0);
  }
  uint64_t state = seed * 0x2545F4914F6CDD1Dull + static_cast<uint64_t>(n);
  auto draw = [&]() {
    const uint64_t r = mix(state);
    const double u = static_cast<double>(r >> 11) * 0x1.0p-53 * 2.0 - 1.0;
    return u * std::ldexp(1.0, -static_cast<int>(r & 7)); // magnitudes down to 2^-7
  };
  for (int64_t i = 0; i < n; ++i) {
    x.set(0, x.p, i, draw());
    const uint64_t pick = mix(state) % 64;
    x.set(1, x.g, i, pick == 0 ? 0.0 : (pick == 1 ? -0.0 : draw()));
    x.set(2, x.a, i, pick == 2 ? 0.0 : draw() * 0.5);
    x.set(3, x.b, i, draw() * 0.25);
  }
  return x;
}

/// Empty when a and b hold the same bits; otherwise where and how they differ.
inline std::string compare(const Arrays& expected, const Arrays& actual, const Case& c) {
  std::ostringstream out;
  // Approximate distance in units of the last place of the expected value (array k's type).
  auto ulps = [&](int k, double x, double y) {
    const size_t es = expected.size_of(k);
    const bool bf16 = expected.half_type == kernels::HalfType::kBFloat16;
    const double eps = es == 8 ? 0x1p-52 : (es == 4 ? 0x1p-23 : (bf16 ? 0x1p-7 : 0x1p-10));
    const double tiny = es == 8 ? 0x1p-1022 : (es == 4 || bf16 ? 0x1p-126 : 0x1p-14);
    return std::fabs(x - y) / (std::fmax(std::fabs(x), tiny) * eps);
  };
  const char* names[] = {"p", "g", "state", "state2"};
  const std::vector<unsigned char>* e[] = {&expected.p, &expected.g, &expected.a, &expected.b};
  const std::vector<unsigned char>* a[] = {&actual.p, &actual.g, &actual.a, &actual.b};
  for (int k = 0; k < 4; ++k) {
    if (*e[k] == *a[k]) {
      continue;
    }
    int64_t first = -1, count = 0;
    const size_t es = expected.size_of(k);
    for (int64_t i = 0; i < expected.n; ++i) {
      if (std::memcmp(e[k]->data() + es * i, a[k]->data() + es * i, es) != 0) {
        first = first < 0 ? i : first;
        ++count;
      }
    }
    const double x = expected.value(k, *e[k], first), y = actual.value(k, *a[k], first);
    out << names[k] << ": " << count << " of " << expected.n << " elements differ; first at " << first << ": expected "
        << x << ", got " << y << " (" << ulps(k, x, y) << " ulp). ";
  }
  auto same = [](double x, double y) { return std::memcmp(&x, &y, sizeof x) == 0; };
  if (c.rule == Rule::kSign && c.calibrate) {
    if (!same(expected.results.dot, actual.results.dot) || !same(expected.results.gg, actual.results.gg)) {
      out.precision(17);
      out << "calibration sums differ: <u,g> " << expected.results.dot << " vs " << actual.results.dot << ", ||g||^2 "
          << expected.results.gg << " vs " << actual.results.gg << ". ";
    }
  }
  const bool previous = c.sign.dither.scale_from == DitherScaleFrom::Previous;
  if (c.rule == Rule::kSign && previous && !same(expected.base, actual.base)) {
    out.precision(17);
    out << "stored dither base differs: " << expected.base << " vs " << actual.base << ". ";
  }
  // (Under DitherScaleFrom::Previous the device's scale slot holds the measured base, not s_t.)
  if (c.rule == Rule::kSign && !previous && c.sign.dither.enabled && c.sign.dither.scale != DitherScale::Absolute &&
      !std::isnan(expected.results.scale) && !same(expected.results.scale, actual.results.scale)) {
    out.precision(17);
    out << "dither scale differs: " << expected.results.scale << " vs " << actual.results.scale << ". ";
  }
  return out.str();
}

/// The rounding of step s of a 16-bit run (keyed like an optimizer's: the step and the parameter's index).
inline kernels::RoundingArgs rounding_of(bool stochastic, int s, int64_t param_index) {
  return {stochastic, 77, s, param_index};
}

/// Runs `steps` steps of case c on x through an executor with the raw-API signatures (the host
/// model or the device): exec.sign(dtype, p, g, m, n, args, calibrate, ws) etc. on pointers the
/// executor owns; `exec.read(ws)` gives the result slots. `stochastic`: a 16-bit run's rounding.
template <class Exec>
void run_steps(Exec& exec, const Case& c, int steps, bool stochastic = true) {
  for (int s = 1; s <= steps; ++s) {
    switch (c.rule) {
      case Rule::kSign: {
        kernels::cuda::SignStepArgs a = c.sign;
        a.dither.step = s;
        a.rounding = rounding_of(stochastic, s, a.dither.param_index);
        if (a.dither.scale_from == DitherScaleFrom::Previous) {
          a.dither.scale_state = exec.scale_state();
          a.dither.scale_state_ready = s > 1;
        }
        exec.sign(a, c.calibrate);
        break;
      }
      case Rule::kSgd: {
        kernels::cuda::SgdStepArgs a = c.sgd;
        a.rounding = rounding_of(stochastic, s, 3);
        exec.sgd(a);
        break;
      }
      case Rule::kEf:
        exec.ef(c.ef);
        break;
      case Rule::kLion:
        exec.lion(c.lion);
        break;
    }
  }
}

} // namespace signopt::test::cuda_cases

// 16-bit parameters (docs/optimizers.md, "Low-precision parameters"): the bit conversions of
// signopt/kernels/half.h against torch's for every 16-bit value and for floats of every range; stochastic
// rounding exact over all 2^16 random words (bfloat16, float16 normals) or within 2^-16 (float16 subnormals);
// the fused 16-bit sign step bit for bit against its torch-op reference for every mode, draw, momentum type,
// thread count and size around the chunk; its rounding unbiased to the binomial tolerance; a bfloat16 run
// against a float32 run in expectation.
#include <signopt/kernels/args.h>
#include <signopt/kernels/fused.h>
#include <signopt/kernels/half.h>
#include <signopt/kernels/reference.h>

#include "support/threads.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace signopt::test {
namespace {

using kernels::HalfType;
namespace half = kernels::half;

// Every 16-bit pattern as a tensor of `type`.
torch::Tensor all_patterns(at::ScalarType type) {
  return torch::arange(0, 65536, torch::kInt).to(torch::kShort).view(type);
}

uint16_t pattern(const torch::Tensor& t, int64_t i) {
  return static_cast<uint16_t>(t.view(torch::kShort)[i].item<int16_t>());
}

bool same_float(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || half::float_to_bits(a) == half::float_to_bits(b);
}

TEST(Half, WideningEqualsTorchForEveryPattern) {
  for (const auto type : {at::kBFloat16, at::kHalf}) {
    const auto h = all_patterns(type);
    const auto f = h.to(torch::kFloat);
    const float* fp = f.data_ptr<float>();
    for (int64_t i = 0; i < 65536; ++i) {
      const uint16_t bits = static_cast<uint16_t>(i);
      const float mine = type == at::kBFloat16 ? half::bf16_to_float(bits) : half::f16_to_float(bits);
      ASSERT_TRUE(same_float(mine, fp[i]))
          << c10::toString(type) << " pattern " << i << ": " << mine << " vs " << fp[i];
    }
  }
}

// Floats of every range the conversions branch on: random bit patterns, values near every 16-bit pattern (the
// ties included), float16's subnormal and overflow ranges, zeros, infinities and NaN.
std::vector<float> probe_floats() {
  std::vector<float> out;
  torch::manual_seed(3);
  const auto random_bits =
      torch::randint(0, int64_t{1} << 32, {200000}, torch::kLong).to(torch::kInt).view(torch::kFloat);
  for (int64_t i = 0; i < random_bits.numel(); ++i)
    out.push_back(random_bits[i].item<float>());
  for (uint32_t h = 0; h < 65536; h += 7) {
    for (const float base :
         {half::bf16_to_float(static_cast<uint16_t>(h)), half::f16_to_float(static_cast<uint16_t>(h))}) {
      const uint32_t b = half::float_to_bits(base);
      for (const uint32_t delta : {0u, 1u, 0x0fffu, 0x1000u, 0x1001u, 0x7fffu, 0x8000u, 0x8001u})
        out.push_back(half::bits_to_float(b + delta));
    }
  }
  for (int k = -30; k <= 17; ++k)
    for (const float m : {1.0f, 1.5f, 1.00048828125f, 1.999f})
      out.push_back(std::ldexp(m, k));
  for (const float v :
       {0.0f,
        -0.0f,
        65504.0f,
        65519.0f,
        65520.0f,
        65536.0f,
        1e30f,
        std::numeric_limits<float>::infinity(),
        -std::numeric_limits<float>::infinity(),
        std::numeric_limits<float>::quiet_NaN()})
    out.push_back(v);
  return out;
}

TEST(Half, NearestEqualsTorchForFloatsOfEveryRange) {
  const auto xs = probe_floats();
  const auto x = torch::tensor(xs, torch::kFloat);
  for (const auto type : {at::kBFloat16, at::kHalf}) {
    const auto t = x.to(type);
    int64_t mismatches = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const uint16_t mine = type == at::kBFloat16 ? half::bf16_nearest(xs[i]) : half::f16_nearest(xs[i]);
      const uint16_t theirs = pattern(t, static_cast<int64_t>(i));
      if (std::isnan(xs[i])) { // NaN's payload is not specified (torch's own paths differ): NaN must stay NaN
        EXPECT_TRUE(std::isnan(half::to_float(type == at::kBFloat16 ? HalfType::kBFloat16 : HalfType::kFloat16, mine)));
        continue;
      }
      if (mine != theirs && ++mismatches <= 5)
        ADD_FAILURE() << c10::toString(type) << " of " << xs[i] << " (bits " << std::hex << half::float_to_bits(xs[i])
                      << "): " << mine << " vs torch " << theirs;
    }
    EXPECT_EQ(mismatches, 0) << c10::toString(type);
  }
}

// Over all 2^16 random words, stochastic rounding gives the two neighbours only, and the larger magnitude as
// often as the dropped fraction says: exactly for bfloat16 and float16 normals, within 2^-16 for subnormals.
TEST(Half, StochasticRoundingIsExactOverEveryRandomWord) {
  const auto xs = probe_floats();
  for (const HalfType type : {HalfType::kBFloat16, HalfType::kFloat16}) {
    for (size_t i = 0; i < xs.size(); i += 97) {
      const float x = xs[i];
      const uint16_t down = half::nearest(type, x); // a neighbour; the other is found below
      if (!std::isfinite(x) || !std::isfinite(half::to_float(type, down)))
        continue;
      const double ax = std::fabs(static_cast<double>(x));
      int64_t up = 0;
      double lo = -1.0, hi = -1.0;
      for (uint32_t r = 0; r < 65536; ++r) {
        const double v = std::fabs(static_cast<double>(half::to_float(type, half::stochastic(type, x, r))));
        if (v >= ax && (hi < 0 || v == hi)) {
          hi = v;
          up += v > ax ? 1 : 0;
        } else if (v <= ax && (lo < 0 || v == lo)) {
          lo = v;
        } else {
          FAIL() << "x = " << x << ": result " << v << " is not a neighbour (lo " << lo << ", hi " << hi << ")";
        }
      }
      if (std::isinf(hi))
        continue; // past the largest finite value: "up" is infinity (StochasticRoundingKeepsInfinitiesAndNan)
      if (hi < 0 || hi == ax || lo < 0) {
        EXPECT_EQ(up, 0) << "an exact x rounds to itself: " << x;
        continue;
      }
      const double exact = (ax - lo) / (hi - lo);
      const double measured = static_cast<double>(up) / 65536.0;
      const bool subnormal = type == HalfType::kFloat16 && ax < 6.103515625e-05;
      if (subnormal)
        EXPECT_NEAR(measured, exact, 1.0 / 65536.0) << "float16 subnormal " << x;
      else
        EXPECT_EQ(measured, exact) << (type == HalfType::kBFloat16 ? "bfloat16 " : "float16 ") << x;
    }
  }
}

TEST(Half, StochasticRoundingKeepsInfinitiesAndNan) {
  for (const HalfType type : {HalfType::kBFloat16, HalfType::kFloat16}) {
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(half::to_float(type, half::stochastic(type, inf, 0xffffu)), inf);
    EXPECT_EQ(half::to_float(type, half::stochastic(type, -inf, 0xffffu)), -inf);
    EXPECT_TRUE(std::isnan(half::to_float(type, half::stochastic(type, std::nanf(""), 0x1234u))));
    EXPECT_EQ(half::stochastic(type, 0.0f, 0xffffu), 0);
  }
  // Past the largest finite value, rounding up gives infinity (as round to nearest does past the midpoint).
  EXPECT_EQ(
      half::to_float(HalfType::kFloat16, half::stochastic(HalfType::kFloat16, 65530.0f, 0xffffu)),
      std::numeric_limits<float>::infinity());
}

// The reference's torch-op stochastic rounding equals the bit rule element for element.
TEST(Half, ReferenceRoundingEqualsTheBitRule) {
  const auto xs = probe_floats();
  const auto x = torch::tensor(xs, torch::kFloat);
  kernels::RoundingArgs r;
  r.seed = 77;
  r.step = 5;
  r.param_index = 3;
  const auto bits = kernels::reference::rounding_bits(x, r);
  const kernels::DrawKey key = kernels::DrawKey::make(77, 0, 5, 3);
  for (const auto type : {at::kBFloat16, at::kHalf}) {
    const HalfType ht = type == at::kBFloat16 ? HalfType::kBFloat16 : HalfType::kFloat16;
    const auto rounded = kernels::reference::stochastic_round(x, type, r);
    int64_t mismatches = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const uint32_t rb = half::rounding_bits(key, i);
      ASSERT_EQ(static_cast<int64_t>(rb), bits[i].item<int64_t>()) << i;
      const uint16_t mine = half::stochastic(ht, xs[static_cast<size_t>(i)], rb);
      if (std::isnan(xs[static_cast<size_t>(i)])) {
        EXPECT_TRUE(std::isnan(half::to_float(ht, mine)) && std::isnan(half::to_float(ht, pattern(rounded, i))));
        continue;
      }
      if (mine != pattern(rounded, i) && ++mismatches <= 5)
        ADD_FAILURE() << c10::toString(type) << " of " << xs[static_cast<size_t>(i)] << ": " << mine << " vs "
                      << pattern(rounded, i);
    }
    EXPECT_EQ(mismatches, 0);
  }
}

// ---- the fused 16-bit sign step ----------------------------------------------------------------------

struct HalfCase {
  std::string name;
  at::ScalarType type;
  bool half_momentum;
  double beta;
  bool dither;
  DitherScale scale;
  bool target_gradient;
  bool threshold;
  bool gaussian;
  bool stochastic;
  double weight_decay;
  bool decoupled;
  bool previous = false; ///< DitherScaleFrom::Previous (the one-pass scale)
};

void PrintTo(const HalfCase& c, std::ostream* os) {
  *os << c.name;
}

std::vector<HalfCase> half_cases() {
  std::vector<HalfCase> out;
  for (const auto type : {at::kBFloat16, at::kHalf}) {
    const std::string t = type == at::kBFloat16 ? "bf16" : "f16";
    out.push_back({t + "_signsgd", type, false, 0.0, false, DitherScale::Rms, false, false, true, true, 0.0, false});
    out.push_back(
        {t + "_signsgd_nearest", type, false, 0.0, false, DitherScale::Rms, false, false, true, false, 0.01, false});
    out.push_back(
        {t + "_signum_f32m", type, false, 0.9, false, DitherScale::Rms, false, false, true, true, 0.01, false});
    out.push_back({t + "_signum_16m", type, true, 0.9, false, DitherScale::Rms, false, false, true, true, 0.01, true});
    out.push_back(
        {t + "_dither_rms_f32m", type, false, 0.9, true, DitherScale::Rms, false, false, true, true, 0.01, false});
    out.push_back(
        {t + "_dither_rms_16m", type, true, 0.9, true, DitherScale::Rms, false, false, true, true, 0.0, false});
    out.push_back(
        {t + "_dither_max_grad", type, true, 0.9, true, DitherScale::Max3Sigma, true, false, false, true, 0.0, false});
    out.push_back(
        {t + "_threshold_meanabs_16m",
         type,
         true,
         0.9,
         true,
         DitherScale::MeanAbs,
         false,
         true,
         true,
         true,
         0.01,
         true});
    out.push_back(
        {t + "_threshold_abs_signsgd",
         type,
         false,
         0.0,
         true,
         DitherScale::Absolute,
         true,
         true,
         false,
         true,
         0.0,
         false});
    out.push_back(
        {t + "_prev_rms_f32m", type, false, 0.9, true, DitherScale::Rms, false, false, true, true, 0.01, false, true});
    out.push_back(
        {t + "_prev_rms_16m", type, true, 0.9, true, DitherScale::Rms, false, false, true, true, 0.0, false, true});
    out.push_back(
        {t + "_prev_max_grad",
         type,
         true,
         0.9,
         true,
         DitherScale::Max3Sigma,
         true,
         false,
         false,
         true,
         0.0,
         false,
         true});
    out.push_back(
        {t + "_prev_threshold_meanabs_signsgd",
         type,
         false,
         0.0,
         true,
         DitherScale::MeanAbs,
         false,
         true,
         true,
         true,
         0.01,
         true,
         true});
  }
  return out;
}

kernels::SignStepArgs half_args(const HalfCase& c, int64_t step) {
  kernels::SignStepArgs a;
  a.lr = 0.003;
  a.weight_decay = c.weight_decay;
  a.decoupled = c.decoupled;
  a.beta = c.beta;
  a.dither.enabled = c.dither;
  a.dither.gaussian = c.gaussian;
  a.dither.target_gradient = c.target_gradient;
  a.dither.draw = c.threshold ? DitherDraw::Threshold : DitherDraw::Additive;
  a.dither.scale = c.scale;
  a.dither.alpha = 0.7;
  a.dither.seed = 12;
  a.dither.stream = 1;
  a.dither.step = step;
  a.dither.param_index = 2;
  a.rounding.stochastic = c.stochastic;
  a.rounding.seed = 99;
  a.rounding.step = step;
  a.rounding.param_index = 2;
  return a;
}

class HalfStep : public ::testing::TestWithParam<HalfCase> {};

// Three steps of the fused kernel and of the torch-op reference from the same state, on 1, 2 and 3 threads
// and sizes around the vector width and the chunk: the parameters and the momentum agree bit for bit. The
// second step also computes the hybrid's calibration sums <u, g'> and ||g'||^2, which agree bit for bit too.
TEST_P(HalfStep, FusedEqualsTheReferenceBitForBit) {
  const HalfCase c = GetParam();
  for (const int threads : {1, 2, 3}) {
    const ScopedThreads scoped(threads);
    for (const int64_t n : {int64_t{1}, int64_t{17}, int64_t{4095}, int64_t{4097}, int64_t{10000}}) {
      torch::manual_seed(n);
      auto p = torch::randn({n}).to(c.type);
      auto m = c.beta > 0 ? (torch::randn({n}) * 0.1).to(c.half_momentum ? c.type : at::kFloat) : torch::Tensor();
      auto p_ref = p.clone();
      auto m_ref = m.defined() ? m.clone() : m;
      ASSERT_TRUE(kernels::fused_sign_eligible(p, p, m)) << c.name;
      double state = 0.0, state_ref = 0.0; // the stored base of DitherScaleFrom::Previous
      for (int64_t step = 1; step <= 3; ++step) {
        const auto g = (torch::randn({n}) * 0.5).to(c.type);
        auto a = half_args(c, step), a_ref = a;
        if (c.previous) {
          a.dither.scale_from = a_ref.dither.scale_from = DitherScaleFrom::Previous;
          a.dither.scale_state_ready = a_ref.dither.scale_state_ready = step > 1;
          a.dither.scale_state = &state;
          a_ref.dither.scale_state = &state_ref;
        }
        double sums[2] = {0.0, 0.0}, sums_ref[2] = {0.0, 0.0};
        const bool calibrate = step == 2;
        const double s = kernels::sign_descent_step(p, g, m, a, calibrate ? sums : nullptr);
        const double s_ref =
            kernels::reference::sign_descent_step(p_ref, g, m_ref, a_ref, calibrate ? sums_ref : nullptr);
        ASSERT_EQ(s, s_ref) << c.name << " n " << n << " step " << step << " threads " << threads;
        ASSERT_EQ(sums[0], sums_ref[0]) << c.name << " <u, g'>, n " << n << " threads " << threads;
        ASSERT_EQ(sums[1], sums_ref[1]) << c.name << " ||g'||^2, n " << n << " threads " << threads;
        if (calibrate) {
          ASSERT_GT(sums[1], 0.0) << c.name;
          ASSERT_LE(std::abs(sums[0]), std::sqrt(sums[1] * static_cast<double>(n)) * (1 + 1e-12))
              << "Cauchy-Schwarz, |u_i| <= 1";
        }
        ASSERT_EQ(state, state_ref) << c.name << " stored base, n " << n << " step " << step << " threads " << threads;
        if (c.previous && step > 1)
          ASSERT_GT(state, 0.0) << c.name;
      }
      ASSERT_TRUE(torch::equal(p.view(torch::kShort), p_ref.view(torch::kShort)))
          << c.name << " n " << n << " threads " << threads;
      if (m.defined())
        ASSERT_TRUE(torch::equal(m, m_ref)) << c.name << " momentum, n " << n << " threads " << threads;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases,
    HalfStep,
    ::testing::ValuesIn(half_cases()),
    [](const ::testing::TestParamInfo<HalfCase>& info) { return info.param.name; });

// Steps smaller than half a bfloat16 ulp vanish under round to nearest; stochastic rounding keeps them in
// expectation. From p = 1 with g = 1, T = 100 steps of 1e-3 (1/8 of bfloat16's ulp at 1) by `step(p, g, rounding)`
// take the float32 run to 1 - T 1e-3 = 0.9; the stochastically rounded 16-bit run's mean over N elements agrees
// within 5 standard deviations of its rounding noise (each step adds at most ulp^2 / 4 per element, ulp <= 2^-7
// for bfloat16, 2^-10 for float16), and the bfloat16 run rounded to nearest has not moved.
template <class Step>
void expect_small_steps_kept(at::ScalarType type, Step step) {
  const int64_t n = 65536, steps = 100;
  auto sr = torch::ones({n}, type);
  auto nearest = torch::ones({n}, type);
  auto f32 = torch::ones({n}, torch::kFloat);
  const auto g16 = torch::ones({n}, type);
  const auto g32 = torch::ones({n}, torch::kFloat);
  for (int64_t t = 1; t <= steps; ++t) {
    kernels::RoundingArgs r{true, 5, t, 0};
    step(sr, g16, r);
    step(f32, g32, r);
    r.stochastic = false;
    step(nearest, g16, r);
  }
  const double ulp = type == at::kBFloat16 ? 0.0078125 : 0.0009765625;
  const double sd = std::sqrt(static_cast<double>(steps) * ulp * ulp / 4.0 / static_cast<double>(n));
  const double expected = f32.mean().item<double>();
  EXPECT_NEAR(expected, 0.9, 1e-4);
  EXPECT_NEAR(sr.to(torch::kDouble).mean().item<double>(), expected, 5.0 * sd) << c10::toString(type);
  if (type == at::kBFloat16)
    EXPECT_EQ(nearest.to(torch::kFloat).max().item<float>(), 1.0f) << "round to nearest loses every step";
  EXPECT_GT(sr.to(torch::kFloat).std().item<float>(), 0.0f) << "the rounding is random per element";
}

TEST(HalfStepLaw, StochasticRoundingKeepsSmallStepsInExpectation) {
  for (const auto type : {at::kBFloat16, at::kHalf}) {
    expect_small_steps_kept(type, [](torch::Tensor& p, const torch::Tensor& g, const kernels::RoundingArgs& r) {
      kernels::SignStepArgs a;
      a.lr = 1e-3;
      a.rounding = r;
      torch::Tensor none;
      kernels::sign_descent_step(p, g, none, a);
    });
  }
}

// The rounding bits are keyed by (seed, step, parameter, element): other steps or seeds give other roundings,
// the same key the same, whatever the thread count.
TEST(HalfStepLaw, RoundingIsKeyedAndThreadInvariant) {
  const int64_t n = 20000;
  torch::manual_seed(1);
  const auto p0 = torch::randn({n}).to(at::kBFloat16);
  const auto g = torch::randn({n}).to(at::kBFloat16);
  torch::Tensor none;
  const auto run = [&](uint64_t seed, int64_t step, int threads) {
    const ScopedThreads scoped(threads);
    auto p = p0.clone();
    kernels::SignStepArgs a;
    a.lr = 1e-3;
    a.rounding.seed = seed;
    a.rounding.step = step;
    kernels::sign_descent_step(p, g, none, a);
    return p;
  };
  EXPECT_TRUE(torch::equal(run(1, 1, 1), run(1, 1, 2)));
  EXPECT_FALSE(torch::equal(run(1, 1, 1), run(2, 1, 1)));
  EXPECT_FALSE(torch::equal(run(1, 1, 1), run(1, 2, 1)));
}

// ---- the fused 16-bit SGD step (the hybrid's SGD phase) ------------------------------------------------

struct HalfSgdCase {
  std::string name;
  at::ScalarType type;
  double mu;
  bool dampened;
  bool half_momentum;
  bool stochastic;
  double weight_decay;
  bool decoupled;
};

void PrintTo(const HalfSgdCase& c, std::ostream* os) {
  *os << c.name;
}

std::vector<HalfSgdCase> half_sgd_cases() {
  std::vector<HalfSgdCase> out;
  for (const auto type : {at::kBFloat16, at::kHalf}) {
    const std::string t = type == at::kBFloat16 ? "bf16" : "f16";
    out.push_back({t + "_plain", type, 0.0, true, false, true, 0.0, false});
    out.push_back({t + "_plain_nearest_coupled", type, 0.0, true, false, false, 0.01, false});
    out.push_back({t + "_dampened_f32v", type, 0.9, true, false, true, 0.01, false});
    out.push_back({t + "_undampened_16v_decoupled", type, 0.9, false, true, true, 0.1, true});
    out.push_back({t + "_dampened_16v_nearest", type, 0.5, true, true, false, 0.0, false});
  }
  return out;
}

class HalfSgd : public ::testing::TestWithParam<HalfSgdCase> {};

// Three SGD steps, fused and reference, from the same state on 1-3 threads and sizes around the chunk: the
// parameters and the momentum agree bit for bit, and the parameter moved.
TEST_P(HalfSgd, FusedEqualsTheReferenceBitForBit) {
  const HalfSgdCase c = GetParam();
  for (const int threads : {1, 2, 3}) {
    const ScopedThreads scoped(threads);
    for (const int64_t n : {int64_t{1}, int64_t{17}, int64_t{4097}, int64_t{10000}}) {
      torch::manual_seed(n);
      auto p = torch::randn({n}).to(c.type);
      const auto p0 = p.clone();
      auto v = c.mu > 0 ? (torch::randn({n}) * 0.1).to(c.half_momentum ? c.type : at::kFloat) : torch::Tensor();
      auto p_ref = p.clone();
      auto v_ref = v.defined() ? v.clone() : v;
      ASSERT_TRUE(kernels::fused_sgd_eligible(p, p, v)) << c.name;
      for (int64_t step = 1; step <= 3; ++step) {
        const auto g = (torch::randn({n}) * 0.5).to(c.type);
        kernels::SgdStepArgs a;
        a.eta = 0.01;
        a.weight_decay = c.weight_decay;
        a.decoupled = c.decoupled;
        a.mu = c.mu;
        a.dampened = c.dampened;
        a.rounding = {c.stochastic, 31, step, 4};
        kernels::sgd_step(p, g, v, a);
        kernels::reference::sgd_step(p_ref, g, v_ref, a);
      }
      ASSERT_TRUE(torch::equal(p.view(torch::kShort), p_ref.view(torch::kShort)))
          << c.name << " n " << n << " threads " << threads;
      if (v.defined())
        ASSERT_TRUE(torch::equal(v, v_ref)) << c.name << " momentum, n " << n << " threads " << threads;
      if (n > 1)
        ASSERT_FALSE(torch::equal(p, p0)) << c.name << " did not move";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases,
    HalfSgd,
    ::testing::ValuesIn(half_sgd_cases()),
    [](const ::testing::TestParamInfo<HalfSgdCase>& info) { return info.param.name; });

// The SGD phase's step of eta g = 1e-3 too (expect_small_steps_kept).
TEST(HalfSgdLaw, StochasticRoundingKeepsSmallStepsInExpectation) {
  for (const auto type : {at::kBFloat16, at::kHalf}) {
    expect_small_steps_kept(type, [](torch::Tensor& p, const torch::Tensor& g, const kernels::RoundingArgs& r) {
      kernels::SgdStepArgs a;
      a.eta = 1e-3;
      a.rounding = r;
      torch::Tensor none;
      kernels::sgd_step(p, g, none, a);
    });
  }
}

TEST(HalfStepErrors, BadCombinationsAreRefused) {
  auto p = torch::zeros({8}, at::kBFloat16);
  auto g16 = torch::zeros({8}, at::kHalf);
  auto m = torch::zeros({8}, at::kDouble);
  torch::Tensor none;
  kernels::SignStepArgs a;
  EXPECT_FALSE(kernels::fused_sign_eligible(p, g16, none));
  EXPECT_FALSE(kernels::fused_sign_eligible(p, p, m));
  EXPECT_THROW(kernels::sign_descent_step(p, g16, none, a), c10::Error);
  a.beta = 0.9;
  EXPECT_THROW(kernels::sign_descent_step(p, p, m, a), c10::Error);
  kernels::SgdStepArgs sgd;
  EXPECT_FALSE(kernels::fused_sgd_eligible(p, g16, none));
  EXPECT_THROW(kernels::sgd_step(p, g16, none, sgd), c10::Error);
  sgd.mu = 0.9;
  EXPECT_THROW(kernels::sgd_step(p, p, none, sgd), c10::Error); // momentum without its buffer
  EXPECT_THROW(kernels::sgd_step(p, p, m, sgd), c10::Error); // a float64 buffer
}

} // namespace
} // namespace signopt::test

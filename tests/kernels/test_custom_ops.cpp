// The custom operators of python/csrc/signopt_ops.cpp (the stable-ABI library signopt_ops), loaded into
// this LibTorch process as torch.ops.load_library would, and called through the dispatcher: each rule's
// list op gives the bits of the fused kernel (kernels/fused.h) on every parameter, float32 and float64,
// with weight decay and momentum, and bad inputs are refused with a reason.
#include <signopt/kernels/bitpack.h>
#include <signopt/kernels/dither_schedule.h>
#include <signopt/kernels/fused.h>
#include <signopt/kernels/reductions.h>
#include <signopt/kernels/reference.h>

#include <ATen/core/dispatch/Dispatcher.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <dlfcn.h>

#include <cmath>
#include <limits>

#include <string>
#include <vector>

namespace {

void load_ops() {
  static void* handle = dlopen(SIGNOPT_OPS_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
}

c10::OperatorHandle op(const char* name, const char* overload = "") {
  return c10::Dispatcher::singleton().findSchemaOrThrow((std::string("signopt::") + name).c_str(), overload);
}

// Parameters of sizes around the vector width and the chunk, with non-zero gradients.
std::vector<torch::Tensor> tensors(torch::Dtype dtype, int seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> out;
  for (int64_t n : {1, 7, 17, 4096, 4099, 10000})
    out.push_back(torch::randn({n}, torch::TensorOptions().dtype(dtype)));
  return out;
}

std::vector<torch::Tensor> clones(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> out;
  for (const auto& t : ts)
    out.push_back(t.clone());
  return out;
}

void expect_same(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(torch::equal(a[i], b[i])) << what << ", tensor " << i;
}

// One int64 step counter per parameter, each at `value`.
std::vector<torch::Tensor> counters(size_t n, int64_t value) {
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(torch::full({1}, value, torch::kInt64));
  return out;
}

// The parameter indices first, first + 1, ... of n parameters.
std::vector<int64_t> param_indices(size_t n, int64_t first) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(first + static_cast<int64_t>(i));
  return out;
}

// The 16-bit ops' inputs: tensors(…, 1) and tensors(…, 2) as parameters and gradients of `type`, and a momentum
// of 0.1 tensors(…, 3) in float32 or (half_m) in `type`.
struct HalfInputs {
  std::vector<torch::Tensor> p, g, m;
};

HalfInputs half_inputs(torch::Dtype type, bool half_m) {
  HalfInputs x{tensors(torch::kFloat, 1), tensors(torch::kFloat, 2), tensors(torch::kFloat, 3)};
  for (size_t i = 0; i < x.p.size(); ++i) {
    x.p[i] = x.p[i].to(type);
    x.g[i] = x.g[i].to(type);
    x.m[i] = (x.m[i] * 0.1).to(half_m ? type : torch::kFloat);
  }
  return x;
}

void expect_counts(const std::vector<torch::Tensor>& steps, int64_t value, const std::string& what) {
  for (size_t i = 0; i < steps.size(); ++i)
    EXPECT_EQ(steps[i].item<int64_t>(), value) << what << ", counter " << i;
}

// Tensor i's row of a hybrid sign phase's sums: the fused step's <u, g> and ||g||^2 (dot_gg), nnz(u) = `nonzero`,
// and the momentum's ||m||_1 and ||m||^2 (ms).
void expect_hybrid_sums(
    const torch::Tensor& row,
    const double dot_gg[2],
    const signopt::kernels::MomentSums& ms,
    double nonzero,
    size_t i) {
  EXPECT_EQ(row[0].item<double>(), dot_gg[0]) << i;
  EXPECT_EQ(row[1].item<double>(), dot_gg[1]) << i;
  EXPECT_EQ(row[2].item<double>(), nonzero) << i;
  EXPECT_EQ(row[3].item<double>(), ms.abs) << i;
  EXPECT_EQ(row[4].item<double>(), ms.sq) << i;
}

class CustomOps : public ::testing::TestWithParam<torch::Dtype> {
 protected:
  void SetUp() override {
    load_ops();
  }
};

// The op increments each step counter and anneals alpha from it (power schedule, tick = step - 1) or from
// the epoch; a non-zero found_inf leaves everything, counters included, unchanged.
TEST_P(CustomOps, SignDescentEqualsTheFusedKernel) {
  const auto dtype = GetParam();
  for (const int64_t epoch : {int64_t{-1}, int64_t{7}}) {
    // no dither, additive draw, threshold draw; 3 and 4: the same draws with the previous step's scale
    for (const int variant : {0, 1, 2, 3, 4}) {
      const bool dither = variant > 0, threshold = variant % 2 == 0 && variant > 0, previous = variant > 2;
      auto p = tensors(dtype, 1), g = tensors(dtype, 2), m = tensors(dtype, 3);
      auto p_ref = clones(p), m_ref = clones(m);
      auto steps = counters(p.size(), 4);
      const auto indices = param_indices(p.size(), 0);
      // The stored bases: NaN (the first step measures its own) for even i, a stored value for odd i.
      std::vector<torch::Tensor> bases;
      for (size_t i = 0; i < p.size(); ++i) {
        if (previous)
          bases.push_back(torch::full({1}, i % 2 == 0 ? std::nan("") : 0.37 * static_cast<double>(i), torch::kDouble));
      }
      const auto bases_ref = clones(bases);
      const auto stack_with = [&](c10::IValue found_inf) {
        return std::vector<c10::IValue>{p, g, m, steps, found_inf, 0.01, 0.1, false, 0.9, indices, dither, true, false,
                                        threshold, int64_t{1}, int64_t{1}, 0.5, 0.55, 0.0, int64_t{0}, 0.999, int64_t{11}, int64_t{2}, epoch,
                                        bases};
      };
      auto skipped = stack_with(torch::ones({1}));
      op("sign_descent_").callBoxed(&skipped);
      expect_same(p, p_ref, "params after a skipped step");
      expect_counts(steps, 4, "after a skipped step");
      for (size_t i = 0; i < bases.size(); ++i)
        EXPECT_TRUE(torch::equal(bases[i], bases_ref[i]) || (i % 2 == 0 && std::isnan(bases[i].item<double>())))
            << "a skipped step keeps the stored base " << i;
      auto stack = stack_with(torch::zeros({1}));
      op("sign_descent_").callBoxed(&stack);
      expect_counts(steps, 5, "after a step");
      signopt::kernels::DitherScheduleArgs schedule;
      schedule.alpha = 0.5;
      for (size_t i = 0; i < p.size(); ++i) {
        signopt::kernels::SignStepArgs a;
        a.lr = 0.01;
        a.weight_decay = 0.1;
        a.beta = 0.9;
        a.dither.enabled = dither;
        a.dither.draw = threshold ? signopt::DitherDraw::Threshold : signopt::DitherDraw::Additive;
        a.dither.scale = signopt::DitherScale::Rms;
        a.dither.alpha = dither ? signopt::kernels::dither_alpha(schedule, epoch >= 0 ? epoch : 4) : 0.0;
        a.dither.seed = 11;
        a.dither.stream = 2;
        a.dither.step = 5;
        a.dither.param_index = static_cast<int64_t>(i);
        if (previous) {
          a.dither.scale_from = signopt::DitherScaleFrom::Previous;
          a.dither.scale_state = bases_ref[i].data_ptr<double>();
          a.dither.scale_state_ready = std::isfinite(*a.dither.scale_state);
        }
        signopt::kernels::sign_descent_step(p_ref[i], g[i], m_ref[i], a);
      }
      const std::string what = std::string(previous ? "previous-scale " : "") +
          (threshold ? "threshold-dithered Signum params" : dither ? "dithered Signum params" : "Signum params");
      expect_same(p, p_ref, what);
      expect_same(m, m_ref, "momentum");
      expect_same(bases, bases_ref, "stored bases");
      for (const auto& b : bases)
        EXPECT_TRUE(std::isfinite(b.item<double>())) << "each step stores its base";
    }
  }
}

// The hybrid's sign phase is sign_descent_ plus each tensor's raw calibration sums: the fused kernel's <u, g>
// and ||g||^2, and kernels::moment_sums of m (nnz counted from m, or every element when dither noise was
// added to m).
TEST_P(CustomOps, HybridSignPhaseWritesTheCalibrationSums) {
  const auto dtype = GetParam();
  for (const bool dither : {false, true}) {
    auto p = tensors(dtype, 1), g = tensors(dtype, 2), m = tensors(dtype, 3);
    m[2].zero_(); // with half of g[2] zero too, m[2] keeps zeros: nnz < numel without dither
    g[2].narrow(0, 0, 8).zero_();
    auto p_ref = clones(p), m_ref = clones(m);
    auto steps = counters(p.size(), 0);
    const auto indices = param_indices(p.size(), 0);
    auto sums = torch::full({static_cast<int64_t>(p.size()), 5}, -1.0, torch::kDouble);
    std::vector<c10::IValue> stack = {p, g, m, steps, c10::IValue(), 0.01, 0.0, false, 0.9, indices, dither, true, false,
                                      false, int64_t{1}, int64_t{0}, 0.5, 0.55, 0.0, int64_t{0}, 0.999, int64_t{4}, int64_t{0},
                                      int64_t{-1}, std::vector<torch::Tensor>{}, sums};
    op("hybrid_sign_phase_").callBoxed(&stack);
    for (size_t i = 0; i < p.size(); ++i) {
      signopt::kernels::SignStepArgs a;
      a.lr = 0.01;
      a.beta = 0.9;
      a.dither.enabled = dither;
      a.dither.alpha = dither ? 0.5 : 0.0;
      a.dither.seed = 4;
      a.dither.step = 1;
      a.dither.param_index = static_cast<int64_t>(i);
      double dot_gg[2] = {0.0, 0.0};
      signopt::kernels::sign_descent_step(p_ref[i], g[i], m_ref[i], a, dot_gg);
      const auto ms = signopt::kernels::moment_sums(m_ref[i]);
      expect_hybrid_sums(
          sums[static_cast<int64_t>(i)], dot_gg, ms, dither ? static_cast<double>(p[i].numel()) : ms.nonzero, i);
    }
    if (!dither) {
      EXPECT_EQ(sums[2][2].item<double>(), 9.0) << "m[2] keeps 8 zeros of its 17 elements";
    }
    expect_same(p, p_ref, "params");
    expect_same(m, m_ref, "momentum");
  }
}

// found_nonfinite is kernels::all_finite over the list: 1 for a NaN or an infinity anywhere (any chunk, any
// tensor), else 0.
TEST_P(CustomOps, FoundNonfiniteFlagsNanAndInfinityAnywhere) {
  const auto dtype = GetParam();
  const auto found = [](const std::vector<torch::Tensor>& grads) {
    std::vector<c10::IValue> stack = {grads};
    op("found_nonfinite").callBoxed(&stack);
    return stack[0].toTensor().item<float>();
  };
  auto g = tensors(dtype, 2);
  EXPECT_EQ(found(g), 0.0f);
  for (const double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    for (const int64_t at : {int64_t{0}, int64_t{4097}, int64_t{9999}}) {
      auto h = clones(g);
      h[5][at] = bad;
      EXPECT_EQ(found(h), 1.0f) << bad << " at " << at;
      EXPECT_FALSE(signopt::kernels::all_finite(h[5]));
    }
  }
}

TEST_P(CustomOps, SgdEfAndLionEqualTheFusedKernels) {
  const auto dtype = GetParam();
  auto p = tensors(dtype, 1), g = tensors(dtype, 2), s1 = tensors(dtype, 3), s2 = tensors(dtype, 4);
  auto p_ref = clones(p), s1_ref = clones(s1), s2_ref = clones(s2);
  auto steps = counters(p.size(), 0);
  std::vector<c10::IValue> sgd = {p, g, s1, 0.03, 0.05, true, 0.9, true};
  op("sgd_step_").callBoxed(&sgd);
  std::vector<c10::IValue> ef = {p, g, s1, s2, steps, c10::IValue(), 0.05, 0.01, false, 0.3};
  op("ef_sign_sgd_step_").callBoxed(&ef);
  std::vector<c10::IValue> lion = {p, g, s2, steps, c10::IValue(), 0.01, 0.1, true, 0.9, 0.99};
  op("lion_step_").callBoxed(&lion);
  expect_counts(steps, 2, "EF-SignSGD and Lion each count a step");
  for (size_t i = 0; i < p.size(); ++i) {
    signopt::kernels::sgd_step(p_ref[i], g[i], s1_ref[i], {0.03, 0.05, true, 0.9, true});
    signopt::kernels::ef_sign_sgd_step(p_ref[i], g[i], s1_ref[i], s2_ref[i], {0.05, 0.01, false, 0.3});
    signopt::kernels::lion_step(p_ref[i], g[i], s2_ref[i], {0.01, 0.1, true, 0.9, 0.99});
  }
  expect_same(p, p_ref, "params after SGD, EF-SignSGD and Lion");
  expect_same(s1, s1_ref, "SGD momentum / EF error");
  expect_same(s2, s2_ref, "EF momentum / Lion state");
  std::vector<c10::IValue> ef_skip = {p, g, s1, s2, steps, torch::ones({1}, torch::kDouble), 0.05, 0.01, false, 0.3};
  op("ef_sign_sgd_step_").callBoxed(&ef_skip);
  std::vector<c10::IValue> lion_skip = {p, g, s2, steps, torch::ones({1}), 0.01, 0.1, true, 0.9, 0.99};
  op("lion_step_").callBoxed(&lion_skip);
  expect_counts(steps, 2, "skipped steps are not counted");
  expect_same(p, p_ref, "params after skipped steps");
}

// The dither noise op gives the reference composition's noise (the values the fused step adds).
TEST_P(CustomOps, DitherNoiseEqualsTheReference) {
  const auto dtype = GetParam();
  for (const bool gaussian : {true, false}) {
    const auto like = torch::zeros({3, 4099}, dtype);
    std::vector<c10::IValue> stack = {like, int64_t{-3}, int64_t{2}, gaussian, int64_t{9}, int64_t{4}};
    op("dither_noise").callBoxed(&stack);
    const auto expected = signopt::kernels::reference::dither_noise(like, ~uint64_t{2}, 2, gaussian, 9, 4);
    EXPECT_TRUE(torch::equal(stack[0].toTensor(), expected)) << (gaussian ? "gaussian" : "uniform");
  }
}

// The .tensor_lr overloads (the learning rate as a one-element tensor, as LR schedulers keep it under
// torch.compile) give the bits of the float overloads, for a float32 and a float64 lr.
TEST_P(CustomOps, TensorLrOverloadsEqualTheFloatOnes) {
  const auto dtype = GetParam();
  for (const auto lr_dtype : {torch::kFloat, torch::kDouble}) {
    const double lr = lr_dtype == torch::kFloat ? static_cast<double>(0.0125f) : 0.0125;
    const auto lr_t = torch::full({}, lr, torch::TensorOptions().dtype(lr_dtype));
    auto p = tensors(dtype, 1), g = tensors(dtype, 2), s1 = tensors(dtype, 3), s2 = tensors(dtype, 4);
    auto q = clones(p), t1 = clones(s1), t2 = clones(s2);
    auto steps = counters(p.size(), 3), steps_q = counters(p.size(), 3);
    std::vector<int64_t> indices(p.size(), 0);
    for (size_t i = 0; i < indices.size(); ++i)
      indices[i] = static_cast<int64_t>(i);
    const auto run = [&](std::vector<c10::IValue> stack, const char* name, const char* overload) {
      op(name, overload).callBoxed(&stack);
    };
    const c10::IValue none;
    run({p, g, s1, steps, none, lr_t, 0.1, false, 0.9, indices, true, true, false, true, int64_t{1}, int64_t{1}, 0.5, 0.55, 0.0,
         int64_t{0}, 0.999, int64_t{3}, int64_t{0}, int64_t{-1}, std::vector<torch::Tensor>{}},
        "sign_descent_", "tensor_lr");
    run({q, g, t1, steps_q, none, lr, 0.1, false, 0.9, indices, true, true, false, true, int64_t{1}, int64_t{1}, 0.5, 0.55, 0.0,
         int64_t{0}, 0.999, int64_t{3}, int64_t{0}, int64_t{-1}, std::vector<torch::Tensor>{}},
        "sign_descent_", "");
    run({p, g, s1, lr_t, 0.05, true, 0.9, true}, "sgd_step_", "tensor_lr");
    run({q, g, t1, lr, 0.05, true, 0.9, true}, "sgd_step_", "");
    run({p, g, s1, s2, steps, none, lr_t, 0.01, false, 0.3}, "ef_sign_sgd_step_", "tensor_lr");
    run({q, g, t1, t2, steps_q, none, lr, 0.01, false, 0.3}, "ef_sign_sgd_step_", "");
    run({p, g, s2, steps, none, lr_t, 0.1, true, 0.9, 0.99}, "lion_step_", "tensor_lr");
    run({q, g, t2, steps_q, none, lr, 0.1, true, 0.9, 0.99}, "lion_step_", "");
    expect_same(p, q, std::string("params, lr ") + c10::toString(lr_dtype));
    expect_same(s1, t1, "first state");
    expect_same(s2, t2, "second state");
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CustomOps, ::testing::Values(torch::kFloat, torch::kDouble));

// The 16-bit op is kernels::sign_descent_step on 16-bit parameters (float32 arithmetic, the rounding keyed by
// (rounding_seed, step, param_indices[i])), with a float32 or a 16-bit momentum and dither; stochastic_round
// is the reference's rounding; found_nonfinite reads 16-bit gradients.
TEST(CustomOpsHalf, SignDescentHalfEqualsTheKernel) {
  load_ops();
  for (const auto type : {torch::kBFloat16, torch::kHalf}) {
    for (const bool half_m : {false, true}) {
      for (const bool stochastic : {true, false}) {
        auto [p, g, m] = half_inputs(type, half_m);
        auto p_ref = clones(p), m_ref = clones(m);
        auto steps = counters(p.size(), 2);
        const auto indices = param_indices(p.size(), 10);
        std::vector<c10::IValue> stack = {p, g, m, steps, c10::IValue(), 0.002, 0.01, false, 0.9, indices, true, true, false,
                                          false, int64_t{1}, int64_t{1}, 0.5, 0.55, 0.0, int64_t{0}, 0.999, int64_t{11},
                                          int64_t{2}, int64_t{-1}, std::vector<torch::Tensor>{}, stochastic, int64_t{44}};
        op("sign_descent_half_").callBoxed(&stack);
        signopt::kernels::DitherScheduleArgs schedule;
        schedule.alpha = 0.5;
        for (size_t i = 0; i < p.size(); ++i) {
          signopt::kernels::SignStepArgs a;
          a.lr = 0.002;
          a.weight_decay = 0.01;
          a.beta = 0.9;
          a.dither.enabled = true;
          a.dither.alpha = signopt::kernels::dither_alpha(schedule, 2);
          a.dither.seed = 11;
          a.dither.stream = 2;
          a.dither.step = 3;
          a.dither.param_index = indices[i];
          a.rounding = {stochastic, 44, 3, indices[i]};
          signopt::kernels::sign_descent_step(p_ref[i], g[i], m_ref[i], a);
        }
        for (size_t i = 0; i < p.size(); ++i) {
          EXPECT_TRUE(torch::equal(p[i].view(torch::kShort), p_ref[i].view(torch::kShort))) << type << " " << i;
          EXPECT_TRUE(torch::equal(m[i], m_ref[i])) << "momentum " << i;
        }
        expect_counts(steps, 3, "16-bit steps are counted");
      }
    }
    const auto x = torch::randn({5000});
    std::vector<c10::IValue> round = {x, type == torch::kBFloat16, int64_t{7}, int64_t{4}, int64_t{9}};
    op("stochastic_round").callBoxed(&round);
    signopt::kernels::RoundingArgs r{true, 7, 4, 9};
    EXPECT_TRUE(torch::equal(round[0].toTensor().view(torch::kShort),
                             signopt::kernels::reference::stochastic_round(x, type, r).view(torch::kShort)));
    auto bad = torch::zeros({100}, type);
    std::vector<c10::IValue> ok = {std::vector<torch::Tensor>{bad}};
    op("found_nonfinite").callBoxed(&ok);
    EXPECT_EQ(ok[0].toTensor().item<float>(), 0.0f);
    bad[77] = std::numeric_limits<float>::infinity();
    std::vector<c10::IValue> found = {std::vector<torch::Tensor>{bad}};
    op("found_nonfinite").callBoxed(&found);
    EXPECT_EQ(found[0].toTensor().item<float>(), 1.0f);
  }
}

// The hybrid's 16-bit ops: hybrid_sign_phase_half_ is the 16-bit kernels::sign_descent_step with the
// calibration sums (and the momentum's moment_sums, a 16-bit m widened exactly), sgd_step_half_ is the 16-bit
// kernels::sgd_step keyed by the step counts it reads (and does not increment); float32 and 16-bit momentum.
TEST(CustomOpsHalf, HybridHalfOpsEqualTheKernels) {
  load_ops();
  for (const auto type : {torch::kBFloat16, torch::kHalf}) {
    for (const bool half_m : {false, true}) {
      auto [p, g, m] = half_inputs(type, half_m);
      auto p_ref = clones(p), m_ref = clones(m);
      auto steps = counters(p.size(), 4);
      const auto indices = param_indices(p.size(), 3);
      auto sums = torch::full({static_cast<int64_t>(p.size()), 5}, -1.0, torch::kDouble);
      std::vector<c10::IValue> stack = {p, g, m, steps, c10::IValue(), 0.002, 0.01, false, 0.9, indices, false, true,
                                        false, false, int64_t{1}, int64_t{0}, 0.5, 0.55, 0.0, int64_t{0}, 0.999,
                                        int64_t{1}, int64_t{0}, int64_t{-1}, std::vector<torch::Tensor>{}, true,
                                        int64_t{21}, sums};
      op("hybrid_sign_phase_half_").callBoxed(&stack);
      for (size_t i = 0; i < p.size(); ++i) {
        signopt::kernels::SignStepArgs a;
        a.lr = 0.002;
        a.weight_decay = 0.01;
        a.beta = 0.9;
        a.rounding = {true, 21, 5, indices[i]};
        double dot_gg[2] = {0.0, 0.0};
        signopt::kernels::sign_descent_step(p_ref[i], g[i], m_ref[i], a, dot_gg);
        const auto ms = signopt::kernels::moment_sums(m_ref[i]);
        expect_hybrid_sums(sums[static_cast<int64_t>(i)], dot_gg, ms, ms.nonzero, i);
        EXPECT_GT(sums[static_cast<int64_t>(i)][1].item<double>(), 0.0) << i;
        EXPECT_TRUE(torch::equal(p[i].view(torch::kShort), p_ref[i].view(torch::kShort))) << type << " " << i;
        EXPECT_TRUE(torch::equal(m[i], m_ref[i])) << "momentum " << i;
      }
      expect_counts(steps, 5, "the sign phase counts its steps");
      // The SGD phase: momentum 0.5 undampened, decoupled decay, nearest rounding; the counters stay at 5.
      std::vector<c10::IValue> sgd = {p, g, m, steps, 0.05, 0.1, true, 0.5, false, indices, false, int64_t{21}};
      op("sgd_step_half_").callBoxed(&sgd);
      for (size_t i = 0; i < p.size(); ++i) {
        signopt::kernels::SgdStepArgs a;
        a.eta = 0.05;
        a.weight_decay = 0.1;
        a.decoupled = true;
        a.mu = 0.5;
        a.dampened = false;
        a.rounding = {false, 21, 5, indices[i]};
        signopt::kernels::sgd_step(p_ref[i], g[i], m_ref[i], a);
        EXPECT_TRUE(torch::equal(p[i].view(torch::kShort), p_ref[i].view(torch::kShort))) << "sgd " << type << " " << i;
        EXPECT_TRUE(torch::equal(m[i], m_ref[i])) << "sgd momentum " << i;
      }
      expect_counts(steps, 5, "sgd_step_half_ reads the counters");
    }
  }
}

// The packing ops give kernels::pack_signs / majority_vote / unpack_signs' words and values: zeros by a
// coin or positive, odd and even worker counts (ties), an optional zero mask, float32 and float64.
TEST(CustomOpsPacking, PackVoteAndUnpackEqualTheKernels) {
  load_ops();
  torch::manual_seed(5);
  for (const int64_t n : {int64_t{1}, int64_t{63}, int64_t{64}, int64_t{1000}, int64_t{100003}}) {
    for (const int64_t workers : {int64_t{1}, int64_t{2}, int64_t{3}}) {
      std::vector<torch::Tensor> packed;
      for (int64_t w = 0; w < workers; ++w) {
        auto x = torch::randn({n});
        x.index_put_({torch::rand({n}) < 0.1}, 0.0); // zeros for the coins
        const auto zero_rule = w % 2 == 0 ? signopt::kernels::ZeroSign::Random : signopt::kernels::ZeroSign::Positive;
        std::vector<c10::IValue> stack = {x, int64_t{w % 2}, int64_t{9}, int64_t{4}, w, int64_t{1}};
        op("pack_signs").callBoxed(&stack);
        const auto words = stack[0].toTensor();
        const auto expected = signopt::kernels::pack_signs(x, zero_rule, signopt::kernels::zero_sign_key(9, 4, w, 1));
        EXPECT_TRUE(torch::equal(words, expected)) << "pack n=" << n << " worker " << w;
        packed.push_back(words);
      }
      const auto stacked = torch::stack(packed);
      std::vector<c10::IValue> vote = {stacked, n};
      op("majority_vote").callBoxed(&vote);
      const auto expected = signopt::kernels::majority_vote(stacked, n);
      EXPECT_TRUE(torch::equal(vote[0].toTensor(), expected.sign)) << "vote sign n=" << n << " W=" << workers;
      EXPECT_TRUE(torch::equal(vote[1].toTensor(), expected.tie)) << "vote tie n=" << n << " W=" << workers;
      for (const bool float64 : {false, true}) {
        std::vector<c10::IValue> unpack = {expected.sign, n, 0.25, expected.tie, float64};
        op("unpack_signs").callBoxed(&unpack);
        const auto values = signopt::kernels::unpack_signs(
            expected.sign, n, 0.25, expected.tie, float64 ? torch::kDouble : torch::kFloat);
        EXPECT_TRUE(torch::equal(unpack[0].toTensor(), values)) << "unpack n=" << n << " float64 " << float64;
      }
      std::vector<c10::IValue> no_mask = {expected.sign, n, 1.0, c10::IValue(), false};
      op("unpack_signs").callBoxed(&no_mask);
      EXPECT_TRUE(torch::equal(no_mask[0].toTensor(), signopt::kernels::unpack_signs(expected.sign, n)));
    }
  }
}

TEST(CustomOpsSchema, MutatedListsAreMarkedAndNothingIsReturned) {
  load_ops();
  for (const char* name : {"sign_descent_", "sgd_step_", "ef_sign_sgd_step_", "lion_step_"}) {
    const auto& schema = op(name).schema();
    EXPECT_TRUE(schema.returns().empty()) << name;
    EXPECT_TRUE(schema.arguments()[0].alias_info() && schema.arguments()[0].alias_info()->isWrite()) << name;
    EXPECT_FALSE(schema.arguments()[1].alias_info() && schema.arguments()[1].alias_info()->isWrite())
        << name << ": grads are read only";
  }
}

TEST(CustomOpsErrors, BadInputsAreRefusedWithAReason) {
  load_ops();
  const auto expect_error = [](std::vector<c10::IValue> stack, const char* name, const std::string& message) {
    try {
      op(name).callBoxed(&stack);
      ADD_FAILURE() << name << " accepted; expected: " << message;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  const std::vector<torch::Tensor> p = {torch::zeros({4})}, g = {torch::zeros({4})}, none;
  const std::vector<torch::Tensor> half = {torch::zeros({4}, torch::kHalf)}, g_half = {torch::zeros({4}, torch::kHalf)};
  const std::vector<torch::Tensor> short_g = {torch::zeros({3})};
  expect_error({half, g_half, half, 0.1, 0.0, false, 0.0, false}, "sgd_step_", "params[0] must be float32 or float64");
  expect_error({p, short_g, none, 0.1, 0.0, false, 0.0, false}, "sgd_step_", "of its dtype and size");
  expect_error({p, none, none, 0.1, 0.0, false, 0.0, false}, "sgd_step_", "grads has 0 entries for 1 params");
  const std::vector<torch::Tensor> step = {torch::zeros({1}, torch::kInt64)}, float_step = {torch::zeros({1})};
  expect_error({p, g, none, step, c10::IValue(), 0.01, 0.0, false, 0.9, 0.99}, "lion_step_", "exp_avgs has 0 entries for 1 params");
  expect_error({p, g, p, float_step, c10::IValue(), 0.01, 0.0, false, 0.9, 0.99}, "lion_step_",
               "steps[0] must be a one-element int64 CPU tensor");
  expect_error({p, g, p, step, torch::ones({2}), 0.01, 0.0, false, 0.9, 0.99}, "lion_step_",
               "found_inf must be a one-element CPU tensor");
  const auto tensor_lr_error = [&](torch::Tensor lr, const std::string& message) {
    std::vector<c10::IValue> stack = {p, g, p, step, c10::IValue(), lr, 0.0, false, 0.9, 0.99};
    try {
      op("lion_step_", "tensor_lr").callBoxed(&stack);
      ADD_FAILURE() << "lion_step_.tensor_lr accepted; expected: " << message;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  const auto sign_stack = [&](bool dither, int64_t scale, std::vector<torch::Tensor> bases) {
    return std::vector<c10::IValue>{p, g, none, step, c10::IValue(), 0.01, 0.0, false, 0.0, std::vector<int64_t>{0}, dither,
                                    true, false, false, scale, int64_t{0}, 0.5, 0.0, 0.0, int64_t{0}, 1.0, int64_t{0},
                                    int64_t{0}, int64_t{-1}, bases};
  };
  const std::vector<torch::Tensor> base = {torch::full({1}, std::nan(""), torch::kDouble)};
  expect_error(sign_stack(false, 1, base), "sign_descent_", "dither_bases must be empty unless the step dithers");
  expect_error(sign_stack(true, 0, base), "sign_descent_", "dither_bases must be empty unless the step dithers");
  expect_error(sign_stack(true, 1, {base[0], base[0]}), "sign_descent_", "dither_bases has 2 entries for 1 params");
  expect_error(sign_stack(true, 1, {torch::zeros({1})}), "sign_descent_",
               "dither_bases[0] must be a one-element float64 CPU tensor");
  tensor_lr_error(torch::ones({2}), "lr must be a one-element CPU tensor");
  tensor_lr_error(torch::ones({}, torch::kInt64), "lr must be float32 or float64");
  expect_error({torch::ones({3}, torch::kInt32), int64_t{0}, int64_t{0}, int64_t{0}, int64_t{0}, int64_t{0}}, "pack_signs",
               "x must be a contiguous float32 or float64 CPU tensor");
  expect_error({torch::ones({3}), int64_t{2}, int64_t{0}, int64_t{0}, int64_t{0}, int64_t{0}}, "pack_signs",
               "zero_sign must be 0 (random) or 1 (positive)");
  expect_error({torch::zeros({2, 1}, torch::kInt64), int64_t{100}}, "majority_vote", "rows have 1 words; n = 100 needs 2");
  expect_error({torch::zeros({1}, torch::kInt64), int64_t{100}, 1.0, c10::IValue(), false}, "unpack_signs",
               "bits has 1 words; n = 100 needs 2");
}

} // namespace

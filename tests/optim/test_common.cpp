// Table-driven properties that every signopt optimizer must have: resume, determinism, LibTorch
// conventions, non-finite gradients, dtypes, and convergence on problems with known optima.
#include "support/problems.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/serialize.h>

#include <cstdio>
#include <filesystem>

namespace signopt::test {
namespace {

class EveryOptimizer : public ::testing::TestWithParam<size_t> {
 protected:
  const OptimizerSpec& spec() const {
    return all_optimizers().at(GetParam());
  }
};

void give_grads(std::vector<torch::Tensor>& params, int64_t step) {
  for (size_t i = 0; i < params.size(); ++i) {
    params[i].mutable_grad() = replay_grad(params[i], 42, step, static_cast<int64_t>(i));
  }
}

std::vector<torch::Tensor> clone_params(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params) {
    out.push_back(p.detach().clone().requires_grad_(true));
  }
  return out;
}

void expect_bitwise_equal(
    const std::vector<torch::Tensor>& a,
    const std::vector<torch::Tensor>& b,
    const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].detach(), b[i].detach())) << what << ": parameter " << i << " differs";
  }
}

TEST_P(EveryOptimizer, SaveLoadResumesBitIdentically) {
  constexpr int kSteps = 14;
  for (int save_at : {4, 11}) {
    auto reference = random_params(1);
    auto ref_opt = spec().make(reference, 0.01);
    for (int s = 1; s <= kSteps; ++s) {
      give_grads(reference, s);
      ref_opt->step();
    }

    auto params = random_params(1);
    auto opt = spec().make(params, 0.01);
    for (int s = 1; s <= save_at; ++s) {
      give_grads(params, s);
      opt->step();
    }
    const auto path = std::filesystem::temp_directory_path() /
        ("signopt_resume_" + spec().name + "_" + std::to_string(save_at) + ".pt");
    torch::save(*opt, path.string());

    auto resumed = clone_params(params);
    auto resumed_opt = spec().make(resumed, 0.01);
    torch::load(*resumed_opt, path.string());
    std::filesystem::remove(path);
    for (int s = save_at + 1; s <= kSteps; ++s) {
      give_grads(resumed, s);
      resumed_opt->step();
    }
    expect_bitwise_equal(reference, resumed, spec().name + " resumed after step " + std::to_string(save_at));
    if (auto* h = dynamic_cast<HybridSignSGD*>(ref_opt.get())) {
      auto* r = dynamic_cast<HybridSignSGD*>(resumed_opt.get());
      ASSERT_NE(r, nullptr);
      EXPECT_EQ(h->phase(), r->phase());
      EXPECT_EQ(h->switch_step(), r->switch_step());
      EXPECT_EQ(h->calibrated_lr(), r->calibrated_lr());
      EXPECT_EQ(h->step_count(), r->step_count());
    }
  }
}

TEST_P(EveryOptimizer, ResultsDoNotDependOnThreadCount) {
  const int original = at::get_num_threads();
  std::vector<std::vector<torch::Tensor>> results;
  for (int threads : {1, 2, 4}) {
    at::set_num_threads(threads);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
    std::vector<torch::Tensor> params = {
        torch::randn({300001}, gen, torch::kFloat).requires_grad_(true),
        torch::randn({1000, 7}, gen, torch::kDouble).requires_grad_(true)};
    auto opt = spec().make(params, 0.01);
    for (int s = 1; s <= 10; ++s) {
      give_grads(params, s);
      opt->step();
    }
    results.push_back(params);
  }
  at::set_num_threads(original);
  expect_bitwise_equal(results[0], results[1], spec().name + " 1 vs 2 threads");
  expect_bitwise_equal(results[0], results[2], spec().name + " 1 vs 4 threads");
}

TEST_P(EveryOptimizer, SkipsParametersWithoutGradient) {
  auto params = random_params(2);
  const auto before = params[1].detach().clone();
  auto opt = spec().make(params, 0.01);
  for (int s = 1; s <= 3; ++s) {
    params[0].mutable_grad() = replay_grad(params[0], 1, s, 0);
    opt->step();
  }
  EXPECT_TRUE(torch::equal(params[1].detach(), before));
  EXPECT_FALSE(params[1].grad().defined());
  EXPECT_EQ(opt->state().count(detail::state_key(params[1])), 0u);
  EXPECT_EQ(opt->state().count(detail::state_key(params[0])), 1u);
}

TEST_P(EveryOptimizer, NonFiniteGradientSkipsTheWholeStep) {
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    auto params = random_params(3);
    auto opt = spec().make(params, 0.01);
    give_grads(params, 1);
    opt->step();
    const auto snapshot = clone_params(params);
    give_grads(params, 2);
    params[1].mutable_grad()[3] = bad;
    opt->step();
    expect_bitwise_equal(params, snapshot, spec().name + " after a non-finite gradient");
    EXPECT_EQ(opt->skipped_steps(), 1);

    // The skipped step leaves no trace: the next steps equal a run that never saw it.
    auto clean = random_params(3);
    auto clean_opt = spec().make(clean, 0.01);
    give_grads(clean, 1);
    clean_opt->step();
    for (int s = 3; s <= 5; ++s) {
      give_grads(params, s);
      opt->step();
      give_grads(clean, s);
      clean_opt->step();
    }
    expect_bitwise_equal(params, clean, spec().name + " after skipping");
  }
}

TEST_P(EveryOptimizer, LibTorchSchedulerChangesTheLearningRate) {
  // The same scheduler on LibTorch's SGD gives the expected lr sequence.
  auto params = random_params(4);
  auto opt = spec().make(params, 0.08);
  auto sgd_params = random_params(4);
  torch::optim::SGD sgd(sgd_params, torch::optim::SGDOptions(0.08));
  torch::optim::StepLR scheduler(*opt, /*step_size=*/2, /*gamma=*/0.5);
  torch::optim::StepLR sgd_scheduler(sgd, /*step_size=*/2, /*gamma=*/0.5);
  for (int s = 1; s <= 7; ++s) {
    give_grads(params, s);
    opt->step();
    scheduler.step();
    sgd_scheduler.step();
    EXPECT_EQ(opt->param_groups()[0].options().get_lr(), sgd.param_groups()[0].options().get_lr()) << "step " << s;
  }
  EXPECT_LT(opt->param_groups()[0].options().get_lr(), 0.08 / 4);
}

TEST_P(EveryOptimizer, Float32AndFloat64AgreeAndKeepTheirDtype) {
  auto p64 = random_params(5, torch::kDouble);
  std::vector<torch::Tensor> p32;
  for (const auto& p : p64) {
    p32.push_back(p.detach().to(torch::kFloat).requires_grad_(true));
  }
  auto o64 = spec().make(p64, 0.01);
  auto o32 = spec().make(p32, 0.01);
  for (int s = 1; s <= 5; ++s) {
    give_grads(p64, s);
    for (size_t i = 0; i < p32.size(); ++i) {
      p32[i].mutable_grad() = p64[i].grad().to(torch::kFloat);
    }
    o64->step();
    o32->step();
  }
  for (size_t i = 0; i < p32.size(); ++i) {
    EXPECT_EQ(p32[i].scalar_type(), torch::kFloat);
    const double err = (p32[i].detach().to(torch::kDouble) - p64[i].detach()).abs().max().item<double>();
    EXPECT_LT(err, 1e-5) << spec().name << " parameter " << i;
  }
}

// Sign methods reach only a ball of radius ~lr around the optimum with a constant lr, so the
// convergence tests decay the lr geometrically: lr_t = lr0 * decay^t.
TEST_P(EveryOptimizer, ConvergesOnAQuadratic) {
  Quadratic problem(20);
  auto x = torch::zeros({20}, torch::kDouble).requires_grad_(true);
  double lr = 0.05 * spec().convergence_lr_scale;
  auto opt = spec().make({x}, lr);
  for (int s = 1; s <= 3000; ++s) {
    x.mutable_grad() = problem.grad(x.detach());
    opt->step();
    lr *= 0.997;
    set_lr(*opt, lr);
  }
  const double dist = (x.detach() - problem.c).norm().item<double>();
  EXPECT_LT(dist, 0.01 * problem.c.norm().item<double>()) << spec().name;
}

TEST_P(EveryOptimizer, ConvergesOnLogisticRegression) {
  Logistic problem;
  const double f_star = problem.optimum_loss();
  auto w = torch::zeros({problem.X.size(1)}, torch::kDouble).requires_grad_(true);
  double lr = 0.05 * spec().convergence_lr_scale;
  auto opt = spec().make({w}, lr);
  for (int s = 1; s <= 2000; ++s) {
    opt->zero_grad();
    problem.loss(w).backward();
    opt->step();
    lr *= 0.998;
    set_lr(*opt, lr);
  }
  torch::NoGradGuard no_grad;
  const double gap = problem.loss(w).item<double>() - f_star;
  EXPECT_GE(gap, -1e-9) << "LBFGS optimum must be the lowest";
  EXPECT_LT(gap, 1e-4) << spec().name;
}

TEST_P(EveryOptimizer, SolvesXor) {
  XorNet net;
  double lr = 0.03 * spec().convergence_lr_scale;
  auto opt = spec().make(net.parameters(), lr);
  const auto x = XorNet::inputs();
  const auto y = XorNet::targets();
  for (int s = 1; s <= 3000; ++s) {
    opt->zero_grad();
    torch::binary_cross_entropy_with_logits(net.forward(x), y).backward();
    opt->step();
    lr *= 0.999;
    set_lr(*opt, lr);
  }
  torch::NoGradGuard no_grad;
  const auto logits = net.forward(x);
  EXPECT_LT(torch::binary_cross_entropy_with_logits(logits, y).item<double>(), 0.1) << spec().name;
  EXPECT_TRUE(torch::equal((logits > 0).to(torch::kFloat), y)) << spec().name << " logits " << logits;
}

INSTANTIATE_TEST_SUITE_P(
    All,
    EveryOptimizer,
    ::testing::Range<size_t>(0, all_optimizers().size()),
    [](const ::testing::TestParamInfo<size_t>& info) { return all_optimizers().at(info.param).name; });

} // namespace
} // namespace signopt::test

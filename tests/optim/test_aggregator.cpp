// The sign optimizers' distributed hook (SignAggregator): an aggregator that returns the local signs
// reproduces the single-worker step exactly, a vote is applied as voted, and the hybrid's calibration
// uses the workers' sums.
#include <signopt/kernels/fused.h>
#include <signopt/optim/hybrid.h>
#include <signopt/optim/sign_sgd.h>
#include <signopt/optim/signum.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

namespace signopt {
namespace {

// W identical workers: the vote of W copies of u is u, and every sum is W times the local one.
struct IdenticalWorkers : SignAggregator {
  explicit IdenticalWorkers(int w) : workers(w) {}
  std::vector<torch::Tensor> aggregate_signs(const std::vector<torch::Tensor>& local, int64_t step) override {
    ++calls;
    last_step = step;
    tensors = static_cast<int64_t>(local.size());
    std::vector<torch::Tensor> out;
    for (const auto& u : local)
      out.push_back(torch::sign(u * workers));
    return out;
  }
  void allreduce_sum(std::vector<double>& values) override {
    ++sums;
    for (double& v : values)
      v *= workers;
  }
  int workers;
  int calls = 0, sums = 0;
  int64_t last_step = 0, tensors = 0;
};

// This worker plus fixed other workers' signs: the majority of all of them (0 on ties).
struct FixedOthers : SignAggregator {
  std::vector<std::vector<torch::Tensor>> others; // others[w][param]
  std::vector<torch::Tensor> aggregate_signs(const std::vector<torch::Tensor>& local, int64_t) override {
    std::vector<torch::Tensor> out;
    for (size_t i = 0; i < local.size(); ++i) {
      auto total = local[i].clone();
      for (const auto& w : others)
        total += w[i];
      out.push_back(torch::sign(total));
    }
    return out;
  }
  void allreduce_sum(std::vector<double>&) override {}
};

struct Problem {
  std::vector<torch::Tensor> params;
  explicit Problem(uint64_t seed) {
    auto gen = at::detail::createCPUGenerator(seed);
    params = {torch::randn({37}, gen), torch::randn({5, 7}, gen), torch::randn({1}, gen)};
  }
  // Gradients of a fixed random quadratic plus step-dependent noise, the same for every copy.
  void set_grads(int64_t step) {
    for (size_t i = 0; i < params.size(); ++i) {
      auto gen = at::detail::createCPUGenerator(1000 * step + i);
      params[i].mutable_grad() = params[i].detach() * 0.5 + torch::randn(params[i].sizes(), gen) * 0.3;
    }
  }
};

using Factory = std::function<std::unique_ptr<detail::SignoptOptimizer>(std::vector<torch::Tensor>)>;

std::vector<torch::Tensor> run(const Factory& make, std::shared_ptr<SignAggregator> agg, int64_t steps) {
  Problem prob(7);
  for (auto& p : prob.params)
    p.set_requires_grad(true);
  auto opt = make(prob.params);
  if (agg)
    opt->set_aggregator(agg);
  for (int64_t t = 1; t <= steps; ++t) {
    prob.set_grads(t);
    opt->step();
  }
  std::vector<torch::Tensor> out;
  for (auto& p : prob.params)
    out.push_back(p.detach().clone());
  return out;
}

const std::vector<std::pair<std::string, Factory>>& optimizers() {
  static const std::vector<std::pair<std::string, Factory>> list = {
      {"signsgd", [](std::vector<torch::Tensor> p) { return std::make_unique<SignSGD>(p, SignSGDOptions(0.01)); }},
      {"signum", [](std::vector<torch::Tensor> p) { return std::make_unique<Signum>(p, SignumOptions(0.01).weight_decay(0.1)); }},
      {"dithered-signum",
       [](std::vector<torch::Tensor> p) {
         return std::make_unique<Signum>(p, SignumOptions(0.01).dither(DitherOptions().seed(3)));
       }},
      {"hybrid",
       [](std::vector<torch::Tensor> p) {
         return std::make_unique<HybridSignSGD>(
             p, HybridSignSGDOptions(0.01).trigger(SwitchTrigger::Step).switch_step(6).decoupled_weight_decay(true).weight_decay(0.05));
       }},
      // The estimators whose sums include nnz(v) and the momentum's norms (allreduced like <v, g>).
      {"hybrid-swats",
       [](std::vector<torch::Tensor> p) {
         return std::make_unique<HybridSignSGD>(
             p, HybridSignSGDOptions(0.01).switch_at_step(6).calibration(CalibrationEstimator::Swats).post_switch_momentum(0.9));
       }},
      {"hybrid-momentum-ls",
       [](std::vector<torch::Tensor> p) {
         return std::make_unique<HybridSignSGD>(
             p,
             HybridSignSGDOptions(0.01).switch_at_step(6).calibration(CalibrationEstimator::MomentumLs).calibration_scope(
                 CalibrationScope::PerTensor));
       }},
  };
  return list;
}

// W identical workers take exactly the steps of one worker (the unfused single-worker path, which the
// fused kernels equal; the aggregator path is unfused).
TEST(Aggregator, IdenticalWorkersEqualOneWorker) {
  for (const auto& [name, make] : optimizers()) {
    kernels::set_fused_enabled(false);
    const auto single = run(make, nullptr, 12);
    kernels::set_fused_enabled(true);
    for (int w : {1, 3, 4}) {
      auto agg = std::make_shared<IdenticalWorkers>(w);
      const auto multi = run(make, agg, 12);
      for (size_t i = 0; i < single.size(); ++i)
        EXPECT_TRUE(torch::equal(single[i], multi[i])) << name << " W=" << w << " param " << i;
      // One exchange per step in the sign phase (the hybrid switches after step 6).
      const bool hybrid = name.rfind("hybrid", 0) == 0;
      EXPECT_EQ(agg->calls, hybrid ? 6 : 12) << name;
      EXPECT_EQ(agg->tensors, 3) << name;
      EXPECT_EQ(agg->sums, hybrid ? 6 : 0) << name;
    }
  }
}

TEST(Aggregator, TheVotedSignIsApplied) {
  Problem prob(1);
  for (auto& p : prob.params)
    p.set_requires_grad(true);
  prob.set_grads(1);
  const auto before = std::vector<torch::Tensor>{prob.params[0].detach().clone(), prob.params[1].detach().clone(),
                                                 prob.params[2].detach().clone()};
  auto agg = std::make_shared<FixedOthers>();
  // Two other workers, one always +1 and one always -1: the vote is this worker's sign... unless it is 0.
  // A third worker with +1 makes every coordinate +1 except where this worker says -1 (then 2 vs 2: 0).
  for (double v : {1.0, -1.0, 1.0}) {
    std::vector<torch::Tensor> w;
    for (const auto& p : prob.params)
      w.push_back(torch::full_like(p, v));
    agg->others.push_back(w);
  }
  SignSGD opt(prob.params, SignSGDOptions(0.5));
  opt.set_aggregator(agg);
  const auto local = std::vector<torch::Tensor>{torch::sign(prob.params[0].grad()), torch::sign(prob.params[1].grad()),
                                                torch::sign(prob.params[2].grad())};
  opt.step();
  for (size_t i = 0; i < 3; ++i) {
    const auto expected_vote = torch::where(local[i] > 0, torch::ones_like(local[i]), torch::zeros_like(local[i]));
    EXPECT_TRUE(torch::allclose(prob.params[i].detach(), before[i] - 0.5 * expected_vote, 0, 0)) << i;
  }
}

struct WrongShape : SignAggregator {
  std::vector<torch::Tensor> aggregate_signs(const std::vector<torch::Tensor>& local, int64_t) override {
    return {local.begin(), local.end() - 1};
  }
  void allreduce_sum(std::vector<double>&) override {}
};

TEST(Aggregator, AMisbehavingAggregatorIsAClearError) {
  Problem prob(2);
  prob.set_grads(1);
  Signum opt(prob.params, SignumOptions(0.1));
  opt.set_aggregator(std::make_shared<WrongShape>());
  try {
    opt.step();
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("returned 2 tensors for 3 parameters"), std::string::npos) << e.what();
  }
}

} // namespace
} // namespace signopt

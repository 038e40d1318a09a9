// Fused CPU kernels against the reference torch-op compositions: every rule and option mix, sizes
// that are not multiples of any vector width or chunk, empty and 1-element tensors, several thread
// counts. Results must be bit-identical (the kernels perform the same rounded operations).
#include "support/problems.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace signopt::test {
namespace {

// Restores the global switch whatever a test does.
struct FusedSwitch {
  ~FusedSwitch() {
    kernels::set_fused_enabled(true);
  }
};

using Factory = std::function<std::unique_ptr<detail::SignoptOptimizer>(std::vector<torch::Tensor>)>;

struct Config {
  std::string name;
  Factory make;
};

std::vector<Config> configs() {
  using P = std::vector<torch::Tensor>;
  std::vector<Config> out;
  for (const auto& spec : all_optimizers()) {
    out.push_back({spec.name, [spec](P p) { return spec.make(p, 0.01); }});
  }
  const DitherScale scales[] = {DitherScale::Absolute, DitherScale::Rms, DitherScale::Max3Sigma, DitherScale::MeanAbs};
  for (DitherScale scale : scales) {
    for (DitherTarget target : {DitherTarget::Momentum, DitherTarget::Gradient}) {
      for (double momentum : {0.0, 0.9}) {
        for (DitherDistribution dist : {DitherDistribution::Gaussian, DitherDistribution::Uniform}) {
          const std::string name = "Dither_" + to_string(scale) + "_" + to_string(target) + "_" +
              (momentum > 0 ? "signum_" : "signsgd_") + to_string(dist);
          out.push_back({name, [=](P p) -> std::unique_ptr<detail::SignoptOptimizer> {
                           return std::make_unique<Signum>(
                               p,
                               SignumOptions(0.01).momentum(momentum).weight_decay(0.01).dither(
                                   DitherOptions().scale(scale).target(target).distribution(dist).alpha(0.7).seed(3)));
                         }});
        }
      }
    }
  }
  out.push_back({"SignumDecoupledDither", [](P p) -> std::unique_ptr<detail::SignoptOptimizer> {
                   return std::make_unique<Signum>(
                       p,
                       SignumOptions(0.01).weight_decay(0.1).decoupled_weight_decay(true).dither(DitherOptions().seed(8)));
                 }});
  out.push_back({"HybridGlobalMomentumDecoupled", [](P p) -> std::unique_ptr<detail::SignoptOptimizer> {
                   return std::make_unique<HybridSignSGD>(
                       p,
                       HybridSignSGDOptions(0.01)
                           .switch_at_step(3)
                           .post_switch_momentum(0.9)
                           .weight_decay(0.05)
                           .decoupled_weight_decay(true)
                           .dither(DitherOptions().seed(2).scale(DitherScale::MeanAbs)));
                 }});
  out.push_back({"HybridCoupledNoMomentum", [](P p) -> std::unique_ptr<detail::SignoptOptimizer> {
                   return std::make_unique<HybridSignSGD>(p, HybridSignSGDOptions(0.01).switch_at_step(2).weight_decay(0.02));
                 }});
  out.push_back({"EFDecoupled", [](P p) -> std::unique_ptr<detail::SignoptOptimizer> {
                   return std::make_unique<EFSignSGD>(
                       p, EFSignSGDOptions(0.05).momentum(0.3).weight_decay(0.1).decoupled_weight_decay(true));
                 }});
  out.push_back({"LionCoupled", [](P p) -> std::unique_ptr<detail::SignoptOptimizer> {
                   return std::make_unique<Lion>(p, LionOptions(0.01).weight_decay(0.1).decoupled_weight_decay(false));
                 }});
  return out;
}

class FusedVsReference : public ::testing::TestWithParam<size_t> {};

std::vector<torch::Tensor> make_params(torch::Dtype dtype) {
  // Sizes: empty, one element, below/above a vector width, across chunk boundaries (4096).
  const int64_t sizes[] = {0, 1, 7, 13, 4095, 4097, 10007};
  std::vector<torch::Tensor> params;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(99);
  for (int64_t n : sizes) {
    params.push_back(torch::randn({n}, gen, dtype).requires_grad_(true));
  }
  params.push_back(torch::randn({33, 65}, gen, dtype).requires_grad_(true));
  return params;
}

std::vector<torch::Tensor> run(const Config& c, torch::Dtype dtype, bool fused, int threads, int steps) {
  FusedSwitch restore;
  const int original = at::get_num_threads();
  at::set_num_threads(threads);
  kernels::set_fused_enabled(fused);
  auto params = make_params(dtype);
  auto opt = c.make(params);
  for (int s = 1; s <= steps; ++s) {
    for (size_t i = 0; i < params.size(); ++i) {
      params[i].mutable_grad() = replay_grad(params[i], 17, s, static_cast<int64_t>(i));
    }
    opt->step();
  }
  at::set_num_threads(original);
  std::vector<torch::Tensor> out;
  for (auto& p : params) {
    out.push_back(p.detach().clone());
  }
  return out;
}

TEST_P(FusedVsReference, BitIdentical) {
  const Config c = configs().at(GetParam());
  const int64_t calls_before = kernels::fused_call_count();
  run(c, torch::kFloat, /*fused=*/false, 1, 2);
  EXPECT_EQ(kernels::fused_call_count(), calls_before) << "the reference run must not use the kernels";
  run(c, torch::kFloat, /*fused=*/true, 1, 2);
  EXPECT_GT(kernels::fused_call_count(), calls_before) << c.name << " never took the fused path";
  for (torch::Dtype dtype : {torch::kFloat, torch::kDouble}) {
    const auto reference = run(c, dtype, /*fused=*/false, 1, 6);
    for (int threads : {1, 2, 3}) {
      const auto fused = run(c, dtype, /*fused=*/true, threads, 6);
      for (size_t i = 0; i < reference.size(); ++i) {
        ASSERT_TRUE(torch::equal(fused[i], reference[i]))
            << c.name << " dtype " << dtype << " threads " << threads << " parameter " << i << " (numel "
            << reference[i].numel() << ") max diff " << (fused[i] - reference[i]).abs().max().item<double>();
      }
    }
    // The portable noise loops (CPUs without AVX-512) give the same bits as the AVX-512 path.
    kernels::detail::set_avx512_noise_enabled(false);
    const auto portable = run(c, dtype, /*fused=*/true, 2, 6);
    kernels::detail::set_avx512_noise_enabled(true);
    for (size_t i = 0; i < reference.size(); ++i) {
      ASSERT_TRUE(torch::equal(portable[i], reference[i])) << c.name << " without AVX-512 noise, parameter " << i;
    }
  }
}

TEST(Fused, EligibilityFollowsDeviceLayoutAndDtype) {
  FusedSwitch restore;
  const auto f = torch::zeros({4, 4});
  EXPECT_TRUE(kernels::fused_eligible({f, f}));
  EXPECT_TRUE(kernels::fused_eligible({f, torch::Tensor()}));
  EXPECT_FALSE(kernels::fused_eligible({f, f.t()})); // non-contiguous
  EXPECT_FALSE(kernels::fused_eligible({f, f.to(torch::kDouble)})); // mixed dtypes
  EXPECT_FALSE(kernels::fused_eligible({f.to(torch::kHalf)}));
  kernels::set_fused_enabled(false);
  EXPECT_FALSE(kernels::fused_eligible({f}));
}

INSTANTIATE_TEST_SUITE_P(
    AllRules,
    FusedVsReference,
    ::testing::Range<size_t>(0, configs().size()),
    [](const ::testing::TestParamInfo<size_t>& info) { return configs().at(info.param).name; });

} // namespace
} // namespace signopt::test

// Fused CPU kernels against the reference torch-op compositions: every rule and option mix, sizes
// that are not multiples of any vector width or chunk, empty and 1-element tensors, several thread
// counts. Results must be bit-identical (the kernels perform the same rounded operations).
#include "support/problems.h"
#include "support/threads.h"

#include <signopt/comm/sign_pack.h>
#include <signopt/kernels/isa.h>

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
          for (DitherDraw draw : {DitherDraw::Additive, DitherDraw::Threshold}) {
            const std::string name = "Dither_" + to_string(scale) + "_" + to_string(target) + "_" +
                (momentum > 0 ? "signum_" : "signsgd_") + to_string(dist) +
                (draw == DitherDraw::Threshold ? "_threshold" : "");
            out.push_back({name, [=](P p) -> std::unique_ptr<detail::SignoptOptimizer> {
                             return std::make_unique<Signum>(
                                 p,
                                 SignumOptions(0.01).momentum(momentum).weight_decay(0.01).dither(
                                     DitherOptions().scale(scale).target(target).distribution(dist).draw(draw).alpha(0.7).seed(3)));
                           }});
          }
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
  // The scale from the previous step (DitherScaleFrom::Previous): the statistic measured during the update.
  for (DitherScale scale : {DitherScale::Rms, DitherScale::Max3Sigma, DitherScale::MeanAbs}) {
    for (DitherTarget target : {DitherTarget::Momentum, DitherTarget::Gradient}) {
      for (double momentum : {0.0, 0.9}) {
        const DitherDraw draw = scale == DitherScale::Rms ? DitherDraw::Threshold : DitherDraw::Additive;
        const std::string name = "DitherPrevious_" + to_string(scale) + "_" + to_string(target) + "_" +
            (momentum > 0 ? "signum_" : "signsgd_") + to_string(draw);
        out.push_back({name, [=](P p) -> std::unique_ptr<detail::SignoptOptimizer> {
                         return std::make_unique<Signum>(
                             p,
                             SignumOptions(0.01).momentum(momentum).weight_decay(0.01).dither(
                                 DitherOptions().scale(scale).target(target).draw(draw).alpha(0.7).seed(3).scale_from(
                                     DitherScaleFrom::Previous)));
                       }});
      }
    }
  }
  out.push_back({"HybridPreviousScaleMeanAbs", [](P p) -> std::unique_ptr<detail::SignoptOptimizer> {
                   return std::make_unique<HybridSignSGD>(
                       p,
                       HybridSignSGDOptions(0.01).switch_at_step(4).weight_decay(0.05).dither(
                           DitherOptions().seed(6).scale(DitherScale::MeanAbs).scale_from(DitherScaleFrom::Previous)));
                 }});
  out.push_back({"HybridThresholdRmsCoupled", [](P p) -> std::unique_ptr<detail::SignoptOptimizer> {
                   return std::make_unique<HybridSignSGD>(
                       p,
                       HybridSignSGDOptions(0.01).switch_at_step(4).weight_decay(0.05).dither(
                           DitherOptions().seed(6).draw(DitherDraw::Threshold)));
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
  const ScopedThreads scoped(threads);
  kernels::set_fused_enabled(fused);
  auto params = make_params(dtype);
  auto opt = c.make(params);
  for (int s = 1; s <= steps; ++s) {
    for (size_t i = 0; i < params.size(); ++i) {
      params[i].mutable_grad() = replay_grad(params[i], 17, s, static_cast<int64_t>(i));
    }
    opt->step();
  }
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
    // The AVX2 threshold levels and the portable noise loops (CPUs without AVX-512) give the same bits as the
    // AVX-512 path.
    for (const auto isa : {kernels::detail::Isa::Avx2, kernels::detail::Isa::Scalar}) {
      const auto cap = kernels::detail::set_isa_cap(isa);
      const auto portable = run(c, dtype, /*fused=*/true, 2, 6);
      kernels::detail::set_isa_cap(cap);
      for (size_t i = 0; i < reference.size(); ++i) {
        ASSERT_TRUE(torch::equal(portable[i], reference[i]))
            << c.name << " with the hand-vectorized paths capped at " << static_cast<int>(isa) << ", parameter " << i;
      }
    }
  }
}

// The packed exchange (kernels::sign_descent_pack, an aggregator's aggregate_packed,
// kernels::apply_packed_direction) takes exactly the steps of the unfused exchange path (sign_direction,
// aggregate_signs). The aggregator is a one-worker vote, as comm::MajorityVote is on one process: each sign
// is its own vote and a zero becomes its coin, so zeros, which a fifth of the gradient coordinates are
// here, go through the coin encoding of both paths. (Multi-rank votes: tests/comm/test_comm_vote.cpp.)
class OneWorkerVote : public SignAggregator {
 public:
  std::vector<torch::Tensor> aggregate_signs(const std::vector<torch::Tensor>& local, int64_t step) override {
    ++exchanges;
    std::vector<torch::Tensor> flat;
    for (const auto& t : local) {
      flat.push_back(t.reshape({-1}).to(torch::kFloat));
    }
    const auto all = torch::cat(flat);
    int64_t z = 0;
    const auto bits = comm::pack_signs(all, comm::ZeroSign::Random, comm::zero_sign_key(5, step, 0), &z);
    zero_signs += z;
    const auto voted = comm::unpack_signs(bits, all.numel());
    std::vector<torch::Tensor> out;
    int64_t offset = 0;
    for (const auto& t : local) {
      out.push_back(voted.narrow(0, offset, t.numel()).view(t.sizes()).to(t.scalar_type()));
      offset += t.numel();
    }
    return out;
  }
  bool supports_packed() const override {
    return true;
  }
  PackedDirection aggregate_packed(
      const torch::Tensor& sign,
      const torch::Tensor& zero,
      int64_t coordinates,
      int64_t,
      int64_t step) override {
    ++exchanges;
    ++packed_exchanges;
    auto out = sign.clone();
    if (zero.defined()) {
      const int64_t words = comm::packed_words(coordinates);
      for (int64_t k = 0; k < words; ++k) {
        zero_signs += __builtin_popcountll(static_cast<uint64_t>(zero[k].item<int64_t>()));
      }
      comm::resolve_zero_signs(
          reinterpret_cast<uint64_t*>(out.data_ptr<int64_t>()),
          reinterpret_cast<const uint64_t*>(zero.data_ptr<int64_t>()),
          words,
          comm::ZeroSign::Random,
          comm::zero_sign_key(5, step, 0));
    }
    return {out, torch::Tensor()};
  }
  void allreduce_sum(std::vector<double>&) override {}

  int64_t exchanges = 0;
  int64_t packed_exchanges = 0;
  int64_t zero_signs = 0;
};

struct PackedRun {
  std::vector<torch::Tensor> params;
  int64_t exchanges = 0;
  int64_t packed_exchanges = 0;
  int64_t zero_signs = 0;
};

PackedRun run_with_vote(const Config& c, torch::Dtype dtype, bool fused, int threads, int steps) {
  FusedSwitch restore;
  const ScopedThreads scoped(threads);
  kernels::set_fused_enabled(fused);
  auto vote = std::make_shared<OneWorkerVote>();
  auto params = make_params(dtype);
  auto opt = c.make(params);
  opt->set_aggregator(vote);
  for (int s = 1; s <= steps; ++s) {
    for (size_t i = 0; i < params.size(); ++i) {
      auto g = replay_grad(params[i], 17, s, static_cast<int64_t>(i));
      auto keep = replay_grad(params[i], 18, s, static_cast<int64_t>(i)).abs() > 0.25; // about 80%
      params[i].mutable_grad() = g * keep.to(dtype);
    }
    opt->step();
  }
  PackedRun out;
  for (auto& p : params) {
    out.params.push_back(p.detach().clone());
  }
  out.exchanges = vote->exchanges;
  out.packed_exchanges = vote->packed_exchanges;
  out.zero_signs = vote->zero_signs;
  return out;
}

// Returns whether zero signs reached the exchange (not with dithering or coupled weight decay, which make
// the zero gradients' arguments nonzero).
bool check_packed_exchange(const Config& c) {
  bool zeros_reached = false;
  for (torch::Dtype dtype : {torch::kFloat, torch::kDouble}) {
    const auto reference = run_with_vote(c, dtype, /*fused=*/false, 1, 5);
    EXPECT_EQ(reference.packed_exchanges, 0) << c.name;
    EXPECT_GT(reference.exchanges, 0) << c.name; // 5, or the hybrid's steps before its switch
    zeros_reached = zeros_reached || reference.zero_signs > 0;
    for (int threads : {1, 2}) {
      const auto packed = run_with_vote(c, dtype, /*fused=*/true, threads, 5);
      EXPECT_EQ(packed.packed_exchanges, reference.exchanges) << c.name << " did not take the packed path";
      EXPECT_EQ(packed.zero_signs, reference.zero_signs) << c.name;
      for (size_t i = 0; i < reference.params.size(); ++i) {
        EXPECT_TRUE(torch::equal(packed.params[i], reference.params[i]))
            << c.name << " dtype " << dtype << " threads " << threads << " parameter " << i << " (numel "
            << reference.params[i].numel() << ") max diff "
            << (packed.params[i] - reference.params[i]).abs().max().item<double>();
      }
    }
  }
  return zeros_reached;
}

TEST(Fused, PackedExchangeTakesTheUnfusedExchangeSteps) {
  int64_t tested = 0, with_zeros = 0;
  for (const Config& c : configs()) {
    {
      // SignSGD, Signum, their dithered forms and the hybrid's sign phase exchange through aggregate_packed.
      auto probe = c.make(make_params(torch::kFloat));
      if (dynamic_cast<Signum*>(probe.get()) == nullptr && dynamic_cast<SignSGD*>(probe.get()) == nullptr &&
          dynamic_cast<HybridSignSGD*>(probe.get()) == nullptr) {
        continue;
      }
    }
    ++tested;
    with_zeros += check_packed_exchange(c) ? 1 : 0;
  }
  EXPECT_GE(tested, 12);
  EXPECT_GE(with_zeros, 3) << "the zero-sign encoding of the two paths was hardly exercised";
}

// The two halves of a packed step, with the bits of pass 1 applied as they are (zeros as 0), are one
// sign_descent_step: same parameters, same momentum, for any bit offset into the bucket.
TEST(Fused, PackThenApplyEqualsOneSignDescentStep) {
  FusedSwitch restore;
  // variant 0: no dither, 1: the additive draw, 2: the threshold draw.
  const auto dither = [](int variant) {
    kernels::DitherArgs d;
    d.enabled = variant > 0;
    d.draw = variant == 2 ? DitherDraw::Threshold : DitherDraw::Additive;
    d.scale = DitherScale::Rms;
    d.alpha = 0.5;
    d.seed = 4;
    d.step = 3;
    d.param_index = 2;
    return d;
  };
  for (torch::Dtype dtype : {torch::kFloat, torch::kDouble}) {
    for (int64_t n : {1, 63, 64, 65, 4096, 5000}) {
      for (int64_t offset : {0, 37, 64, 200}) {
        for (double beta : {0.0, 0.9}) {
          for (bool decoupled : {false, true}) {
            for (int variant : {0, 1, 2}) {
              const bool dithered = variant > 0;
              const std::string where = "dtype " + std::string(c10::toString(dtype)) + " n=" + std::to_string(n) +
                  " offset=" + std::to_string(offset) + " beta=" + std::to_string(beta) +
                  (decoupled ? " decoupled" : " coupled") + (dithered ? " dithered" : "") + (variant == 2 ? " (threshold)" : "");
              auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(n + offset));
              const auto p0 = torch::randn({n}, gen, dtype);
              auto g = torch::randn({n}, gen, dtype);
              g.masked_fill_(torch::rand({n}, gen) < 0.1, 0.0);
              const auto m0 = beta > 0 ? torch::randn({n}, gen, dtype) * (torch::rand({n}, gen) > 0.1).to(dtype)
                                       : torch::Tensor();
              auto p_ref = p0.clone();
              auto m_ref = beta > 0 ? m0.clone() : torch::Tensor();
              kernels::sign_descent_step(p_ref, g, m_ref, {0.01, 0.1, decoupled, beta, dither(variant)});

              auto p = p0.clone();
              auto m = beta > 0 ? m0.clone() : torch::Tensor();
              const int64_t words = comm::packed_words(offset + n) + 1;
              auto sign = torch::zeros({words}, torch::kLong);
              auto zero = torch::zeros({words}, torch::kLong);
              const int64_t zeros = kernels::sign_descent_pack(
                  p, g, m, {0.01, 0.1, decoupled, beta, dither(variant)}, sign, zero, offset);
              EXPECT_TRUE(torch::equal(p, p0)) << where << ": pass 1 moved the parameters";
              int64_t zero_bits = 0;
              for (int64_t k = 0; k < words; ++k) {
                zero_bits += __builtin_popcountll(static_cast<uint64_t>(zero[k].item<int64_t>()));
              }
              EXPECT_EQ(zeros, zero_bits) << where;
              if (!dithered && decoupled && beta == 0) { // x = g: its zeros are the zero signs
                EXPECT_EQ(zeros, (g == 0).sum().item<int64_t>()) << where;
              }
              kernels::apply_packed_direction(p, 0.01, 0.1, decoupled, sign, zeros > 0 ? zero : torch::Tensor(), offset);
              EXPECT_TRUE(torch::equal(p, p_ref)) << where;
              if (beta > 0) {
                EXPECT_TRUE(torch::equal(m, m_ref)) << where;
              }
              // Nothing outside [offset, offset + n) was written.
              for (int64_t k = 0; k < words; ++k) {
                const uint64_t w = static_cast<uint64_t>(sign[k].item<int64_t>()) |
                    static_cast<uint64_t>(zero[k].item<int64_t>());
                for (int b = 0; b < 64; ++b) {
                  const int64_t i = 64 * k + b;
                  if (i < offset || i >= offset + n) {
                    ASSERT_EQ((w >> b) & 1, 0u) << where << ": bit " << i << " outside the tensor was set";
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

// Bad input to the packed kernels is refused with a message naming the argument, before anything is written.
TEST(Fused, PackedKernelsRefuseBadInput) {
  const auto expect_error = [](const std::function<void()>& call, const std::string& part) {
    try {
      call();
      ADD_FAILURE() << "accepted; expected an error mentioning " << part;
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  auto p = torch::ones({100});
  auto g = torch::ones({100});
  auto m = torch::zeros({100});
  auto words = torch::zeros({2}, torch::kLong);
  auto small = torch::zeros({1}, torch::kLong);
  torch::Tensor none;
  const kernels::DitherArgs d;
  expect_error([&] { kernels::sign_descent_pack(p, g, m, kernels::SignStepArgs{0.1, 0, false, 0.9, d, {}}, small, words, 0); }, "sign_words has 1 words");
  expect_error([&] { kernels::sign_descent_pack(p, g, m, kernels::SignStepArgs{0.1, 0, false, 0.9, d, {}}, words, words, 40); }, "bit 140 must fit");
  expect_error([&] { kernels::sign_descent_pack(p, g, m, kernels::SignStepArgs{0.1, 0, false, 0.9, d, {}}, words, words, -1); }, "bit_offset must be >= 0");
  expect_error([&] { kernels::sign_descent_pack(p, g, none, kernels::SignStepArgs{0.1, 0, false, 0.9, d, {}}, words, words, 0); }, "with beta > 0, buf");
  expect_error(
      [&] { kernels::sign_descent_pack(p, g.to(torch::kDouble), m, kernels::SignStepArgs{0.1, 0, false, 0.9, d, {}}, words, words, 0); }, "g must be");
  auto ints = torch::zeros({2}, torch::kInt32);
  expect_error([&] { kernels::apply_packed_direction(p, 0.1, 0, false, ints, none, 0); }, "sign_words must be a contiguous int64");
  expect_error([&] { kernels::apply_packed_direction(p, 0.1, 0, false, words, small, 0); }, "zero_words has 1 words");
  EXPECT_TRUE(torch::equal(p, torch::ones({100})));
  EXPECT_TRUE(torch::equal(words, torch::zeros({2}, torch::kLong)));
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

// SignSGD, Signum and the hybrid on bfloat16/float16 parameters (docs/optimizers.md, "Low-precision
// parameters"): the fused and the reference path take the same steps; the momentum's dtype and the rounding
// follow the options; a checkpoint keeps them and a resumed run ends bit for bit where an uninterrupted one
// ends; a damaged code is refused; a distributed step on 16-bit parameters takes the single worker's steps.
#include <signopt/kernels/fused.h>
#include <signopt/optim/aggregator.h>
#include <signopt/optim/hybrid.h>
#include <signopt/optim/sign_sgd.h>
#include <signopt/optim/signum.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace signopt::test {
namespace {

std::vector<torch::Tensor> params16(at::ScalarType type, int seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> out;
  for (int64_t n : {int64_t{3}, int64_t{4099}, int64_t{9000}})
    out.push_back(torch::randn({n}).to(type).set_requires_grad(true));
  return out;
}

void set_grads(std::vector<torch::Tensor>& ps, int step) {
  torch::manual_seed(1000 + step);
  for (auto& p : ps)
    p.mutable_grad() = (torch::randn(p.sizes()) * 0.1).to(p.scalar_type());
}

struct FusedOff {
  FusedOff() {
    kernels::set_fused_enabled(false);
  }
  ~FusedOff() {
    kernels::set_fused_enabled(true);
  }
};

template <class Opt, class Options>
std::vector<torch::Tensor> train(
    at::ScalarType type,
    const Options& o,
    int steps,
    bool fused,
    std::shared_ptr<SignAggregator> aggregator = nullptr) {
  auto ps = params16(type, 3);
  Opt opt(ps, o);
  opt.set_aggregator(std::move(aggregator));
  std::optional<FusedOff> off;
  if (!fused)
    off.emplace();
  for (int s = 1; s <= steps; ++s) {
    set_grads(ps, s);
    opt.step();
  }
  return ps;
}

bool same_bits(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (!torch::equal(a[i].detach().view(torch::kShort), b[i].detach().view(torch::kShort)))
      return false;
  return true;
}

TEST(LowPrecision, FusedAndReferencePathsTakeTheSameSteps) {
  for (const auto type : {at::kBFloat16, at::kHalf}) {
    for (const auto mdtype : {MomentumDtype::Float32, MomentumDtype::Parameter}) {
      for (const auto rounding : {Rounding::Stochastic, Rounding::Nearest}) {
        for (const auto from : {DitherScaleFrom::Current, DitherScaleFrom::Previous}) {
          const auto o =
              SignumOptions(1e-3).weight_decay(0.01).momentum_dtype(mdtype).rounding(rounding).rounding_seed(4).dither(
                  DitherOptions().seed(2).scale_from(from));
          const auto calls = kernels::fused_call_count();
          const auto fused = train<Signum>(type, o, 4, true);
          EXPECT_EQ(kernels::fused_call_count() - calls, 12) << "every step of every parameter fused";
          const auto reference = train<Signum>(type, o, 4, false);
          EXPECT_TRUE(same_bits(fused, reference)) << c10::toString(type) << " " << to_string(mdtype) << " "
                                                   << to_string(rounding) << " " << to_string(from);
        }
      }
    }
    const auto sgd = SignSGDOptions(1e-3).rounding_seed(9);
    EXPECT_TRUE(same_bits(train<SignSGD>(type, sgd, 3, true), train<SignSGD>(type, sgd, 3, false))) << "SignSGD";
  }
}

TEST(LowPrecision, TheMomentumTakesItsDtypeAndTheRoundingItsSeed) {
  auto ps = params16(at::kBFloat16, 1);
  Signum f32(ps, SignumOptions(1e-3));
  set_grads(ps, 1);
  f32.step();
  auto& st = static_cast<SignumParamState&>(*f32.state().at(ps[0].unsafeGetTensorImpl()));
  EXPECT_EQ(st.momentum_buffer().scalar_type(), torch::kFloat);
  auto qs = params16(at::kBFloat16, 1);
  Signum b16(qs, SignumOptions(1e-3).momentum_dtype(MomentumDtype::Parameter));
  set_grads(qs, 1);
  b16.step();
  auto& st16 = static_cast<SignumParamState&>(*b16.state().at(qs[0].unsafeGetTensorImpl()));
  EXPECT_EQ(st16.momentum_buffer().scalar_type(), torch::kBFloat16);
  const auto a = train<Signum>(at::kBFloat16, SignumOptions(1e-3).rounding_seed(1), 2, true);
  const auto b = train<Signum>(at::kBFloat16, SignumOptions(1e-3).rounding_seed(2), 2, true);
  EXPECT_FALSE(same_bits(a, b)) << "the rounding seed keys the rounding";
}

torch::serialize::InputArchive reread(torch::serialize::OutputArchive& out) {
  std::ostringstream bytes;
  out.save_to(bytes);
  torch::serialize::InputArchive in;
  std::istringstream stream(bytes.str());
  in.load_from(stream);
  return in;
}

TEST(LowPrecision, AResumedRunEndsBitForBitWhereAnUninterruptedOneEnds) {
  for (const auto from : {DitherScaleFrom::Current, DitherScaleFrom::Previous}) {
    const auto o = SignumOptions(1e-3)
                       .momentum_dtype(MomentumDtype::Parameter)
                       .rounding_seed(77)
                       .dither(DitherOptions().seed(5).draw(DitherDraw::Threshold).scale_from(from));
    const auto straight = train<Signum>(at::kBFloat16, o, 6, true);
    auto ps = params16(at::kBFloat16, 3);
    torch::serialize::OutputArchive out;
    {
      Signum first(ps, o);
      for (int s = 1; s <= 3; ++s) {
        set_grads(ps, s);
        first.step();
      }
      first.save(out);
    }
    auto in = reread(out);
    Signum second(ps, SignumOptions(0.5)); // every option comes from the checkpoint
    second.load(in);
    const auto& loaded = static_cast<const SignumOptions&>(second.param_groups()[0].options());
    EXPECT_EQ(loaded.momentum_dtype(), MomentumDtype::Parameter);
    EXPECT_EQ(loaded.rounding_seed(), 77u);
    EXPECT_EQ(loaded.rounding(), Rounding::Stochastic);
    for (int s = 4; s <= 6; ++s) {
      set_grads(ps, s);
      second.step();
    }
    EXPECT_TRUE(same_bits(straight, ps)) << to_string(from);
  }
}

TEST(LowPrecision, ADamagedRoundingCodeIsRefused) {
  torch::serialize::OutputArchive out; // only the damaged key: every other one reads as its default
  out.write("rounding", c10::IValue(int64_t{7}));
  auto in = reread(out);
  SignumOptions o;
  try {
    o.serialize(in);
    ADD_FAILURE() << "a rounding code of 7 was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(
        std::string(e.what()).find("rounding must be one of 0 (stochastic), 1 (nearest), got 7"), std::string::npos)
        << e.what();
  }
}

// A 16-bit run keeps sign steps below half an ulp only with stochastic rounding: with round to nearest from
// p = 1 and lr = 1e-3 (1/8 of bfloat16's ulp at 1) the parameter never moves.
TEST(LowPrecision, RoundToNearestLosesSmallStepsAndStochasticRoundingKeepsThem) {
  for (const auto rounding : {Rounding::Stochastic, Rounding::Nearest}) {
    auto p = torch::ones({4096}, torch::kBFloat16).set_requires_grad(true);
    SignSGD opt({p}, SignSGDOptions(1e-3).rounding(rounding));
    for (int s = 0; s < 50; ++s) {
      p.mutable_grad() = torch::ones({4096}, torch::kBFloat16);
      opt.step();
    }
    const double mean = p.detach().to(torch::kDouble).mean().item<double>();
    if (rounding == Rounding::Nearest)
      EXPECT_EQ(mean, 1.0);
    else
      EXPECT_NEAR(mean, 0.95, 5e-3); // sd of the mean ~ sqrt(50 / 4 / 4096) 2^-7 = 4e-4
  }
}

// One worker's exchange: the vote of a single worker is its own direction (counted, so a test can tell that the
// exchange ran).
struct EchoAggregator : SignAggregator {
  int calls = 0;
  std::vector<torch::Tensor> aggregate_signs(const std::vector<torch::Tensor>& local, int64_t) override {
    ++calls;
    return local;
  }
  void allreduce_sum(std::vector<double>&) override {}
};

// A distributed step on 16-bit parameters works on float32 copies and stores them by the same rounding: with one
// worker it takes the fused single-worker steps bit for bit (SignSGD, Signum, the hybrid through its switch).
TEST(LowPrecision, ADistributedStepTakesTheSingleWorkersSteps) {
  for (const auto type : {at::kBFloat16, at::kHalf}) {
    for (const auto mdtype : {MomentumDtype::Float32, MomentumDtype::Parameter}) {
      const auto o = SignumOptions(1e-3).weight_decay(0.01).momentum_dtype(mdtype).rounding_seed(6).dither(
          DitherOptions().seed(3));
      auto echo = std::make_shared<EchoAggregator>();
      EXPECT_TRUE(same_bits(train<Signum>(type, o, 4, true), train<Signum>(type, o, 4, true, echo)))
          << c10::toString(type) << " " << to_string(mdtype);
      EXPECT_EQ(echo->calls, 4);
      const auto h = HybridSignSGDOptions(1e-3)
                         .weight_decay(0.01)
                         .momentum_dtype(mdtype)
                         .rounding_seed(6)
                         .switch_at_step(2)
                         .post_switch_momentum(0.9);
      EXPECT_TRUE(same_bits(train<HybridSignSGD>(type, h, 4, true), train<HybridSignSGD>(type, h, 4, true, echo)))
          << "hybrid " << c10::toString(type) << " " << to_string(mdtype);
    }
    const auto sgd = SignSGDOptions(1e-3).decoupled_weight_decay(true).weight_decay(0.1);
    EXPECT_TRUE(same_bits(
        train<SignSGD>(type, sgd, 3, true), train<SignSGD>(type, sgd, 3, true, std::make_shared<EchoAggregator>())));
  }
}

// ---- the hybrid ----------------------------------------------------------------------------------------------

// Hybrid options that switch after step 3 with SGD momentum, dithered, so both phases and both buffers run.
HybridSignSGDOptions hybrid16(MomentumDtype mdtype, Rounding rounding) {
  return HybridSignSGDOptions(1e-3)
      .weight_decay(0.01)
      .momentum_dtype(mdtype)
      .rounding(rounding)
      .rounding_seed(4)
      .dither(DitherOptions().seed(2))
      .switch_at_step(3)
      .post_switch_momentum(0.9)
      .post_switch_init(SgdMomentumInit::Momentum);
}

// The fused path (the 16-bit sign step with the calibration sums, then the 16-bit SGD step) and the reference
// path (torch ops on float32 copies) take the same steps and calibrate the same rate, with every buffer dtype and
// rounding; the hand-over and tracking after the switch (always the reference path) agree too.
TEST(LowPrecision, TheHybridsFusedAndReferencePathsTakeTheSameSteps) {
  for (const auto type : {at::kBFloat16, at::kHalf}) {
    for (const auto mdtype : {MomentumDtype::Float32, MomentumDtype::Parameter}) {
      for (const auto rounding : {Rounding::Stochastic, Rounding::Nearest}) {
        const auto o = hybrid16(mdtype, rounding);
        const auto calls = kernels::fused_call_count();
        const auto fused = train<HybridSignSGD>(type, o, 6, true);
        EXPECT_EQ(kernels::fused_call_count() - calls, 18) << "every step of every parameter fused";
        const auto reference = train<HybridSignSGD>(type, o, 6, false);
        EXPECT_TRUE(same_bits(fused, reference))
            << c10::toString(type) << " " << to_string(mdtype) << " " << to_string(rounding);
      }
    }
    auto o = hybrid16(MomentumDtype::Parameter, Rounding::Stochastic);
    o.handover_steps(2);
    EXPECT_TRUE(same_bits(train<HybridSignSGD>(type, o, 6, true), train<HybridSignSGD>(type, o, 6, false)))
        << "hand-over";
    o.handover_steps(0).track_after_switch(true);
    EXPECT_TRUE(same_bits(train<HybridSignSGD>(type, o, 6, true), train<HybridSignSGD>(type, o, 6, false)))
        << "tracking";
  }
}

TEST(LowPrecision, TheHybridsBuffersTakeTheMomentumDtype) {
  for (const auto mdtype : {MomentumDtype::Float32, MomentumDtype::Parameter}) {
    auto ps = params16(at::kBFloat16, 1);
    HybridSignSGD opt(ps, hybrid16(mdtype, Rounding::Stochastic));
    const auto before = ps[1].detach().clone();
    for (int s = 1; s <= 4; ++s) {
      set_grads(ps, s);
      opt.step();
    }
    EXPECT_EQ(opt.phase(), HybridPhase::Sgd);
    EXPECT_TRUE(std::isfinite(opt.calibrated_lr()) && opt.calibrated_lr() > 0) << opt.calibrated_lr();
    const auto& st = static_cast<HybridSignSGDParamState&>(*opt.state().at(ps[1].unsafeGetTensorImpl()));
    const auto want = mdtype == MomentumDtype::Float32 ? torch::kFloat : torch::kBFloat16;
    EXPECT_EQ(st.exp_avg().scalar_type(), want);
    EXPECT_EQ(st.momentum_buffer().scalar_type(), want);
    EXPECT_EQ(ps[1].scalar_type(), torch::kBFloat16);
    EXPECT_FALSE(torch::equal(ps[1].detach(), before));
  }
}

// Saved in the sign phase (step 2) and in the SGD phase (step 4), a 16-bit hybrid resumes bit for bit; every
// 16-bit option comes from the checkpoint.
TEST(LowPrecision, AResumedHybridEndsBitForBitWhereAnUninterruptedOneEnds) {
  const auto o = hybrid16(MomentumDtype::Parameter, Rounding::Stochastic).rounding_seed(81);
  const auto straight = train<HybridSignSGD>(at::kBFloat16, o, 7, true);
  for (const int cut : {2, 4}) {
    auto ps = params16(at::kBFloat16, 3);
    torch::serialize::OutputArchive out;
    {
      HybridSignSGD first(ps, o);
      for (int s = 1; s <= cut; ++s) {
        set_grads(ps, s);
        first.step();
      }
      first.save(out);
    }
    auto in = reread(out);
    HybridSignSGD second(ps, HybridSignSGDOptions(0.5));
    second.load(in);
    const auto& loaded = static_cast<const HybridSignSGDOptions&>(second.param_groups()[0].options());
    EXPECT_EQ(loaded.momentum_dtype(), MomentumDtype::Parameter);
    EXPECT_EQ(loaded.rounding_seed(), 81u);
    for (int s = cut + 1; s <= 7; ++s) {
      set_grads(ps, s);
      second.step();
    }
    EXPECT_TRUE(same_bits(straight, ps)) << "cut after step " << cut;
  }
}

} // namespace
} // namespace signopt::test

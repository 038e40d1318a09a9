// EF-SignSGD: golden trajectories and the invariant that theta - e follows plain SGD.
#include "support/golden.h"
#include "support/problems.h"

#include <gtest/gtest.h>

namespace signopt::test {
namespace {

TEST(EFSignSGD, MatchesGoldenTrajectory) {
  expect_golden("ef_signsgd", [](auto p) { return std::make_unique<EFSignSGD>(p, EFSignSGDOptions(0.05)); });
}

TEST(EFSignSGD, MatchesGoldenTrajectoryWithMomentumAndWeightDecay) {
  expect_golden("ef_signsgd_mom", [](auto p) {
    return std::make_unique<EFSignSGD>(p, EFSignSGDOptions(0.05).momentum(0.9).weight_decay(0.01));
  });
}

// theta_{k+1} - e_{k+1} = theta_k - Delta - (p - Delta) = theta_k - e_k - lr g_k.
TEST(EFSignSGD, ThetaMinusErrorFollowsPlainSGD) {
  auto params = random_params(12);
  std::vector<torch::Tensor> sgd;
  for (const auto& p : params) {
    sgd.push_back(p.detach().clone());
  }
  const double lr = 0.03;
  EFSignSGD opt(params, EFSignSGDOptions(lr));
  for (int s = 1; s <= 40; ++s) {
    for (size_t i = 0; i < params.size(); ++i) {
      params[i].mutable_grad() = replay_grad(params[i], 5, s, static_cast<int64_t>(i));
      sgd[i].sub_(params[i].grad() * lr);
    }
    opt.step();
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& st = static_cast<const EFSignSGDParamState&>(*opt.state().at(detail::state_key(params[i])));
      const double err = (params[i].detach() - st.error() - sgd[i]).abs().max().item<double>();
      ASSERT_LT(err, 1e-12) << "step " << s << " parameter " << i;
    }
  }
}

// In-process stand-in for distributed EF-SignSGD: `world` workers with the same data, so the mean of their
// scaled signs is any one worker's. It records what it was sent.
struct EchoScaledSigns : SignAggregator {
  std::vector<torch::Tensor> aggregate_signs(const std::vector<torch::Tensor>&, int64_t) override {
    throw std::logic_error("not used by EF-SignSGD");
  }
  void allreduce_sum(std::vector<double>&) override {}
  std::vector<torch::Tensor> aggregate_scaled_signs(
      const std::vector<torch::Tensor>& signs,
      const std::vector<double>& scales,
      int64_t) override {
    ++calls;
    std::vector<torch::Tensor> out;
    for (size_t i = 0; i < signs.size(); ++i) {
      EXPECT_TRUE(signs[i].abs().eq(1).all().item<bool>()) << "a sign that is not +-1 was sent";
      out.push_back(signs[i] * scales[i]);
    }
    return out;
  }
  int calls = 0;
};

// With an aggregator a 0 of p is sent as +1 (one bit cannot say 0), and the error keeps what was sent, so
// theta - e still follows plain SGD exactly, zeros included. Without zeros the steps equal plain EF-SignSGD's.
TEST(EFSignSGD, WithAnAggregatorTheErrorKeepsWhatWasSent) {
  auto params = random_params(12);
  auto plain_params = random_params(12);
  std::vector<torch::Tensor> sgd;
  for (const auto& p : params)
    sgd.push_back(p.detach().clone());
  const double lr = 0.03;
  EFSignSGD opt(params, EFSignSGDOptions(lr));
  auto echo = std::make_shared<EchoScaledSigns>();
  opt.set_aggregator(echo);
  EFSignSGD plain(plain_params, EFSignSGDOptions(lr));
  for (int s = 1; s <= 20; ++s) {
    for (size_t i = 0; i < params.size(); ++i) {
      auto g = replay_grad(params[i], 5, s, static_cast<int64_t>(i));
      if (s == 1)
        g = g.masked_fill(torch::arange(g.numel()).view(g.sizes()) % 3 == 0, 0.0); // exact zeros of p at step 1
      params[i].mutable_grad() = g;
      plain_params[i].mutable_grad() = replay_grad(plain_params[i], 5, s, static_cast<int64_t>(i));
      sgd[i].sub_(g * lr);
    }
    opt.step();
    plain.step();
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& st = static_cast<const EFSignSGDParamState&>(*opt.state().at(detail::state_key(params[i])));
      const double err = (params[i].detach() - st.error() - sgd[i]).abs().max().item<double>();
      ASSERT_LT(err, 1e-12) << "step " << s << " parameter " << i;
    }
  }
  EXPECT_EQ(echo->calls, 20); // one exchange per step for all parameters
  // Same gradients without zeros: the aggregated path equals plain EF-SignSGD.
  auto a = random_params(13), b = random_params(13);
  EFSignSGD with(a, EFSignSGDOptions(lr)), without(b, EFSignSGDOptions(lr));
  with.set_aggregator(std::make_shared<EchoScaledSigns>());
  for (int s = 1; s <= 10; ++s) {
    for (size_t i = 0; i < a.size(); ++i) {
      a[i].mutable_grad() = replay_grad(a[i], 7, s, static_cast<int64_t>(i));
      b[i].mutable_grad() = replay_grad(b[i], 7, s, static_cast<int64_t>(i));
    }
    with.step();
    without.step();
  }
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(torch::allclose(a[i].detach(), b[i].detach(), 1e-12, 1e-14)) << "parameter " << i;
}

TEST(EFSignSGD, RejectsBadOptions) {
  auto p = torch::zeros({2}, torch::requires_grad());
  EXPECT_THROW(EFSignSGD({p}, EFSignSGDOptions(0)), std::invalid_argument);
  try {
    EFSignSGD opt({p}, EFSignSGDOptions(0.1).momentum(-0.1));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "EFSignSGDOptions: momentum must be in [0, 1), got -0.1");
  }
}

} // namespace
} // namespace signopt::test

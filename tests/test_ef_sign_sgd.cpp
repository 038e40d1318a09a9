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

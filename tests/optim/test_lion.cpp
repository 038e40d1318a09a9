// Lion: golden trajectory and Lion(b1 = b2 = 0) == SignSGD with decoupled weight decay.
#include "support/golden.h"
#include "support/problems.h"

#include <gtest/gtest.h>

namespace signopt::test {
namespace {

TEST(Lion, MatchesGoldenTrajectory) {
  expect_golden("lion", [](auto p) {
    return std::make_unique<Lion>(p, LionOptions(0.01).beta1(0.9).beta2(0.99).weight_decay(0.1));
  });
}

TEST(Lion, ZeroBetasAreExactlySignSGDWithDecoupledDecay) {
  auto a = random_params(31);
  auto b = random_params(31);
  Lion lion(a, LionOptions(0.02).beta1(0).beta2(0).weight_decay(0.3));
  SignSGD sign_sgd(b, SignSGDOptions(0.02).weight_decay(0.3).decoupled_weight_decay(true));
  for (int s = 1; s <= 8; ++s) {
    for (size_t i = 0; i < a.size(); ++i) {
      a[i].mutable_grad() = replay_grad(a[i], 2, s, static_cast<int64_t>(i));
      b[i].mutable_grad() = a[i].grad().clone();
    }
    lion.step();
    sign_sgd.step();
  }
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].detach(), b[i].detach())) << "parameter " << i;
  }
}

TEST(Lion, DefaultsAreThePapers) {
  const LionOptions o;
  EXPECT_EQ(o.lr(), 1e-4);
  EXPECT_EQ(o.beta1(), 0.9);
  EXPECT_EQ(o.beta2(), 0.99);
  EXPECT_TRUE(o.decoupled_weight_decay());
}

TEST(Lion, RejectsBadBetas) {
  auto p = torch::zeros({2}, torch::requires_grad());
  try {
    Lion opt({p}, LionOptions(1e-4).beta2(1.5));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "LionOptions: beta2 must be in [0, 1), got 1.5");
  }
}

} // namespace
} // namespace signopt::test

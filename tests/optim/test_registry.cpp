// The optimizer registry (one row per optimizer) and the enum name tables every consumer parses with.
#include <signopt/comm/vote_rules.h>
#include <signopt/optim/calibration.h>
#include <signopt/optim/dither.h>
#include <signopt/optim/ef_sign_sgd.h>
#include <signopt/optim/lion.h>
#include <signopt/optim/factory.h>
#include <signopt/optim/registry.h>
#include <signopt/optim/sign_sgd.h>
#include <signopt/optim/signum.h>

#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <set>

namespace signopt {
namespace {

// Every value of E round-trips through its name, names are unique, and an unknown name is an error that
// lists the valid ones.
template <class E>
void expect_name_table() {
  std::set<std::string> seen;
  for (const auto& [value, name] : EnumNames<E>::table) {
    EXPECT_TRUE(seen.insert(name).second) << "duplicate name " << name;
    EXPECT_EQ(enum_name(value), name);
    EXPECT_EQ(parse_enum<E>(name), value) << name;
  }
  EXPECT_EQ(enum_choices<E>().size(), EnumNames<E>::table.size());
  EXPECT_FALSE(try_parse_enum<E>("no-such-name").has_value());
  EXPECT_FALSE(try_parse_enum<E>("").has_value());
  try {
    parse_enum<E>("no-such-name");
    ADD_FAILURE() << "parse_enum accepted an unknown name";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'no-such-name'"), std::string::npos) << what;
    EXPECT_NE(what.find(EnumNames<E>::table.front().second), std::string::npos) << what;
    EXPECT_NE(what.find(EnumNames<E>::what), std::string::npos) << what;
  }
}

TEST(EnumNames, EveryTableRoundTripsAndRefusesUnknownNames) {
  expect_name_table<DitherScale>();
  expect_name_table<DitherSchedule>();
  expect_name_table<DitherDistribution>();
  expect_name_table<DitherTarget>();
  expect_name_table<DitherClock>();
  expect_name_table<CalibrationEstimator>();
  expect_name_table<CalibrationScope>();
  expect_name_table<SwitchTrigger>();
  expect_name_table<SwitchCriterion>();
  expect_name_table<SgdConvention>();
  expect_name_table<SgdMomentumInit>();
  expect_name_table<NonFinitePolicy>();
  expect_name_table<OptimizerFamily>();
  expect_name_table<Aggregation>();
  expect_name_table<comm::TieRule>();
  expect_name_table<comm::ZeroSign>();
}

TEST(EnumNames, ToStringReadsTheTable) {
  EXPECT_EQ(to_string(DitherScale::Max3Sigma), "max3sigma");
  EXPECT_EQ(to_string(CalibrationEstimator::LeastSquares), "least-squares");
  EXPECT_EQ(to_string(SgdConvention::Undampened), "undampened");
  EXPECT_EQ(to_string(NonFinitePolicy::Throw), "throw");
  EXPECT_EQ(enum_name(static_cast<DitherClock>(7)), "?");
  EXPECT_EQ(column_name(CalibrationEstimator::MomentumLs), "momentum_ls");
}

TEST(Registry, NamesAreUniqueAndFindable) {
  std::set<std::string> names;
  for (const auto& row : optimizer_registry()) {
    EXPECT_TRUE(names.insert(row.name).second) << row.name;
    EXPECT_EQ(&find_optimizer(row.name), &row);
    EXPECT_FALSE(row.summary.empty()) << row.name;
    EXPECT_NE(row.make, nullptr) << row.name;
  }
  EXPECT_EQ(optimizer_names().size(), optimizer_registry().size());
  try {
    find_optimizer("adagrad");
    ADD_FAILURE() << "an unknown optimizer was found";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'adagrad'"), std::string::npos) << what;
    EXPECT_NE(what.find("hybrid"), std::string::npos) << what;
  }
}

// The documented defaults (docs/optimizers.md, `signopt train --help`): the library's Options and the
// trainer read the same row, so these numbers are the only place a test pins them.
TEST(Registry, DefaultsAreTheDocumentedOnesAndTheLibrarysOwn) {
  EXPECT_DOUBLE_EQ(find_optimizer("sgd").defaults.lr, 0.1);
  EXPECT_DOUBLE_EQ(find_optimizer("adam").defaults.lr, 1e-3);
  EXPECT_DOUBLE_EQ(find_optimizer("adamw").defaults.lr, 1e-3);
  for (const char* name : {"signsgd", "signum", "dithered-signum", "hybrid", "lion"})
    EXPECT_DOUBLE_EQ(find_optimizer(name).defaults.lr, 1e-4) << name;
  EXPECT_DOUBLE_EQ(find_optimizer("ef-signsgd").defaults.lr, 0.1);
  EXPECT_DOUBLE_EQ(find_optimizer("ef-signsgd").defaults.momentum, 0.0);
  EXPECT_DOUBLE_EQ(find_optimizer("lion").defaults.beta2, 0.99);
  EXPECT_TRUE(find_optimizer("lion").defaults.decoupled_weight_decay);
  EXPECT_TRUE(find_optimizer("adamw").defaults.decoupled_weight_decay);
  EXPECT_FALSE(find_optimizer("signum").defaults.decoupled_weight_decay);
  // The library's constructors agree (they were 1e-3 and 1e-2 before the registry).
  EXPECT_DOUBLE_EQ(SignSGDOptions().lr(), find_optimizer("signsgd").defaults.lr);
  EXPECT_DOUBLE_EQ(EFSignSGDOptions().lr(), find_optimizer("ef-signsgd").defaults.lr);
  EXPECT_DOUBLE_EQ(SignumOptions().momentum(), find_optimizer("signum").defaults.momentum);
  EXPECT_DOUBLE_EQ(LionOptions().beta2(), find_optimizer("lion").defaults.beta2);
}

TEST(Registry, FlagsAreConsistent) {
  for (const auto& row : optimizer_registry()) {
    EXPECT_EQ(row.votes, row.aggregation == Aggregation::MajorityVote) << row.name;
    if (row.dither_always)
      EXPECT_TRUE(row.dither) << row.name;
    if (row.dither || row.votes)
      EXPECT_EQ(row.family, OptimizerFamily::Sign) << row.name;
    if (row.family == OptimizerFamily::Baseline)
      EXPECT_NE(row.weight_decay, WeightDecayModes::Either) << row.name;
  }
  EXPECT_TRUE(find_optimizer("dithered-signum").dither_always);
  EXPECT_EQ(find_optimizer("ef-signsgd").aggregation, Aggregation::EfSign);
  EXPECT_FALSE(find_optimizer("lion").votes);
}

OptimizerSettings settings_of(const OptimizerRow& row) {
  OptimizerSettings s;
  s.lr = row.defaults.lr;
  s.momentum = row.defaults.momentum;
  s.beta1 = row.defaults.beta1;
  s.beta2 = row.defaults.beta2;
  s.eps = row.defaults.eps;
  s.decoupled_weight_decay = row.defaults.decoupled_weight_decay;
  if (row.dither_always)
    s.dither = DitherOptions();
  return s;
}

TEST(Registry, EachFactoryBuildsItsOptimizerWithTheSettings) {
  for (const auto& row : optimizer_registry()) {
    auto w = torch::zeros({4}, torch::requires_grad());
    OptimizerSettings s = settings_of(row);
    s.lr = 0.25;
    MadeOptimizer m = row.make({w}, s);
    ASSERT_NE(m.optimizer, nullptr) << row.name;
    EXPECT_DOUBLE_EQ(m.optimizer->param_groups().at(0).options().get_lr(), 0.25) << row.name;
    EXPECT_EQ(m.signopt == nullptr, row.family == OptimizerFamily::Baseline) << row.name;
    EXPECT_EQ(m.hybrid != nullptr, row.name == "hybrid") << row.name;
  }
  auto w = torch::zeros({4}, torch::requires_grad());
  EXPECT_NE(
      dynamic_cast<torch::optim::SGD*>(make_optimizer("sgd", {w}, settings_of(find_optimizer("sgd"))).optimizer.get()),
      nullptr);
  EXPECT_NE(
      dynamic_cast<torch::optim::AdamW*>(
          make_optimizer("adamw", {w}, settings_of(find_optimizer("adamw"))).optimizer.get()),
      nullptr);
  EXPECT_NE(
      dynamic_cast<EFSignSGD*>(
          make_optimizer("ef-signsgd", {w}, settings_of(find_optimizer("ef-signsgd"))).optimizer.get()),
      nullptr);
  // dithered-signum is Signum with the settings' dither.
  auto dithered = make_optimizer("dithered-signum", {w}, settings_of(find_optimizer("dithered-signum")));
  auto* signum = dynamic_cast<Signum*>(dithered.optimizer.get());
  ASSERT_NE(signum, nullptr);
  EXPECT_TRUE(static_cast<const SignumOptions&>(signum->defaults()).dither().has_value());
  // log_calibration: the never-switching hybrid with Signum's momentum as beta1 and the trigger's fields at
  // their defaults, whatever trigger the settings carried.
  OptimizerSettings logged = settings_of(find_optimizer("signum"));
  logged.momentum = 0.8;
  logged.log_calibration = true;
  logged.hybrid.switch_at_epoch(3, 17);
  auto m = make_optimizer("signum", {w}, logged);
  ASSERT_NE(m.hybrid, nullptr);
  const auto& o = static_cast<const HybridSignSGDOptions&>(m.hybrid->defaults());
  EXPECT_EQ(o.trigger(), SwitchTrigger::Never);
  EXPECT_DOUBLE_EQ(o.beta1(), 0.8);
  EXPECT_EQ(o.switch_epoch(), HybridSignSGDOptions().switch_epoch());
  EXPECT_EQ(o.steps_per_epoch(), HybridSignSGDOptions().steps_per_epoch());
}

} // namespace
} // namespace signopt

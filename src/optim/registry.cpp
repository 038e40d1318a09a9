// The optimizer registry's rows: one per optimizer. Torch-free: built with SIGNOPT_REGISTRY_WITHOUT_FACTORIES
// (the fuzzers' torch-free parsers) the rows carry no factory.
#include <signopt/optim/registry.h>

#include <stdexcept>

namespace signopt {

#ifdef SIGNOPT_REGISTRY_WITHOUT_FACTORIES
#define SIGNOPT_FACTORY(f) nullptr
#else
#define SIGNOPT_FACTORY(f) &f
// The rows' factories (signopt::OptimizerFactory), each defined in its optimizer's .cpp; LibTorch's
// baselines in factory.cpp.
MadeOptimizer make_sgd(std::vector<at::Tensor> params, const OptimizerSettings& settings);
MadeOptimizer make_adam(std::vector<at::Tensor> params, const OptimizerSettings& settings);
MadeOptimizer make_adamw(std::vector<at::Tensor> params, const OptimizerSettings& settings);
MadeOptimizer make_signsgd(std::vector<at::Tensor> params, const OptimizerSettings& settings);
MadeOptimizer make_signum(std::vector<at::Tensor> params, const OptimizerSettings& settings);
MadeOptimizer make_hybrid(std::vector<at::Tensor> params, const OptimizerSettings& settings);
MadeOptimizer make_ef_signsgd(std::vector<at::Tensor> params, const OptimizerSettings& settings);
MadeOptimizer make_lion(std::vector<at::Tensor> params, const OptimizerSettings& settings);
#endif

namespace {

OptimizerDefaults with_lr(double lr) {
  OptimizerDefaults d;
  d.lr = lr;
  return d;
}

OptimizerRow row(
    std::string name,
    std::string summary,
    OptimizerFamily family,
    OptimizerDefaults defaults,
    OptimizerFactory make) {
  OptimizerRow r;
  r.name = std::move(name);
  r.summary = std::move(summary);
  r.family = family;
  r.defaults = defaults;
  r.make = make;
  return r;
}

// A sign optimizer whose update the workers of a data-parallel run can majority-vote.
OptimizerRow voting(OptimizerRow r, bool dither) {
  r.votes = true;
  r.dither = dither;
  r.aggregation = Aggregation::MajorityVote;
  return r;
}

std::vector<OptimizerRow> rows() {
  std::vector<OptimizerRow> t;
  // LibTorch's baselines (SGD's momentum 0.9, dampening 0 are the trainer's defaults; Adam's lr is LibTorch's).
  OptimizerRow r = row("sgd", "LibTorch's SGD", OptimizerFamily::Baseline, with_lr(0.1), SIGNOPT_FACTORY(make_sgd));
  r.weight_decay = WeightDecayModes::CoupledOnly;
  t.push_back(r);
  r = row("adam", "LibTorch's Adam", OptimizerFamily::Baseline, with_lr(1e-3), SIGNOPT_FACTORY(make_adam));
  r.weight_decay = WeightDecayModes::CoupledOnly;
  t.push_back(r);
  r = row("adamw", "LibTorch's AdamW", OptimizerFamily::Baseline, with_lr(1e-3), SIGNOPT_FACTORY(make_adamw));
  r.weight_decay = WeightDecayModes::DecoupledOnly;
  r.defaults.decoupled_weight_decay = true;
  t.push_back(r);

  // signopt's optimizers (docs/algorithms.md's defaults; their Options' constructors read lr from here).
  t.push_back(
      voting(row("signsgd", "lr sign(g)", OptimizerFamily::Sign, with_lr(1e-4), SIGNOPT_FACTORY(make_signsgd)), true));
  r = voting(
      row("signum",
          "lr sign(m), m = beta m + (1 - beta) g",
          OptimizerFamily::Sign,
          with_lr(1e-4),
          SIGNOPT_FACTORY(make_signum)),
      true);
  r.logs_calibration = true;
  t.push_back(r);
  r.name = "dithered-signum";
  r.summary = "Signum with pre-sign dithering always on";
  r.dither_always = true;
  t.push_back(r);
  r = voting(
      row("hybrid",
          "Signum, then SGD at a calibrated rate (the paper's method)",
          OptimizerFamily::Sign,
          with_lr(1e-4),
          SIGNOPT_FACTORY(make_hybrid)),
      true);
  r.logs_calibration = true;
  t.push_back(r);
  OptimizerDefaults ef = with_lr(0.1);
  ef.momentum = 0.0;
  r =
      row("ef-signsgd",
          "scaled sign with error feedback",
          OptimizerFamily::ErrorFeedback,
          ef,
          SIGNOPT_FACTORY(make_ef_signsgd));
  r.aggregation = Aggregation::EfSign;
  t.push_back(r);
  OptimizerDefaults lion = with_lr(1e-4);
  lion.beta2 = 0.99;
  lion.decoupled_weight_decay = true;
  t.push_back(
      row("lion",
          "Lion (Chen et al. 2023): sign of an interpolated momentum",
          OptimizerFamily::Sign,
          lion,
          SIGNOPT_FACTORY(make_lion)));
  return t;
}

} // namespace

const std::vector<OptimizerRow>& optimizer_registry() {
  static const std::vector<OptimizerRow> table = rows();
  return table;
}

const OptimizerRow& find_optimizer(std::string_view name) {
  for (const auto& r : optimizer_registry())
    if (r.name == name)
      return r;
  std::string valid;
  for (const auto& r : optimizer_registry())
    valid += (valid.empty() ? "" : ", ") + r.name;
  throw std::invalid_argument("unknown optimizer '" + std::string(name) + "' (valid: " + valid + ")");
}

std::vector<std::string> optimizer_names() {
  std::vector<std::string> out;
  for (const auto& r : optimizer_registry())
    out.push_back(r.name);
  return out;
}

const OptimizerDefaults& optimizer_defaults(std::string_view name) {
  return find_optimizer(name).defaults;
}

} // namespace signopt

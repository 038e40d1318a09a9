// The optimizer registry: one row per optimizer the trainer, the config files, the sweeps and (next) the
// Python package can name. A row says what the optimizer is (family, dithering, voting, weight-decay
// convention), which defaults it starts from and how to build it from typed settings; every consumer reads
// the row instead of keeping its own list, if-chain or default. Adding an optimizer: docs/optimizers.md,
// "Adding an optimizer".
//
// This header is torch-free (the option table and the fuzzers read the rows without LibTorch); the rows'
// factories take LibTorch types and are declared in signopt/optim/factory.h with the settings they read.
// The registry sits in optim/: it knows the optimizers, not the trainer's text config (train/optimizers.cpp
// turns a TrainConfig into OptimizerSettings, parsing every enum by its name table).
#pragma once

#include <signopt/enum_names.h>

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace at {
class Tensor;
} // namespace at

namespace signopt {

struct MadeOptimizer;
struct OptimizerSettings;

/// Builds one optimizer over `params` from `settings` (signopt/optim/factory.h). Each optimizer's factory is
/// defined in its own .cpp (LibTorch's baselines in src/optim/factory.cpp) and declared beside its row in
/// src/optim/registry.cpp; callers use make_optimizer(name, ...).
using OptimizerFactory = MadeOptimizer (*)(std::vector<at::Tensor> params, const OptimizerSettings& settings);

/// What kind of update an optimizer makes; the trainer's presets and checks key on it.
enum class OptimizerFamily {
  Baseline, ///< LibTorch's SGD, Adam, AdamW: not sign methods.
  Sign, ///< sign(x) steps: SignSGD, Signum, dithered Signum, the hybrid (its first phase), Lion.
  ErrorFeedback, ///< scaled sign with error memory (EF-SignSGD).
};

/// How the workers of a data-parallel run combine their updates (docs/distributed.md).
enum class Aggregation {
  AllReduce, ///< average the gradients (LibTorch's DDP convention); any optimizer.
  MajorityVote, ///< 1 bit per coordinate, the sign of the sum of signs; sign optimizers with `votes`.
  EfSign, ///< EF-SignSGD's scaled-sign exchange.
};

/// Which weight-decay conventions an optimizer accepts (docs/algorithms.md section 1).
enum class WeightDecayModes {
  Either, ///< coupled (g += wd theta) or decoupled (theta *= 1 - lr wd), chosen by decoupled_weight_decay.
  CoupledOnly, ///< LibTorch's SGD and Adam.
  DecoupledOnly, ///< AdamW.
};

template <>
struct EnumNames<OptimizerFamily> {
  static constexpr const char* what = "optimizer family";
  static constexpr std::array<std::pair<OptimizerFamily, const char*>, 3> table{
      {{OptimizerFamily::Baseline, "baseline"},
       {OptimizerFamily::Sign, "sign"},
       {OptimizerFamily::ErrorFeedback, "error-feedback"}}};
};
template <>
struct EnumNames<Aggregation> {
  static constexpr const char* what = "aggregation";
  static constexpr std::array<std::pair<Aggregation, const char*>, 3> table{
      {{Aggregation::AllReduce, "allreduce"},
       {Aggregation::MajorityVote, "majority-vote"},
       {Aggregation::EfSign, "ef-sign"}}};
};

/// The defaults an optimizer starts from when a config leaves the option out. Every row carries all of
/// them (a run's config.json records them whether or not the optimizer reads them).
struct OptimizerDefaults {
  double lr = 0.0;
  double momentum = 0.9;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  bool decoupled_weight_decay = false;
};

/// One optimizer: what it is, its defaults and its factory.
struct OptimizerRow {
  std::string name; ///< As configs and --optimizer spell it.
  std::string summary; ///< One line for --help.
  OptimizerFamily family = OptimizerFamily::Sign;
  bool dither = false; ///< accepts pre-sign dithering (--dither).
  bool dither_always = false; ///< dithering is part of the method (dithered-signum).
  bool votes = false; ///< its update is a sign the workers can majority-vote.
  bool logs_calibration = false; ///< accepts log_calibration (runs as the never-switching hybrid).
  WeightDecayModes weight_decay = WeightDecayModes::Either;
  Aggregation aggregation = Aggregation::AllReduce; ///< the default exchange of a distributed run.
  /// The defaults, for the trainer and for signopt's Options alike (their constructors' lr reads it), so
  /// the library and the trainer cannot disagree.
  OptimizerDefaults defaults;
  /// The factory; null only in a torch-free build of the rows (SIGNOPT_REGISTRY_WITHOUT_FACTORIES, the fuzzers).
  OptimizerFactory make = nullptr;
};

/// Every optimizer, in the order --help lists them.
const std::vector<OptimizerRow>& optimizer_registry();

/// The row named `name`; std::invalid_argument naming it and the valid names otherwise.
const OptimizerRow& find_optimizer(std::string_view name);

/// The names of every row, in registry order.
std::vector<std::string> optimizer_names();

/// The defaults of optimizer `name` (find_optimizer(name).defaults).
const OptimizerDefaults& optimizer_defaults(std::string_view name);

} // namespace signopt

// The trainer's option table: one row per option (its type, range, help and default, how to set it from text
// and read it for config.json), and the value parsers behind it.
#include <signopt/comm/vote_rules.h>
#include <signopt/io/checkpoint_file.h>
#include <signopt/optim/enums.h>
#include <signopt/optim/registry.h>
#include <signopt/train/config.h>

#include "options_internal.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace signopt::train::detail {
namespace {

// A range check: returns "" when v is valid, else what is expected.
using FloatCheck = std::function<std::string(double)>;
FloatCheck at_least(double lo) {
  return [lo](double v) { return v >= lo ? "" : "a number >= " + format_option_number(lo); };
}
FloatCheck above(double lo) {
  return [lo](double v) { return v > lo ? "" : "a number > " + format_option_number(lo); };
}
FloatCheck unit_interval_open_right() {
  return [](double v) { return v >= 0 && v < 1 ? "" : "a number in [0, 1)"; };
}

// The value of a float field for config.json: a number, or null for an unset optional one.
json float_json(double v) {
  return json(v);
}
json float_json(const std::optional<double>& v) {
  return v ? json(*v) : json();
}

// A float option stored in `field`, a double or an optional<double> (unset = the optimizer's default).
template <typename Field>
OptionEntry float_entry(
    std::string key,
    Field TrainConfig::*field,
    FloatCheck check,
    std::string help,
    std::string group,
    std::string default_text) {
  OptionEntry e;
  e.info = {key, "float", {}, std::move(help), std::move(group), std::move(default_text)};
  e.set = [field, check](TrainConfig& c, const std::string& text, const std::string& origin) {
    const double v = parse_float(origin, text);
    if (const auto expected = check(v); !expected.empty())
      bad_value(origin, text, expected);
    c.*field = v;
  };
  e.get = [field](const TrainConfig& c) { return float_json(c.*field); };
  e.nullable = std::is_same_v<Field, std::optional<double>>;
  return e;
}

// A whole-number option in min..max; `why` says why no more than `max` makes sense (shown when a value is past it).
OptionEntry int_entry(
    std::string key,
    int64_t TrainConfig::*field,
    int64_t min,
    int64_t max,
    std::string why,
    std::string help,
    std::string group,
    std::string default_text) {
  OptionEntry e;
  help += "; " + std::to_string(min) + ".." + std::to_string(max);
  e.info = {key, "int", {}, std::move(help), std::move(group), std::move(default_text)};
  e.set = [field, min, max, why](TrainConfig& c, const std::string& text, const std::string& origin) {
    c.*field = parse_int(origin, text, min, max, why);
  };
  e.get = [field](const TrainConfig& c) { return json(c.*field); };
  return e;
}

OptionEntry seed_entry(std::string key, std::string help, std::string group) {
  OptionEntry e;
  e.info = {key, "uint", {}, std::move(help), std::move(group), "0"};
  e.set = [](TrainConfig& c, const std::string& text, const std::string& origin) { c.seed = parse_uint(origin, text); };
  e.get = [](const TrainConfig& c) { return json(c.seed); };
  return e;
}

OptionEntry bool_entry(std::string key, bool TrainConfig::*field, std::string help, std::string group, std::string dflt) {
  OptionEntry e;
  e.info = {key, "bool", {}, std::move(help), std::move(group), std::move(dflt)};
  e.set = [field](TrainConfig& c, const std::string& text, const std::string& origin) {
    c.*field = parse_bool(origin, text);
  };
  e.get = [field](const TrainConfig& c) { return json(c.*field); };
  return e;
}

OptionEntry string_entry(
    std::string key,
    std::string TrainConfig::*field,
    std::vector<std::string> choices,
    std::string help,
    std::string group,
    std::string dflt) {
  OptionEntry e;
  e.info = {key, choices.empty() ? "string" : "choice", choices, std::move(help), std::move(group), std::move(dflt)};
  e.set = [field, choices](TrainConfig& c, const std::string& text, const std::string& origin) {
    if (!choices.empty() && std::find(choices.begin(), choices.end(), text) == choices.end())
      bad_value(origin, text, "one of " + join_strings(choices, ", "));
    c.*field = text;
  };
  e.get = [field](const TrainConfig& c) { return json(c.*field); };
  return e;
}

// Why each count has its upper limit (config.h), for the error message of a value past it.
constexpr const char* kWhyEpochs = "more epochs than that is not a training run, and epochs x steps must fit in 64 bits";
constexpr const char* kWhySteps = "2^40 steps is years of training, and step counters must stay far from 64-bit overflow";
constexpr const char* kWhyBatch = "a batch is one tensor in memory: 1048576 CIFAR images are 12 GiB of float32";
constexpr const char* kWhyImages = "no dataset signopt reads has that many images (the largest has 60000)";
constexpr const char* kWhySynthetic =
    "the synthetic set is generated in memory: 1048576 images take 0.8 GB, and 8x that while its statistics are computed";
constexpr const char* kWhyThreads = "more threads than this only slow training; LibTorch/libgomp crash far beyond it";
constexpr const char* kWhyWorkers =
    "each worker is a process with its own model, data and connections; more per job exhaust memory and process limits";

const std::vector<std::string> kDatasets = {"fashion-mnist", "mnist", "cifar10", "cifar100", "synthetic"};
const std::vector<std::string> kModels = {"mlp", "cnn", "resnet18"};

// "auto" (the optimizer's default exchange) and every Aggregation.
std::vector<std::string> aggregation_choices() {
  std::vector<std::string> out = {"auto"};
  for (const auto& name : enum_choices<Aggregation>())
    out.push_back(name);
  return out;
}

// --optimizer's help: each registry row's name and summary.
std::string optimizer_help() {
  std::string text = "the optimizer:";
  for (const auto& row : optimizer_registry())
    text += " " + row.name + " (" + row.summary + ")" + (&row == &optimizer_registry().back() ? "" : ";");
  return text;
}

// The registry's default of one field for the optimizers `names` (all when empty), as "sgd 0.1, adam 0.001,
// ...", rows with the same value grouped ("signsgd/signum 0.0001").
template <class Field>
std::string default_list(Field field, const std::vector<std::string>& names = {}) {
  std::vector<std::pair<std::string, double>> groups;
  for (const auto& row : optimizer_registry()) {
    if (!names.empty() && std::find(names.begin(), names.end(), row.name) == names.end())
      continue;
    const double v = field(row.defaults);
    auto it = std::find_if(groups.begin(), groups.end(), [v](const auto& g) { return g.second == v; });
    if (it == groups.end())
      groups.emplace_back(row.name, v);
    else
      it->first += "/" + row.name;
  }
  std::string out;
  for (const auto& [who, v] : groups)
    out += (out.empty() ? "" : ", ") + who + " " + format_option_number(v);
  return out;
}

void add_data_entries(std::vector<OptionEntry>& t) {
  const std::string data = "Data and model";
  t.push_back(string_entry("dataset", &TrainConfig::dataset, kDatasets, "dataset to train on", data, "fashion-mnist"));
  t.push_back(string_entry(
      "data-dir",
      &TrainConfig::data_dir,
      {},
      "directory with the dataset files (fashion-mnist: /usr/share/datasets/fashion-mnist; mnist: "
      "/usr/share/datasets/mnist; cifar10/cifar100: ./data/cifar10, ./data/cifar100 holding the binary version)",
      data,
      "per dataset"));
  t.push_back(string_entry(
      "model",
      &TrainConfig::model,
      kModels,
      "network: mlp (2 hidden layers), cnn (2 conv blocks + MLP head, ~0.2M weights), resnet18 (CIFAR variant, "
      "~11M weights)",
      data,
      "cnn"));
  t.push_back(string_entry(
      "augment",
      &TrainConfig::augment,
      {"auto", "on", "off"},
      "random crop (pad 4) + horizontal flip; auto = on for CIFAR, off otherwise",
      data,
      "auto"));
  t.push_back(int_entry("train-subset", &TrainConfig::train_subset, 0, kMaxImages, kWhyImages, "train on the first N images only (0 = all)", data, "0"));
  t.push_back(float_entry(
      "val-fraction",
      &TrainConfig::val_fraction,
      unit_interval_open_right(),
      "hold out this share of the training set (seeded split) as a validation set, evaluated every epoch; "
      "choose hyperparameters on it, not on the test set",
      data,
      "0"));
  t.push_back(int_entry("synthetic-train", &TrainConfig::synthetic_train, 1, kMaxSyntheticImages, kWhySynthetic, "training images of --dataset synthetic", data, "6000"));
  t.push_back(int_entry("synthetic-test", &TrainConfig::synthetic_test, 1, kMaxSyntheticImages, kWhySynthetic, "test images of --dataset synthetic", data, "1000"));
}

void add_loop_entries(std::vector<OptionEntry>& t) {
  const std::string loop = "Training loop";
  t.push_back(int_entry("epochs", &TrainConfig::epochs, 1, kMaxEpochs, kWhyEpochs, "training epochs", loop, "4"));
  t.push_back(int_entry("batch-size", &TrainConfig::batch_size, 1, kMaxBatchSize, kWhyBatch, "minibatch size", loop, "128"));
  t.push_back(int_entry("eval-batch-size", &TrainConfig::eval_batch_size, 1, kMaxBatchSize, kWhyBatch, "batch size of evaluation passes", loop, "1000"));
  t.push_back(int_entry("max-steps", &TrainConfig::max_steps, 0, kMaxSteps, kWhySteps, "stop after this many steps (0 = no limit)", loop, "0"));
  t.push_back(seed_entry("seed", "seed of the weights, data order, augmentation and dither", loop));
  t.push_back(int_entry("threads", &TrainConfig::threads, 0, kMaxThreads, kWhyThreads, "CPU threads per worker (0 = all cores, shared evenly among the workers on one machine)", loop, "0"));
  t.push_back(string_entry(
      "device",
      &TrainConfig::device,
      {"cpu", "cuda"},
      "where to train; cuda loads LibTorch's CUDA libraries at run time and needs a GPU",
      loop,
      "cpu"));
  t.push_back(string_entry(
      "param-dtype",
      &TrainConfig::param_dtype,
      {"float32", "bfloat16", "float16"},
      "the model's parameters and inputs; bfloat16/float16 train with float32 losses, SignSGD, Signum and the hybrid "
      "in float32 arithmetic stored by --rounding (several workers: with --aggregation majority-vote)",
      loop,
      "float32"));
}

void add_optimizer_entries(std::vector<OptionEntry>& t) {
  const std::string opt = "Optimizer";
  t.push_back(string_entry("optimizer", &TrainConfig::optimizer, signopt::optimizer_names(), optimizer_help(), opt, "hybrid"));
  t.push_back(float_entry(
      "lr",
      &TrainConfig::lr,
      above(0),
      "peak learning rate (" + default_list([](const OptimizerDefaults& d) { return d.lr; }) +
          "; --preset fmnist-cnn: 1e-3 for the sign family)",
      opt,
      "per optimizer"));
  t.push_back(float_entry(
      "momentum",
      &TrainConfig::momentum,
      unit_interval_open_right(),
      "sgd momentum, signum/dithered-signum beta, ef-signsgd momentum (" +
          default_list([](const OptimizerDefaults& d) { return d.momentum; }, {"sgd", "signum", "dithered-signum", "ef-signsgd"}) + ")",
      opt,
      "per optimizer"));
  t.push_back(float_entry(
      "beta1",
      &TrainConfig::beta1,
      unit_interval_open_right(),
      "adam/adamw/lion beta1, hybrid's momentum b1 (" +
          default_list([](const OptimizerDefaults& d) { return d.beta1; }, {"adam", "adamw", "lion", "hybrid"}) + ")",
      opt,
      "per optimizer"));
  t.push_back(float_entry(
      "beta2",
      &TrainConfig::beta2,
      unit_interval_open_right(),
      "adam/adamw/lion beta2, hybrid's calibration EMA b2 (" +
          default_list([](const OptimizerDefaults& d) { return d.beta2; }, {"adam", "adamw", "lion", "hybrid"}) + ")",
      opt,
      "per optimizer"));
  t.push_back(float_entry(
      "eps",
      &TrainConfig::eps,
      above(0),
      "adam/adamw epsilon, hybrid's calibration epsilon (" +
          default_list([](const OptimizerDefaults& d) { return d.eps; }, {"adam", "adamw", "hybrid"}) + ")",
      opt,
      "per optimizer"));
  t.push_back(float_entry("weight-decay", &TrainConfig::weight_decay, at_least(0), "weight decay", opt, "0"));
  {
    OptionEntry e;
    e.info = {
        "decoupled-weight-decay",
        "bool",
        {},
        "sign optimizers: theta *= 1 - lr*wd instead of g += wd*theta (default false; lion: true). sgd/adam are "
        "coupled and adamw decoupled always",
        opt,
        "per optimizer"};
    e.set = [](TrainConfig& c, const std::string& text, const std::string& origin) {
      c.decoupled_weight_decay = parse_bool(origin, text);
    };
    e.get = [](const TrainConfig& c) {
      return c.decoupled_weight_decay ? json(*c.decoupled_weight_decay) : json();
    };
    e.nullable = true;
    t.push_back(e);
  }
  t.push_back(bool_entry("nesterov", &TrainConfig::nesterov, "sgd: Nesterov momentum", opt, "false"));
  t.push_back(float_entry("dampening", &TrainConfig::dampening, unit_interval_open_right(), "sgd: dampening", opt, "0"));
  t.push_back(string_entry(
      "nonfinite",
      &TrainConfig::nonfinite,
      enum_choices<NonFinitePolicy>(),
      "sign optimizers: a NaN/inf gradient skips the step or stops the run",
      opt,
      "skip"));
}

void add_hybrid_entries(std::vector<OptionEntry>& t) {
  const std::string hyb = "Hybrid (--optimizer hybrid)";
  t.push_back(string_entry(
      "switch-trigger",
      &TrainConfig::switch_trigger,
      enum_choices<SwitchTrigger>(),
      "when the hybrid switches from Signum to SGD: after --switch-step, after --switch-epoch, by the SWATS test, "
      "or never",
      hyb,
      "epoch"));
  t.push_back(int_entry("switch-step", &TrainConfig::switch_step, 0, kMaxSteps, kWhySteps, "last sign step with --switch-trigger step", hyb, "0"));
  t.push_back(int_entry(
      "switch-epoch", &TrainConfig::switch_epoch, 0, kMaxEpochs, kWhyEpochs, "last sign epoch (1-based) with --switch-trigger epoch; 0 = half the epochs", hyb, "0"));
  t.push_back(float_entry("auto-tol", &TrainConfig::auto_tol, above(0), "tolerance of the auto (SWATS) test", hyb, "0.001"));
  t.push_back(string_entry(
      "auto-criterion",
      &TrainConfig::auto_criterion,
      enum_choices<SwitchCriterion>(),
      "the auto test: |Lbar - lambda| < tol * Lbar (relative) or < tol (SWATS's absolute test, tol 1e-9 there)",
      hyb,
      "relative"));
  t.push_back(bool_entry("bias-correction", &TrainConfig::bias_correction, "bias-correct the calibrated rate's EMA", hyb, "true"));
  t.push_back(string_entry(
      "calibration",
      &TrainConfig::calibration,
      enum_choices<CalibrationEstimator>(),
      "the SGD rate's estimator: swats gamma nnz(u)/<u,g>, least-squares gamma |<u,g>|/||g||^2, norm gamma "
      "sqrt(nnz(u))/||g||, momentum-ls gamma ||m||_1/||m||^2, fixed --fixed-lr (docs/optimizers.md#calibration)",
      hyb,
      "norm"));
  t.push_back(string_entry(
      "calibration-scope",
      &TrainConfig::calibration_scope,
      enum_choices<CalibrationScope>(),
      "one calibration over all parameters or one per tensor",
      hyb,
      "global"));
  t.push_back(float_entry(
      "calibration-scale", &TrainConfig::calibration_scale, above(0), "multiplier of the calibrated SGD rate", hyb, "1"));
  t.push_back(float_entry(
      "fixed-lr",
      &TrainConfig::fixed_lr,
      at_least(0),
      "--calibration fixed: the SGD rate (in --post-switch-convention's units)",
      hyb,
      "0"));
  t.push_back(bool_entry(
      "log-calibration",
      &TrainConfig::log_calibration,
      "signum: log every estimator's rate to metrics.csv (runs as the hybrid with the never trigger, bit-identical "
      "to Signum)",
      hyb,
      "false"));
  t.push_back(float_entry(
      "post-switch-momentum", &TrainConfig::post_switch_momentum, unit_interval_open_right(), "SGD-phase momentum mu", hyb, "0"));
  t.push_back(string_entry(
      "post-switch-convention",
      &TrainConfig::post_switch_convention,
      enum_choices<SgdConvention>(),
      "SGD-phase step: eta (1 - mu) v (SWATS; the calibrated rate is per unit of gradient) or eta v (LibTorch's SGD)",
      hyb,
      "dampened"));
  t.push_back(string_entry(
      "post-switch-init",
      &TrainConfig::post_switch_init,
      enum_choices<SgdMomentumInit>(),
      "SGD-phase buffer at the switch: 0, or the sign phase's m / (1 - mu) (the first step continues the momentum)",
      hyb,
      "zero"));
  t.push_back(int_entry("handover-steps", &TrainConfig::handover_steps, 0, kMaxSteps, kWhySteps, "steps of smooth sign->SGD blending", hyb, "0"));
  t.push_back(float_entry("fallback-lr", &TrainConfig::fallback_lr, above(0), "SGD rate when the calibration is unusable", hyb, "0.01"));
  t.push_back(bool_entry(
      "track-after-switch", &TrainConfig::track_after_switch, "keep updating the calibrated rate after the switch", hyb, "false"));
}

void add_dither_entries(std::vector<OptionEntry>& t) {
  const std::string dith = "Pre-sign dithering";
  t.push_back(bool_entry(
      "dither", &TrainConfig::dither, "add annealed noise before the sign (signsgd, signum, hybrid; always on for dithered-signum)", dith, "false"));
  t.push_back(float_entry("dither-alpha", &TrainConfig::dither_alpha, at_least(0), "initial noise scale alpha0", dith, "1"));
  t.push_back(string_entry(
      "dither-scale",
      &TrainConfig::dither_scale,
      enum_choices<DitherScale>(),
      "what the noise std is relative to, per tensor",
      dith,
      "rms"));
  t.push_back(string_entry(
      "dither-schedule",
      &TrainConfig::dither_schedule,
      enum_choices<DitherSchedule>(),
      "annealing of alpha",
      dith,
      "power"));
  t.push_back(float_entry("dither-gamma", &TrainConfig::dither_gamma, at_least(0), "power schedule: variance ~ (1+t)^-gamma", dith, "0.55"));
  t.push_back(float_entry("dither-alpha-min", &TrainConfig::dither_alpha_min, at_least(0), "linear/cosine schedules: final alpha", dith, "0"));
  t.push_back(int_entry(
      "dither-horizon", &TrainConfig::dither_horizon, 0, kMaxSteps, kWhySteps, "linear/cosine schedules: ticks to reach alpha-min (0 = the whole run)", dith, "0"));
  t.push_back(float_entry(
      "dither-decay-rate",
      &TrainConfig::dither_decay_rate,
      [](double v) { return v > 0 && v <= 1 ? "" : "a number in (0, 1]"; },
      "exponential schedule: factor per tick",
      dith,
      "0.999"));
  t.push_back(string_entry(
      "dither-distribution", &TrainConfig::dither_distribution, enum_choices<DitherDistribution>(), "noise distribution", dith, "gaussian"));
  t.push_back(string_entry(
      "dither-draw",
      &TrainConfig::dither_draw,
      enum_choices<DitherDraw>(),
      "how the dithered sign is drawn: additive (x + s xi, then the sign) or threshold (sign(x) flipped where |x|/s "
      "is below the level of a 16-bit uniform; exact in law, cheaper; used where only the sign reads the noise)",
      dith,
      "additive"));
  t.push_back(string_entry(
      "dither-scale-from",
      &TrainConfig::dither_scale_from,
      enum_choices<DitherScaleFrom>(),
      "which step's sign argument an rms/max3sigma/meanabs scale measures: current (a statistics pass) or "
      "previous (measured during the last update: one pass over memory; CPU only)",
      dith,
      "current"));
  t.push_back(string_entry(
      "dither-target", &TrainConfig::dither_target, enum_choices<DitherTarget>(), "noise enters the sign's argument or the gradient", dith, "momentum"));
  t.push_back(string_entry("dither-clock", &TrainConfig::dither_clock, enum_choices<DitherClock>(), "what the schedule counts", dith, "step"));
  {
    OptionEntry e;
    e.info = {"dither-seed", "uint", {}, "seed of the dither noise", dith, "--seed"};
    e.set = [](TrainConfig& c, const std::string& text, const std::string& origin) {
      c.dither_seed = parse_uint(origin, text);
    };
    e.get = [](const TrainConfig& c) { return c.dither_seed ? json(*c.dither_seed) : json(); };
    e.nullable = true;
    t.push_back(e);
  }
  const std::string low = "16-bit parameters (--param-dtype bfloat16 or float16)";
  t.push_back(string_entry(
      "rounding",
      &TrainConfig::rounding,
      enum_choices<Rounding>(),
      "how signsgd, signum and the hybrid store a 16-bit parameter after its float32 update: stochastic (unbiased; "
      "keeps steps below half an ulp in expectation) or nearest (such steps vanish)",
      low,
      "stochastic"));
  {
    OptionEntry e;
    e.info = {"rounding-seed", "uint", {}, "seed of the stochastic rounding's bits", low, "--seed"};
    e.set = [](TrainConfig& c, const std::string& text, const std::string& origin) {
      c.rounding_seed = parse_uint(origin, text);
    };
    e.get = [](const TrainConfig& c) { return c.rounding_seed ? json(*c.rounding_seed) : json(); };
    e.nullable = true;
    t.push_back(e);
  }
  t.push_back(string_entry(
      "momentum-dtype",
      &TrainConfig::momentum_dtype,
      enum_choices<MomentumDtype>(),
      "the momentum of signum and the hybrid (m and the SGD phase's v) for a 16-bit parameter: float32 (4 bytes per "
      "coordinate) or parameter (its 16-bit dtype, rounded to nearest)",
      low,
      "float32"));
}

void add_schedule_entries(std::vector<OptionEntry>& t) {
  const std::string sched = "Learning-rate schedule";
  t.push_back(string_entry(
      "lr-schedule",
      &TrainConfig::lr_schedule,
      {"constant", "cosine", "step"},
      "constant, cosine decay to --min-lr over the run, or step decay at --lr-milestones",
      sched,
      "cosine"));
  t.push_back(float_entry("warmup-epochs", &TrainConfig::warmup_epochs, at_least(0), "linear warmup length (may be fractional)", sched, "0"));
  {
    OptionEntry e;
    e.info = {
        "lr-milestones",
        "int-list",
        {},
        "step schedule: comma-separated epochs after which lr *= --lr-decay; each 1.." + std::to_string(kMaxEpochs),
        sched,
        "none"};
    e.set = [](TrainConfig& c, const std::string& text, const std::string& origin) {
      const std::string expected =
          "increasing whole numbers in 1.." + std::to_string(kMaxEpochs) + " separated by commas, e.g. 30,60";
      if (!text.empty() && text.back() == ',')
        bad_value(origin, text, expected);
      std::vector<int64_t> values;
      std::stringstream s(text);
      std::string item;
      while (std::getline(s, item, ',')) {
        if (!is_decimal_integer(item, /*sign=*/false))
          bad_value(origin, text, expected);
        errno = 0;
        const long long v = std::strtoll(item.c_str(), nullptr, 10);
        if (errno == ERANGE || v < 1 || v > kMaxEpochs || (!values.empty() && v <= values.back()))
          bad_value(origin, text, expected);
        values.push_back(static_cast<int64_t>(v));
      }
      c.lr_milestones = values;
    };
    e.get = [](const TrainConfig& c) { return json(c.lr_milestones); };
    t.push_back(e);
  }
  t.push_back(float_entry(
      "lr-decay", &TrainConfig::lr_decay, [](double v) { return v > 0 && v <= 1 ? "" : "a number in (0, 1]"; }, "step schedule factor", sched, "0.1"));
  t.push_back(float_entry("min-lr", &TrainConfig::min_lr, at_least(0), "cosine schedule floor", sched, "0"));
}

void add_distributed_entries(std::vector<OptionEntry>& t) {
  const std::string dist = "Distributed data-parallel training (docs/distributed.md)";
  t.push_back(int_entry(
      "nproc",
      &TrainConfig::nproc,
      1,
      kMaxWorkers,
      kWhyWorkers,
      "workers: N > 1 starts N local worker processes (each trains on its own --batch-size share of every "
      "step's data, so a step covers N x --batch-size samples; rank 0 writes the run directory). Under a launcher that sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT "
      "(torchrun --no-python, mpirun wrappers, schedulers) the job's size comes from WORLD_SIZE",
      dist,
      "1"));
  t.push_back(string_entry(
      "aggregation",
      &TrainConfig::aggregation,
      aggregation_choices(),
      "how workers combine their steps: allreduce (fp32 gradient average, any optimizer), majority-vote (1-bit "
      "signs, voted; signsgd, signum, dithered-signum, hybrid, which averages gradients after its switch), "
      "ef-sign (1-bit signs and a scale per tensor, averaged, with each worker's own error feedback; "
      "ef-signsgd). auto = majority-vote for the sign optimizers, ef-sign for ef-signsgd, allreduce otherwise",
      dist,
      "auto"));
  t.push_back(string_entry(
      "vote-ties",
      &TrainConfig::vote_ties,
      enum_choices<comm::TieRule>(),
      "a tied vote (even --nproc): zero = the coordinate does not move (costs a second bit plane from 4 "
      "workers on; 2 workers need none); shared-coin = a fair coin drawn by the shard's owner",
      dist,
      "zero"));
  t.push_back(string_entry(
      "vote-zero-sign",
      &TrainConfig::vote_zero_sign,
      enum_choices<comm::ZeroSign>(),
      "what a local sign of 0 sends in the 1-bit vote: a seeded fair coin (random) or +1 (positive, the "
      "biased rule of earlier code)",
      dist,
      "random"));
  t.push_back(float_entry(
      "dist-timeout",
      &TrainConfig::dist_timeout,
      [](double v) { return v > 0 && v <= 86400 ? "" : "seconds in (0, 86400]"; },
      "seconds a worker waits for its peers (rendezvous, each exchange, a checkpoint) before the job fails "
      "with an error naming the rank",
      dist,
      "300"));
}

void add_run_entries(std::vector<OptionEntry>& t) {
  const std::string run = "Run directory and output";
  t.push_back(string_entry(
      "out", &TrainConfig::out, {}, "run directory (must not exist yet)", run, "runs/<timestamp>-<optimizer>"));
  t.push_back(int_entry("log-every", &TrainConfig::log_every, 1, kMaxSteps, kWhySteps, "steps between metric rows and progress lines", run, "50"));
  t.push_back(int_entry(
      "probe-every",
      &TrainConfig::probe_every,
      0,
      kMaxSteps,
      kWhySteps,
      "steps between rows of probe.csv: running gradient-noise estimates (SNR, Phi, wrong-sign rate vs the Gauss bound) "
      "from moving averages of g and g^2, updated every step; 0 = off",
      run,
      "0"));
  t.push_back(float_entry(
      "probe-beta",
      &TrainConfig::probe_beta,
      [](double v) { return v > 0 && v < 1 ? "" : "a number in (0, 1)"; },
      "averaging factor of --probe-every's moving averages (window ~ 1/(1-beta) steps)",
      run,
      "0.98"));
  t.push_back(int_entry(
      "checkpoint-every", &TrainConfig::checkpoint_every, 0, kMaxSteps, kWhySteps, "steps between checkpoints (0 = end of each epoch only)", run, "0"));
  t.push_back(int_entry(
      "keep-checkpoints",
      &TrainConfig::keep_checkpoints,
      1,
      io::kMaxKeptCheckpoints,
      "each kept checkpoint is a full copy of the model and optimizer state on disk",
      "checkpoints kept (checkpoint.pt, checkpoint.1.pt, ...); a resume that finds the newest damaged uses the one "
      "before it. May be changed in config.json before a resume",
      run,
      "2"));
  t.push_back(string_entry(
      "progress",
      &TrainConfig::progress,
      {"auto", "bar", "lines", "none"},
      "live bar on a terminal (auto), periodic lines, or nothing",
      run,
      "auto"));
  t.push_back(string_entry("preset", &TrainConfig::preset, {}, "named settings applied before other options (see below)", run, "none"));
}

} // namespace

const std::vector<OptionEntry>& option_table() {
  static const std::vector<OptionEntry> entries = [] {
    std::vector<OptionEntry> t;
    add_data_entries(t);
    add_loop_entries(t);
    add_optimizer_entries(t);
    add_hybrid_entries(t);
    add_dither_entries(t);
    add_schedule_entries(t);
    add_distributed_entries(t);
    add_run_entries(t);
    return t;
  }();
  return entries;
}

} // namespace signopt::train::detail

// The trainer's option table and everything derived from it: flags, config files, presets,
// --help, defaults per optimizer and config.json.
#include <signopt/io/checkpoint_file.h>
#include <signopt/train/config.h>
#include <signopt/version.h>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>

namespace signopt::train {
namespace {

using json = nlohmann::ordered_json;

// One row of the table: the public description plus how to set and read the field.
struct Entry {
  OptionInfo info;
  std::function<void(TrainConfig&, const std::string& text, const std::string& origin)> set;
  std::function<json(const TrainConfig&)> get; // null json = unset optional
  bool nullable = false; // an optional field: config.json writes null while it is unset
};

[[noreturn]] void bad_value(const std::string& origin, const std::string& value, const std::string& expected) {
  throw ConfigError("invalid value for " + origin + ": '" + value + "' (expected " + expected + ")");
}

// Whole numbers as plain decimal text: an optional sign (when `sign`), then digits; no spaces, no hex.
// (strtoll would skip leading spaces and accept a sign where none belongs.)
bool is_decimal_integer(const std::string& t, bool sign) {
  size_t i = 0;
  if (sign && i < t.size() && (t[i] == '+' || t[i] == '-'))
    ++i;
  if (i == t.size())
    return false;
  for (; i < t.size(); ++i)
    if (t[i] < '0' || t[i] > '9')
      return false;
  return true;
}

// Numbers as plain decimal text: [sign] digits [. digits] [e [sign] digits], with digits on at least one
// side of the point. strtod would also take 0x10, 0x1p-3, inf, nan and leading spaces.
bool is_decimal_number(const std::string& t) {
  size_t i = 0;
  auto digits = [&]() -> size_t {
    const size_t start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9')
      ++i;
    return i - start;
  };
  if (i < t.size() && (t[i] == '+' || t[i] == '-'))
    ++i;
  size_t mantissa = digits();
  if (i < t.size() && t[i] == '.') {
    ++i;
    mantissa += digits();
  }
  if (mantissa == 0)
    return false;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-'))
      ++i;
    if (digits() == 0)
      return false;
  }
  return i == t.size();
}

double parse_float(const std::string& origin, const std::string& text) {
  if (!is_decimal_number(text))
    bad_value(origin, text, "a decimal number such as 0.1, 3 or 1e-4; not hex, inf or nan");
  errno = 0;
  const double v = std::strtod(text.c_str(), nullptr);
  if (errno == ERANGE || !std::isfinite(v))
    bad_value(origin, text, "a finite number within the range of a double");
  return v;
}

uint64_t parse_uint(const std::string& origin, const std::string& text) {
  const std::string range = "a whole number in 0.." + std::to_string(std::numeric_limits<uint64_t>::max());
  if (!is_decimal_integer(text, /*sign=*/false))
    bad_value(origin, text, range);
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE)
    bad_value(origin, text, range + " (64 bits)");
  return static_cast<uint64_t>(v);
}

// A whole number in min..max; `why` (the reason for the upper limit) is added when the value is past it.
int64_t parse_int(const std::string& origin, const std::string& text, int64_t min, int64_t max, const std::string& why) {
  const std::string range = "a whole number in " + std::to_string(min) + ".." + std::to_string(max);
  if (!is_decimal_integer(text, /*sign=*/true))
    bad_value(origin, text, range);
  errno = 0;
  const long long v = std::strtoll(text.c_str(), nullptr, 10);
  const bool overflow = errno == ERANGE;
  if ((overflow && v > 0) || (!overflow && v > max))
    bad_value(origin, text, range + (why.empty() ? "" : "; " + why));
  if (overflow || v < min)
    bad_value(origin, text, range);
  return static_cast<int64_t>(v);
}

bool parse_bool(const std::string& origin, const std::string& text) {
  if (text == "true" || text == "1" || text == "on" || text == "yes")
    return true;
  if (text == "false" || text == "0" || text == "off" || text == "no")
    return false;
  bad_value(origin, text, "true or false");
}

std::string format_number(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  // Shortest form that reads back exactly.
  for (int p = 1; p <= 17; ++p) {
    std::ostringstream t;
    t.precision(p);
    t << v;
    if (std::strtod(t.str().c_str(), nullptr) == v)
      return t.str();
  }
  return s.str();
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i)
    out += (i ? sep : "") + items[i];
  return out;
}

// A range check: returns "" when v is valid, else what is expected.
using FloatCheck = std::function<std::string(double)>;
FloatCheck at_least(double lo) {
  return [lo](double v) { return v >= lo ? "" : "a number >= " + format_number(lo); };
}
FloatCheck above(double lo) {
  return [lo](double v) { return v > lo ? "" : "a number > " + format_number(lo); };
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
Entry float_entry(
    std::string key,
    Field TrainConfig::*field,
    FloatCheck check,
    std::string help,
    std::string group,
    std::string default_text) {
  Entry e;
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
Entry int_entry(
    std::string key,
    int64_t TrainConfig::*field,
    int64_t min,
    int64_t max,
    std::string why,
    std::string help,
    std::string group,
    std::string default_text) {
  Entry e;
  help += "; " + std::to_string(min) + ".." + std::to_string(max);
  e.info = {key, "int", {}, std::move(help), std::move(group), std::move(default_text)};
  e.set = [field, min, max, why](TrainConfig& c, const std::string& text, const std::string& origin) {
    c.*field = parse_int(origin, text, min, max, why);
  };
  e.get = [field](const TrainConfig& c) { return json(c.*field); };
  return e;
}

Entry seed_entry(std::string key, std::string help, std::string group) {
  Entry e;
  e.info = {key, "uint", {}, std::move(help), std::move(group), "0"};
  e.set = [](TrainConfig& c, const std::string& text, const std::string& origin) { c.seed = parse_uint(origin, text); };
  e.get = [](const TrainConfig& c) { return json(c.seed); };
  return e;
}

Entry bool_entry(std::string key, bool TrainConfig::*field, std::string help, std::string group, std::string dflt) {
  Entry e;
  e.info = {key, "bool", {}, std::move(help), std::move(group), std::move(dflt)};
  e.set = [field](TrainConfig& c, const std::string& text, const std::string& origin) {
    c.*field = parse_bool(origin, text);
  };
  e.get = [field](const TrainConfig& c) { return json(c.*field); };
  return e;
}

Entry string_entry(
    std::string key,
    std::string TrainConfig::*field,
    std::vector<std::string> choices,
    std::string help,
    std::string group,
    std::string dflt) {
  Entry e;
  e.info = {key, choices.empty() ? "string" : "choice", choices, std::move(help), std::move(group), std::move(dflt)};
  e.set = [field, choices](TrainConfig& c, const std::string& text, const std::string& origin) {
    if (!choices.empty() && std::find(choices.begin(), choices.end(), text) == choices.end())
      bad_value(origin, text, "one of " + join(choices, ", "));
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

const std::vector<std::string> kOptimizers = {
    "sgd", "adam", "adamw", "signsgd", "signum", "dithered-signum", "hybrid", "ef-signsgd", "lion"};
const std::vector<std::string> kDatasets = {"fashion-mnist", "mnist", "cifar10", "cifar100", "synthetic"};
const std::vector<std::string> kModels = {"mlp", "cnn", "resnet18"};

const std::vector<Entry>& table() {
  static const std::vector<Entry> entries = [] {
    std::vector<Entry> t;
    const std::string data = "Data and model", loop = "Training loop", opt = "Optimizer", hyb = "Hybrid (--optimizer hybrid)",
                      dith = "Pre-sign dithering", sched = "Learning-rate schedule", run = "Run directory and output";
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

    t.push_back(string_entry("optimizer", &TrainConfig::optimizer, kOptimizers, "the optimizer", opt, "hybrid"));
    t.push_back(float_entry(
        "lr",
        &TrainConfig::lr,
        above(0),
        "peak learning rate (sgd 0.1, adam/adamw 1e-3, ef-signsgd 0.1, sign methods and lion 1e-4; presets may "
        "change these)",
        opt,
        "per optimizer"));
    t.push_back(float_entry(
        "momentum",
        &TrainConfig::momentum,
        unit_interval_open_right(),
        "sgd momentum (0.9), signum/dithered-signum beta (0.9), ef-signsgd momentum (0)",
        opt,
        "per optimizer"));
    t.push_back(float_entry(
        "beta1",
        &TrainConfig::beta1,
        unit_interval_open_right(),
        "adam/adamw beta1 (0.9), lion beta1 (0.9), hybrid's momentum b1 (0.9)",
        opt,
        "per optimizer"));
    t.push_back(float_entry(
        "beta2",
        &TrainConfig::beta2,
        unit_interval_open_right(),
        "adam/adamw beta2 (0.999), lion beta2 (0.99), hybrid's calibration EMA b2 (0.999)",
        opt,
        "per optimizer"));
    t.push_back(float_entry(
        "eps", &TrainConfig::eps, above(0), "adam/adamw epsilon (1e-8), hybrid's calibration epsilon (1e-8)", opt, "per optimizer"));
    t.push_back(float_entry("weight-decay", &TrainConfig::weight_decay, at_least(0), "weight decay", opt, "0"));
    {
      Entry e;
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
        {"skip", "throw"},
        "sign optimizers: a NaN/inf gradient skips the step or stops the run",
        opt,
        "skip"));

    t.push_back(string_entry(
        "switch-trigger",
        &TrainConfig::switch_trigger,
        {"step", "epoch", "auto", "never"},
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
        {"relative", "swats"},
        "the auto test: |Lbar - lambda| < tol * Lbar (relative) or < tol (SWATS's absolute test, tol 1e-9 there)",
        hyb,
        "relative"));
    t.push_back(bool_entry("bias-correction", &TrainConfig::bias_correction, "bias-correct the calibrated rate's EMA", hyb, "true"));
    t.push_back(string_entry(
        "calibration",
        &TrainConfig::calibration,
        {"swats", "least-squares", "norm", "momentum-ls", "fixed"},
        "the SGD rate's estimator: swats gamma nnz(u)/<u,g>, least-squares gamma |<u,g>|/||g||^2, norm gamma "
        "sqrt(nnz(u))/||g||, momentum-ls gamma ||m||_1/||m||^2, fixed --fixed-lr (docs/optimizers.md#calibration)",
        hyb,
        "norm"));
    t.push_back(string_entry(
        "calibration-scope",
        &TrainConfig::calibration_scope,
        {"global", "per-tensor"},
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
        {"dampened", "undampened"},
        "SGD-phase step: eta (1 - mu) v (SWATS; the calibrated rate is per unit of gradient) or eta v (LibTorch's SGD)",
        hyb,
        "dampened"));
    t.push_back(string_entry(
        "post-switch-init",
        &TrainConfig::post_switch_init,
        {"zero", "momentum"},
        "SGD-phase buffer at the switch: 0, or the sign phase's m / (1 - mu) (the first step continues the momentum)",
        hyb,
        "zero"));
    t.push_back(int_entry("handover-steps", &TrainConfig::handover_steps, 0, kMaxSteps, kWhySteps, "steps of smooth sign->SGD blending", hyb, "0"));
    t.push_back(float_entry("fallback-lr", &TrainConfig::fallback_lr, above(0), "SGD rate when the calibration is unusable", hyb, "0.01"));
    t.push_back(bool_entry(
        "track-after-switch", &TrainConfig::track_after_switch, "keep updating the calibrated rate after the switch", hyb, "false"));

    t.push_back(bool_entry(
        "dither", &TrainConfig::dither, "add annealed noise before the sign (signsgd, signum, hybrid; always on for dithered-signum)", dith, "false"));
    t.push_back(float_entry("dither-alpha", &TrainConfig::dither_alpha, at_least(0), "initial noise scale alpha0", dith, "1"));
    t.push_back(string_entry(
        "dither-scale",
        &TrainConfig::dither_scale,
        {"absolute", "rms", "max3sigma", "meanabs"},
        "what the noise std is relative to, per tensor",
        dith,
        "rms"));
    t.push_back(string_entry(
        "dither-schedule",
        &TrainConfig::dither_schedule,
        {"constant", "power", "linear", "cosine", "exponential"},
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
        "dither-distribution", &TrainConfig::dither_distribution, {"gaussian", "uniform"}, "noise distribution", dith, "gaussian"));
    t.push_back(string_entry(
        "dither-target", &TrainConfig::dither_target, {"momentum", "gradient"}, "noise enters the sign's argument or the gradient", dith, "momentum"));
    t.push_back(string_entry("dither-clock", &TrainConfig::dither_clock, {"step", "epoch"}, "what the schedule counts", dith, "step"));
    {
      Entry e;
      e.info = {"dither-seed", "uint", {}, "seed of the dither noise", dith, "--seed"};
      e.set = [](TrainConfig& c, const std::string& text, const std::string& origin) {
        c.dither_seed = parse_uint(origin, text);
      };
      e.get = [](const TrainConfig& c) { return c.dither_seed ? json(*c.dither_seed) : json(); };
      e.nullable = true;
      t.push_back(e);
    }

    t.push_back(string_entry(
        "lr-schedule",
        &TrainConfig::lr_schedule,
        {"constant", "cosine", "step"},
        "constant, cosine decay to --min-lr over the run, or step decay at --lr-milestones",
        sched,
        "cosine"));
    t.push_back(float_entry("warmup-epochs", &TrainConfig::warmup_epochs, at_least(0), "linear warmup length (may be fractional)", sched, "0"));
    {
      Entry e;
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
        {"auto", "allreduce", "majority-vote", "ef-sign"},
        "how workers combine their steps: allreduce (fp32 gradient average, any optimizer), majority-vote (1-bit "
        "signs, voted; signsgd, signum, dithered-signum, hybrid, which averages gradients after its switch), "
        "ef-sign (1-bit signs and a scale per tensor, averaged, with each worker's own error feedback; "
        "ef-signsgd). auto = majority-vote for the sign optimizers, ef-sign for ef-signsgd, allreduce otherwise",
        dist,
        "auto"));
    t.push_back(string_entry(
        "vote-ties",
        &TrainConfig::vote_ties,
        {"zero", "shared-coin"},
        "a tied vote (even --nproc): zero = the coordinate does not move (costs a second bit plane from 4 "
        "workers on; 2 workers need none); shared-coin = a fair coin drawn by the shard's owner",
        dist,
        "zero"));
    t.push_back(string_entry(
        "vote-zero-sign",
        &TrainConfig::vote_zero_sign,
        {"random", "positive"},
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
    return t;
  }();
  return entries;
}

std::string normalize_key(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

const Entry* find_entry(const std::string& key) {
  const std::string k = normalize_key(key);
  for (const auto& e : table())
    if (e.info.key == k)
      return &e;
  return nullptr;
}

// The closest known key, for "did you mean" hints.
std::string closest_key(const std::string& key) {
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j)
      row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        const size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
        diag = up;
      }
    }
    return row[b.size()];
  };
  std::string best;
  size_t best_d = 4;
  for (const auto& e : table()) {
    const size_t d = distance(normalize_key(key), e.info.key);
    if (d < best_d) {
      best_d = d;
      best = e.info.key;
    }
  }
  return best;
}

[[noreturn]] void unknown_key(const std::string& origin, const std::string& key) {
  const std::string hint = closest_key(key);
  throw ConfigError(
      origin + ": unknown option '" + key + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
      "; `signopt train --help` lists every option");
}

// What a config file's value is, for messages: `the string "2"`, `the boolean true`, `the number 2.5`.
std::string describe(const json& v) {
  if (v.is_string())
    return "the string " + v.dump();
  if (v.is_boolean())
    return "the boolean " + v.dump();
  if (v.is_number_integer()) // signed or unsigned
    return "the whole number " + v.dump();
  if (v.is_number_float())
    return "the number " + (std::isfinite(v.get<double>()) ? v.dump() : format_number(v.get<double>()));
  if (v.is_array())
    return "the list " + v.dump();
  if (v.is_object())
    return "a table";
  return v.dump();
}

// A config file's value (JSON, or TOML converted by toml_to_json) as option text, when its type is the
// option's: a number for float options (whole numbers too), a whole number for int and uint options,
// true/false for bool options, a string for string and choice options, a list of whole numbers for
// int-list options. "2" for batch-size, 3 for optimizer, true for lr and 2.5 for epochs are refused.
std::string typed_text(const Entry& e, const json& v, const std::string& origin) {
  const std::string& kind = e.info.kind;
  std::string expected;
  if (kind == "float") {
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (!std::isfinite(d))
        throw ConfigError(origin + ": " + format_number(d) + " is not a finite number");
      return format_number(d);
    }
    if (v.is_number_integer())
      return v.dump();
    expected = "a number";
  } else if (kind == "int" || kind == "uint") {
    if (v.is_number_integer())
      return v.dump();
    expected = "a whole number";
  } else if (kind == "bool") {
    if (v.is_boolean())
      return v.get<bool>() ? "true" : "false";
    expected = "true or false";
  } else if (kind == "string" || kind == "choice") {
    if (v.is_string())
      return v.get<std::string>();
    expected = kind == "choice" ? "a string (one of " + join(e.info.choices, ", ") + ")" : "a string";
  } else if (kind == "int-list") {
    if (v.is_array() && std::all_of(v.begin(), v.end(), [](const json& item) { return item.is_number_integer(); })) {
      std::vector<std::string> items;
      for (const auto& item : v)
        items.push_back(item.dump());
      return join(items, ",");
    }
    expected = "a list of whole numbers, e.g. [30, 60]";
  } else {
    throw ConfigError(origin + ": option of unknown kind '" + kind + "'"); // not reached: the table's kinds
  }
  const bool quoted = v.is_string() && (kind == "float" || kind == "int" || kind == "uint" || kind == "bool");
  throw ConfigError(
      origin + ": expected " + expected + ", got " + describe(v) + (quoted ? " (write it without quotes)" : ""));
}

// Parses JSON text holding a table of options. nlohmann keeps the last of two equal keys silently and reports
// a number out of range (1e999) as out_of_range without the file: both are ConfigErrors here naming `origin`
// and the key. Syntax errors propagate as json::parse_error for the caller's message.
json parse_json_options(const std::string& text, const std::string& origin) {
  std::string last_key, repeated;
  std::set<std::string> keys;
  const json::parser_callback_t on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && parsed.is_string()) { // a key of the top-level table
      last_key = parsed.get<std::string>();
      if (!keys.insert(last_key).second && repeated.empty())
        repeated = last_key;
    }
    return true;
  };
  json object;
  try {
    object = json::parse(text, on_event);
  } catch (const json::parse_error&) {
    throw;
  } catch (const json::exception& e) { // 406: a number out of range (1e999); nothing else is expected here
    const std::string where = origin + (last_key.empty() ? std::string() : ": " + last_key);
    if (e.id == 406)
      throw ConfigError(where + ": number out of range (" + e.what() + "); a value must be a finite double");
    throw ConfigError(where + ": invalid JSON: " + e.what());
  }
  if (!repeated.empty())
    throw ConfigError(
        origin + ": " + repeated + ": the key appears twice (a JSON reader would silently keep the last value); keep one");
  return object;
}

// Applies a flat JSON object of options; `preset` keys first so explicit keys win over the preset. Every value must
// have the option's type and a key may appear once in any spelling (batch-size, batch_size). null means "unset"
// only where `null_is_unset` (config.json read back by from_json_text(), where to_json_text() writes null for an
// optional option that was not given); in a user's file it is refused.
void apply_object(TrainConfig& config, const json& object, const std::string& file, bool null_is_unset) {
  if (!object.is_object())
    throw ConfigError(file + ": expected a table of options at the top level");
  std::map<std::string, std::string> spelling; // normalized key -> the key as the file spells it
  for (const auto& [key, value] : object.items()) {
    const auto seen = spelling.find(normalize_key(key));
    if (seen != spelling.end())
      throw ConfigError(
          file + ": " + key + ": the same option as " + seen->second + ", which the file also sets (set twice); keep one");
    spelling.emplace(normalize_key(key), key);
  }
  for (const auto& [key, value] : object.items()) {
    if (normalize_key(key) == "preset") {
      if (!value.is_string())
        throw ConfigError(file + ": " + key + ": expected a string (a preset's name), got " + describe(value));
      if (!value.get<std::string>().empty()) // config.json records "" for a run without a preset
        apply_preset(config, value.get<std::string>());
    }
  }
  for (const auto& [key, value] : object.items()) {
    // config.json records the version that wrote it; informative, not an option.
    if (normalize_key(key) == "preset" || key == "signopt_version")
      continue;
    const std::string origin = file + ": " + key;
    if (value.is_object())
      throw ConfigError(origin + ": nested tables are not supported; write every option at the top level");
    const Entry* e = find_entry(key);
    if (e == nullptr)
      unknown_key(file, key);
    if (value.is_null()) {
      if (null_is_unset && e->nullable)
        continue; // an optional option that was not given: resolve_defaults() fills it in
      throw ConfigError(
          origin + ": null is not a value; leave the key out for the default (" + e->info.default_text + ")");
    }
    e->set(config, typed_text(*e, value, origin), origin);
  }
}

json toml_to_json(const toml::node& node, const std::string& origin) {
  if (const auto* t = node.as_table()) {
    json out = json::object();
    for (const auto& [k, v] : *t)
      out[std::string(k.str())] = toml_to_json(v, origin + ": " + std::string(k.str()));
    return out;
  }
  if (const auto* a = node.as_array()) {
    json out = json::array();
    for (const auto& v : *a)
      out.push_back(toml_to_json(v, origin));
    return out;
  }
  if (const auto* s = node.as_string())
    return json(s->get());
  if (const auto* i = node.as_integer())
    return json(i->get());
  if (const auto* f = node.as_floating_point())
    return json(f->get());
  if (const auto* b = node.as_boolean())
    return json(b->get());
  throw ConfigError(origin + ": unsupported TOML value (dates and times are not options)");
}

} // namespace

const std::vector<OptionInfo>& train_options() {
  static const std::vector<OptionInfo> infos = [] {
    std::vector<OptionInfo> out;
    for (const auto& e : table())
      out.push_back(e.info);
    return out;
  }();
  return infos;
}

const std::vector<std::string>& optimizer_names() {
  return kOptimizers;
}

const std::vector<std::pair<std::string, std::string>>& presets() {
  static const std::vector<std::pair<std::string, std::string>> list = {
      {"paper-cifar10",
       "the paper's CIFAR-10 setting: resnet18, batch 128, 200 epochs, cosine, coupled weight decay 5e-4, "
       "augmentation; optimizer defaults of docs/algorithms (hybrid lr 1e-4, switch at half the epochs)"},
      {"paper-cifar100", "the same on CIFAR-100"},
      {"fmnist-cnn",
       "CPU-sized Fashion-MNIST: cnn, batch 128, 4 epochs, cosine, no weight decay; sign methods and lion lr 1e-3, "
       "hybrid post-switch momentum 0.9 (about 2 minutes on 2 cores)"},
  };
  return list;
}

void apply_preset(TrainConfig& c, const std::string& name) {
  if (name == "paper-cifar10" || name == "paper-cifar100") {
    c.dataset = name == "paper-cifar10" ? "cifar10" : "cifar100";
    c.model = "resnet18";
    c.batch_size = 128;
    c.epochs = 200;
    c.lr_schedule = "cosine";
    c.weight_decay = 5e-4;
    c.augment = "on";
  } else if (name == "fmnist-cnn") {
    c.dataset = "fashion-mnist";
    c.model = "cnn";
    c.batch_size = 128;
    c.epochs = 4;
    c.lr_schedule = "cosine";
    c.weight_decay = 0.0;
    c.post_switch_momentum = 0.9;
  } else {
    std::vector<std::string> names;
    for (const auto& p : presets())
      names.push_back(p.first);
    throw ConfigError("unknown preset '" + name + "' (valid presets: " + join(names, ", ") + ")");
  }
  c.preset = name;
}

void set_option(TrainConfig& config, const std::string& key, const std::string& value, const std::string& origin) {
  const Entry* e = find_entry(key);
  if (e == nullptr)
    unknown_key(origin, key);
  if (e->info.key == "preset") {
    apply_preset(config, value);
    return;
  }
  e->set(config, value, origin);
}

void load_config_file(TrainConfig& config, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw ConfigError("config file " + path + " cannot be opened (missing or unreadable)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  const bool is_json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  const bool is_toml = path.size() >= 5 && path.compare(path.size() - 5, 5, ".toml") == 0;
  if (!is_json && !is_toml)
    throw ConfigError("config file " + path + ": unknown format (name it *.toml or *.json)");
  json object;
  if (is_json) {
    try {
      object = parse_json_options(text, path);
    } catch (const json::parse_error& e) {
      throw ConfigError("config file " + path + ": invalid JSON: " + e.what());
    }
  } else {
    try {
      const toml::table t = toml::parse(text, path);
      object = toml_to_json(t, path);
    } catch (const toml::parse_error& e) {
      const auto& where = e.source().begin;
      throw ConfigError(
          "config file " + path + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
          ": invalid TOML: " + std::string(e.description()));
    }
  }
  apply_object(config, object, path, /*null_is_unset=*/false);
}

TrainConfig parse_train_args(const std::vector<std::string>& args, std::string* resume_dir) {
  TrainConfig config;
  // Pass 1: --config and --preset (the file, then the preset, then flags in order).
  std::vector<std::pair<std::string, std::string>> flags;
  std::string config_file, preset;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    if (flag.rfind("--", 0) != 0)
      throw ConfigError("unexpected argument '" + flag + "' (options start with --; see signopt train --help)");
    std::string value;
    bool has_value = false;
    if (const auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_value = true;
    }
    const std::string key = flag.substr(2);
    const bool known = key == "config" || key == "resume" || find_entry(key) != nullptr;
    if (!known || key.find('_') != std::string::npos)
      unknown_key("command line", flag);
    if (!has_value) {
      if (i + 1 >= args.size())
        throw ConfigError(flag + " needs a value (see signopt train --help)");
      value = args[++i];
    }
    if (key == "config")
      config_file = value;
    else if (key == "preset")
      preset = value;
    else if (key == "resume") {
      if (resume_dir == nullptr)
        throw ConfigError("--resume is not accepted here");
      *resume_dir = value;
    } else
      flags.emplace_back(key, value);
  }
  if (!config_file.empty())
    load_config_file(config, config_file);
  if (!preset.empty())
    apply_preset(config, preset);
  for (const auto& [key, value] : flags)
    set_option(config, key, value, "--" + key);
  return config;
}

void resolve_defaults(TrainConfig& c) {
  const std::string& o = c.optimizer;
  const bool sign_family = o == "signsgd" || o == "signum" || o == "dithered-signum" || o == "hybrid";
  const bool fmnist = c.preset == "fmnist-cnn";
  if (!c.lr) {
    if (o == "sgd" || o == "ef-signsgd")
      c.lr = 0.1;
    else if (o == "adam" || o == "adamw")
      c.lr = 1e-3;
    else
      c.lr = fmnist ? 1e-3 : 1e-4;
  }
  if (!c.momentum)
    c.momentum = o == "ef-signsgd" ? 0.0 : 0.9;
  if (!c.beta1)
    c.beta1 = 0.9;
  if (!c.beta2)
    c.beta2 = o == "lion" ? 0.99 : 0.999;
  if (!c.eps)
    c.eps = 1e-8;
  if (!c.decoupled_weight_decay)
    c.decoupled_weight_decay = o == "lion" || o == "adamw";
  if (!c.dither_seed)
    c.dither_seed = c.seed;
  if (o == "dithered-signum")
    c.dither = true;
  if (c.dither && !sign_family)
    throw ConfigError(
        "--dither is available with signsgd, signum, dithered-signum and hybrid, not with --optimizer " + o);
  if ((o == "sgd" || o == "adam") && c.decoupled_weight_decay.value())
    throw ConfigError("--decoupled-weight-decay true is not available with " + o + " (use adamw, or a sign optimizer)");
  if (o == "adamw" && !c.decoupled_weight_decay.value())
    throw ConfigError("adamw always decouples weight decay; use --optimizer adam for coupled decay");
  if (c.nesterov && (o != "sgd" || c.momentum.value() == 0 || c.dampening != 0))
    throw ConfigError("--nesterov needs --optimizer sgd with momentum > 0 and dampening 0");
  if (o == "hybrid") {
    if (c.switch_trigger == "epoch") {
      if (c.switch_epoch == 0)
        c.switch_epoch = std::max<int64_t>(1, c.epochs / 2);
      if (c.switch_epoch > c.epochs)
        throw ConfigError(
            "--switch-epoch " + std::to_string(c.switch_epoch) + " is after the last epoch (" + std::to_string(c.epochs) +
            "); choose 1.." + std::to_string(c.epochs) + " or --switch-trigger never");
    }
    if (c.switch_trigger == "step" && c.switch_step == 0)
      throw ConfigError("--switch-trigger step needs --switch-step N (the last sign step, >= 1)");
    if (c.calibration == "fixed" && c.fixed_lr <= 0)
      throw ConfigError("--calibration fixed needs --fixed-lr R > 0 (the SGD rate after the switch)");
    if (c.calibration == "fixed" && c.switch_trigger == "auto")
      throw ConfigError(
          "--switch-trigger auto tests the calibration's convergence and --calibration fixed has none; use "
          "--switch-trigger step or epoch");
  }
  if (c.log_calibration && o != "signum" && o != "dithered-signum" && o != "hybrid")
    throw ConfigError(
        "--log-calibration is for signum and dithered-signum (the hybrid always logs its calibration), not --optimizer " +
        o);
  const bool votes = sign_family;
  if (c.aggregation == "auto")
    c.aggregation = votes ? "majority-vote" : o == "ef-signsgd" ? "ef-sign" : "allreduce";
  if (c.aggregation == "majority-vote" && !votes)
    throw ConfigError(
        "--aggregation majority-vote needs a sign optimizer (signsgd, signum, dithered-signum, hybrid), not --optimizer " +
        o + "; use --aggregation allreduce" + (o == "ef-signsgd" ? " or ef-sign" : ""));
  if (c.aggregation == "ef-sign" && o != "ef-signsgd")
    throw ConfigError("--aggregation ef-sign is EF-SignSGD's exchange; it needs --optimizer ef-signsgd, not " + o);
  if (c.lr_schedule == "step" && c.lr_milestones.empty())
    throw ConfigError("--lr-schedule step needs --lr-milestones (e.g. 100,150)");
  if (c.warmup_epochs >= static_cast<double>(c.epochs))
    throw ConfigError("--warmup-epochs " + format_number(c.warmup_epochs) + " must be shorter than --epochs " + std::to_string(c.epochs));
  if (c.min_lr >= c.lr.value() && c.lr_schedule == "cosine")
    throw ConfigError("--min-lr " + format_number(c.min_lr) + " must be below --lr " + format_number(*c.lr));
}

std::string to_json_text(const TrainConfig& config) {
  json out = json::object();
  out["signopt_version"] = SIGNOPT_VERSION_STRING;
  for (const auto& e : table())
    out[e.info.key] = e.get(config);
  return out.dump(2) + "\n";
}

TrainConfig from_json_text(const std::string& text, const std::string& origin) {
  json object;
  try {
    object = parse_json_options(text, origin);
  } catch (const json::parse_error& e) {
    throw ConfigError(origin + ": invalid JSON: " + e.what());
  }
  if (!object.is_object())
    throw ConfigError(origin + ": expected a JSON object");
  object.erase("signopt_version");
  TrainConfig config;
  std::string preset;
  if (object.contains("preset")) {
    if (!object["preset"].is_string())
      throw ConfigError(origin + ": preset: expected a string (a preset's name), got " + describe(object["preset"]));
    preset = object["preset"].get<std::string>();
  }
  object.erase("preset");
  // to_json_text() writes null for an optional option that was not given: unset here, refused in a user's file.
  apply_object(config, object, origin, /*null_is_unset=*/true);
  config.preset = preset; // informative only: the values above already include it
  return config;
}

std::string train_help() {
  std::ostringstream s;
  s << "usage: signopt train [--config FILE.toml|FILE.json] [--preset NAME] [--resume DIR] [options]\n\n"
       "Trains a classifier with a signopt optimizer or a baseline and writes a run directory (config.json,\n"
       "metrics.csv, summary.json, checkpoint.pt). Options come from defaults, then the config file (flat keys\n"
       "named as below, with - or _), then the preset, then the command line. Every flag takes a value\n"
       "(--flag VALUE or --flag=VALUE; booleans: true/false).\n\n"
       "  --config FILE            TOML or JSON file of options\n"
       "  --resume DIR             continue the run in DIR from its checkpoint with its saved config.json; only\n"
       "                           --threads and --progress may be given with it\n";
  std::string group;
  for (const auto& e : table()) {
    if (e.info.group != group) {
      group = e.info.group;
      s << "\n" << group << ":\n";
    }
    std::string head = "  --" + e.info.key;
    if (e.info.kind == "choice")
      head += " " + join(e.info.choices, "|");
    else
      head += e.info.kind == "bool" ? " BOOL" : e.info.kind == "int-list" ? " LIST" : e.info.kind == "string" ? " TEXT" : e.info.kind == "float" ? " X" : " N";
    std::string text = e.info.help + " (default: " + e.info.default_text + ")";
    if (head.size() < 27)
      s << head << std::string(27 - head.size(), ' ');
    else
      s << head << "\n" << std::string(27, ' ');
    // Wrap the help at ~110 columns.
    size_t col = 27;
    std::istringstream words(text);
    std::string word;
    bool first = true;
    while (words >> word) {
      if (!first && col + 1 + word.size() > 112) {
        s << "\n" << std::string(27, ' ');
        col = 27;
        first = true;
      }
      s << (first ? "" : " ") << word;
      col += word.size() + (first ? 0 : 1);
      first = false;
    }
    s << "\n";
  }
  s << "\nPresets (--preset NAME):\n";
  for (const auto& [name, help] : presets())
    s << "  " << name << "\n      " << help << "\n";
  return s.str();
}

} // namespace signopt::train

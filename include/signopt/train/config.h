// The trainer's configuration: one table of options drives the command-line flags, the config
// files (TOML or JSON), the presets, `--help` and the run directory's config.json.
#pragma once

#include <signopt/optim/registry.h>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace signopt::train {

/// A bad flag, config key or value. The message names the flag/key, the value and what is valid.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Upper limits of the counts in the option table. Each of these counts allocates, loops or forks, so a
// value past its limit is refused (ConfigError, with the reason) instead of exhausting memory, overflowing
// a step counter or starting a million processes. The trainer and the launcher may rely on them.

/// --epochs, --switch-epoch and each of --lr-milestones: more epochs than that is not a training run, and
/// epochs x steps per epoch must fit in 64 bits.
inline constexpr int64_t kMaxEpochs = 100000;
/// --max-steps, --switch-step, --handover-steps, --dither-horizon, --log-every, --probe-every and
/// --checkpoint-every: 2^40 steps is years of training; step counters stay far from 64-bit overflow.
inline constexpr int64_t kMaxSteps = int64_t{1} << 40;
/// --batch-size and --eval-batch-size (per worker): a batch is one tensor in memory, and 2^20 CIFAR
/// images are 12 GiB of float32.
inline constexpr int64_t kMaxBatchSize = int64_t{1} << 20;
/// --train-subset: more images than any dataset signopt reads holds (the largest has 60000).
inline constexpr int64_t kMaxImages = int64_t{1} << 24;
/// --synthetic-train and --synthetic-test: the synthetic set is generated in memory (784 bytes per image,
/// 8x that while its statistics are computed).
inline constexpr int64_t kMaxSyntheticImages = int64_t{1} << 20;
/// --threads (per worker): more threads than this only slow training; LibTorch/libgomp crash far beyond it.
inline constexpr int64_t kMaxThreads = 1024;
/// --nproc (workers of one job): each is a process with its own model, data and connections.
inline constexpr int64_t kMaxWorkers = 256;

/// Everything a training run needs. Fields marked "optional" are resolved from the chosen
/// optimizer's defaults by resolve_defaults(); config.json always holds resolved values.
struct TrainConfig {
  // Data and model.
  std::string dataset = "fashion-mnist";
  std::string data_dir; ///< "" = the dataset's default directory.
  std::string model = "cnn";
  std::string augment = "auto"; ///< auto (on for CIFAR) | on | off.
  int64_t train_subset = 0; ///< 0 = all training images.
  double val_fraction = 0.0; ///< Held-out share of the training set, evaluated every epoch.
  int64_t synthetic_train = 6000; ///< Sizes of the synthetic dataset.
  int64_t synthetic_test = 1000;

  // Training loop.
  int64_t epochs = 4;
  int64_t batch_size = 128;
  int64_t eval_batch_size = 1000;
  int64_t max_steps = 0; ///< 0 = no limit; stops after this many optimizer steps.
  uint64_t seed = 0;
  int64_t threads = 0; ///< 0 = all cores.
  std::string device = "cpu";
  /// float32 | bfloat16 | float16: the model's parameters (and its inputs). 16-bit runs take SignSGD/Signum's
  /// 16-bit step (docs/optimizers.md, "Low-precision parameters"), or the other optimizers' LibTorch paths.
  std::string param_dtype = "float32";

  // Optimizer.
  std::string optimizer = "hybrid";
  std::optional<double> lr;
  std::optional<double> momentum; ///< sgd, signum, ef-signsgd (beta), hybrid has beta1.
  std::optional<double> beta1; ///< adam, adamw, lion, hybrid.
  std::optional<double> beta2; ///< adam, adamw, lion, hybrid (its lambda EMA).
  std::optional<double> eps; ///< adam, adamw, hybrid.
  double weight_decay = 0.0;
  std::optional<bool> decoupled_weight_decay; ///< sign optimizers: default coupled (Lion: decoupled).
  bool nesterov = false; ///< sgd.
  double dampening = 0.0; ///< sgd.
  std::string nonfinite = "skip"; ///< skip | throw (sign optimizers).
  // Hybrid.
  std::string switch_trigger = "epoch"; ///< step | epoch | auto | never.
  int64_t switch_step = 0;
  int64_t switch_epoch = 0; ///< 0 = half the epochs (at least 1).
  double auto_tol = 1e-3;
  bool bias_correction = true;
  std::string auto_criterion = "relative"; ///< relative | swats.
  std::string calibration = "norm"; ///< swats | least-squares | norm | momentum-ls | fixed.
  std::string calibration_scope = "global"; ///< global | per-tensor.
  double calibration_scale = 1.0;
  double fixed_lr = 0.0; ///< calibration fixed: the SGD rate.
  bool log_calibration = false; ///< signum: log every estimator (runs the hybrid with the never trigger).
  double post_switch_momentum = 0.0;
  std::string post_switch_convention = "dampened"; ///< dampened | undampened.
  std::string post_switch_init = "zero"; ///< zero | momentum.
  int64_t handover_steps = 0;
  double fallback_lr = 0.01;
  bool track_after_switch = false;
  // Dithering (dithered-signum always; signsgd, signum and hybrid with --dither on).
  bool dither = false;
  double dither_alpha = 1.0;
  std::string dither_scale = "rms"; ///< absolute | rms | max3sigma | meanabs.
  std::string dither_schedule = "power"; ///< constant | power | linear | cosine | exponential.
  double dither_gamma = 0.55;
  double dither_alpha_min = 0.0;
  int64_t dither_horizon = 0; ///< 0 with linear/cosine = the run's total steps (or epochs).
  double dither_decay_rate = 0.999;
  std::string dither_distribution = "gaussian"; ///< gaussian | uniform.
  std::string dither_draw = "additive"; ///< additive | threshold (docs/optimizers.md, "The threshold draw").
  std::string dither_scale_from = "current"; ///< current | previous (docs/optimizers.md, "The one-pass scale").
  std::string dither_target = "momentum"; ///< momentum | gradient.
  std::string dither_clock = "step"; ///< step | epoch.
  std::optional<uint64_t> dither_seed; ///< Default: --seed.
  std::string rounding = "stochastic"; ///< 16-bit parameters: stochastic | nearest.
  std::optional<uint64_t> rounding_seed; ///< Default: --seed.
  std::string momentum_dtype = "float32"; ///< signum with 16-bit parameters: float32 | parameter.

  // Learning-rate schedule.
  std::string lr_schedule = "cosine"; ///< constant | cosine | step.
  double warmup_epochs = 0.0; ///< Linear warmup from lr/warmup-steps to lr.
  std::vector<int64_t> lr_milestones; ///< step schedule: epochs after which lr *= lr_decay.
  double lr_decay = 0.1;
  double min_lr = 0.0; ///< cosine floor.

  // Distributed data-parallel training (docs/distributed.md).
  /// Workers of the job. > 1 without a launcher: `signopt train` starts that many local workers itself; under
  /// a launcher (RANK/WORLD_SIZE set) it is WORLD_SIZE (1 = take it from the launcher).
  int64_t nproc = 1;
  /// How workers combine their updates: auto (resolved: allreduce for sgd, adam, adamw, lion; majority-vote
  /// for signsgd, signum, dithered-signum, hybrid; ef-sign for ef-signsgd) | allreduce | majority-vote | ef-sign.
  std::string aggregation = "auto";
  std::string vote_ties = "zero"; ///< zero | shared-coin (comm::TieRule).
  std::string vote_zero_sign = "random"; ///< random | positive (comm::ZeroSign).
  double dist_timeout = 300; ///< Seconds any collective may wait for a peer before the job fails.

  // Run directory and logging.
  std::string out; ///< "" = runs/<timestamp>-<optimizer>.
  int64_t log_every = 50; ///< Steps between metric rows (and progress lines without a terminal).
  /// Steps between rows of probe.csv, the running gradient-noise estimates (diag::RunningNoiseMonitor); 0 = off.
  int64_t probe_every = 0;
  double probe_beta = 0.98; ///< EMA factor of the running noise estimates, in (0, 1).
  int64_t checkpoint_every = 0; ///< Steps between checkpoints; 0 = at the end of each epoch only.
  int64_t keep_checkpoints = 2; ///< Checkpoints kept (checkpoint.pt, checkpoint.1.pt, ...); a damaged one falls back.
  std::string progress = "auto"; ///< auto | bar | lines | none.
  std::string preset; ///< The preset that was applied (recorded, informative).
};

/// One option of the table: its key (flag --key-with-dashes, config key with - or _), kind,
/// allowed choices, help text and the group it is listed under in --help.
struct OptionInfo {
  std::string key;
  std::string kind; ///< int, uint, float, bool, string, choice, int-list.
  std::vector<std::string> choices;
  std::string help;
  std::string group;
  std::string default_text; ///< As shown in --help.
};

/// The option table, in --help order.
const std::vector<OptionInfo>& train_options();

/// The preset names and one line each.
const std::vector<std::pair<std::string, std::string>>& presets();

/// Applies a named preset (ConfigError for an unknown name, listing the valid ones).
void apply_preset(TrainConfig& config, const std::string& name);

/// The learning rate preset `preset` gives optimizers of `family` where --lr is not set (its file's
/// lr_by_family), or nothing.
std::optional<double> preset_lr(const std::string& preset, OptimizerFamily family);

/// Sets option `key` (dashes or underscores) from its text form, checking kind, range and
/// choices. `origin` names where the value came from (e.g. "--lr" or "run.toml: lr"). Numbers must be
/// plain decimals: 1e-3, -2, 0.5, not 0x10, inf, nan, " 5" or 1e999; whole numbers must lie within the
/// option's limits (the kMax* constants above).
void set_option(TrainConfig& config, const std::string& key, const std::string& value, const std::string& origin);

/// Parses `signopt train` arguments: --config FILE and --preset NAME are applied first (file,
/// then preset named in the file or on the command line, then the other keys), flags override.
/// `--resume DIR` is returned through `resume_dir`. Throws ConfigError.
TrainConfig parse_train_args(const std::vector<std::string>& args, std::string* resume_dir = nullptr);

/// Loads a TOML (.toml) or JSON (.json) config file into `config` (flat keys as in --help). Strict:
/// every value must have the option's type (a number for float options, a whole number for int
/// options, true/false, a string, a list of whole numbers), null is refused (leave the key out for the
/// default), a key may appear once (and batch-size and batch_size are one key), and a JSON number out
/// of range (1e999) is an error naming the file and the key.
void load_config_file(TrainConfig& config, const std::string& path);

/// Fills the optional fields from the optimizer's defaults, derives switch_epoch, dither seed and
/// horizons, and checks cross-option consistency. Throws ConfigError.
void resolve_defaults(TrainConfig& config);

/// The registry row of config.optimizer (ConfigError naming the valid names otherwise).
const OptimizerRow& optimizer_row(const TrainConfig& config);

/// The resolved config as JSON text (config.json); from_json_text() reads it back exactly. Unset
/// optional options (lr, momentum, ... before resolve_defaults()) are written as null, which
/// from_json_text() reads as unset; otherwise it is as strict as load_config_file().
std::string to_json_text(const TrainConfig& config);
TrainConfig from_json_text(const std::string& text, const std::string& origin);

/// The full `signopt train --help` text.
std::string train_help();

/// Optimizers by name, for --help and error messages.
const std::vector<std::string>& optimizer_names();

} // namespace signopt::train

// What every signopt optimizer shares: argument checks, the non-finite gradient policy, the
// epoch clock, and the global counters saved with the optimizer.
#pragma once

#include <signopt/optim/enums.h>
#include <signopt/compat.h>
#include <signopt/kernels/fused.h>
#include <signopt/optim/aggregator.h>
#include <signopt/optim/dither.h>

#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>
#include <torch/serialize/archive.h>
#include <torch/utils.h>

#include <array>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace signopt {

namespace detail {

/// Throws std::invalid_argument("<owner>: <parts...>") when `ok` is false.
template <typename... Parts>
void check_arg(bool ok, const std::string& owner, const Parts&... parts) {
  if (!ok) {
    std::ostringstream message;
    message << owner << ": ";
    (message << ... << parts);
    throw std::invalid_argument(message.str());
  }
}

/// Base of every signopt optimizer: a torch::optim::Optimizer plus the counters and clock that
/// do not belong to one parameter.
class SignoptOptimizer : public torch::optim::Optimizer {
 public:
  using torch::optim::Optimizer::Optimizer;

  /// Steps skipped because a gradient was not finite (NonFinitePolicy::Skip).
  int64_t skipped_steps() const {
    return skipped_steps_;
  }
  /// Tells the optimizer the current epoch (0-based); used by DitherClock::Epoch.
  void set_epoch(int64_t epoch) {
    epoch_ = epoch;
  }
  int64_t epoch() const {
    return epoch_;
  }
  /// Distributed runs: the hook that turns this worker's sign directions into the workers' common one
  /// (e.g. signopt::comm::MajorityVote); nullptr (the default) = a single worker. With an aggregator the
  /// sign optimizers take the unfused path (compute the local sign, exchange, then apply it).
  /// EF-SignSGD exchanges its scaled signs through aggregate_scaled_signs; Lion does not use it.
  void set_aggregator(std::shared_ptr<SignAggregator> aggregator) {
    aggregator_ = std::move(aggregator);
  }
  const std::shared_ptr<SignAggregator>& aggregator() const {
    return aggregator_;
  }
  /// alpha_t of the most recent dithered step (0 when no dithering has run).
  double last_dither_alpha() const {
    return last_dither_alpha_;
  }
  /// The dither std s_t = alpha_t x base that each parameter's sign saw in the most recent step, by
  /// parameter index over the param groups in order: 0 for a step without dithering, NaN for a parameter
  /// not stepped then (no gradient, a skipped step) or stepped where s_t is not reported (a packed
  /// distributed exchange, or a data-dependent scale on a CUDA tensor, which would synchronize). Read by
  /// `signopt train --probe-every`.
  const std::vector<double>& last_dither_stds() const {
    return last_dither_stds_;
  }

  // The members below are for the optimizers' step() implementations.

  /// Checks every defined gradient; returns false (and counts a skip) when the step must be
  /// skipped, throws under NonFinitePolicy::Throw (each group's `nonfinite()` option decides).
  template <typename Options>
  bool gradients_finite_() {
    int64_t index = 0;
    for (auto& group : param_groups()) {
      const auto& options = static_cast<const Options&>(group.options());
      for (auto& p : group.params()) {
        if (p.grad().defined() && !grad_is_finite(p.grad())) {
          if (options.nonfinite() == NonFinitePolicy::Throw) {
            throw std::runtime_error(
                "signopt: gradient of parameter " + std::to_string(index) +
                " contains NaN or infinity; no parameter was changed");
          }
          ++skipped_steps_;
          return false;
        }
        ++index;
      }
    }
    return true;
  }

  /// Validates the defaults and every param group's options (each Options has validate()).
  template <typename Options>
  void validate_groups_(const Options& defaults) const {
    defaults.validate();
    for (const auto& group : param_groups()) {
      static_cast<const Options&>(group.options()).validate();
    }
  }

  /// LibTorch's step(closure) convention: the closure runs with grad mode on, its loss is returned.
  static torch::Tensor run_closure(const LossClosure& closure) {
    if (!closure) {
      return {};
    }
    torch::AutoGradMode enable_grad(true);
    return closure();
  }

  /// torch::optim's serialization of state and param groups plus signopt's global counters.
  template <typename State, typename Options>
  void save_as_(torch::serialize::OutputArchive& archive) const {
    torch::optim::serialize<State, Options>(archive, *this);
    save_common(archive);
  }
  template <typename State, typename Options>
  void load_as_(torch::serialize::InputArchive& archive) {
    torch::optim::serialize<State, Options>(archive, *this);
    load_common(archive);
  }

  /// A zeroed int64 bucket of `words` packed words for the packed exchange (sign_descent.h): plane 0 holds
  /// the signs, plane 1 the zeros. Kept between steps (a fresh buffer per step costs page faults); valid
  /// until the next call.
  torch::Tensor packed_bucket_(int plane, int64_t words) {
    auto& t = packed_buckets_[plane];
    if (!t.defined() || t.numel() != words) {
      t = torch::zeros({words}, torch::kLong);
    } else {
      t.zero_();
    }
    return t;
  }

  /// Starts a step's record of last_dither_stds(): NaN for every parameter.
  void begin_dither_record_() {
    size_t count = 0;
    for (const auto& group : param_groups()) {
      count += group.params().size();
    }
    last_dither_stds_.assign(count, std::numeric_limits<double>::quiet_NaN());
  }
  /// Records the dither std a parameter's sign saw in this step.
  void record_dither_std_(int64_t param_index, double s) {
    if (param_index >= 0 && static_cast<size_t>(param_index) < last_dither_stds_.size()) {
      last_dither_stds_[static_cast<size_t>(param_index)] = s;
    }
  }

  /// t0 for the dither schedule: the epoch (epoch clock) or step - 1.
  int64_t dither_tick(const DitherOptions& d, int64_t step) const {
    return d.clock() == DitherClock::Epoch ? epoch_ : step - 1;
  }

  /// t0 of a step of the parameter at `step` (0 without dithering); records alpha_t for
  /// last_dither_alpha().
  int64_t begin_dither(const std::optional<DitherOptions>& dither, int64_t step) {
    if (!dither) {
      return 0;
    }
    const int64_t tick = dither_tick(*dither, step);
    last_dither_alpha_ = dither_alpha(*dither, tick);
    return tick;
  }

 protected:
  void save_common(torch::serialize::OutputArchive& archive) const;
  void load_common(torch::serialize::InputArchive& archive);

  static bool grad_is_finite(const torch::Tensor& g);

  int64_t skipped_steps_ = 0;
  int64_t epoch_ = 0;
  std::shared_ptr<SignAggregator> aggregator_;
  double last_dither_alpha_ = 0.0;
  std::vector<double> last_dither_stds_;
  torch::Tensor packed_buckets_[2];
};

/// Checks the options shared by SignSGD, Signum and the hybrid's sign phase.
void check_common(const std::string& owner, double lr, double weight_decay, const std::optional<DitherOptions>& dither);

/// The fused kernels' view of one dithered step (disabled when `dither` is empty).
kernels::DitherArgs fused_dither_args(
    const std::optional<DitherOptions>& dither,
    int64_t tick,
    int64_t step,
    int64_t param_index);

/// Under DitherScaleFrom::Previous (with a data-dependent scale), points `a` at the parameter's stored base
/// `base` (one float64 CPU value, created NaN on the parameter's first step; the step stores base(x_t) there).
/// Throws std::invalid_argument for a parameter off the CPU.
void attach_scale_state(kernels::DitherArgs& a, torch::Tensor& base, const torch::Tensor& p);

/// Reads/writes an options field with a default when absent (for forward-compatible loads).
void write_double(torch::serialize::OutputArchive& a, const std::string& key, double v);
void write_int(torch::serialize::OutputArchive& a, const std::string& key, int64_t v);
double read_double(torch::serialize::InputArchive& a, const std::string& key, double fallback);
int64_t read_int(torch::serialize::InputArchive& a, const std::string& key, int64_t fallback);

/// A zero momentum buffer for parameter p: float32 for a bfloat16/float16 p under MomentumDtype::Float32, else p's
/// dtype (and its layout and device).
torch::Tensor zero_momentum(const torch::Tensor& p, MomentumDtype dtype);

/// The rounding of a 16-bit parameter's step `step` (keyed with the parameter's index) from an optimizer's options.
kernels::RoundingArgs rounding_args(Rounding rounding, uint64_t seed, int64_t step, int64_t param_index);

/// Saves/loads the 16-bit parameters' rounding options (Rounding, its seed) and the MomentumDtype; a code
/// outside its table is refused with the key, the valid codes and the value. Absent keys read as the defaults.
void write_rounding(torch::serialize::OutputArchive& a, Rounding rounding, uint64_t seed);
void read_rounding(torch::serialize::InputArchive& a, Rounding& rounding, uint64_t& seed);
void write_momentum_dtype(torch::serialize::OutputArchive& a, MomentumDtype dtype);
MomentumDtype read_momentum_dtype(torch::serialize::InputArchive& a);

/// Saves/loads an optional DitherOptions under `prefix`.
void write_dither(torch::serialize::OutputArchive& a, const std::optional<DitherOptions>& d);
std::optional<DitherOptions> read_dither(torch::serialize::InputArchive& a);

} // namespace detail
} // namespace signopt

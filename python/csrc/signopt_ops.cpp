// signopt's fused optimizer steps as PyTorch custom operators (namespace `signopt`), built against
// LibTorch's stable ABI (TORCH_TARGET_VERSION 2.10) from the torch-free kernel core
// (src/kernels/fused_cpu_internal.h), so one library works across torch releases from 2.10 on. One list op
// per rule, in the shape of torch's _fused_sgd_: every mutated list is marked Tensor(a!), nothing is
// returned, no host synchronisation happens inside an op. CPU tensors of float32/float64; the lists are
// parallel (params[i], grads[i], bufs[i] belong together).
#include <torch/csrc/stable/library.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>
#include <torch/headeronly/util/Exception.h>

#include <signopt/kernels/bitpack_words.h>

#include <torch/csrc/stable/ops.h>

#include <signopt/kernels/dither_schedule.h>
#include <signopt/kernels/philox.h>

#include "../../src/kernels/fused_cpu_internal.h"
#include "../../src/kernels/noise_fill.h"
#include <signopt/kernels/reductions_core.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace {

using signopt::kernels::Dtype;
using torch::headeronly::ScalarType;
using torch::stable::Tensor;
namespace cpu = signopt::kernels::cpu;

// The dtype of a parameter, which its gradient and state share; a clear error for anything else.
Dtype checked_dtype(const char* op, size_t i, const Tensor& p, const std::vector<const Tensor*>& same) {
  STD_TORCH_CHECK(
      p.is_cpu() && p.is_contiguous(), "signopt::", op, ": params[", i, "] must be a contiguous CPU tensor");
  const auto type = p.scalar_type();
  STD_TORCH_CHECK(
      type == torch::headeronly::ScalarType::Float || type == torch::headeronly::ScalarType::Double,
      "signopt::",
      op,
      ": params[",
      i,
      "] must be float32 or float64");
  for (const Tensor* t : same) {
    STD_TORCH_CHECK(
        t->is_cpu() && t->is_contiguous() && t->scalar_type() == type && t->numel() == p.numel(),
        "signopt::",
        op,
        ": the gradient and state of params[",
        i,
        "] must be contiguous CPU tensors of its dtype and size");
  }
  return type == torch::headeronly::ScalarType::Float ? Dtype::kFloat32 : Dtype::kFloat64;
}

void check_lengths(const char* op, size_t params, size_t other, const char* what) {
  STD_TORCH_CHECK(other == params, "signopt::", op, ": ", what, " has ", other, " entries for ", params, " params");
}

// A list parallel to params (the gradients or one kind of state) and its name for messages.
struct ParallelList {
  const std::vector<Tensor>* tensors;
  const char* name;
};

// Checks a step op's parallel lists (one entry per parameter in each; every tensor contiguous CPU, of its
// parameter's float dtype and size) and returns each parameter's dtype. A state list the rule does not use
// (beta, mu or momentum 0) is left out of `lists` and may be empty.
std::vector<Dtype> checked_lists(
    const char* op,
    const std::vector<Tensor>& params,
    std::initializer_list<ParallelList> lists) {
  for (const ParallelList& l : lists) {
    check_lengths(op, params.size(), l.tensors->size(), l.name);
  }
  std::vector<Dtype> dtypes;
  for (size_t i = 0; i < params.size(); ++i) {
    std::vector<const Tensor*> same;
    for (const ParallelList& l : lists) {
      same.push_back(&(*l.tensors)[i]);
    }
    dtypes.push_back(checked_dtype(op, i, params[i], same));
  }
  return dtypes;
}

// The step counters of the parameters: one-element int64 CPU tensors, which the op increments when it updates.
std::vector<int64_t*> step_counters(const char* op, size_t params, std::vector<Tensor>& steps) {
  check_lengths(op, params, steps.size(), "steps");
  std::vector<int64_t*> counters;
  for (size_t i = 0; i < steps.size(); ++i) {
    STD_TORCH_CHECK(
        steps[i].is_cpu() && steps[i].numel() == 1 && steps[i].scalar_type() == torch::headeronly::ScalarType::Long,
        "signopt::",
        op,
        ": steps[",
        i,
        "] must be a one-element int64 CPU tensor (the parameter's step count)");
    counters.push_back(static_cast<int64_t*>(steps[i].mutable_data_ptr()));
  }
  return counters;
}

// A new contiguous tensor of x's sizes on x's device, of `type` (x's dtype by default).
Tensor new_like(const Tensor& x, std::optional<ScalarType> type = std::nullopt) {
  std::vector<int64_t> sizes;
  for (int64_t d = 0; d < x.dim(); ++d) {
    sizes.push_back(x.size(d));
  }
  return torch::stable::new_empty(x, sizes, type.value_or(x.scalar_type()));
}

// The stored dither bases of the one-pass scale (DitherScaleFrom::Previous): empty for the current step's scale,
// else one one-element float64 CPU tensor per parameter (NaN until the parameter's first step measured one).
// `used`: dithering with a relative scale, the only steps that read them; otherwise the list must be empty.
std::vector<double*> base_slots(const char* op, size_t params, std::vector<Tensor>& bases, bool used) {
  std::vector<double*> slots;
  if (bases.empty()) {
    return slots;
  }
  STD_TORCH_CHECK(
      used,
      "signopt::",
      op,
      ": dither_bases must be empty unless the step dithers with a relative scale (dither_scale 1..3)");
  check_lengths(op, params, bases.size(), "dither_bases");
  for (size_t i = 0; i < bases.size(); ++i) {
    STD_TORCH_CHECK(
        bases[i].is_cpu() && bases[i].numel() == 1 && bases[i].scalar_type() == torch::headeronly::ScalarType::Double,
        "signopt::",
        op,
        ": dither_bases[",
        i,
        "] must be a one-element float64 CPU tensor (the parameter's stored base)");
    slots.push_back(static_cast<double*>(bases[i].mutable_data_ptr()));
  }
  return slots;
}

// Parameter i's step under the one-pass scale (when `slots` is not empty): s = alpha base(x_{t-1}) once its slot
// holds a finite base, and the step stores base(x_t) there.
void use_stored_base(signopt::kernels::DitherArgs& d, const std::vector<double*>& slots, size_t i) {
  if (slots.empty()) {
    return;
  }
  d.scale_from = signopt::DitherScaleFrom::Previous;
  d.scale_state = slots[i];
  d.scale_state_ready = std::isfinite(*slots[i]);
}

// True when found_inf (a one-element float CPU tensor, GradScaler's convention) says a gradient was not
// finite: the op then changes nothing, step counters included.
bool skip_step(const char* op, const std::optional<Tensor>& found_inf) {
  if (!found_inf.has_value()) {
    return false;
  }
  const Tensor& f = *found_inf;
  STD_TORCH_CHECK(f.is_cpu() && f.numel() == 1, "signopt::", op, ": found_inf must be a one-element CPU tensor");
  const auto type = f.scalar_type();
  if (type == torch::headeronly::ScalarType::Float) {
    return *static_cast<const float*>(f.const_data_ptr()) != 0.0f;
  }
  STD_TORCH_CHECK(
      type == torch::headeronly::ScalarType::Double, "signopt::", op, ": found_inf must be float32 or float64");
  return *static_cast<const double*>(f.const_data_ptr()) != 0.0;
}

// The learning rate of a `.tensor_lr` overload: a one-element float32/float64 CPU tensor (what an LR
// scheduler updates in place under torch.compile). Read on the host: a CPU tensor costs no synchronisation.
double lr_value(const char* op, const Tensor& lr) {
  STD_TORCH_CHECK(lr.is_cpu() && lr.numel() == 1, "signopt::", op, ".tensor_lr: lr must be a one-element CPU tensor");
  const auto type = lr.scalar_type();
  if (type == torch::headeronly::ScalarType::Double) {
    return *static_cast<const double*>(lr.const_data_ptr());
  }
  STD_TORCH_CHECK(
      type == torch::headeronly::ScalarType::Float, "signopt::", op, ".tensor_lr: lr must be float32 or float64");
  return static_cast<double>(*static_cast<const float*>(lr.const_data_ptr()));
}

// The learning rate of the float overloads.
double lr_value(const char*, double lr) {
  return lr;
}

// Runs f(i) for every parameter i. A list of small tensors (on average under kSmallParam elements) runs one
// parameter per task, each kernel inline on its task's thread (a parallel loop inside a parallel loop does not
// fork again); large tensors run one after another, each kernel parallel inside. A parameter's result does not
// depend on the thread that computes it (the kernels' chunks are fixed), so both give the same bits. f must not
// throw: the ops check every argument before the first update.
constexpr int64_t kSmallParam = 65536;

template <class F>
void for_each_param(const std::vector<Tensor>& params, const F& f) {
  const auto n = static_cast<int64_t>(params.size());
  int64_t total = 0;
  for (const Tensor& p : params) {
    total += p.numel();
  }
  if (n > 1 && total < kSmallParam * n) {
    signopt::kernels::detail::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        f(static_cast<size_t>(i));
      }
    });
    return;
  }
  for (size_t i = 0; i < params.size(); ++i) {
    f(i);
  }
}

// Each step op is a template over its learning rate's type: double (the plain overload) or Tensor
// (.tensor_lr), read once by lr_value. The arguments of sign_descent_ and hybrid_sign_phase_ (schema order),
// written once:
#define SIGNOPT_SIGN_STEP_PARAMS                                                                                    \
  std::vector<Tensor> params, std::vector<Tensor> grads, std::vector<Tensor> bufs, std::vector<Tensor> steps,       \
      std::optional<Tensor> found_inf, Lr lr_in, double weight_decay, bool decoupled, double beta,                  \
      std::vector<int64_t> param_indices, bool dither, bool gaussian, bool dither_gradient, bool dither_threshold,  \
      int64_t dither_scale, int64_t dither_schedule, double alpha, double gamma, double alpha_min, int64_t horizon, \
      double decay_rate, int64_t seed, int64_t stream, int64_t epoch, std::vector<Tensor> dither_bases
#define SIGNOPT_SIGN_STEP_ARGS                                                                                        \
  params, grads, bufs, steps, found_inf, lr_in, weight_decay, decoupled, beta, param_indices, dither, gaussian,       \
      dither_gradient, dither_threshold, dither_scale, dither_schedule, alpha, gamma, alpha_min, horizon, decay_rate, \
      seed, stream, epoch, dither_bases

// The dither schedule of an operator's arguments, checked (the linear and cosine schedules need a horizon
// when `check_horizon`).
signopt::kernels::DitherScheduleArgs schedule_args(
    const char* op,
    int64_t dither_schedule,
    double alpha,
    double gamma,
    double alpha_min,
    int64_t horizon,
    double decay_rate,
    bool check_horizon) {
  STD_TORCH_CHECK(
      dither_schedule >= 0 && dither_schedule <= 4,
      "signopt::",
      op,
      ": dither_schedule must be 0..4 (constant, power, linear, cosine, exponential)");
  signopt::kernels::DitherScheduleArgs schedule;
  schedule.schedule = static_cast<signopt::DitherSchedule>(dither_schedule);
  schedule.alpha = alpha;
  schedule.gamma = gamma;
  schedule.alpha_min = alpha_min;
  schedule.horizon = horizon;
  schedule.decay_rate = decay_rate;
  STD_TORCH_CHECK(
      !check_horizon ||
          (schedule.schedule != signopt::DitherSchedule::Linear &&
           schedule.schedule != signopt::DitherSchedule::Cosine) ||
          horizon > 0,
      "signopt::",
      op,
      ": the linear and cosine dither schedules need horizon > 0");
  return schedule;
}

// alpha_t of a dither schedule at tick t0 (kernels::dither_alpha, the function the step operators use), for the
// Python package's reference composition, the hybrid's unfused branch and the DDP hook.
double dither_alpha(
    int64_t dither_schedule,
    double alpha,
    double gamma,
    double alpha_min,
    int64_t horizon,
    double decay_rate,
    int64_t tick) {
  return signopt::kernels::dither_alpha(
      schedule_args("dither_alpha", dither_schedule, alpha, gamma, alpha_min, horizon, decay_rate, true), tick);
}

// The kernel arguments of parameter i's step `step` in a sign op (the op's arguments in scope).
#define SIGNOPT_SIGN_STEP_ARGS_STRUCT                                                                           \
  [&] {                                                                                                         \
    signopt::kernels::SignStepArgs args;                                                                        \
    args.lr = lr;                                                                                               \
    args.weight_decay = weight_decay;                                                                           \
    args.decoupled = decoupled;                                                                                 \
    args.beta = beta;                                                                                           \
    args.dither.enabled = dither;                                                                               \
    args.dither.gaussian = gaussian;                                                                            \
    args.dither.target_gradient = dither_gradient;                                                              \
    args.dither.draw = dither_threshold ? signopt::DitherDraw::Threshold : signopt::DitherDraw::Additive;       \
    args.dither.scale = static_cast<signopt::DitherScale>(dither_scale);                                        \
    args.dither.alpha = dither ? signopt::kernels::dither_alpha(schedule, epoch >= 0 ? epoch : step - 1) : 0.0; \
    args.dither.seed = static_cast<uint64_t>(seed);                                                             \
    args.dither.stream = static_cast<uint64_t>(stream);                                                         \
    args.dither.step = step;                                                                                    \
    args.dither.param_index = param_indices[i];                                                                 \
    return args;                                                                                                \
  }()

// HybridSignSGD's raw sums of one tensor into out[0..5): <u, g>, ||g||^2 (the step's dot_gg), nnz(u), ||m||_1,
// ||m||^2 (the momentum's sums ms). With dither noise of scale > 0 added to m (`noisy_argument`), u = sign(m + s z)
// has no zeros, so nnz(u) = n (as the C++ hybrid counts it).
void write_hybrid_sums(
    double* out,
    const double dot_gg[2],
    const std::array<double, 3>& ms,
    bool noisy_argument,
    int64_t n) {
  out[0] = dot_gg[0];
  out[1] = dot_gg[1];
  out[2] = noisy_argument ? static_cast<double>(n) : ms[0];
  out[3] = ms[1];
  out[4] = ms[2];
}

template <typename Lr>
void sign_descent_impl(SIGNOPT_SIGN_STEP_PARAMS, double* sums) {
  const char* op = sums != nullptr ? "hybrid_sign_phase_" : "sign_descent_";
  const double lr = lr_value(op, lr_in);
  check_lengths(op, params.size(), param_indices.size(), "param_indices");
  STD_TORCH_CHECK(
      dither_scale >= 0 && dither_scale <= 3,
      "signopt::",
      op,
      ": dither_scale must be 0..3 (absolute, rms, max3sigma, meanabs)");
  const auto schedule = schedule_args(op, dither_schedule, alpha, gamma, alpha_min, horizon, decay_rate, dither);
  const auto dtypes = beta > 0 ? checked_lists(op, params, {{&grads, "grads"}, {&bufs, "bufs"}})
                               : checked_lists(op, params, {{&grads, "grads"}});
  const auto counters = step_counters(op, params.size(), steps);
  const auto bases = base_slots(op, params.size(), dither_bases, dither && dither_scale != 0);
  if (skip_step(op, found_inf)) {
    return;
  }
  for_each_param(params, [&](size_t i) {
    const int64_t step = ++*counters[i];
    signopt::kernels::SignStepArgs a = SIGNOPT_SIGN_STEP_ARGS_STRUCT;
    use_stored_base(a.dither, bases, i);
    double dot_gg[2] = {0.0, 0.0};
    const int64_t n = params[i].numel();
    const double scale = cpu::sign_descent_step(
        dtypes[i],
        params[i].mutable_data_ptr(),
        grads[i].const_data_ptr(),
        beta > 0 ? bufs[i].mutable_data_ptr() : nullptr,
        n,
        a,
        sums != nullptr ? dot_gg : nullptr);
    if (sums != nullptr) {
      write_hybrid_sums(
          sums + 5 * i,
          dot_gg,
          cpu::moment_sums(dtypes[i], bufs[i].const_data_ptr(), n),
          dither && !dither_gradient && scale != 0.0,
          n);
    }
  });
}

template <typename Lr>
void sign_descent_(SIGNOPT_SIGN_STEP_PARAMS) {
  sign_descent_impl<Lr>(SIGNOPT_SIGN_STEP_ARGS, nullptr);
}

// The hybrid's sign phase: sign_descent_ with momentum (beta > 0), writing each parameter's raw calibration
// sums to row i of `sums` (a contiguous [params, 5] float64 CPU tensor; HybridSignSGD's order).
template <typename Lr>
void hybrid_sign_phase_(SIGNOPT_SIGN_STEP_PARAMS, Tensor sums) {
  STD_TORCH_CHECK(beta > 0, "signopt::hybrid_sign_phase_: beta must be > 0 (the hybrid's sign phase keeps m)");
  STD_TORCH_CHECK(
      sums.is_cpu() && sums.is_contiguous() && sums.scalar_type() == ScalarType::Double &&
          sums.numel() == 5 * static_cast<int64_t>(params.size()),
      "signopt::hybrid_sign_phase_: sums must be a contiguous float64 CPU tensor of params x 5 elements");
  sign_descent_impl<Lr>(SIGNOPT_SIGN_STEP_ARGS, static_cast<double*>(sums.mutable_data_ptr()));
}

// The 16-bit ops' tensors (sign_descent_half_, hybrid_sign_phase_half_, sgd_step_half_): contiguous bfloat16 or
// float16 CPU parameters, grads of their dtype and size, and (with momentum) bufs of their size, float32 or their
// dtype. Each parameter's HalfType and whether its buffer is 16-bit.
struct HalfTensors {
  std::vector<signopt::kernels::HalfType> types;
  std::vector<bool> half_momentum;
};

HalfTensors checked_half_lists(
    const char* op,
    const std::vector<Tensor>& params,
    const std::vector<Tensor>& grads,
    const std::vector<Tensor>& bufs,
    bool momentum) {
  check_lengths(op, params.size(), grads.size(), "grads");
  if (momentum) {
    check_lengths(op, params.size(), bufs.size(), "bufs");
  }
  HalfTensors out;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    const auto type = p.scalar_type();
    STD_TORCH_CHECK(
        p.is_cpu() && p.is_contiguous() && (type == ScalarType::BFloat16 || type == ScalarType::Half),
        "signopt::",
        op,
        ": params[",
        i,
        "] must be a contiguous bfloat16 or float16 CPU tensor");
    STD_TORCH_CHECK(
        grads[i].is_cpu() && grads[i].is_contiguous() && grads[i].scalar_type() == type &&
            grads[i].numel() == p.numel(),
        "signopt::",
        op,
        ": grads[",
        i,
        "] must be a contiguous CPU tensor of its parameter's dtype and size");
    bool half_m = false;
    if (momentum) {
      const Tensor& m = bufs[i];
      STD_TORCH_CHECK(
          m.is_cpu() && m.is_contiguous() && m.numel() == p.numel() &&
              (m.scalar_type() == type || m.scalar_type() == ScalarType::Float),
          "signopt::",
          op,
          ": bufs[",
          i,
          "] must be a contiguous CPU tensor of its parameter's size, float32 or its dtype");
      half_m = m.scalar_type() == type;
    }
    out.types.push_back(
        type == ScalarType::BFloat16 ? signopt::kernels::HalfType::kBFloat16 : signopt::kernels::HalfType::kFloat16);
    out.half_momentum.push_back(half_m);
  }
  return out;
}

// The moment sums (nnz, ||m||_1, ||m||^2) of a momentum buffer of n elements, float32 or 16-bit (widened to
// float32 first, exactly: kernels::moment_sums' rule for 16-bit tensors).
std::array<double, 3> momentum_sums(const Tensor& m, signopt::kernels::HalfType type, bool half, int64_t n) {
  if (!half) {
    return cpu::moment_sums(signopt::kernels::Dtype::kFloat32, m.const_data_ptr(), n);
  }
  std::vector<float> wide(static_cast<size_t>(n));
  const uint16_t* h = static_cast<const uint16_t*>(m.const_data_ptr());
  for (int64_t k = 0; k < n; ++k) {
    wide[static_cast<size_t>(k)] = signopt::kernels::half::to_float(type, h[k]);
  }
  return cpu::moment_sums(signopt::kernels::Dtype::kFloat32, wide.data(), n);
}

// SignSGD/Signum on bfloat16/float16 parameters (kernels::cpu::sign_descent_step_half): float32 arithmetic,
// the parameter stored by stochastic rounding keyed by (rounding_seed, step, param_indices[i]) or to nearest;
// grads of the parameters' dtype, bufs (beta > 0) float32 or of the parameters' dtype; dither_bases as for
// sign_descent_ (the one-pass scale's stored bases, float64). With `sums` (the hybrid's sign phase), row i
// receives parameter i's raw calibration sums as in hybrid_sign_phase_.
template <typename Lr>
void sign_descent_half_impl(SIGNOPT_SIGN_STEP_PARAMS, bool stochastic, int64_t rounding_seed, double* sums) {
  const char* op = sums != nullptr ? "hybrid_sign_phase_half_" : "sign_descent_half_";
  const double lr = lr_value(op, lr_in);
  check_lengths(op, params.size(), param_indices.size(), "param_indices");
  STD_TORCH_CHECK(
      dither_scale >= 0 && dither_scale <= 3,
      "signopt::",
      op,
      ": dither_scale must be 0..3 (absolute, rms, max3sigma, meanabs)");
  const auto schedule = schedule_args(op, dither_schedule, alpha, gamma, alpha_min, horizon, decay_rate, dither);
  const HalfTensors t = checked_half_lists(op, params, grads, bufs, beta > 0);
  const auto counters = step_counters(op, params.size(), steps);
  const auto bases = base_slots(op, params.size(), dither_bases, dither && dither_scale != 0);
  if (skip_step(op, found_inf)) {
    return;
  }
  for_each_param(params, [&](size_t i) {
    const int64_t step = ++*counters[i];
    signopt::kernels::SignStepArgs a = SIGNOPT_SIGN_STEP_ARGS_STRUCT;
    use_stored_base(a.dither, bases, i);
    a.rounding.stochastic = stochastic;
    a.rounding.seed = static_cast<uint64_t>(rounding_seed);
    a.rounding.step = step;
    a.rounding.param_index = param_indices[i];
    double dot_gg[2] = {0.0, 0.0};
    const int64_t n = params[i].numel();
    const double scale = cpu::sign_descent_step_half(
        t.types[i],
        t.half_momentum[i],
        static_cast<uint16_t*>(params[i].mutable_data_ptr()),
        static_cast<const uint16_t*>(grads[i].const_data_ptr()),
        beta > 0 ? bufs[i].mutable_data_ptr() : nullptr,
        n,
        a,
        sums != nullptr ? dot_gg : nullptr);
    if (sums != nullptr) {
      write_hybrid_sums(
          sums + 5 * i,
          dot_gg,
          momentum_sums(bufs[i], t.types[i], t.half_momentum[i], n),
          dither && !dither_gradient && scale != 0.0,
          n);
    }
  });
}

template <typename Lr>
void sign_descent_half_(SIGNOPT_SIGN_STEP_PARAMS, bool stochastic, int64_t rounding_seed) {
  sign_descent_half_impl<Lr>(SIGNOPT_SIGN_STEP_ARGS, stochastic, rounding_seed, nullptr);
}

// The hybrid's sign phase on 16-bit parameters: sign_descent_half_ with momentum and the raw calibration sums of
// hybrid_sign_phase_ in `sums` (a contiguous [params, 5] float64 CPU tensor).
template <typename Lr>
void hybrid_sign_phase_half_(SIGNOPT_SIGN_STEP_PARAMS, bool stochastic, int64_t rounding_seed, Tensor sums) {
  STD_TORCH_CHECK(beta > 0, "signopt::hybrid_sign_phase_half_: beta must be > 0 (the hybrid's sign phase keeps m)");
  STD_TORCH_CHECK(
      sums.is_cpu() && sums.is_contiguous() && sums.scalar_type() == ScalarType::Double &&
          sums.numel() == 5 * static_cast<int64_t>(params.size()),
      "signopt::hybrid_sign_phase_half_: sums must be a contiguous float64 CPU tensor of params x 5 elements");
  sign_descent_half_impl<Lr>(
      SIGNOPT_SIGN_STEP_ARGS, stochastic, rounding_seed, static_cast<double*>(sums.mutable_data_ptr()));
}

// The hybrid's SGD phase on 16-bit parameters (kernels::cpu::sgd_step_half): float32 arithmetic, bufs (mu > 0)
// float32 or of the parameters' dtype, the parameter stored as sign_descent_half_ stores it, keyed by the step
// count steps[i] (read, not incremented: the optimizer counts the step) and param_indices[i].
template <typename Lr>
void sgd_step_half_(
    std::vector<Tensor> params,
    std::vector<Tensor> grads,
    std::vector<Tensor> bufs,
    std::vector<Tensor> steps,
    Lr eta_in,
    double weight_decay,
    bool decoupled,
    double mu,
    bool dampened,
    std::vector<int64_t> param_indices,
    bool stochastic,
    int64_t rounding_seed) {
  const char* op = "sgd_step_half_";
  const double eta = lr_value(op, eta_in);
  check_lengths(op, params.size(), param_indices.size(), "param_indices");
  const HalfTensors t = checked_half_lists(op, params, grads, bufs, mu > 0);
  const auto counters = step_counters(op, params.size(), steps);
  for_each_param(params, [&](size_t i) {
    signopt::kernels::SgdStepArgs a{eta, weight_decay, decoupled, mu, dampened, {}};
    a.rounding = {stochastic, static_cast<uint64_t>(rounding_seed), *counters[i], param_indices[i]};
    cpu::sgd_step_half(
        t.types[i],
        t.half_momentum[i],
        static_cast<uint16_t*>(params[i].mutable_data_ptr()),
        static_cast<const uint16_t*>(grads[i].const_data_ptr()),
        mu > 0 ? bufs[i].mutable_data_ptr() : nullptr,
        params[i].numel(),
        a);
  });
}

// x (a float32 CPU tensor) rounded stochastically to bfloat16 (or float16) as the 16-bit step stores a
// parameter: half::stochastic with element i's bits half::rounding_bits of the key (seed, step, param_index).
// A new tensor; for the Python package's reference composition.
Tensor stochastic_round(Tensor x, bool bfloat16, int64_t seed, int64_t step, int64_t param_index) {
  STD_TORCH_CHECK(
      x.is_cpu() && x.is_contiguous() && x.scalar_type() == ScalarType::Float,
      "signopt::stochastic_round: x must be a contiguous float32 CPU tensor");
  namespace half = signopt::kernels::half;
  const auto type = bfloat16 ? signopt::kernels::HalfType::kBFloat16 : signopt::kernels::HalfType::kFloat16;
  STD_TORCH_CHECK(step >= 0 && param_index >= 0, "signopt::stochastic_round: step and param_index must be >= 0");
  const auto key = half::rounding_key(static_cast<uint64_t>(seed), step, param_index);
  Tensor out = new_like(x, bfloat16 ? ScalarType::BFloat16 : ScalarType::Half);
  const float* in = static_cast<const float*>(x.const_data_ptr());
  uint16_t* o = static_cast<uint16_t*>(out.mutable_data_ptr());
  const int64_t n = x.numel();
  for (int64_t b = 0; 8 * b < n; ++b) {
    const auto block = half::rounding_block(key, b);
    for (int64_t k = 0; k < 8 && 8 * b + k < n; ++k) {
      o[8 * b + k] = half::stochastic(type, in[8 * b + k], half::rounding_bits_in_block(block, k));
    }
  }
  return out;
}

template <typename Lr>
void sgd_step_(
    std::vector<Tensor> params,
    std::vector<Tensor> grads,
    std::vector<Tensor> bufs,
    Lr eta_in,
    double weight_decay,
    bool decoupled,
    double mu,
    bool dampened) {
  const char* op = "sgd_step_";
  const double eta = lr_value(op, eta_in);
  const auto dtypes = mu > 0 ? checked_lists(op, params, {{&grads, "grads"}, {&bufs, "bufs"}})
                             : checked_lists(op, params, {{&grads, "grads"}});
  for_each_param(params, [&](size_t i) {
    signopt::kernels::SgdStepArgs a{eta, weight_decay, decoupled, mu, dampened, {}};
    cpu::sgd_step(
        dtypes[i],
        params[i].mutable_data_ptr(),
        grads[i].const_data_ptr(),
        mu > 0 ? bufs[i].mutable_data_ptr() : nullptr,
        params[i].numel(),
        a);
  });
}

template <typename Lr>
void ef_sign_sgd_step_(
    std::vector<Tensor> params,
    std::vector<Tensor> grads,
    std::vector<Tensor> errors,
    std::vector<Tensor> bufs,
    std::vector<Tensor> steps,
    std::optional<Tensor> found_inf,
    Lr lr_in,
    double weight_decay,
    bool decoupled,
    double momentum) {
  const char* op = "ef_sign_sgd_step_";
  const double lr = lr_value(op, lr_in);
  const auto dtypes = momentum > 0
      ? checked_lists(op, params, {{&grads, "grads"}, {&errors, "errors"}, {&bufs, "bufs"}})
      : checked_lists(op, params, {{&grads, "grads"}, {&errors, "errors"}});
  const auto counters = step_counters(op, params.size(), steps);
  if (skip_step(op, found_inf)) {
    return;
  }
  for_each_param(params, [&](size_t i) {
    ++*counters[i];
    signopt::kernels::EfStepArgs a{lr, weight_decay, decoupled, momentum};
    cpu::ef_sign_sgd_step(
        dtypes[i],
        params[i].mutable_data_ptr(),
        grads[i].const_data_ptr(),
        errors[i].mutable_data_ptr(),
        momentum > 0 ? bufs[i].mutable_data_ptr() : nullptr,
        params[i].numel(),
        a);
  });
}

template <typename Lr>
void lion_step_(
    std::vector<Tensor> params,
    std::vector<Tensor> grads,
    std::vector<Tensor> exp_avgs,
    std::vector<Tensor> steps,
    std::optional<Tensor> found_inf,
    Lr lr_in,
    double weight_decay,
    bool decoupled,
    double beta1,
    double beta2) {
  const char* op = "lion_step_";
  const double lr = lr_value(op, lr_in);
  const auto dtypes = checked_lists(op, params, {{&grads, "grads"}, {&exp_avgs, "exp_avgs"}});
  const auto counters = step_counters(op, params.size(), steps);
  if (skip_step(op, found_inf)) {
    return;
  }
  for_each_param(params, [&](size_t i) {
    ++*counters[i];
    signopt::kernels::LionStepArgs a{lr, weight_decay, decoupled, beta1, beta2};
    cpu::lion_step(
        dtypes[i],
        params[i].mutable_data_ptr(),
        grads[i].const_data_ptr(),
        exp_avgs[i].mutable_data_ptr(),
        params[i].numel(),
        a);
  });
}

// The Philox key of a dither draw (kernels::DrawKey), from an op's checked non-negative arguments.
signopt::kernels::DrawKey draw_key(const char* op, int64_t seed, int64_t stream, int64_t step, int64_t param_index) {
  STD_TORCH_CHECK(
      stream >= 0 && step >= 0 && param_index >= 0, "signopt::", op, ": stream, step and param_index must be >= 0");
  return signopt::kernels::DrawKey::make(
      static_cast<uint64_t>(seed),
      static_cast<uint64_t>(stream),
      static_cast<uint64_t>(step),
      static_cast<uint64_t>(param_index));
}

// The unit dither noise of a tensor shaped like `like` (float32/float64 CPU), element i at Philox counter
// (i / 4, param_index, step) of the key (seed, stream): the values the fused sign step adds, before scaling.
Tensor dither_noise(Tensor like, int64_t seed, int64_t stream, bool gaussian, int64_t step, int64_t param_index) {
  STD_TORCH_CHECK(
      like.is_cpu() && (like.scalar_type() == ScalarType::Float || like.scalar_type() == ScalarType::Double),
      "signopt::dither_noise: like must be a float32 or float64 CPU tensor");
  const auto key = draw_key("dither_noise", seed, stream, step, param_index);
  const auto kind = gaussian ? signopt::kernels::NoiseKind::Gaussian : signopt::kernels::NoiseKind::Uniform;
  Tensor out = new_like(like);
  if (like.scalar_type() == ScalarType::Float) {
    signopt::kernels::detail::fill_dither_noise(static_cast<float*>(out.mutable_data_ptr()), out.numel(), key, kind);
  } else {
    signopt::kernels::detail::fill_dither_noise(static_cast<double*>(out.mutable_data_ptr()), out.numel(), key, kind);
  }
  return out;
}

// The threshold draw's direction of a sign argument x (float32/float64 CPU) with scale s: the fused kernels'
// element rule (rules::threshold_direction with 1 / s in x's type, the levels of element i from Philox block
// i / 8 of the key (seed, stream), counter (step, param_index)), for the Python package's reference composition.
Tensor threshold_sign(
    Tensor x,
    double s,
    int64_t seed,
    int64_t stream,
    bool gaussian,
    int64_t step,
    int64_t param_index) {
  STD_TORCH_CHECK(
      x.is_cpu() && x.is_contiguous() &&
          (x.scalar_type() == ScalarType::Float || x.scalar_type() == ScalarType::Double),
      "signopt::threshold_sign: x must be a contiguous float32 or float64 CPU tensor");
  STD_TORCH_CHECK(std::isfinite(s) && s >= 0, "signopt::threshold_sign: s must be finite and >= 0, got ", s);
  const auto key = draw_key("threshold_sign", seed, stream, step, param_index);
  Tensor out = new_like(x);
  const int64_t n = x.numel();
  std::vector<float> t(static_cast<size_t>(n));
  signopt::kernels::detail::fill_dither_noise(
      t.data(),
      n,
      key,
      gaussian ? signopt::kernels::NoiseKind::ThresholdGaussian : signopt::kernels::NoiseKind::ThresholdUniform);
  auto run = [&](auto zero) {
    using T = decltype(zero);
    namespace rules = signopt::kernels::rules;
    const T inv_s = rules::inverse_scale<T>(s);
    const T* in = static_cast<const T*>(x.const_data_ptr());
    T* o = static_cast<T*>(out.mutable_data_ptr());
    for (int64_t i = 0; i < n; ++i) {
      o[i] = rules::threshold_direction(in[i], inv_s, t[i]);
    }
  };
  if (x.scalar_type() == ScalarType::Float) {
    run(float{});
  } else {
    run(double{});
  }
  return out;
}

// GradScaler's found_inf for a step: a new one-element float32 tensor, 1 when some element of some gradient
// is NaN or infinite, else 0 (kernels::cpu::all_finite: one read pass per tensor).
Tensor found_nonfinite(std::vector<Tensor> grads) {
  STD_TORCH_CHECK(!grads.empty(), "signopt::found_nonfinite: grads is empty");
  bool finite = true;
  for (size_t i = 0; i < grads.size() && finite; ++i) {
    const Tensor& g = grads[i];
    const auto type = g.scalar_type();
    STD_TORCH_CHECK(
        g.is_cpu() && g.is_contiguous() &&
            (type == ScalarType::Float || type == ScalarType::Double || type == ScalarType::BFloat16 ||
             type == ScalarType::Half),
        "signopt::found_nonfinite: grads[",
        i,
        "] must be a contiguous float32, float64, bfloat16 or float16 CPU tensor");
    if (type == ScalarType::BFloat16 || type == ScalarType::Half) {
      finite = cpu::all_finite_half(
          type == ScalarType::BFloat16 ? signopt::kernels::HalfType::kBFloat16 : signopt::kernels::HalfType::kFloat16,
          static_cast<const uint16_t*>(g.const_data_ptr()),
          g.numel());
    } else {
      finite =
          cpu::all_finite(type == ScalarType::Float ? Dtype::kFloat32 : Dtype::kFloat64, g.const_data_ptr(), g.numel());
    }
  }
  Tensor out = torch::stable::new_empty(grads[0], {1}, ScalarType::Float);
  *static_cast<float*>(out.mutable_data_ptr()) = finite ? 0.0f : 1.0f;
  return out;
}

// ---- 1-bit packing and the vote (kernels/bitpack_words.h), for a DDP comm hook ----------------------------

// A contiguous int64 CPU tensor of packed words with room for n coordinates; its words as uint64.
const uint64_t* packed_words_of(const char* op, const char* what, const Tensor& t, int64_t n) {
  STD_TORCH_CHECK(
      t.is_cpu() && t.is_contiguous() && t.scalar_type() == ScalarType::Long,
      "signopt::",
      op,
      ": ",
      what,
      " must be a contiguous int64 CPU tensor of packed words");
  const int64_t words = signopt::kernels::packed_words(n);
  STD_TORCH_CHECK(
      t.numel() >= words, "signopt::", op, ": ", what, " has ", t.numel(), " words; n = ", n, " needs ", words);
  return static_cast<const uint64_t*>(t.const_data_ptr());
}

// Packs the signs of x (contiguous float32/float64 CPU, read in memory order) into packed_words(numel)
// int64 words: 1 for x > 0, 0 for x < 0, zero and NaN by `zero_sign` (0 a coin keyed by seed, step, rank and
// bucket, 1 positive), exactly as kernels::pack_signs.
Tensor pack_signs(Tensor x, int64_t zero_sign, int64_t seed, int64_t step, int64_t rank, int64_t bucket) {
  STD_TORCH_CHECK(
      x.is_cpu() && x.is_contiguous() &&
          (x.scalar_type() == ScalarType::Float || x.scalar_type() == ScalarType::Double),
      "signopt::pack_signs: x must be a contiguous float32 or float64 CPU tensor");
  STD_TORCH_CHECK(
      zero_sign == 0 || zero_sign == 1, "signopt::pack_signs: zero_sign must be 0 (random) or 1 (positive)");
  STD_TORCH_CHECK(
      seed >= 0 && step >= 0 && rank >= 0 && bucket >= 0,
      "signopt::pack_signs: seed, step, rank and bucket must be >= 0");
  const int64_t n = x.numel();
  const int64_t words = signopt::kernels::packed_words(n);
  Tensor out = torch::stable::new_empty(x, {words}, ScalarType::Long);
  const auto zero = zero_sign == 0 ? signopt::kernels::ZeroSign::Random : signopt::kernels::ZeroSign::Positive;
  const auto key = signopt::kernels::zero_sign_key(
      static_cast<uint64_t>(seed),
      static_cast<uint64_t>(step),
      static_cast<uint64_t>(rank),
      static_cast<uint64_t>(bucket));
  auto* bits = static_cast<uint64_t*>(out.mutable_data_ptr());
  if (x.scalar_type() == ScalarType::Float) {
    signopt::kernels::pack_signs(static_cast<const float*>(x.const_data_ptr()), n, bits, zero, key);
  } else {
    signopt::kernels::pack_signs(static_cast<const double*>(x.const_data_ptr()), n, bits, zero, key);
  }
  return out;
}

// The majority vote of the rows of a contiguous [workers, packed_words(n)] int64 CPU tensor: (sign, tie), each
// packed_words(n) words, as kernels::majority_vote.
std::tuple<Tensor, Tensor> majority_vote(Tensor stacked, int64_t n) {
  STD_TORCH_CHECK(n >= 0, "signopt::majority_vote: n must be >= 0, got ", n);
  STD_TORCH_CHECK(stacked.dim() == 2, "signopt::majority_vote: stacked must be a [workers, packed_words(n)] tensor");
  const int64_t workers = stacked.size(0);
  const int64_t words = signopt::kernels::packed_words(n);
  STD_TORCH_CHECK(workers >= 1, "signopt::majority_vote: needs at least one worker");
  STD_TORCH_CHECK(
      stacked.size(1) == words,
      "signopt::majority_vote: rows have ",
      stacked.size(1),
      " words; n = ",
      n,
      " needs ",
      words);
  const uint64_t* base = packed_words_of("majority_vote", "stacked", stacked, n);
  std::vector<const uint64_t*> rows;
  for (int64_t w = 0; w < workers; ++w) {
    rows.push_back(base + w * words);
  }
  Tensor sign = torch::stable::new_empty(stacked, {words}, ScalarType::Long);
  Tensor tie = torch::stable::new_empty(stacked, {words}, ScalarType::Long);
  signopt::kernels::majority_vote(
      rows.data(),
      workers,
      words,
      static_cast<uint64_t*>(sign.mutable_data_ptr()),
      static_cast<uint64_t*>(tie.mutable_data_ptr()));
  return std::make_tuple(sign, tie);
}

// n coordinates unpacked to a new 1-D float32 (or float64) tensor: +scale for a 1 bit, -scale for a 0 bit, 0
// where zero_mask (optional, packed alike) has a 1, as kernels::unpack_signs.
Tensor unpack_signs(Tensor bits, int64_t n, double scale, std::optional<Tensor> zero_mask, bool float64) {
  STD_TORCH_CHECK(n >= 0, "signopt::unpack_signs: n must be >= 0, got ", n);
  STD_TORCH_CHECK(std::isfinite(scale), "signopt::unpack_signs: scale must be finite");
  const uint64_t* b = packed_words_of("unpack_signs", "bits", bits, n);
  const uint64_t* z = zero_mask.has_value() ? packed_words_of("unpack_signs", "zero_mask", *zero_mask, n) : nullptr;
  Tensor out = torch::stable::new_empty(bits, {n}, float64 ? ScalarType::Double : ScalarType::Float);
  if (float64) {
    signopt::kernels::unpack_signs(b, z, n, scale, static_cast<double*>(out.mutable_data_ptr()));
  } else {
    signopt::kernels::unpack_signs(b, z, n, static_cast<float>(scale), static_cast<float*>(out.mutable_data_ptr()));
  }
  return out;
}

} // namespace

STABLE_TORCH_LIBRARY(signopt, m) {
  m.def(
      "sign_descent_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] bufs, Tensor(c!)[] steps, Tensor? found_inf, float lr, "
      "float weight_decay, bool decoupled, float beta, int[] param_indices, bool dither, bool gaussian, bool dither_gradient, bool dither_threshold, "
      "int dither_scale, int dither_schedule, float alpha, float gamma, float alpha_min, int horizon, float decay_rate, "
      "int seed, int stream, int epoch, Tensor(e!)[] dither_bases) -> ()");
  m.def(
      "hybrid_sign_phase_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] bufs, Tensor(c!)[] steps, Tensor? found_inf, float lr, "
      "float weight_decay, bool decoupled, float beta, int[] param_indices, bool dither, bool gaussian, bool dither_gradient, bool dither_threshold, "
      "int dither_scale, int dither_schedule, float alpha, float gamma, float alpha_min, int horizon, float decay_rate, "
      "int seed, int stream, int epoch, Tensor(e!)[] dither_bases, Tensor(d!) sums) -> ()");
  m.def(
      "sgd_step_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] bufs, float eta, float weight_decay, "
      "bool decoupled, float mu, bool dampened) -> ()");
  m.def(
      "ef_sign_sgd_step_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] errors, Tensor(c!)[] bufs, Tensor(d!)[] steps, "
      "Tensor? found_inf, float lr, "
      "float weight_decay, bool decoupled, float momentum) -> ()");
  m.def(
      "lion_step_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] exp_avgs, Tensor(c!)[] steps, Tensor? found_inf, "
      "float lr, float weight_decay, "
      "bool decoupled, float beta1, float beta2) -> ()");
  m.def(
      "sign_descent_half_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] bufs, Tensor(c!)[] steps, Tensor? found_inf, float lr, "
      "float weight_decay, bool decoupled, float beta, int[] param_indices, bool dither, bool gaussian, bool dither_gradient, bool dither_threshold, "
      "int dither_scale, int dither_schedule, float alpha, float gamma, float alpha_min, int horizon, float decay_rate, "
      "int seed, int stream, int epoch, Tensor(e!)[] dither_bases, bool stochastic, int rounding_seed) -> ()");
  m.def(
      "sign_descent_half_.tensor_lr(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] bufs, Tensor(c!)[] steps, Tensor? found_inf, "
      "Tensor lr, float weight_decay, bool decoupled, float beta, int[] param_indices, bool dither, bool gaussian, bool dither_gradient, bool dither_threshold, "
      "int dither_scale, int dither_schedule, float alpha, float gamma, float alpha_min, int horizon, float decay_rate, "
      "int seed, int stream, int epoch, Tensor(e!)[] dither_bases, bool stochastic, int rounding_seed) -> ()");
  m.def(
      "hybrid_sign_phase_half_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] bufs, Tensor(c!)[] steps, Tensor? found_inf, "
      "float lr, float weight_decay, bool decoupled, float beta, int[] param_indices, bool dither, bool gaussian, "
      "bool dither_gradient, bool dither_threshold, int dither_scale, int dither_schedule, float alpha, float gamma, "
      "float alpha_min, int horizon, float decay_rate, int seed, int stream, int epoch, Tensor(e!)[] dither_bases, "
      "bool stochastic, int rounding_seed, Tensor(d!) sums) -> ()");
  m.def(
      "hybrid_sign_phase_half_.tensor_lr(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] bufs, Tensor(c!)[] steps, "
      "Tensor? found_inf, Tensor lr, float weight_decay, bool decoupled, float beta, int[] param_indices, bool dither, "
      "bool gaussian, bool dither_gradient, bool dither_threshold, int dither_scale, int dither_schedule, float alpha, "
      "float gamma, float alpha_min, int horizon, float decay_rate, int seed, int stream, int epoch, "
      "Tensor(e!)[] dither_bases, bool stochastic, int rounding_seed, Tensor(d!) sums) -> ()");
  m.def(
      "sgd_step_half_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] bufs, Tensor[] steps, float eta, "
      "float weight_decay, bool decoupled, float mu, bool dampened, int[] param_indices, bool stochastic, "
      "int rounding_seed) -> ()");
  m.def(
      "sgd_step_half_.tensor_lr(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] bufs, Tensor[] steps, Tensor eta, "
      "float weight_decay, bool decoupled, float mu, bool dampened, int[] param_indices, bool stochastic, "
      "int rounding_seed) -> ()");
  // The 16-bit step's stochastic rounding of a float32 tensor (a new tensor), for the reference composition.
  m.def("stochastic_round(Tensor x, bool bfloat16, int seed, int step, int param_index) -> Tensor");
  // 1-bit packing and the vote (new tensors; nothing mutated).
  m.def("pack_signs(Tensor x, int zero_sign, int seed, int step, int rank, int bucket) -> Tensor");
  m.def("majority_vote(Tensor stacked, int n) -> (Tensor sign, Tensor tie)");
  m.def("unpack_signs(Tensor bits, int n, float scale, Tensor? zero_mask, bool float64) -> Tensor");
  // The dither's unit noise (a new tensor), for the Python package's reference composition.
  m.def("dither_noise(Tensor like, int seed, int stream, bool gaussian, int step, int param_index) -> Tensor");
  // The threshold draw's direction of a sign argument, for the reference composition (a new tensor).
  m.def("threshold_sign(Tensor x, float s, int seed, int stream, bool gaussian, int step, int param_index) -> Tensor");
  // The step's non-finite check (GradScaler's found_inf), a new tensor.
  m.def("found_nonfinite(Tensor[] grads) -> Tensor");
  // alpha_t of a dither schedule (no tensors: registered for CompositeExplicitAutograd below).
  m.def(
      "dither_alpha(int dither_schedule, float alpha, float gamma, float alpha_min, int horizon, float decay_rate, "
      "int tick) -> float");
  // The same steps with the learning rate as a one-element tensor (torch's _fused_sgd_.tensor_lr).
  m.def(
      "sign_descent_.tensor_lr(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] bufs, Tensor(c!)[] steps, Tensor? found_inf, "
      "Tensor lr, float weight_decay, bool decoupled, float beta, int[] param_indices, bool dither, bool gaussian, bool dither_gradient, bool dither_threshold, "
      "int dither_scale, int dither_schedule, float alpha, float gamma, float alpha_min, int horizon, float decay_rate, "
      "int seed, int stream, int epoch, Tensor(e!)[] dither_bases) -> ()");
  m.def(
      "hybrid_sign_phase_.tensor_lr(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] bufs, Tensor(c!)[] steps, Tensor? found_inf, "
      "Tensor lr, float weight_decay, bool decoupled, float beta, int[] param_indices, bool dither, bool gaussian, bool dither_gradient, bool dither_threshold, "
      "int dither_scale, int dither_schedule, float alpha, float gamma, float alpha_min, int horizon, float decay_rate, "
      "int seed, int stream, int epoch, Tensor(e!)[] dither_bases, Tensor(d!) sums) -> ()");
  m.def(
      "sgd_step_.tensor_lr(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] bufs, Tensor eta, float weight_decay, "
      "bool decoupled, float mu, bool dampened) -> ()");
  m.def(
      "ef_sign_sgd_step_.tensor_lr(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] errors, Tensor(c!)[] bufs, "
      "Tensor(d!)[] steps, Tensor? found_inf, Tensor lr, float weight_decay, bool decoupled, float momentum) -> ()");
  m.def(
      "lion_step_.tensor_lr(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] exp_avgs, Tensor(c!)[] steps, "
      "Tensor? found_inf, Tensor lr, float weight_decay, "
      "bool decoupled, float beta1, float beta2) -> ()");
}

STABLE_TORCH_LIBRARY_IMPL(signopt, CPU, m) {
  m.impl("sign_descent_", TORCH_BOX(&sign_descent_<double>));
  m.impl("hybrid_sign_phase_", TORCH_BOX(&hybrid_sign_phase_<double>));
  m.impl("sgd_step_", TORCH_BOX(&sgd_step_<double>));
  m.impl("ef_sign_sgd_step_", TORCH_BOX(&ef_sign_sgd_step_<double>));
  m.impl("lion_step_", TORCH_BOX(&lion_step_<double>));
  m.impl("pack_signs", TORCH_BOX(&pack_signs));
  m.impl("majority_vote", TORCH_BOX(&majority_vote));
  m.impl("unpack_signs", TORCH_BOX(&unpack_signs));
  m.impl("dither_noise", TORCH_BOX(&dither_noise));
  m.impl("found_nonfinite", TORCH_BOX(&found_nonfinite));
  m.impl("threshold_sign", TORCH_BOX(&threshold_sign));
  m.impl("stochastic_round", TORCH_BOX(&stochastic_round));
  m.impl("sign_descent_half_", TORCH_BOX(&sign_descent_half_<double>));
  m.impl("sign_descent_half_.tensor_lr", TORCH_BOX(&sign_descent_half_<Tensor>));
  m.impl("hybrid_sign_phase_half_", TORCH_BOX(&hybrid_sign_phase_half_<double>));
  m.impl("hybrid_sign_phase_half_.tensor_lr", TORCH_BOX(&hybrid_sign_phase_half_<Tensor>));
  m.impl("sgd_step_half_", TORCH_BOX(&sgd_step_half_<double>));
  m.impl("sgd_step_half_.tensor_lr", TORCH_BOX(&sgd_step_half_<Tensor>));
  m.impl("sign_descent_.tensor_lr", TORCH_BOX(&sign_descent_<Tensor>));
  m.impl("hybrid_sign_phase_.tensor_lr", TORCH_BOX(&hybrid_sign_phase_<Tensor>));
  m.impl("sgd_step_.tensor_lr", TORCH_BOX(&sgd_step_<Tensor>));
  m.impl("ef_sign_sgd_step_.tensor_lr", TORCH_BOX(&ef_sign_sgd_step_<Tensor>));
  m.impl("lion_step_.tensor_lr", TORCH_BOX(&lion_step_<Tensor>));
}

STABLE_TORCH_LIBRARY_IMPL(signopt, CompositeExplicitAutograd, m) {
  m.impl("dither_alpha", TORCH_BOX(&dither_alpha));
}

// HybridSignSGD: Signum phase with projection calibration, the switch, and the SGD phase.
#include <signopt/kernels/bitpack.h>
#include <signopt/kernels/fused.h>
#include <signopt/kernels/reductions.h>
#include <signopt/kernels/reference.h>
#include <signopt/optim/factory.h>
#include <signopt/optim/hybrid.h>

#include "float_copy.h"
#include "packed_exchange.h"

#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace signopt {

HybridSignSGDOptions::HybridSignSGDOptions(double lr) : lr_(lr) {}

void HybridSignSGDOptions::validate() const {
  const std::string who = "HybridSignSGDOptions";
  detail::check_common(who, lr(), weight_decay(), dither());
  detail::check_arg(beta1() >= 0 && beta1() < 1, who, "beta1 must be in [0, 1), got ", beta1());
  detail::check_arg(beta2() >= 0 && beta2() < 1, who, "beta2 must be in [0, 1), got ", beta2());
  detail::check_arg(std::isfinite(eps()) && eps() >= 0, who, "eps must be >= 0, got ", eps());
  detail::check_arg(
      post_switch_momentum() >= 0 && post_switch_momentum() < 1,
      who,
      "post_switch_momentum must be in [0, 1), got ",
      post_switch_momentum());
  detail::check_arg(handover_steps() >= 0, who, "handover_steps must be >= 0, got ", handover_steps());
  detail::check_arg(
      std::isfinite(fallback_lr()) && fallback_lr() > 0, who, "fallback_lr must be > 0, got ", fallback_lr());
  detail::check_arg(
      std::isfinite(calibration_scale()) && calibration_scale() > 0,
      who,
      "calibration_scale must be > 0, got ",
      calibration_scale());
  detail::check_arg(std::isfinite(fixed_lr()) && fixed_lr() >= 0, who, "fixed_lr must be >= 0, got ", fixed_lr());
  if (calibration() == CalibrationEstimator::Fixed) {
    detail::check_arg(fixed_lr() > 0, who, "calibration 'fixed' needs fixed_lr > 0 (the SGD rate), got ", fixed_lr());
    detail::check_arg(
        trigger() != SwitchTrigger::Auto,
        who,
        "the auto trigger tests the calibration's convergence, and calibration 'fixed' has none: use the step, "
        "epoch or never trigger");
  }
  switch_policy().validate(who);
}

SwitchPolicy HybridSignSGDOptions::switch_policy() const {
  SwitchPolicy p;
  p.trigger = trigger();
  p.step = switch_step();
  p.epoch = switch_epoch();
  p.steps_per_epoch = steps_per_epoch();
  p.tol = auto_tol();
  p.criterion = auto_criterion();
  return p;
}

CalibratorOptions HybridSignSGDOptions::calibrator_options() const {
  CalibratorOptions c;
  c.estimator = calibration();
  c.beta2 = beta2();
  c.eps = eps();
  c.bias_correction = bias_correction();
  c.scale = calibration_scale();
  c.fixed_lr = fixed_lr();
  return c;
}

void HybridSignSGDOptions::serialize(torch::serialize::OutputArchive& a) const {
  using namespace detail;
  write_double(a, "lr", lr());
  write_double(a, "beta1", beta1());
  write_double(a, "beta2", beta2());
  write_double(a, "eps", eps());
  write_double(a, "weight_decay", weight_decay());
  write_int(a, "decoupled_weight_decay", decoupled_weight_decay());
  write_int(a, "trigger", static_cast<int64_t>(trigger()));
  write_int(a, "switch_step", switch_step());
  write_int(a, "switch_epoch", switch_epoch());
  write_int(a, "steps_per_epoch", steps_per_epoch());
  write_double(a, "auto_tol", auto_tol());
  write_int(a, "bias_correction", bias_correction());
  write_int(a, "auto_criterion", static_cast<int64_t>(auto_criterion()));
  write_int(a, "calibration", static_cast<int64_t>(calibration_scope())); // the scope's key before estimators
  write_int(a, "calibration_estimator", static_cast<int64_t>(calibration()));
  write_double(a, "calibration_scale", calibration_scale());
  write_double(a, "fixed_lr", fixed_lr());
  write_double(a, "post_switch_momentum", post_switch_momentum());
  write_int(a, "post_switch_convention", static_cast<int64_t>(post_switch_convention()));
  write_int(a, "post_switch_init", static_cast<int64_t>(post_switch_init()));
  write_int(a, "handover_steps", handover_steps());
  write_double(a, "fallback_lr", fallback_lr());
  write_int(a, "track_after_switch", track_after_switch());
  write_int(a, "nonfinite", static_cast<int64_t>(nonfinite()));
  write_dither(a, dither());
  write_rounding(a, rounding(), rounding_seed());
  write_momentum_dtype(a, momentum_dtype());
}

void HybridSignSGDOptions::serialize(torch::serialize::InputArchive& a) {
  using namespace detail;
  lr(read_double(a, "lr", lr()));
  beta1(read_double(a, "beta1", beta1()));
  beta2(read_double(a, "beta2", beta2()));
  eps(read_double(a, "eps", eps()));
  weight_decay(read_double(a, "weight_decay", weight_decay()));
  decoupled_weight_decay(read_int(a, "decoupled_weight_decay", 0) != 0);
  trigger(static_cast<SwitchTrigger>(read_int(a, "trigger", static_cast<int64_t>(trigger()))));
  switch_step(read_int(a, "switch_step", switch_step()));
  switch_epoch(read_int(a, "switch_epoch", switch_epoch()));
  steps_per_epoch(read_int(a, "steps_per_epoch", steps_per_epoch()));
  auto_tol(read_double(a, "auto_tol", auto_tol()));
  bias_correction(read_int(a, "bias_correction", 1) != 0);
  auto_criterion(static_cast<SwitchCriterion>(read_int(a, "auto_criterion", 0)));
  calibration_scope(static_cast<CalibrationScope>(read_int(a, "calibration", 0)));
  calibration(static_cast<CalibrationEstimator>(
      // Archives from before the estimators had only least-squares.
      read_int(a, "calibration_estimator", static_cast<int64_t>(CalibrationEstimator::LeastSquares))));
  calibration_scale(read_double(a, "calibration_scale", 1.0));
  fixed_lr(read_double(a, "fixed_lr", 0.0));
  post_switch_momentum(read_double(a, "post_switch_momentum", post_switch_momentum()));
  post_switch_convention(static_cast<SgdConvention>(read_int(a, "post_switch_convention", 0)));
  post_switch_init(static_cast<SgdMomentumInit>(read_int(a, "post_switch_init", 0)));
  handover_steps(read_int(a, "handover_steps", handover_steps()));
  fallback_lr(read_double(a, "fallback_lr", fallback_lr()));
  track_after_switch(read_int(a, "track_after_switch", 0) != 0);
  nonfinite(static_cast<NonFinitePolicy>(read_int(a, "nonfinite", 0)));
  dither(read_dither(a));
  read_rounding(a, rounding_, rounding_seed_);
  momentum_dtype(read_momentum_dtype(a));
}

void HybridSignSGDParamState::serialize(torch::serialize::OutputArchive& a) const {
  using namespace detail;
  write_int(a, "step", step());
  if (exp_avg().defined()) {
    a.write("exp_avg", exp_avg(), /*is_buffer=*/true);
  }
  if (momentum_buffer().defined()) {
    a.write("momentum_buffer", momentum_buffer(), /*is_buffer=*/true);
  }
  write_double(a, "lambda_ema", calibration().ema);
  write_int(a, "ema_updates", calibration().updates);
  write_double(a, "last_lambda", calibration().last);
  write_int(a, "calibration_updated", calibration().updated);
  write_double(a, "lr_sgd", lr_sgd());
  write_double(a, "switch_lr", switch_lr());
  if (dither_base().defined()) {
    a.write("dither_base", dither_base(), /*is_buffer=*/true);
  }
}

void HybridSignSGDParamState::serialize(torch::serialize::InputArchive& a) {
  using namespace detail;
  step(read_int(a, "step", 0));
  torch::Tensor t;
  if (a.try_read("exp_avg", t, /*is_buffer=*/true)) {
    exp_avg(t);
  }
  torch::Tensor v;
  if (a.try_read("momentum_buffer", v, /*is_buffer=*/true)) {
    momentum_buffer(v);
  }
  CalibratorState c;
  c.ema = read_double(a, "lambda_ema", 0.0);
  c.updates = read_int(a, "ema_updates", 0);
  c.last = read_double(a, "last_lambda", 0.0);
  c.updated = read_int(a, "calibration_updated", 0) != 0;
  calibration(c);
  lr_sgd(read_double(a, "lr_sgd", 0.0));
  switch_lr(read_double(a, "switch_lr", 0.0));
  torch::Tensor base;
  if (a.try_read("dither_base", base, /*is_buffer=*/true)) {
    dither_base(base);
  }
}

HybridSignSGD::HybridSignSGD(
    const std::vector<torch::optim::OptimizerParamGroup>& param_groups,
    HybridSignSGDOptions defaults)
    : SignoptOptimizer(param_groups, std::make_unique<HybridSignSGDOptions>(defaults)) {
  validate_groups_(defaults);
}

const HybridSignSGDOptions& HybridSignSGD::head_() const {
  // Switch and calibration options are global: they are read from the first param group.
  return static_cast<const HybridSignSGDOptions&>(param_groups().front().options());
}

namespace {

// The raw calibration sums of one tensor (CalibrationSums::of_tensor's arguments), in the order the
// distributed allreduce sends them.
constexpr size_t kRawSums = 5;
enum RawSum { kDot = 0, kGg = 1, kNnz = 2, kMAbs = 3, kMSq = 4 };

// One parameter's view during a step. A 16-bit parameter off the fused kernels is stepped on a float32 copy
// `p` (its gradient `g` float32 too) and stored into `target` by its rounding at the end (finish_item).
struct Item {
  torch::Tensor p;
  torch::Tensor g;
  torch::Tensor target;
  HybridSignSGDParamState* st;
  const HybridSignSGDOptions* o;
  int64_t index;
  torch::Tensor u;
  double sums[kRawSums] = {0.0, 0.0, 0.0, 0.0, 0.0};
  bool updated = false; // the fused kernel already applied this step's update
};

// The set bits of the packed plane `words` (undefined: none) in [offset, offset + n).
int64_t zero_bits(const torch::Tensor& words, int64_t offset, int64_t n) {
  return words.defined()
      ? kernels::count_bits_at(reinterpret_cast<const uint64_t*>(words.data_ptr<int64_t>()), offset, n)
      : 0;
}

// The momentum's part of the sums (||m||_1, ||m||^2) and nnz(u) given how u was formed: counted from u
// when it exists, else from m (u = sign(m)), or every coordinate when the fused pass added dither noise of
// scale s > 0 to m (then u = sign(m + s z) has no zeros except where m + s z rounds to exactly 0).
void moment_part(Item& it, const torch::Tensor& m, double nnz) {
  const auto ms = kernels::moment_sums(m);
  it.sums[kNnz] = nnz >= 0 ? nnz : ms.nonzero;
  it.sums[kMAbs] = ms.abs;
  it.sums[kMSq] = ms.sq;
}

// The rounding of the item's parameter at this step.
kernels::RoundingArgs rounding_of(const Item& it) {
  return detail::rounding_args(it.o->rounding(), it.o->rounding_seed(), it.st->step(), it.index);
}

// Stores a 16-bit parameter's float32 result (an item stepped on a float32 copy).
void finish_item(const Item& it) {
  if (it.target.defined()) {
    kernels::reference::store_rounded(it.target, it.p, rounding_of(it));
  }
}

} // namespace

// What one step does, decided before any parameter is touched, and what its passes collect.
struct HybridSignSGD::StepPlan {
  bool sign_phase = true;
  int64_t after = 0; // steps since the switch
  bool in_handover = false;
  bool calibrate = false;
  bool need_sign = false;
  bool dampened = true;
  // The packed exchange (a distributed sign phase whose aggregator has one): one bucket of sign bits and
  // one of zero bits over every parameter, each at its offset.
  bool packed = false;
  std::optional<detail::PackedExchange> exchange;
  std::vector<int64_t> offsets;
  std::vector<Item> items;
};

torch::Tensor HybridSignSGD::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = run_closure(closure);
  begin_dither_record_();
  if (param_groups().empty() || !gradients_finite_<HybridSignSGDOptions>()) {
    return loss;
  }
  const auto& head = head_();
  ++step_;
  StepPlan plan = plan_step_(head);
  int64_t index = 0;
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const HybridSignSGDOptions&>(group.options());
    for (auto& p : group.params()) {
      const int64_t param_index = index++;
      if (p.grad().defined()) {
        add_item_(plan, p, o, param_index);
      }
    }
  }
  exchange_(plan);
  const bool converged = calibrate_(plan, head);
  apply_update_(plan, head);
  if (plan.sign_phase && head.switch_policy().fires(step_, plan.calibrate && converged)) {
    do_switch_();
  }
  return loss;
}

HybridSignSGD::StepPlan HybridSignSGD::plan_step_(const HybridSignSGDOptions& head) {
  StepPlan plan;
  plan.sign_phase = phase_ == HybridPhase::Sign;
  plan.after = plan.sign_phase ? 0 : step_ - switch_step_;
  plan.in_handover = !plan.sign_phase && head.handover_steps() > 0 && plan.after <= head.handover_steps();
  plan.calibrate = plan.sign_phase || head.track_after_switch();
  plan.need_sign = plan.calibrate || plan.in_handover;
  plan.dampened = head.post_switch_convention() == SgdConvention::Dampened;

  // A distributed sign phase whose aggregator has a packed exchange (comm::MajorityVote) takes the packed
  // path of sign_descent.h: pass 1 updates m and packs the signs into one bucket, the workers vote on it,
  // pass 2 applies the voted bits and computes <v, g'> and ||g'||^2 for the calibration. It needs beta1 > 0
  // and contiguous CPU tensors; otherwise the unfused path runs (the same steps, bit for bit).
  int64_t packed_d = 0;
  plan.packed = plan.sign_phase && aggregator_ != nullptr && aggregator_->supports_packed() &&
      detail::packed_step_qualifies<HybridSignSGDOptions>(
                    *this,
                    [&](const HybridSignSGDOptions&, const torch::Tensor& p, int64_t) {
                      auto& st = detail::get_or_create_state<HybridSignSGDParamState>(
                          *this, p, [] { return HybridSignSGDParamState(); });
                      if (!st.exp_avg().defined()) {
                        st.exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
                      }
                      return st.exp_avg();
                    },
                    [](const HybridSignSGDOptions& o) { return o.beta1() > 0; },
                    packed_d);
  if (plan.packed) {
    plan.exchange.emplace(*this, packed_d);
  }
  return plan;
}

void HybridSignSGD::add_item_(StepPlan& plan, torch::Tensor& p, const HybridSignSGDOptions& o, int64_t param_index) {
  auto& st = detail::get_or_create_state<HybridSignSGDParamState>(*this, p, [] { return HybridSignSGDParamState(); });
  st.step(st.step() + 1);
  if (plan.need_sign && !st.exp_avg().defined()) {
    st.exp_avg(detail::zero_momentum(p, o.momentum_dtype()));
  }
  if (!plan.sign_phase && o.post_switch_momentum() > 0 && !st.momentum_buffer().defined()) {
    st.momentum_buffer(detail::zero_momentum(p, o.momentum_dtype()));
  }
  const auto& dither = o.dither();
  // Keyed by the parameter's own step, as in Signum, so the sign phase equals Signum exactly even when some
  // parameters miss gradients on some steps.
  const int64_t tick = plan.need_sign ? begin_dither(dither, st.step()) : 0;
  auto args = detail::fused_dither_args(dither, tick, st.step(), param_index);
  if (plan.need_sign) {
    detail::attach_scale_state(args, st.dither_base(), p);
  }
  Item item{p, p.grad(), {}, &st, &o, param_index, {}};
  if (plan.packed) { // pass 1; pass 2 applies the update after the vote (item.updated)
    plan.offsets.push_back(plan.exchange->pack(
        p, p.grad(), st.exp_avg(), o.lr(), o.weight_decay(), o.decoupled_weight_decay(), o.beta1(), args));
    item.updated = true;
  } else if (
      plan.sign_phase && aggregator_ == nullptr && o.beta1() > 0 &&
      kernels::fused_sign_eligible(p, p.grad(), st.exp_avg())) {
    // The plain sign phase: one fused pass updates m and theta and computes <u, g> and ||g||^2 (the update
    // does not depend on this step's lambda); the momentum's sums follow in one read of m.
    double dot_gg[2] = {0.0, 0.0};
    const double s = kernels::sign_descent_step(
        p,
        p.grad(),
        st.exp_avg(),
        {o.lr(), o.weight_decay(), o.decoupled_weight_decay(), o.beta1(), args, rounding_of(item)},
        dot_gg);
    record_dither_std_(param_index, s);
    item.updated = true;
    item.sums[kDot] = dot_gg[0];
    item.sums[kGg] = dot_gg[1];
    const bool noisy_argument = args.enabled && !args.target_gradient && s != 0.0;
    moment_part(item, st.exp_avg(), noisy_argument ? static_cast<double>(p.numel()) : -1.0);
  } else if (
      !plan.sign_phase && !plan.calibrate && !plan.in_handover &&
      kernels::fused_sgd_eligible(p, p.grad(), st.momentum_buffer())) {
    item.updated = true; // the plain SGD phase: applied by apply_update_, once eta is known
  } else {
    if (kernels::half_type_of(p.scalar_type())) {
      item.target = p;
      item.p = p.to(torch::kFloat);
      item.g = item.g.to(torch::kFloat);
    }
    if (o.weight_decay() != 0 && !o.decoupled_weight_decay()) {
      item.g = item.g + item.p * o.weight_decay();
    }
    if (plan.need_sign) {
      double s = 0.0;
      detail::FloatWorkingCopy m(st.exp_avg());
      item.u = kernels::reference::sign_direction(item.g, m.value, o.beta1(), args, &s);
      record_dither_std_(param_index, s);
      if (o.beta1() == 0) {
        // sign_direction keeps no EMA for beta1 = 0; m is then the plain gradient.
        m.value.copy_(item.g);
      }
      m.store();
    }
    if (plan.calibrate && aggregator_ == nullptr) {
      item.sums[kDot] = kernels::dot(item.u, item.g);
      item.sums[kGg] = kernels::sum_sq(item.g);
      moment_part(item, st.exp_avg(), kernels::sum_abs(item.u));
    }
  }
  plan.items.push_back(std::move(item));
}

void HybridSignSGD::exchange_(StepPlan& plan) {
  auto& items = plan.items;
  std::vector<double> sums; // kRawSums per item, summed over the workers
  if (plan.packed && !items.empty()) {
    const auto voted = plan.exchange->exchange(*aggregator_, step_);
    for (size_t i = 0; i < items.size(); ++i) {
      auto& it = items[i];
      double dot_gg[2] = {0.0, 0.0};
      kernels::apply_packed_direction(
          it.p,
          it.o->lr(),
          it.o->weight_decay(),
          it.o->decoupled_weight_decay(),
          voted.sign,
          voted.zero,
          plan.offsets[i],
          it.g,
          dot_gg);
      it.sums[kDot] = dot_gg[0];
      it.sums[kGg] = dot_gg[1];
      const int64_t n = it.p.numel();
      moment_part(it, it.st->exp_avg(), static_cast<double>(n - zero_bits(voted.zero, plan.offsets[i], n)));
      sums.insert(sums.end(), it.sums, it.sums + kRawSums);
    }
  } else if (aggregator_ != nullptr && plan.need_sign && !items.empty()) {
    // Distributed: the workers vote on the signs; the calibration uses the voted direction and the
    // sums over the workers of each worker's <v, g_w>, ||g_w||^2, nnz(v), ||m_w||_1 and ||m_w||^2.
    std::vector<torch::Tensor> local;
    for (const auto& it : items)
      local.push_back(it.u);
    auto voted = aggregator_->aggregate_signs(local, step_);
    TORCH_CHECK(
        voted.size() == items.size(),
        "SignAggregator: aggregate_signs returned ",
        voted.size(),
        " tensors for ",
        items.size(),
        " parameters");
    for (size_t i = 0; i < items.size(); ++i) {
      auto& it = items[i];
      TORCH_CHECK(voted[i].sizes() == it.u.sizes(), "SignAggregator: wrong shape for parameter ", i);
      it.u = voted[i].to(it.u.dtype());
      if (plan.calibrate) {
        it.sums[kDot] = kernels::dot(it.u, it.g);
        it.sums[kGg] = kernels::sum_sq(it.g);
        moment_part(it, it.st->exp_avg(), kernels::sum_abs(it.u));
        sums.insert(sums.end(), it.sums, it.sums + kRawSums);
      }
    }
  }
  if (!sums.empty()) { // one allreduce of kRawSums scalars per tensor
    aggregator_->allreduce_sum(sums);
    for (size_t i = 0; i < items.size(); ++i) {
      std::copy(
          sums.begin() + static_cast<std::ptrdiff_t>(kRawSums * i),
          sums.begin() + static_cast<std::ptrdiff_t>(kRawSums * (i + 1)),
          items[i].sums);
    }
  }
}

// Calibration: lambda_t of the selected estimator and its EMA (global or per tensor); the bank follows every
// estimator on the global sums. Returns whether the calibration converged (the auto trigger's test).
bool HybridSignSGD::calibrate_(StepPlan& plan, const HybridSignSGDOptions& head) {
  bool converged = !plan.items.empty();
  if (!plan.calibrate) {
    return converged;
  }
  const CalibratorOptions options = head.calibrator_options();
  CalibrationSums total;
  for (auto& it : plan.items) {
    const double* r = it.sums;
    const auto tensor = CalibrationSums::of_tensor(it.o->lr(), r[kDot], r[kGg], r[kNnz], r[kMAbs], r[kMSq]);
    total += tensor;
    if (head.calibration_scope() == CalibrationScope::PerTensor) {
      Calibrator c(options, it.st->calibration());
      c.update(tensor);
      it.st->calibration(c.state());
      converged = converged && c.converged(head.auto_tol(), head.auto_criterion());
    }
  }
  bank_.set_options(options);
  bank_.update(total);
  if (head.calibration_scope() == CalibrationScope::Global) {
    converged = selected_calibrator_().converged(head.auto_tol(), head.auto_criterion());
  }
  return converged;
}

void HybridSignSGD::apply_update_(StepPlan& plan, const HybridSignSGDOptions& head) {
  const double global_rate =
      !plan.sign_phase && head.track_after_switch() && head.calibration_scope() == CalibrationScope::Global
      ? selected_calibrator_().rate()
      : 0.0;
  for (auto& it : plan.items) {
    const double gamma = it.o->lr();
    if (plan.sign_phase) {
      if (it.updated) {
        continue;
      }
      if (it.o->decoupled_weight_decay() && it.o->weight_decay() != 0) {
        it.p.mul_(1.0 - gamma * it.o->weight_decay());
      }
      it.p.add_(it.u, -gamma);
      finish_item(it);
      continue;
    }
    double eta;
    if (head.track_after_switch()) {
      const double tracked = head.calibration_scope() == CalibrationScope::Global
          ? global_rate
          : Calibrator(head.calibrator_options(), it.st->calibration()).rate();
      eta = std::isfinite(tracked) && tracked > 0 ? tracked : head.fallback_lr();
    } else {
      const double lr_sgd = head.calibration_scope() == CalibrationScope::Global ? lr_sgd_ : it.st->lr_sgd();
      const double s_sw = it.st->switch_lr() > 0 ? it.st->switch_lr() : gamma;
      eta = (lr_sgd > 0 ? lr_sgd : head.fallback_lr()) * gamma / s_sw;
    }
    const double mu = it.o->post_switch_momentum();
    if (it.updated) { // eligible for the fused SGD kernel; it.g is the raw gradient here
      kernels::SgdStepArgs args;
      args.eta = eta;
      args.weight_decay = it.o->weight_decay();
      args.decoupled = it.o->decoupled_weight_decay();
      args.mu = mu;
      args.dampened = plan.dampened;
      args.rounding = rounding_of(it);
      kernels::sgd_step(it.p, it.g, it.st->momentum_buffer(), args);
      continue;
    }
    if (it.o->decoupled_weight_decay() && it.o->weight_decay() != 0) {
      it.p.mul_(1.0 - eta * it.o->weight_decay());
    }
    torch::Tensor direction = it.g;
    if (mu > 0) {
      detail::FloatWorkingCopy v(it.st->momentum_buffer());
      v.value.mul_(mu).add_(it.g);
      direction = plan.dampened ? v.value * (1.0 - mu) : v.value;
      v.store();
    }
    if (plan.in_handover) {
      const double w = static_cast<double>(plan.after) / static_cast<double>(head.handover_steps());
      it.p.sub_(it.u * ((1.0 - w) * gamma) + direction * (w * eta));
    } else {
      it.p.sub_(direction * eta);
    }
    finish_item(it);
  }
}

void HybridSignSGD::switch_now() {
  if (phase_ == HybridPhase::Sign) {
    do_switch_();
  }
}

void HybridSignSGD::do_switch_() {
  const auto& head = head_();
  auto checked = [&](double lr, const std::string& what) {
    if (std::isfinite(lr) && lr > 0) {
      return lr;
    }
    TORCH_WARN(
        "HybridSignSGD: calibrated SGD learning rate ",
        what,
        " is ",
        lr,
        " at the switch after step ",
        step_,
        "; using fallback_lr = ",
        head.fallback_lr());
    return head.fallback_lr();
  };
  phase_ = HybridPhase::Sgd;
  switch_step_ = step_;
  const CalibratorOptions options = head.calibrator_options();
  if (head.calibration_scope() == CalibrationScope::Global) {
    lr_sgd_ = checked(selected_calibrator_().rate(), "(global)");
  }
  int64_t index = 0;
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const HybridSignSGDOptions&>(group.options());
    for (auto& p : group.params()) {
      const int64_t param_index = index++;
      auto* st = detail::find_state<HybridSignSGDParamState>(*this, p);
      if (st == nullptr) {
        continue;
      }
      st->switch_lr(o.lr());
      if (head.calibration_scope() == CalibrationScope::PerTensor) {
        st->lr_sgd(
            checked(Calibrator(options, st->calibration()).rate(), "of parameter " + std::to_string(param_index)));
      }
      const double mu = o.post_switch_momentum();
      if (head.post_switch_init() == SgdMomentumInit::Momentum && mu > 0 && st->exp_avg().defined()) {
        st->momentum_buffer(st->exp_avg() / (1.0 - mu)); // the buffer whose dampened step is m
      }
    }
  }
}

double HybridSignSGD::calibrated_lr() const {
  if (param_groups().empty()) {
    return 0.0;
  }
  const auto& head = head_();
  const bool live = phase_ == HybridPhase::Sign || head.track_after_switch();
  if (head.calibration_scope() == CalibrationScope::Global) {
    return live ? selected_calibrator_().rate() : lr_sgd_;
  }
  double sum = 0.0;
  int64_t n = 0;
  for (const auto& kv : state()) {
    const auto& st = static_cast<const HybridSignSGDParamState&>(*kv.second);
    sum += live ? Calibrator(head.calibrator_options(), st.calibration()).rate() : st.lr_sgd();
    ++n;
  }
  return n == 0 ? 0.0 : sum / static_cast<double>(n);
}

double HybridSignSGD::last_lambda() const {
  if (param_groups().empty()) {
    return 0.0;
  }
  if (head_().calibration_scope() == CalibrationScope::Global) {
    return selected_calibrator_().lambda();
  }
  double sum = 0.0;
  int64_t n = 0;
  for (const auto& kv : state()) {
    sum += static_cast<const HybridSignSGDParamState&>(*kv.second).calibration().last;
    ++n;
  }
  return n == 0 ? 0.0 : sum / static_cast<double>(n);
}

void HybridSignSGD::save(torch::serialize::OutputArchive& archive) const {
  using namespace detail;
  save_as_<HybridSignSGDParamState, HybridSignSGDOptions>(archive);
  write_int(archive, "signopt/hybrid/step", step_);
  write_int(archive, "signopt/hybrid/phase", static_cast<int64_t>(phase_));
  write_int(archive, "signopt/hybrid/switch_step", switch_step_);
  bank_.save(archive, "signopt/hybrid/bank");
  write_double(archive, "signopt/hybrid/lr_sgd", lr_sgd_);
}

void HybridSignSGD::load(torch::serialize::InputArchive& archive) {
  using namespace detail;
  load_as_<HybridSignSGDParamState, HybridSignSGDOptions>(archive);
  step_ = read_int(archive, "signopt/hybrid/step", 0);
  phase_ = static_cast<HybridPhase>(read_int(archive, "signopt/hybrid/phase", 0));
  switch_step_ = read_int(archive, "signopt/hybrid/switch_step", -1);
  // Checkpoints written before the global calibration was read from the bank also hold a copy of it under
  // signopt/hybrid/global: the same state as the bank's entry of the selected estimator, so it is not read.
  bank_.load(archive, "signopt/hybrid/bank");
  lr_sgd_ = read_double(archive, "signopt/hybrid/lr_sgd", 0.0);
  if (!param_groups().empty()) {
    bank_.set_options(head_().calibrator_options());
  }
}

Calibrator HybridSignSGD::selected_calibrator_() const {
  const CalibratorOptions options = head_().calibrator_options();
  if (options.estimator == CalibrationEstimator::Fixed) {
    return Calibrator(options);
  }
  return Calibrator(options, bank_.at(options.estimator).state());
}

MadeOptimizer make_hybrid(std::vector<torch::Tensor> params, const OptimizerSettings& s) {
  auto hybrid = std::make_unique<HybridSignSGD>(std::move(params), hybrid_options_from(s, s.beta1));
  HybridSignSGD* view = hybrid.get();
  return detail::made(std::move(hybrid), view);
}

} // namespace signopt

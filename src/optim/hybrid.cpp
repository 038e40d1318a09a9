// HybridSignSGD: Signum phase with projection calibration, the switch, and the SGD phase.
#include <signopt/kernels/fused.h>
#include <signopt/kernels/reductions.h>
#include <signopt/optim/hybrid.h>

#include <signopt/comm/sign_pack.h>

#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <cmath>

namespace signopt {

std::string to_string(SwitchTrigger v) {
  switch (v) {
    case SwitchTrigger::Step:
      return "step";
    case SwitchTrigger::Epoch:
      return "epoch";
    case SwitchTrigger::Auto:
      return "auto";
    case SwitchTrigger::Never:
      return "never";
  }
  return "?";
}

std::string to_string(Calibration v) {
  return v == Calibration::Global ? "global" : "per-tensor";
}

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
  switch (trigger()) {
    case SwitchTrigger::Step:
      detail::check_arg(switch_step() > 0, who, "switch_step must be > 0 with the step trigger, got ", switch_step());
      break;
    case SwitchTrigger::Epoch:
      detail::check_arg(
          switch_epoch() > 0, who, "switch_epoch must be > 0 with the epoch trigger, got ", switch_epoch());
      detail::check_arg(
          steps_per_epoch() > 0,
          who,
          "the epoch trigger needs steps_per_epoch > 0 to find the step that ends epoch ",
          switch_epoch(),
          ", got ",
          steps_per_epoch(),
          " (use switch_at_epoch(E, steps_per_epoch))");
      break;
    case SwitchTrigger::Auto:
      detail::check_arg(std::isfinite(auto_tol()) && auto_tol() > 0, who, "auto_tol must be > 0, got ", auto_tol());
      break;
    case SwitchTrigger::Never:
      break;
  }
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
  write_int(a, "calibration", static_cast<int64_t>(calibration()));
  write_double(a, "post_switch_momentum", post_switch_momentum());
  write_int(a, "handover_steps", handover_steps());
  write_double(a, "fallback_lr", fallback_lr());
  write_int(a, "track_after_switch", track_after_switch());
  write_int(a, "nonfinite", static_cast<int64_t>(nonfinite()));
  write_dither(a, dither());
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
  calibration(static_cast<Calibration>(read_int(a, "calibration", 0)));
  post_switch_momentum(read_double(a, "post_switch_momentum", post_switch_momentum()));
  handover_steps(read_int(a, "handover_steps", handover_steps()));
  fallback_lr(read_double(a, "fallback_lr", fallback_lr()));
  track_after_switch(read_int(a, "track_after_switch", 0) != 0);
  nonfinite(static_cast<NonFinitePolicy>(read_int(a, "nonfinite", 0)));
  dither(read_dither(a));
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
  write_double(a, "lambda_ema", lambda_ema());
  write_int(a, "ema_updates", ema_updates());
  write_double(a, "last_lambda", last_lambda());
  write_double(a, "lr_sgd", lr_sgd());
  write_double(a, "switch_lr", switch_lr());
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
  lambda_ema(read_double(a, "lambda_ema", 0.0));
  ema_updates(read_int(a, "ema_updates", 0));
  last_lambda(read_double(a, "last_lambda", 0.0));
  lr_sgd(read_double(a, "lr_sgd", 0.0));
  switch_lr(read_double(a, "switch_lr", 0.0));
}

HybridSignSGD::HybridSignSGD(
    const std::vector<torch::optim::OptimizerParamGroup>& param_groups,
    HybridSignSGDOptions defaults)
    : SignoptOptimizer(param_groups, std::make_unique<HybridSignSGDOptions>(defaults)) {
  validate_groups_(defaults);
}

double HybridSignSGD::corrected(double ema, int64_t updates, double beta2, bool bias_correction) const {
  if (!bias_correction) {
    return ema;
  }
  if (updates == 0) {
    return 0.0;
  }
  return ema / (1.0 - std::pow(beta2, static_cast<double>(updates)));
}

namespace {

// One parameter's view during a step.
struct Item {
  torch::Tensor p;
  torch::Tensor g;
  HybridSignSGDParamState* st;
  const HybridSignSGDOptions* o;
  int64_t index;
  torch::Tensor u;
  double dot = 0.0;
  double gg = 0.0;
  bool updated = false; // the fused kernel already applied this step's update
};

// One EMA update of lambda; returns whether it was taken (skipped for ||g||^2 = 0 or non-finite).
bool ema_update(double lambda, double gg, double beta2, double& ema, int64_t& updates) {
  if (!(gg > 0) || !std::isfinite(lambda)) {
    return false;
  }
  ema = beta2 * ema + (1.0 - beta2) * lambda;
  ++updates;
  return true;
}

} // namespace

torch::Tensor HybridSignSGD::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = run_closure(closure);
  if (param_groups().empty() || !gradients_finite_<HybridSignSGDOptions>()) {
    return loss;
  }
  // Switch-related options are global: they are read from the first param group.
  const auto& head = static_cast<const HybridSignSGDOptions&>(param_groups().front().options());
  ++step_;
  const bool sign_phase = phase_ == HybridPhase::Sign;
  const int64_t after = sign_phase ? 0 : step_ - switch_step_;
  const bool in_handover = !sign_phase && head.handover_steps() > 0 && after <= head.handover_steps();
  const bool calibrate = sign_phase || head.track_after_switch();
  const bool need_sign = calibrate || in_handover;

  // A distributed sign phase whose aggregator has a packed exchange (comm::MajorityVote) takes the packed
  // path of sign_descent.h: pass 1 updates m and packs the signs into one bucket, the workers vote on it,
  // pass 2 applies the voted bits and computes <v, g'> and ||g'||^2 for the calibration. It needs beta1 > 0
  // and contiguous CPU tensors; otherwise the unfused path below runs (the same steps, bit for bit).
  bool packed = sign_phase && aggregator_ != nullptr && aggregator_->supports_packed() && kernels::fused_enabled();
  int64_t packed_d = 0;
  for (auto& group : param_groups()) {
    const auto* o = &static_cast<const HybridSignSGDOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!packed || !p.grad().defined()) {
        continue;
      }
      auto& st =
          detail::get_or_create_state<HybridSignSGDParamState>(*this, p, [] { return HybridSignSGDParamState(); });
      if (!st.exp_avg().defined()) {
        st.exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
      }
      packed = o->beta1() > 0 && p.device().is_cpu() && kernels::fused_eligible({p, p.grad(), st.exp_avg()});
      packed_d += p.numel();
    }
  }
  torch::Tensor bucket_sign, bucket_zero;
  std::vector<int64_t> offsets;
  int64_t bucket_zeros = 0;
  if (packed) {
    bucket_sign = packed_bucket_(0, comm::packed_words(packed_d));
    bucket_zero = packed_bucket_(1, comm::packed_words(packed_d));
  }

  std::vector<Item> items;
  int64_t index = 0;
  int64_t offset = 0;
  for (auto& group : param_groups()) {
    const auto* o = &static_cast<const HybridSignSGDOptions&>(group.options());
    for (auto& p : group.params()) {
      const int64_t param_index = index++;
      if (!p.grad().defined()) {
        continue;
      }
      auto& st =
          detail::get_or_create_state<HybridSignSGDParamState>(*this, p, [] { return HybridSignSGDParamState(); });
      st.step(st.step() + 1);
      if (need_sign && !st.exp_avg().defined()) {
        st.exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
      }
      const double mu = o->post_switch_momentum();
      if (!sign_phase && mu > 0 && !st.momentum_buffer().defined()) {
        st.momentum_buffer(torch::zeros_like(p, at::MemoryFormat::Preserve));
      }
      const auto& dither = o->dither();
      // Keyed by the parameter's own step, as in Signum, so the sign phase equals Signum exactly
      // even when some parameters miss gradients on some steps.
      const int64_t tick = need_sign ? begin_dither(dither, st.step()) : 0;
      if (packed) { // pass 1; pass 2 applies the update after the vote (item.updated)
        bucket_zeros += kernels::sign_descent_pack(
            p,
            p.grad(),
            st.exp_avg(),
            o->lr(),
            o->weight_decay(),
            o->decoupled_weight_decay(),
            o->beta1(),
            detail::fused_dither_args(dither, tick, st.step(), param_index),
            bucket_sign,
            bucket_zero,
            offset);
        offsets.push_back(offset);
        offset += p.numel();
        Item item{p, p.grad(), &st, o, param_index, {}, 0.0, 0.0, true};
        items.push_back(std::move(item));
        continue;
      }
      // The plain sign phase: one fused pass updates m and theta and computes <u, g> and ||g||^2
      // (the update does not depend on this step's lambda).
      if (sign_phase && aggregator_ == nullptr && o->beta1() > 0 && kernels::fused_eligible({p, p.grad(), st.exp_avg()})) {
        double dot_gg[2] = {0.0, 0.0};
        kernels::sign_descent_step(
            p,
            p.grad(),
            st.exp_avg(),
            o->lr(),
            o->weight_decay(),
            o->decoupled_weight_decay(),
            o->beta1(),
            detail::fused_dither_args(dither, tick, st.step(), param_index),
            dot_gg);
        Item item{p, p.grad(), &st, o, param_index, {}, dot_gg[0], dot_gg[1], true};
        items.push_back(std::move(item));
        continue;
      }
      // The plain SGD phase.
      if (!sign_phase && !calibrate && !in_handover && kernels::fused_eligible({p, p.grad(), st.momentum_buffer()})) {
        Item item{p, p.grad(), &st, o, param_index, {}, 0.0, 0.0, true};
        items.push_back(std::move(item));
        continue; // applied below, once eta is known
      }
      torch::Tensor g = p.grad();
      if (o->weight_decay() != 0 && !o->decoupled_weight_decay()) {
        g = g + p * o->weight_decay();
      }
      Item item{p, g, &st, o, param_index, {}, 0.0, 0.0, false};
      if (need_sign) {
        item.u = detail::sign_direction(g, st.exp_avg(), o->beta1(), dither, st.step(), tick, param_index);
        if (o->beta1() == 0) {
          // sign_direction keeps no EMA for beta1 = 0; m is then the plain gradient.
          st.exp_avg().copy_(g);
        }
      }
      if (calibrate && aggregator_ == nullptr) {
        item.dot = kernels::dot(item.u, g);
        item.gg = kernels::sum_sq(g);
      }
      items.push_back(std::move(item));
    }
  }
  if (packed && !items.empty()) {
    const auto voted = aggregator_->aggregate_packed(
        bucket_sign, bucket_zeros > 0 ? bucket_zero : torch::Tensor(), packed_d, static_cast<int64_t>(items.size()), step_);
    std::vector<double> sums;
    for (size_t i = 0; i < items.size(); ++i) {
      auto& it = items[i];
      double dot_gg[2] = {0.0, 0.0};
      kernels::apply_packed_direction(
          it.p, it.o->lr(), it.o->weight_decay(), it.o->decoupled_weight_decay(), voted.sign, voted.zero, offsets[i],
          it.g, dot_gg);
      sums.push_back(dot_gg[0]);
      sums.push_back(dot_gg[1]);
    }
    aggregator_->allreduce_sum(sums);
    for (size_t i = 0; i < items.size(); ++i) {
      items[i].dot = sums[2 * i];
      items[i].gg = sums[2 * i + 1];
    }
  } else if (aggregator_ != nullptr && need_sign && !items.empty()) {
    // Distributed: the workers vote on the signs; the calibration uses the voted direction and the
    // sums of <v, g_w> and ||g_w||^2 over the workers (two scalars per tensor, one allreduce).
    std::vector<torch::Tensor> local;
    for (const auto& it : items)
      local.push_back(it.u);
    auto voted = aggregator_->aggregate_signs(local, step_);
    TORCH_CHECK(voted.size() == items.size(), "SignAggregator: aggregate_signs returned ", voted.size(),
                " tensors for ", items.size(), " parameters");
    std::vector<double> sums;
    for (size_t i = 0; i < items.size(); ++i) {
      TORCH_CHECK(voted[i].sizes() == items[i].u.sizes(), "SignAggregator: wrong shape for parameter ", i);
      items[i].u = voted[i].to(items[i].u.dtype());
      if (calibrate) {
        sums.push_back(kernels::dot(items[i].u, items[i].g));
        sums.push_back(kernels::sum_sq(items[i].g));
      }
    }
    if (calibrate) {
      aggregator_->allreduce_sum(sums);
      for (size_t i = 0; i < items.size(); ++i) {
        items[i].dot = sums[2 * i];
        items[i].gg = sums[2 * i + 1];
      }
    }
  }

  // Calibration: lambda_t = |<gamma u, g>| / (||g||^2 + eps), then its EMA.
  bool all_updated = !items.empty();
  bool all_converged = !items.empty();
  if (calibrate) {
    if (head.calibration() == Calibration::Global) {
      double num = 0.0, den = 0.0;
      for (const auto& it : items) {
        num += it.o->lr() * it.dot;
        den += it.gg;
      }
      const double lambda = std::abs(num) / (den + head.eps());
      const bool updated = ema_update(lambda, den, head.beta2(), lambda_ema_, ema_updates_);
      if (updated) {
        last_lambda_ = lambda;
      }
      const double lbar = corrected(lambda_ema_, ema_updates_, head.beta2(), head.bias_correction());
      all_updated = updated;
      all_converged = updated && std::abs(lbar - lambda) < head.auto_tol() * lbar;
    } else {
      for (auto& it : items) {
        const double lambda = it.o->lr() * std::abs(it.dot) / (it.gg + head.eps());
        double ema = it.st->lambda_ema();
        int64_t updates = it.st->ema_updates();
        const bool updated = ema_update(lambda, it.gg, head.beta2(), ema, updates);
        it.st->lambda_ema(ema);
        it.st->ema_updates(updates);
        if (updated) {
          it.st->last_lambda(lambda);
        }
        const double lbar = corrected(ema, updates, head.beta2(), head.bias_correction());
        all_updated = all_updated && updated;
        all_converged = all_converged && updated && std::abs(lbar - lambda) < head.auto_tol() * lbar;
      }
    }
  }

  // The update.
  for (auto& it : items) {
    const double gamma = it.o->lr();
    if (sign_phase) {
      if (it.updated) {
        continue;
      }
      if (it.o->decoupled_weight_decay() && it.o->weight_decay() != 0) {
        it.p.mul_(1.0 - gamma * it.o->weight_decay());
      }
      it.p.add_(it.u, -gamma);
      continue;
    }
    double eta;
    if (head.track_after_switch()) {
      const double tracked = head.calibration() == Calibration::Global
          ? corrected(lambda_ema_, ema_updates_, head.beta2(), head.bias_correction())
          : corrected(it.st->lambda_ema(), it.st->ema_updates(), head.beta2(), head.bias_correction());
      eta = std::isfinite(tracked) && tracked > 0 ? tracked : head.fallback_lr();
    } else {
      const double lr_sgd = head.calibration() == Calibration::Global ? lr_sgd_ : it.st->lr_sgd();
      const double s_sw = it.st->switch_lr() > 0 ? it.st->switch_lr() : gamma;
      eta = (lr_sgd > 0 ? lr_sgd : head.fallback_lr()) * gamma / s_sw;
    }
    if (it.updated) { // eligible for the fused SGD kernel; it.g is the raw gradient here
      kernels::sgd_step(
          it.p,
          it.g,
          it.st->momentum_buffer(),
          eta,
          it.o->weight_decay(),
          it.o->decoupled_weight_decay(),
          it.o->post_switch_momentum());
      continue;
    }
    if (it.o->decoupled_weight_decay() && it.o->weight_decay() != 0) {
      it.p.mul_(1.0 - eta * it.o->weight_decay());
    }
    torch::Tensor direction = it.g;
    const double mu = it.o->post_switch_momentum();
    if (mu > 0) {
      it.st->momentum_buffer().mul_(mu).add_(it.g);
      direction = it.st->momentum_buffer() * (1.0 - mu);
    }
    if (in_handover) {
      const double w = static_cast<double>(after) / static_cast<double>(head.handover_steps());
      it.p.sub_(it.u * ((1.0 - w) * gamma) + direction * (w * eta));
    } else {
      it.p.sub_(direction * eta);
    }
  }

  if (sign_phase) {
    bool fire = false;
    switch (head.trigger()) {
      case SwitchTrigger::Step:
        fire = step_ == head.switch_step();
        break;
      case SwitchTrigger::Epoch:
        fire = step_ == head.switch_epoch() * head.steps_per_epoch();
        break;
      case SwitchTrigger::Auto:
        fire = step_ > 1 && all_updated && all_converged;
        break;
      case SwitchTrigger::Never:
        break;
    }
    if (fire) {
      do_switch_();
    }
  }
  return loss;
}

void HybridSignSGD::switch_now() {
  if (phase_ == HybridPhase::Sign) {
    do_switch_();
  }
}

void HybridSignSGD::do_switch_() {
  const auto& head = static_cast<const HybridSignSGDOptions&>(param_groups().front().options());
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
  if (head.calibration() == Calibration::Global) {
    lr_sgd_ = checked(corrected(lambda_ema_, ema_updates_, head.beta2(), head.bias_correction()), "(global)");
  }
  int64_t index = 0;
  for (auto& group : param_groups()) {
    const double group_lr = static_cast<const HybridSignSGDOptions&>(group.options()).lr();
    for (auto& p : group.params()) {
      const int64_t param_index = index++;
      auto* st = detail::find_state<HybridSignSGDParamState>(*this, p);
      if (st == nullptr) {
        continue;
      }
      st->switch_lr(group_lr);
      if (head.calibration() == Calibration::PerTensor) {
        st->lr_sgd(checked(
            corrected(st->lambda_ema(), st->ema_updates(), head.beta2(), head.bias_correction()),
            "of parameter " + std::to_string(param_index)));
      }
    }
  }
}

double HybridSignSGD::calibrated_lr() const {
  if (param_groups().empty()) {
    return 0.0;
  }
  const auto& head = static_cast<const HybridSignSGDOptions&>(param_groups().front().options());
  const bool live = phase_ == HybridPhase::Sign || head.track_after_switch();
  if (head.calibration() == Calibration::Global) {
    return live ? corrected(lambda_ema_, ema_updates_, head.beta2(), head.bias_correction()) : lr_sgd_;
  }
  double sum = 0.0;
  int64_t n = 0;
  for (const auto& kv : state()) {
    const auto& st = static_cast<const HybridSignSGDParamState&>(*kv.second);
    sum += live ? corrected(st.lambda_ema(), st.ema_updates(), head.beta2(), head.bias_correction()) : st.lr_sgd();
    ++n;
  }
  return n == 0 ? 0.0 : sum / static_cast<double>(n);
}

double HybridSignSGD::last_lambda() const {
  if (param_groups().empty()) {
    return 0.0;
  }
  const auto& head = static_cast<const HybridSignSGDOptions&>(param_groups().front().options());
  if (head.calibration() == Calibration::Global) {
    return last_lambda_;
  }
  double sum = 0.0;
  int64_t n = 0;
  for (const auto& kv : state()) {
    sum += static_cast<const HybridSignSGDParamState&>(*kv.second).last_lambda();
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
  write_double(archive, "signopt/hybrid/lambda_ema", lambda_ema_);
  write_int(archive, "signopt/hybrid/ema_updates", ema_updates_);
  write_double(archive, "signopt/hybrid/last_lambda", last_lambda_);
  write_double(archive, "signopt/hybrid/lr_sgd", lr_sgd_);
}

void HybridSignSGD::load(torch::serialize::InputArchive& archive) {
  using namespace detail;
  load_as_<HybridSignSGDParamState, HybridSignSGDOptions>(archive);
  step_ = read_int(archive, "signopt/hybrid/step", 0);
  phase_ = static_cast<HybridPhase>(read_int(archive, "signopt/hybrid/phase", 0));
  switch_step_ = read_int(archive, "signopt/hybrid/switch_step", -1);
  lambda_ema_ = read_double(archive, "signopt/hybrid/lambda_ema", 0.0);
  ema_updates_ = read_int(archive, "signopt/hybrid/ema_updates", 0);
  last_lambda_ = read_double(archive, "signopt/hybrid/last_lambda", 0.0);
  lr_sgd_ = read_double(archive, "signopt/hybrid/lr_sgd", 0.0);
}

} // namespace signopt

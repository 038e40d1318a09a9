// EF-SignSGD: options, state serialization and step.
#include <signopt/optim/factory.h>
#include <signopt/kernels/fused.h>
#include <signopt/kernels/reductions.h>
#include <signopt/kernels/reference.h>
#include <signopt/optim/ef_sign_sgd.h>

#include <torch/torch.h>

#include <cmath>

namespace signopt {

EFSignSGDOptions::EFSignSGDOptions(double lr) : lr_(lr) {}

void EFSignSGDOptions::validate() const {
  detail::check_common("EFSignSGDOptions", lr(), weight_decay(), std::nullopt);
  detail::check_arg(
      momentum() >= 0 && momentum() < 1, "EFSignSGDOptions", "momentum must be in [0, 1), got ", momentum());
}

void EFSignSGDOptions::serialize(torch::serialize::OutputArchive& a) const {
  detail::write_double(a, "lr", lr());
  detail::write_double(a, "momentum", momentum());
  detail::write_double(a, "weight_decay", weight_decay());
  detail::write_int(a, "decoupled_weight_decay", decoupled_weight_decay());
  detail::write_int(a, "nonfinite", static_cast<int64_t>(nonfinite()));
}

void EFSignSGDOptions::serialize(torch::serialize::InputArchive& a) {
  lr(detail::read_double(a, "lr", lr()));
  momentum(detail::read_double(a, "momentum", momentum()));
  weight_decay(detail::read_double(a, "weight_decay", weight_decay()));
  decoupled_weight_decay(detail::read_int(a, "decoupled_weight_decay", 0) != 0);
  nonfinite(static_cast<NonFinitePolicy>(detail::read_int(a, "nonfinite", 0)));
}

void EFSignSGDParamState::serialize(torch::serialize::OutputArchive& a) const {
  detail::write_int(a, "step", step());
  if (error().defined()) {
    a.write("error", error(), /*is_buffer=*/true);
  }
  if (momentum_buffer().defined()) {
    a.write("momentum_buffer", momentum_buffer(), /*is_buffer=*/true);
  }
}

void EFSignSGDParamState::serialize(torch::serialize::InputArchive& a) {
  step(detail::read_int(a, "step", 0));
  torch::Tensor e;
  if (a.try_read("error", e, /*is_buffer=*/true)) {
    error(e);
  }
  torch::Tensor m;
  if (a.try_read("momentum_buffer", m, /*is_buffer=*/true)) {
    momentum_buffer(m);
  }
}

EFSignSGD::EFSignSGD(const std::vector<torch::optim::OptimizerParamGroup>& param_groups, EFSignSGDOptions defaults)
    : SignoptOptimizer(param_groups, std::make_unique<EFSignSGDOptions>(defaults)) {
  validate_groups_(defaults);
}

namespace {

// One parameter's state at the start of its step: created with a zero error on first use, its step
// counted, its momentum buffer created when the group has momentum.
EFSignSGDParamState& begin_ef_step(detail::SignoptOptimizer& opt, const torch::Tensor& p, const EFSignSGDOptions& o) {
  auto& st = detail::get_or_create_state<EFSignSGDParamState>(opt, p, [&] {
    EFSignSGDParamState s;
    s.error(torch::zeros_like(p, at::MemoryFormat::Preserve));
    return s;
  });
  st.step(st.step() + 1);
  if (o.momentum() > 0 && !st.momentum_buffer().defined()) {
    st.momentum_buffer(torch::zeros_like(p, at::MemoryFormat::Preserve));
  }
  return st;
}

kernels::EfStepArgs ef_args(const EFSignSGDOptions& o) {
  kernels::EfStepArgs args;
  args.lr = o.lr();
  args.weight_decay = o.weight_decay();
  args.decoupled = o.decoupled_weight_decay();
  args.momentum = o.momentum();
  return args;
}

} // namespace

torch::Tensor EFSignSGD::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = run_closure(closure);
  if (!gradients_finite_<EFSignSGDOptions>()) {
    return loss;
  }
  if (aggregator_ != nullptr) {
    step_distributed_();
    return loss;
  }
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const EFSignSGDOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) {
        continue;
      }
      auto& st = begin_ef_step(*this, p, o);
      const kernels::EfStepArgs args = ef_args(o);
      if (kernels::fused_eligible({p, p.grad(), st.error(), st.momentum_buffer()})) {
        kernels::ef_sign_sgd_step(p, p.grad(), st.error(), st.momentum_buffer(), args);
      } else {
        kernels::reference::ef_sign_sgd_step(p, p.grad(), st.error(), st.momentum_buffer(), args);
      }
    }
  }
  return loss;
}

// Distributed EF-SignSGD (dist-EF-SGD, Zheng et al. 2019): each worker compresses its own p = lr g + e to
// Delta_w = (||p||_1 / d) s with s = sign(p) taken as +1 where p is 0 (one bit per coordinate cannot send 0),
// keeps the error of what it sent, e = p - Delta_w, and every worker applies the workers' mean Delta.
void EFSignSGD::step_distributed_() {
  struct Item {
    torch::Tensor param, corrected, sign;
    double scale = 0;
    EFSignSGDParamState* state = nullptr;
  };
  std::vector<Item> items;
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const EFSignSGDOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) {
        continue;
      }
      auto& st = begin_ef_step(*this, p, o);
      Item item;
      item.param = p;
      item.corrected = kernels::reference::ef_corrected(p, p.grad(), st.error(), st.momentum_buffer(), ef_args(o));
      const double d = static_cast<double>(std::max<int64_t>(item.corrected.numel(), 1));
      item.scale = kernels::sum_abs(item.corrected) / d;
      item.sign = torch::where(item.corrected >= 0, 1.0, -1.0).to(p.scalar_type()).contiguous();
      item.state = &st;
      items.push_back(std::move(item));
    }
  }
  if (items.empty()) {
    return;
  }
  std::vector<torch::Tensor> signs;
  std::vector<double> scales;
  for (const auto& item : items) {
    signs.push_back(item.sign);
    scales.push_back(item.scale);
  }
  const auto mean = aggregator_->aggregate_scaled_signs(signs, scales, items.front().state->step());
  TORCH_CHECK(
      mean.size() == items.size(),
      "SignAggregator: aggregate_scaled_signs returned ",
      mean.size(),
      " tensors for ",
      items.size(),
      " parameters");
  for (size_t i = 0; i < items.size(); ++i) {
    auto& item = items[i];
    item.param.sub_(mean[i].to(item.param.scalar_type()).view(item.param.sizes()));
    item.state->error(item.corrected - item.sign * item.scale);
  }
}

void EFSignSGD::save(torch::serialize::OutputArchive& archive) const {
  save_as_<EFSignSGDParamState, EFSignSGDOptions>(archive);
}

void EFSignSGD::load(torch::serialize::InputArchive& archive) {
  load_as_<EFSignSGDParamState, EFSignSGDOptions>(archive);
}

MadeOptimizer make_ef_signsgd(std::vector<torch::Tensor> params, const OptimizerSettings& s) {
  return detail::made(std::make_unique<EFSignSGD>(
      std::move(params),
      EFSignSGDOptions(s.lr)
          .momentum(s.momentum)
          .weight_decay(s.weight_decay)
          .decoupled_weight_decay(s.decoupled_weight_decay)
          .nonfinite(s.nonfinite)));
}

} // namespace signopt

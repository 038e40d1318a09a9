// Lion: options, state serialization and step.
#include <signopt/optim/factory.h>
#include <signopt/kernels/fused.h>
#include <signopt/kernels/reference.h>
#include <signopt/optim/lion.h>

#include <torch/torch.h>

namespace signopt {

LionOptions::LionOptions(double lr) : lr_(lr) {}

void LionOptions::validate() const {
  detail::check_common("LionOptions", lr(), weight_decay(), std::nullopt);
  detail::check_arg(beta1() >= 0 && beta1() < 1, "LionOptions", "beta1 must be in [0, 1), got ", beta1());
  detail::check_arg(beta2() >= 0 && beta2() < 1, "LionOptions", "beta2 must be in [0, 1), got ", beta2());
}

void LionOptions::serialize(torch::serialize::OutputArchive& a) const {
  detail::write_double(a, "lr", lr());
  detail::write_double(a, "beta1", beta1());
  detail::write_double(a, "beta2", beta2());
  detail::write_double(a, "weight_decay", weight_decay());
  detail::write_int(a, "decoupled_weight_decay", decoupled_weight_decay());
  detail::write_int(a, "nonfinite", static_cast<int64_t>(nonfinite()));
}

void LionOptions::serialize(torch::serialize::InputArchive& a) {
  lr(detail::read_double(a, "lr", lr()));
  beta1(detail::read_double(a, "beta1", beta1()));
  beta2(detail::read_double(a, "beta2", beta2()));
  weight_decay(detail::read_double(a, "weight_decay", weight_decay()));
  decoupled_weight_decay(detail::read_int(a, "decoupled_weight_decay", 1) != 0);
  nonfinite(static_cast<NonFinitePolicy>(detail::read_int(a, "nonfinite", 0)));
}

void LionParamState::serialize(torch::serialize::OutputArchive& a) const {
  detail::write_int(a, "step", step());
  if (exp_avg().defined()) {
    a.write("exp_avg", exp_avg(), /*is_buffer=*/true);
  }
}

void LionParamState::serialize(torch::serialize::InputArchive& a) {
  step(detail::read_int(a, "step", 0));
  torch::Tensor m;
  if (a.try_read("exp_avg", m, /*is_buffer=*/true)) {
    exp_avg(m);
  }
}

Lion::Lion(const std::vector<torch::optim::OptimizerParamGroup>& param_groups, LionOptions defaults)
    : SignoptOptimizer(param_groups, std::make_unique<LionOptions>(defaults)) {
  validate_groups_(defaults);
}

torch::Tensor Lion::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = run_closure(closure);
  if (!gradients_finite_<LionOptions>()) {
    return loss;
  }
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const LionOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) {
        continue;
      }
      auto& st = detail::get_or_create_state<LionParamState>(*this, p, [&] {
        LionParamState s;
        s.exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
        return s;
      });
      st.step(st.step() + 1);
      kernels::LionStepArgs args;
      args.lr = o.lr();
      args.weight_decay = o.weight_decay();
      args.decoupled = o.decoupled_weight_decay();
      args.beta1 = o.beta1();
      args.beta2 = o.beta2();
      if (kernels::fused_eligible({p, p.grad(), st.exp_avg()})) {
        kernels::lion_step(p, p.grad(), st.exp_avg(), args);
      } else {
        kernels::reference::lion_step(p, p.grad(), st.exp_avg(), args);
      }
    }
  }
  return loss;
}

void Lion::save(torch::serialize::OutputArchive& archive) const {
  save_as_<LionParamState, LionOptions>(archive);
}

void Lion::load(torch::serialize::InputArchive& archive) {
  load_as_<LionParamState, LionOptions>(archive);
}

MadeOptimizer make_lion(std::vector<torch::Tensor> params, const OptimizerSettings& s) {
  return detail::made(std::make_unique<Lion>(
      std::move(params),
      LionOptions(s.lr)
          .beta1(s.beta1)
          .beta2(s.beta2)
          .weight_decay(s.weight_decay)
          .decoupled_weight_decay(s.decoupled_weight_decay)
          .nonfinite(s.nonfinite)));
}

} // namespace signopt

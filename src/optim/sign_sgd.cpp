// SignSGD: options, state serialization and step (the shared sign-descent path with beta = 0).
#include <signopt/optim/factory.h>
#include <signopt/optim/sign_sgd.h>

#include "sign_descent.h"

namespace signopt {

SignSGDOptions::SignSGDOptions(double lr) : lr_(lr) {}

void SignSGDOptions::validate() const {
  detail::check_common("SignSGDOptions", lr(), weight_decay(), dither());
}

void SignSGDOptions::serialize(torch::serialize::OutputArchive& a) const {
  detail::write_double(a, "lr", lr());
  detail::write_double(a, "weight_decay", weight_decay());
  detail::write_int(a, "decoupled_weight_decay", decoupled_weight_decay());
  detail::write_int(a, "nonfinite", static_cast<int64_t>(nonfinite()));
  detail::write_dither(a, dither());
  detail::write_rounding(a, rounding(), rounding_seed());
}

void SignSGDOptions::serialize(torch::serialize::InputArchive& a) {
  lr(detail::read_double(a, "lr", lr()));
  weight_decay(detail::read_double(a, "weight_decay", weight_decay()));
  decoupled_weight_decay(detail::read_int(a, "decoupled_weight_decay", 0) != 0);
  nonfinite(static_cast<NonFinitePolicy>(detail::read_int(a, "nonfinite", 0)));
  dither(detail::read_dither(a));
  detail::read_rounding(a, rounding_, rounding_seed_);
}

void SignSGDParamState::serialize(torch::serialize::OutputArchive& a) const {
  detail::write_int(a, "step", step());
  if (dither_base().defined()) {
    a.write("dither_base", dither_base(), /*is_buffer=*/true);
  }
}

void SignSGDParamState::serialize(torch::serialize::InputArchive& a) {
  step(detail::read_int(a, "step", 0));
  torch::Tensor base;
  if (a.try_read("dither_base", base, /*is_buffer=*/true)) {
    dither_base(base);
  }
}

SignSGD::SignSGD(const std::vector<torch::optim::OptimizerParamGroup>& param_groups, SignSGDOptions defaults)
    : SignoptOptimizer(param_groups, std::make_unique<SignSGDOptions>(defaults)) {
  validate_groups_(defaults);
}

torch::Tensor SignSGD::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = run_closure(closure);
  detail::sign_descent_step<SignSGDOptions, SignSGDParamState>(
      *this,
      [](const SignSGDOptions&) { return 0.0; },
      [](const SignSGDOptions&, SignSGDParamState&, const torch::Tensor&) -> torch::Tensor& {
        TORCH_INTERNAL_ASSERT(false, "SignSGD keeps no momentum");
      });
  return loss;
}

void SignSGD::save(torch::serialize::OutputArchive& archive) const {
  save_as_<SignSGDParamState, SignSGDOptions>(archive);
}

void SignSGD::load(torch::serialize::InputArchive& archive) {
  load_as_<SignSGDParamState, SignSGDOptions>(archive);
}

MadeOptimizer make_signsgd(std::vector<torch::Tensor> params, const OptimizerSettings& s) {
  return detail::made(std::make_unique<SignSGD>(
      std::move(params),
      SignSGDOptions(s.lr)
          .weight_decay(s.weight_decay)
          .decoupled_weight_decay(s.decoupled_weight_decay)
          .dither(s.dither)
          .nonfinite(s.nonfinite)
          .rounding(s.rounding)
          .rounding_seed(s.rounding_seed)));
}

} // namespace signopt

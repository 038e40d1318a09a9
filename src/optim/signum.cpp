// Signum: options, state serialization and step (the shared sign-descent path).
#include <signopt/optim/factory.h>
#include <signopt/optim/signum.h>

#include "sign_descent.h"

#include <cmath>

namespace signopt {

SignumOptions::SignumOptions(double lr) : lr_(lr) {}

void SignumOptions::validate() const {
  detail::check_common("SignumOptions", lr(), weight_decay(), dither());
  detail::check_arg(
      std::isfinite(momentum()) && momentum() >= 0 && momentum() < 1,
      "SignumOptions",
      "momentum must be in [0, 1), got ",
      momentum());
}

void SignumOptions::serialize(torch::serialize::OutputArchive& a) const {
  detail::write_double(a, "lr", lr());
  detail::write_double(a, "momentum", momentum());
  detail::write_double(a, "weight_decay", weight_decay());
  detail::write_int(a, "decoupled_weight_decay", decoupled_weight_decay());
  detail::write_int(a, "nonfinite", static_cast<int64_t>(nonfinite()));
  detail::write_dither(a, dither());
  detail::write_rounding(a, rounding(), rounding_seed());
  detail::write_momentum_dtype(a, momentum_dtype());
}

void SignumOptions::serialize(torch::serialize::InputArchive& a) {
  lr(detail::read_double(a, "lr", lr()));
  momentum(detail::read_double(a, "momentum", momentum()));
  weight_decay(detail::read_double(a, "weight_decay", weight_decay()));
  decoupled_weight_decay(detail::read_int(a, "decoupled_weight_decay", 0) != 0);
  nonfinite(static_cast<NonFinitePolicy>(detail::read_int(a, "nonfinite", 0)));
  dither(detail::read_dither(a));
  detail::read_rounding(a, rounding_, rounding_seed_);
  momentum_dtype(detail::read_momentum_dtype(a));
}

void SignumParamState::serialize(torch::serialize::OutputArchive& a) const {
  detail::write_int(a, "step", step());
  if (momentum_buffer().defined()) {
    a.write("momentum_buffer", momentum_buffer(), /*is_buffer=*/true);
  }
  if (dither_base().defined()) {
    a.write("dither_base", dither_base(), /*is_buffer=*/true);
  }
}

void SignumParamState::serialize(torch::serialize::InputArchive& a) {
  step(detail::read_int(a, "step", 0));
  torch::Tensor buffer;
  if (a.try_read("momentum_buffer", buffer, /*is_buffer=*/true)) {
    momentum_buffer(buffer);
  }
  torch::Tensor base;
  if (a.try_read("dither_base", base, /*is_buffer=*/true)) {
    dither_base(base);
  }
}

Signum::Signum(const std::vector<torch::optim::OptimizerParamGroup>& param_groups, SignumOptions defaults)
    : SignoptOptimizer(param_groups, std::make_unique<SignumOptions>(defaults)) {
  validate_groups_(defaults);
}

torch::Tensor Signum::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = run_closure(closure);
  detail::sign_descent_step<SignumOptions, SignumParamState>(
      *this,
      [](const SignumOptions& o) { return o.momentum(); },
      [](const SignumOptions& o, SignumParamState& st, const torch::Tensor& p) -> torch::Tensor& {
        if (!st.momentum_buffer().defined()) {
          st.momentum_buffer(detail::zero_momentum(p, o.momentum_dtype()));
        }
        return st.momentum_buffer();
      });
  return loss;
}

void Signum::save(torch::serialize::OutputArchive& archive) const {
  save_as_<SignumParamState, SignumOptions>(archive);
}

void Signum::load(torch::serialize::InputArchive& archive) {
  load_as_<SignumParamState, SignumOptions>(archive);
}

MadeOptimizer make_signum(std::vector<torch::Tensor> params, const OptimizerSettings& s) {
  if (s.log_calibration) {
    // The never-switching hybrid: Signum bit for bit, plus the calibration columns. The trigger's own fields
    // keep their defaults (a checkpoint records them), whatever trigger the settings carry.
    const HybridSignSGDOptions d;
    HybridSignSGDOptions o = hybrid_options_from(s, s.momentum);
    o.switch_step(d.switch_step())
        .switch_epoch(d.switch_epoch())
        .steps_per_epoch(d.steps_per_epoch())
        .auto_tol(d.auto_tol());
    auto hybrid = std::make_unique<HybridSignSGD>(std::move(params), o.switch_never());
    HybridSignSGD* view = hybrid.get();
    return detail::made(std::move(hybrid), view);
  }
  return detail::made(std::make_unique<Signum>(
      std::move(params),
      SignumOptions(s.lr)
          .momentum(s.momentum)
          .weight_decay(s.weight_decay)
          .decoupled_weight_decay(s.decoupled_weight_decay)
          .dither(s.dither)
          .nonfinite(s.nonfinite)
          .rounding(s.rounding)
          .rounding_seed(s.rounding_seed)
          .momentum_dtype(s.momentum_dtype)));
}

} // namespace signopt

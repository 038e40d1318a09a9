// Internal: the step of SignSGD and Signum (one code path, so Signum(beta = 0) == SignSGD exactly).
#pragma once

#include <signopt/compat.h>
#include <signopt/kernels/fused.h>
#include <signopt/kernels/reference.h>
#include <signopt/optim/common.h>

#include "float_copy.h"
#include "packed_exchange.h"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

namespace signopt::detail {

/// One step of sign descent over every parameter with a gradient. `beta_of(options)` gives a
/// group's EMA coefficient (0 for SignSGD); `buffer_of(options, state, p)` gives the EMA buffer to update
/// (created on first use), called only when beta > 0.
/// The step with an aggregator that has a packed exchange (SignAggregator::supports_packed), when every
/// parameter with a gradient, its gradient and its buffer are contiguous CPU tensors of the parameter's float
/// dtype (parameters may differ) and the fused kernels are on: pass 1 (kernels::sign_descent_pack) updates each buffer
/// and packs each sign into one bucket at the parameter's bit offset, the aggregator exchanges the bucket, and pass 2
/// (kernels::apply_packed_direction) applies the agreed bits. It takes exactly the steps of the unfused
/// path below (same bucket layout, same zero coins; tests/comm/test_comm_vote.cpp). Returns false, having
/// changed nothing but creating missing buffers, when the parameters do not qualify.
template <typename Options, typename State, typename BetaOf, typename BufferOf>
bool packed_sign_descent_step(SignoptOptimizer& opt, SignAggregator& aggregator, BetaOf beta_of, BufferOf buffer_of) {
  struct Item {
    torch::Tensor p;
    State* st;
    const Options* o;
    double beta;
    int64_t param_index;
    int64_t offset = 0;
  };
  // The qualification visits every parameter with a gradient once: each becomes an item on the way.
  std::vector<Item> items;
  int64_t d = 0;
  const bool qualifies = packed_step_qualifies<Options>(
      opt,
      [&](const Options& o, const torch::Tensor& p, int64_t param_index) {
        auto& st = get_or_create_state<State>(opt, p, [] { return State(); });
        const double beta = beta_of(o);
        items.push_back({p, &st, &o, beta, param_index});
        return beta > 0 ? buffer_of(o, st, p) : torch::Tensor();
      },
      [](const Options&) { return true; },
      d);
  if (!qualifies) {
    return false;
  }
  if (items.empty()) {
    return true;
  }
  PackedExchange exchange(opt, d);
  int64_t aggregate_step = 0;
  for (auto& it : items) {
    auto& st = *it.st;
    st.step(st.step() + 1);
    const auto& dither = it.o->dither();
    const int64_t tick = opt.begin_dither(dither, st.step());
    torch::Tensor no_buffer;
    torch::Tensor& buffer = it.beta > 0 ? buffer_of(*it.o, st, it.p) : no_buffer;
    kernels::DitherArgs dither_args = fused_dither_args(dither, tick, st.step(), it.param_index);
    attach_scale_state(dither_args, st.dither_base(), it.p);
    it.offset = exchange.pack(
        it.p,
        it.p.grad(),
        buffer,
        it.o->lr(),
        it.o->weight_decay(),
        it.o->decoupled_weight_decay(),
        it.beta,
        dither_args);
    aggregate_step = std::max(aggregate_step, st.step());
  }
  const auto voted = exchange.exchange(aggregator, aggregate_step);
  for (auto& it : items) {
    kernels::apply_packed_direction(
        it.p, it.o->lr(), it.o->weight_decay(), it.o->decoupled_weight_decay(), voted.sign, voted.zero, it.offset);
  }
  return true;
}

template <typename Options, typename State, typename BetaOf, typename BufferOf>
void sign_descent_step(SignoptOptimizer& opt, BetaOf beta_of, BufferOf buffer_of) {
  opt.begin_dither_record_();
  if (!opt.gradients_finite_<Options>()) {
    return;
  }
  SignAggregator* aggregator = opt.aggregator().get();
  if (aggregator != nullptr && aggregator->supports_packed() &&
      packed_sign_descent_step<Options, State>(opt, *aggregator, beta_of, buffer_of)) {
    return;
  }
  // With an aggregator: the local signs of every parameter, exchanged once, then applied. A 16-bit parameter is
  // stepped on a float32 copy (pending_params) and stored into itself (pending_targets) by its rounding.
  std::vector<torch::Tensor> pending_params, pending_targets, local;
  std::vector<kernels::RoundingArgs> pending_rounding;
  std::vector<double> pending_lr;
  int64_t aggregate_step = 0;
  int64_t index = 0;
  for (auto& group : opt.param_groups()) {
    const auto& o = static_cast<const Options&>(group.options());
    const double beta = beta_of(o);
    for (auto& p : group.params()) {
      const int64_t param_index = index++;
      if (!p.grad().defined()) {
        continue;
      }
      auto& st = get_or_create_state<State>(opt, p, [] { return State(); });
      st.step(st.step() + 1);
      const double lr = o.lr();
      const auto& dither = o.dither();
      const int64_t tick = opt.begin_dither(dither, st.step());
      torch::Tensor no_buffer;
      torch::Tensor& buffer = beta > 0 ? buffer_of(o, st, p) : no_buffer;
      kernels::SignStepArgs args{
          lr,
          o.weight_decay(),
          o.decoupled_weight_decay(),
          beta,
          fused_dither_args(dither, tick, st.step(), param_index),
          rounding_args(o.rounding(), o.rounding_seed(), st.step(), param_index)};
      attach_scale_state(args.dither, st.dither_base(), p);
      if (aggregator == nullptr) {
        const double s = kernels::fused_sign_eligible(p, p.grad(), buffer)
            ? kernels::sign_descent_step(p, p.grad(), buffer, args)
            : kernels::reference::sign_descent_step(p, p.grad(), buffer, args);
        opt.record_dither_std_(param_index, s);
        continue;
      }
      // With an aggregator: the local direction now, the voted one applied after the exchange.
      const bool half = kernels::half_type_of(p.scalar_type()).has_value();
      torch::Tensor work = half ? p.to(torch::kFloat) : p;
      const torch::Tensor g = kernels::reference::decayed_gradient(
          work, half ? p.grad().to(torch::kFloat) : p.grad(), lr, o.weight_decay(), o.decoupled_weight_decay());
      pending_params.push_back(work);
      pending_targets.push_back(half ? p : torch::Tensor());
      pending_rounding.push_back(args.rounding);
      pending_lr.push_back(lr);
      double s = 0.0;
      FloatWorkingCopy m(buffer);
      local.push_back(kernels::reference::sign_direction(g, m.value, beta, args.dither, &s));
      m.store();
      opt.record_dither_std_(param_index, s);
      aggregate_step = std::max(aggregate_step, st.step());
    }
  }
  if (aggregator == nullptr || local.empty()) {
    return;
  }
  const auto voted = aggregator->aggregate_signs(local, aggregate_step);
  check_arg(
      voted.size() == local.size(),
      "SignAggregator",
      "aggregate_signs returned ",
      voted.size(),
      " tensors for ",
      local.size(),
      " parameters");
  for (size_t i = 0; i < voted.size(); ++i) {
    check_arg(
        voted[i].sizes() == local[i].sizes(),
        "SignAggregator",
        "aggregate_signs returned a tensor of shape ",
        voted[i].sizes(),
        " for parameter ",
        i,
        " of shape ",
        local[i].sizes());
    pending_params[i].add_(voted[i].to(pending_params[i].dtype()), -pending_lr[i]);
    if (pending_targets[i].defined()) {
      kernels::reference::store_rounded(pending_targets[i], pending_params[i], pending_rounding[i]);
    }
  }
}

} // namespace signopt::detail

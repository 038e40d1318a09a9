// The one place that knows how LibTorch versions differ (1.13 vs 2.x); nothing else spells them.
#pragma once

#include <torch/optim/optimizer.h>
#include <torch/version.h>

#include <string>

namespace signopt::detail {

#if TORCH_VERSION_MAJOR >= 2
/// Key type of torch::optim::Optimizer::state(): void* since LibTorch 2.x.
using StateKey = void*;
inline StateKey state_key(const torch::Tensor& p) {
  return p.unsafeGetTensorImpl();
}
#else
/// Key type of torch::optim::Optimizer::state(): std::string in LibTorch 1.13.
using StateKey = std::string;
inline StateKey state_key(const torch::Tensor& p) {
  return c10::guts::to_string(p.unsafeGetTensorImpl());
}
#endif

/// The per-parameter state of `p` in `optimizer`, or nullptr when there is none yet.
template <typename State>
State* find_state(torch::optim::Optimizer& optimizer, const torch::Tensor& p) {
  auto& states = optimizer.state();
  auto it = states.find(state_key(p));
  return it == states.end() ? nullptr : static_cast<State*>(it->second.get());
}

/// The per-parameter state of `p`, created by `make` on first use.
template <typename State, typename Make>
State& get_or_create_state(torch::optim::Optimizer& optimizer, const torch::Tensor& p, Make&& make) {
  if (State* existing = find_state<State>(optimizer, p)) {
    return *existing;
  }
  auto created = std::make_unique<State>(make());
  State& ref = *created;
  optimizer.state()[state_key(p)] = std::move(created);
  return ref;
}

} // namespace signopt::detail

// Internal: the weight-decay prelude of every rule's torch-op path (algorithms.md section 1), written once.
#pragma once

#include <torch/types.h>

namespace signopt::detail {

/// The gradient a rule uses after weight decay `wd` at step size `lr`: coupled decay returns g + wd p;
/// decoupled decay shrinks p in place (p *= 1 - lr wd, two rounded operations as in the spec) and returns
/// g. Nothing happens for wd = 0. The fused kernels apply the same prelude inside their pass.
inline torch::Tensor decayed_gradient(torch::Tensor& p, const torch::Tensor& g, double lr, double wd, bool decoupled) {
  if (wd == 0) {
    return g;
  }
  if (decoupled) {
    p.mul_(1.0 - lr * wd);
    return g;
  }
  return g + p * wd;
}

} // namespace signopt::detail

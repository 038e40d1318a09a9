// The reference compositions of torch ops (signopt/kernels/reference.h).
#include <signopt/kernels/noise.h>
#include <signopt/kernels/philox.h>
#include <signopt/kernels/reductions.h>
#include <signopt/kernels/reference.h>

#include "noise_fill.h"

#include <ATen/Dispatch.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace signopt::kernels::reference {

torch::Tensor decayed_gradient(torch::Tensor& p, const torch::Tensor& g, double lr, double wd, bool decoupled) {
  if (wd == 0) {
    return g;
  }
  if (decoupled) {
    p.mul_(1.0 - lr * wd);
    return g;
  }
  return g + p * wd;
}

double dither_base(const torch::Tensor& x, DitherScale scale) {
  const double n = static_cast<double>(x.numel());
  if (scale == DitherScale::Absolute) {
    return 1.0;
  }
  if (n == 0) {
    return 0.0;
  }
  switch (scale) {
    case DitherScale::Rms:
      return std::sqrt(sum_sq(x) / n);
    case DitherScale::Max3Sigma:
      return max_abs(x) / 3.0;
    case DitherScale::MeanAbs:
      return sum_abs(x) / n;
    case DitherScale::Absolute:
      break;
  }
  return 1.0;
}

torch::Tensor dither_noise(const torch::Tensor& like, uint64_t seed, uint64_t stream, bool gaussian, int64_t step, int64_t param_index) {
  auto cpu = torch::empty(like.sizes(), like.options().device(torch::kCPU).memory_format(at::MemoryFormat::Contiguous));
  const auto key = DrawKey::make(seed, stream, static_cast<uint64_t>(step), static_cast<uint64_t>(param_index));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, cpu.scalar_type(), "signopt_dither_noise", [&] {
    detail::fill_dither_noise(cpu.data_ptr<scalar_t>(), cpu.numel(), key, gaussian);
  });
  return like.device().is_cpu() ? cpu : cpu.to(like.device());
}

torch::Tensor add_dither(const torch::Tensor& x, const DitherArgs& d, double* scale_out) {
  const double s = d.alpha * dither_base(x, d.scale);
  if (scale_out != nullptr) {
    *scale_out = s;
  }
  // Two separately rounded operations (no fused multiply-add), as in the fused kernels.
  return x + dither_noise(x, d.seed, d.stream, d.gaussian, d.step, d.param_index) * s;
}

torch::Tensor sign_direction(const torch::Tensor& g_in, torch::Tensor& buf, double beta, const DitherArgs& d, double* scale_out) {
  double scale = 0.0;
  torch::Tensor g = g_in;
  if (d.enabled && d.target_gradient) {
    g = add_dither(g, d, &scale);
  }
  torch::Tensor x = g;
  if (beta > 0) {
    buf.mul_(beta).add_(g * (1.0 - beta));
    x = buf;
  }
  if (d.enabled && !d.target_gradient) {
    x = add_dither(x, d, &scale);
  }
  if (scale_out != nullptr) {
    *scale_out = scale;
  }
  return torch::sign(x);
}

double sign_descent_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& buf, const SignStepArgs& args, double* dot_gg) {
  const torch::Tensor gd = decayed_gradient(p, g, args.lr, args.weight_decay, args.decoupled);
  double scale = 0.0;
  const torch::Tensor u = sign_direction(gd, buf, args.beta, args.dither, &scale);
  if (dot_gg != nullptr) {
    dot_gg[0] = kernels::dot(u, gd);
    dot_gg[1] = kernels::sum_sq(gd);
  }
  p.add_(u, -args.lr);
  return scale;
}

void sgd_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& v, const SgdStepArgs& args) {
  const torch::Tensor gd = decayed_gradient(p, g, args.eta, args.weight_decay, args.decoupled);
  torch::Tensor direction = gd;
  if (args.mu > 0) {
    v.mul_(args.mu).add_(gd);
    direction = args.dampened ? v * (1.0 - args.mu) : v;
  }
  p.sub_(direction * args.eta);
}

torch::Tensor ef_corrected(torch::Tensor& p, const torch::Tensor& g, const torch::Tensor& e, torch::Tensor& buf, const EfStepArgs& args) {
  torch::Tensor gd = decayed_gradient(p, g, args.lr, args.weight_decay, args.decoupled);
  if (args.momentum > 0) {
    buf.mul_(args.momentum).add_(gd);
    gd = buf;
  }
  return gd * args.lr + e;
}

void ef_sign_sgd_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& e, torch::Tensor& buf, const EfStepArgs& args) {
  // c = lr g + e; Delta = (||c||_1 / d) sign(c); theta -= Delta; e = c - Delta.
  const torch::Tensor corrected = ef_corrected(p, g, e, buf, args);
  const double d = static_cast<double>(std::max<int64_t>(corrected.numel(), 1));
  const torch::Tensor delta = torch::sign(corrected) * (sum_abs(corrected) / d);
  p.sub_(delta);
  e.copy_(corrected - delta);
}

void lion_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& m, const LionStepArgs& args) {
  const torch::Tensor gd = decayed_gradient(p, g, args.lr, args.weight_decay, args.decoupled);
  const torch::Tensor c = m * args.beta1 + gd * (1.0 - args.beta1);
  p.add_(torch::sign(c), -args.lr);
  m.mul_(args.beta2).add_(gd * (1.0 - args.beta2));
}

} // namespace signopt::kernels::reference

// The reference compositions of torch ops (signopt/kernels/reference.h).
#include <signopt/kernels/half.h>
#include <signopt/kernels/half_tensor.h>
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

torch::Tensor dither_noise(
    const torch::Tensor& like,
    uint64_t seed,
    uint64_t stream,
    bool gaussian,
    int64_t step,
    int64_t param_index) {
  auto cpu = torch::empty(like.sizes(), like.options().device(torch::kCPU).memory_format(at::MemoryFormat::Contiguous));
  const auto key = DrawKey::make(seed, stream, static_cast<uint64_t>(step), static_cast<uint64_t>(param_index));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, cpu.scalar_type(), "signopt_dither_noise", [&] {
    detail::fill_dither_noise(
        cpu.data_ptr<scalar_t>(), cpu.numel(), key, gaussian ? NoiseKind::Gaussian : NoiseKind::Uniform);
  });
  return like.device().is_cpu() ? cpu : cpu.to(like.device());
}

torch::Tensor threshold_uniforms(
    const torch::Tensor& like,
    uint64_t seed,
    uint64_t stream,
    int64_t step,
    int64_t param_index) {
  auto cpu = torch::empty(like.sizes(), torch::dtype(torch::kFloat32));
  const auto key = DrawKey::make(seed, stream, static_cast<uint64_t>(step), static_cast<uint64_t>(param_index));
  float* v = cpu.data_ptr<float>();
  const int64_t n = cpu.numel();
  for (int64_t b = 0; 8 * b < n; ++b) {
    const PhiloxBlock block = key.block(static_cast<uint64_t>(b));
    for (int e = 0; e < 8 && 8 * b + e < n; ++e) {
      v[8 * b + e] = threshold_uniform(threshold_bits(block, e));
    }
  }
  return like.device().is_cpu() ? cpu : cpu.to(like.device());
}

namespace {

// The threshold levels of the uniforms v (float32), op by op: gaussian_level (the octave's coefficients picked by
// the low 4 bits of v's biased exponent, Horner in w, 0 for v > 1/2) or uniform_level (1 - 2v, exact).
torch::Tensor levels_ops(const torch::Tensor& v, bool gaussian) {
  if (!gaussian) {
    return 1.0 - v * 2.0;
  }
  const torch::Tensor bits = v.view(torch::kInt32);
  const torch::Tensor row = torch::bitwise_and(torch::bitwise_right_shift(bits, 23), 15).to(torch::kLong);
  const torch::Tensor w =
      torch::bitwise_or(torch::bitwise_and(bits, 0x007fffff), 0x3f800000).view(torch::kFloat32) - 1.5;
  auto coefficient = [&](int j) {
    const torch::Tensor table = torch::from_blob(const_cast<float*>(gaussian_level_row(j)), {16}, torch::kFloat32);
    return table.to(v.device()).index_select(0, row.reshape(-1)).view(v.sizes());
  };
  torch::Tensor t = coefficient(kGaussianLevelDegree);
  for (int j = kGaussianLevelDegree - 1; j >= 0; --j) {
    t = t * w + coefficient(j);
  }
  return torch::where(v < 0.5, t, torch::zeros_like(t));
}

} // namespace

torch::Tensor threshold_sign(const torch::Tensor& x, double s, const DitherArgs& d) {
  const torch::Tensor v = threshold_uniforms(x, d.seed, d.stream, d.step, d.param_index);
  const double inv_s = s > 0.0 ? 1.0 / s : INFINITY;
  // |x| inv_s in x's type (inv_s rounded to it first, as the kernels' SignCoeffs), then float32.
  const torch::Tensor inv = torch::scalar_tensor(inv_s, x.options());
  const torch::Tensor a = (x.abs() * inv).to(torch::kFloat32);
  const torch::Tensor t = levels_ops(v, d.gaussian);
  const torch::Tensor one = torch::ones_like(x);
  const torch::Tensor sx = torch::where(x < 0, -one, one);
  const torch::Tensor u = torch::where(a < t, -sx, sx);
  return torch::where(torch::isnan(a), torch::zeros_like(x), u);
}

double step_scale(const torch::Tensor& x, const DitherArgs& d) {
  if (!previous_scale(d) || x.numel() == 0) {
    return d.alpha * dither_base(x, d.scale);
  }
  const double now = dither_base(x, d.scale);
  const double s = d.alpha * (d.scale_state_ready ? *d.scale_state : now);
  *d.scale_state = now;
  return s;
}

torch::Tensor add_dither(const torch::Tensor& x, const DitherArgs& d, double* scale_out) {
  const double s = step_scale(x, d);
  if (scale_out != nullptr) {
    *scale_out = s;
  }
  // Two separately rounded operations (no fused multiply-add), as in the fused kernels.
  return x + dither_noise(x, d.seed, d.stream, d.gaussian, d.step, d.param_index) * s;
}

torch::Tensor sign_direction(
    const torch::Tensor& g_in,
    torch::Tensor& buf,
    double beta,
    const DitherArgs& d,
    double* scale_out) {
  double scale = 0.0;
  // The threshold draw adds no noise: it draws the sign of the plain argument x (the EMA, or g).
  const bool threshold = threshold_applies(d, beta);
  torch::Tensor g = g_in;
  if (d.enabled && d.target_gradient && !threshold) {
    g = add_dither(g, d, &scale);
  }
  torch::Tensor x = g;
  if (beta > 0) {
    buf.mul_(beta).add_(g * (1.0 - beta));
    x = buf;
  }
  torch::Tensor u;
  if (threshold) {
    scale = step_scale(x, d);
    u = threshold_sign(x, scale, d);
  } else {
    if (d.enabled && !d.target_gradient) {
      x = add_dither(x, d, &scale);
    }
    u = torch::sign(x);
  }
  if (scale_out != nullptr) {
    *scale_out = scale;
  }
  return u;
}

torch::Tensor rounding_bits(const torch::Tensor& like, const RoundingArgs& r) {
  const int64_t n = like.numel();
  auto out = torch::empty({n}, torch::kLong);
  int64_t* o = out.data_ptr<int64_t>();
  const DrawKey key = half::rounding_key(r.seed, r.step, r.param_index);
  for (int64_t b = 0; b * 8 < n; ++b) {
    const PhiloxBlock block = half::rounding_block(key, b);
    for (int64_t k = 0; k < 8 && 8 * b + k < n; ++k) {
      o[8 * b + k] = half::rounding_bits_in_block(block, k);
    }
  }
  return out.view(like.sizes()).to(like.device());
}

torch::Tensor stochastic_round(const torch::Tensor& x, at::ScalarType type, const RoundingArgs& r) {
  TORCH_CHECK(
      half_type_of(type).has_value(),
      "signopt::kernels::reference::stochastic_round: the type must be bfloat16 or float16");
  const torch::Tensor x32 = x.to(torch::kFloat).contiguous();
  const torch::Tensor bits = x32.view(torch::kInt).to(torch::kLong).bitwise_and(int64_t{0xffffffff});
  const torch::Tensor magnitude = bits.bitwise_and(int64_t{0x7fffffff});
  const torch::Tensor rnd = rounding_bits(x32, r);
  const torch::Tensor nonfinite = magnitude.ge(int64_t{0x7f800000});
  const auto from_bits = [](const torch::Tensor& b) { return b.to(torch::kInt).view(torch::kFloat); };
  torch::Tensor rounded;
  if (type == at::kBFloat16) {
    // the 16 dropped bits plus r, truncated: a float32 whose low half is zero converts exactly
    rounded = from_bits((bits + rnd).bitwise_and(int64_t{0xffff0000})).to(type);
  } else {
    const torch::Tensor up = (magnitude + rnd.bitwise_right_shift(3)).bitwise_and(int64_t{0xffffe000});
    const torch::Tensor normal = from_bits(up).to(type); // exact, or infinity past the largest float16
    const torch::Tensor q = x32.abs() * 16777216.0f;
    const torch::Tensor whole = q.floor();
    const torch::Tensor bump = (rnd.to(torch::kFloat) < (q - whole) * 65536.0f).to(torch::kFloat);
    const torch::Tensor subnormal = ((whole + bump) * 5.9604644775390625e-8f).to(type);
    const torch::Tensor h = torch::where(magnitude.ge(int64_t{0x38800000}), normal, subnormal);
    rounded = torch::where(bits.ge(int64_t{0x80000000}), -h, h);
  }
  return torch::where(nonfinite, x32.to(type), rounded).view(x.sizes());
}

namespace {

// A 16-bit step's rule around a float32 `step` on copies: p, g and a 16-bit momentum widened (a float32 momentum
// updated in place), then the parameter stored as `rounding` says and a 16-bit momentum to nearest.
template <class Step>
void on_float32_copies(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    bool momentum,
    const RoundingArgs& rounding,
    Step step) {
  torch::Tensor p32 = p.to(torch::kFloat);
  const torch::Tensor g32 = g.to(torch::kFloat);
  const bool half_momentum = buf.defined() && buf.scalar_type() != torch::kFloat;
  torch::Tensor m32 = half_momentum ? buf.to(torch::kFloat) : buf;
  step(p32, g32, m32);
  store_rounded(p, p32, rounding);
  if (momentum && half_momentum) {
    buf.copy_(m32);
  }
}

} // namespace

void store_rounded(const torch::Tensor& p, const torch::Tensor& p32, const RoundingArgs& rounding) {
  p.copy_(rounding.stochastic ? stochastic_round(p32, p.scalar_type(), rounding) : p32.to(p.scalar_type()));
}

double sign_descent_step(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    const SignStepArgs& args,
    double* dot_gg) {
  if (half_type_of(p.scalar_type())) {
    double scale = 0.0;
    on_float32_copies(
        p, g, buf, args.beta > 0, args.rounding, [&](torch::Tensor& p32, const torch::Tensor& g32, torch::Tensor& m32) {
          scale = sign_descent_step(p32, g32, m32, args, dot_gg);
        });
    return scale;
  }
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
  if (half_type_of(p.scalar_type())) {
    on_float32_copies(
        p, g, v, args.mu > 0, args.rounding, [&](torch::Tensor& p32, const torch::Tensor& g32, torch::Tensor& v32) {
          sgd_step(p32, g32, v32, args);
        });
    return;
  }
  const torch::Tensor gd = decayed_gradient(p, g, args.eta, args.weight_decay, args.decoupled);
  torch::Tensor direction = gd;
  if (args.mu > 0) {
    v.mul_(args.mu).add_(gd);
    direction = args.dampened ? v * (1.0 - args.mu) : v;
  }
  p.sub_(direction * args.eta);
}

torch::Tensor ef_corrected(
    torch::Tensor& p,
    const torch::Tensor& g,
    const torch::Tensor& e,
    torch::Tensor& buf,
    const EfStepArgs& args) {
  torch::Tensor gd = decayed_gradient(p, g, args.lr, args.weight_decay, args.decoupled);
  if (args.momentum > 0) {
    buf.mul_(args.momentum).add_(gd);
    gd = buf;
  }
  return gd * args.lr + e;
}

void ef_sign_sgd_step(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& e,
    torch::Tensor& buf,
    const EfStepArgs& args) {
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

// The running noise monitor of `signopt train --probe-every` (see probe.h).
#include <signopt/diag/probe.h>

#include "probe_internal.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace signopt::diag {

using detail::kKnee;
using detail::kNaN;

RunningNoiseMonitor::RunningNoiseMonitor(double beta) : beta_(beta) {
  if (!(beta > 0 && beta < 1))
    throw std::invalid_argument("RunningNoiseMonitor: beta must be in (0, 1), got " + std::to_string(beta));
}

void RunningNoiseMonitor::update(const std::vector<torch::Tensor>& grads) {
  torch::NoGradGuard no_grad;
  if (m_.empty()) {
    for (const auto& g : grads) {
      m_.push_back(torch::zeros({g.numel()}, g.options().dtype(torch::kDouble)));
      v_.push_back(torch::zeros({g.numel()}, g.options().dtype(torch::kDouble)));
    }
  }
  if (grads.size() != m_.size())
    throw std::invalid_argument(
        "RunningNoiseMonitor::update: got " + std::to_string(grads.size()) + " gradients, expected " +
        std::to_string(m_.size()));
  for (size_t i = 0; i < grads.size(); ++i) {
    if (grads[i].numel() != m_[i].numel())
      throw std::invalid_argument(
          "RunningNoiseMonitor::update: gradient " + std::to_string(i) + " has " + std::to_string(grads[i].numel()) +
          " elements, expected " + std::to_string(m_[i].numel()));
    const auto g = grads[i].detach().reshape({-1}).to(torch::kDouble);
    m_[i].lerp_(g, 1.0 - beta_);
    v_[i].lerp_(g * g, 1.0 - beta_);
  }
  ++updates_;
}

RunningNoiseSnapshot RunningNoiseMonitor::snapshot(const std::vector<torch::Tensor>& current) const {
  torch::NoGradGuard no_grad;
  if (updates_ == 0)
    throw std::logic_error("RunningNoiseMonitor::snapshot: no gradient has been folded in yet");
  if (current.size() != m_.size())
    throw std::invalid_argument(
        "RunningNoiseMonitor::snapshot: got " + std::to_string(current.size()) + " gradients, expected " +
        std::to_string(m_.size()));
  const double correction = 1.0 - std::pow(beta_, static_cast<double>(updates_));
  std::vector<torch::Tensor> means, sigmas, currents;
  for (size_t i = 0; i < m_.size(); ++i) {
    means.push_back(m_[i] / correction);
    sigmas.push_back(sigma_of(i, correction, means.back()));
    currents.push_back(current[i].detach().reshape({-1}).to(torch::kDouble));
  }
  const auto m = torch::cat(means).cpu(), sigma = torch::cat(sigmas).cpu(), g = torch::cat(currents).cpu();
  const auto abs_m = m.abs();
  const double inf = std::numeric_limits<double>::infinity();
  // S = |m| / sigma with sigma = 0 giving +inf (or 0 where m = 0 too).
  const auto snr = torch::where(sigma > 0, abs_m / sigma.clamp_min(1e-300), torch::where(abs_m > 0, inf, 0.0));
  const auto knee = snr > kKnee;
  const auto phi = torch::where(
      snr.isinf(),
      torch::ones_like(snr),
      torch::where(knee, 1.0 - 4.0 / (9.0 * snr * snr), snr / std::sqrt(3.0)));
  RunningNoiseSnapshot s;
  s.updates = updates_;
  s.snr_median = snr.median().item<double>();
  s.snr_above_share = knee.to(torch::kDouble).mean().item<double>();
  s.grad_l1 = abs_m.sum().item<double>();
  s.phi = (abs_m * phi).sum().item<double>();
  s.phi_ratio = s.grad_l1 > 0 ? s.phi / s.grad_l1 : kNaN;
  const auto signed_mask = abs_m > 0;
  const int64_t n = signed_mask.sum().item<int64_t>();
  if (n == 0) {
    s.wrong_sign = s.gaussian_prediction = s.gauss_bound = kNaN;
    return s;
  }
  const auto agreement = (g.sign() * m.sign()).masked_select(signed_mask); // +1 right, -1 opposed, 0 zero draw
  s.wrong_sign = ((1.0 - agreement) / 2.0).mean().item<double>();
  const auto snr_s = snr.masked_select(signed_mask);
  s.gaussian_prediction = (0.5 * torch::erfc(snr_s / std::sqrt(2.0))).mean().item<double>();
  const auto bound = torch::where(
      snr_s > kKnee, 2.0 / (9.0 * snr_s * snr_s), 0.5 - snr_s / (2.0 * std::sqrt(3.0)));
  s.gauss_bound = bound.mean().item<double>();
  return s;
}

torch::Tensor RunningNoiseMonitor::sigma_of(size_t i, double correction, const torch::Tensor& mean) const {
  return (v_[i] / correction - mean * mean).clamp_min(0).sqrt();
}

double RunningNoiseMonitor::dither_share(const std::vector<double>& dither_std) const {
  torch::NoGradGuard no_grad;
  if (updates_ == 0)
    throw std::logic_error("RunningNoiseMonitor::dither_share: no gradient has been folded in yet");
  if (dither_std.size() != m_.size())
    throw std::invalid_argument(
        "RunningNoiseMonitor::dither_share: got " + std::to_string(dither_std.size()) + " dither stds, expected " +
        std::to_string(m_.size()) + " (one per gradient)");
  const double correction = 1.0 - std::pow(beta_, static_cast<double>(updates_));
  double out_noised = 0, total = 0;
  for (size_t i = 0; i < m_.size(); ++i) {
    const double s = dither_std[i];
    if (std::isnan(s))
      continue;
    if (!(s >= 0) || std::isinf(s))
      throw std::invalid_argument(
          "RunningNoiseMonitor::dither_share: dither std " + std::to_string(s) + " of tensor " + std::to_string(i) +
          " must be finite and >= 0");
    out_noised += (sigma_of(i, correction, m_[i] / correction) < s).sum().item<double>();
    total += static_cast<double>(m_[i].numel());
  }
  return total > 0 ? out_noised / total : kNaN;
}

void RunningNoiseMonitor::save(torch::serialize::OutputArchive& archive, const std::string& prefix) const {
  archive.write(prefix + ".beta", c10::IValue(beta_));
  archive.write(prefix + ".updates", c10::IValue(updates_));
  archive.write(prefix + ".count", c10::IValue(static_cast<int64_t>(m_.size())));
  for (size_t i = 0; i < m_.size(); ++i) {
    archive.write(prefix + ".m." + std::to_string(i), m_[i], /*is_buffer=*/true);
    archive.write(prefix + ".v." + std::to_string(i), v_[i], /*is_buffer=*/true);
  }
}

bool RunningNoiseMonitor::load(torch::serialize::InputArchive& archive, const std::string& prefix) {
  c10::IValue beta, updates, count;
  if (!archive.try_read(prefix + ".beta", beta) || !archive.try_read(prefix + ".updates", updates) ||
      !archive.try_read(prefix + ".count", count))
    return false;
  std::vector<torch::Tensor> m, v;
  for (int64_t i = 0; i < count.toInt(); ++i) {
    torch::Tensor a, b;
    archive.read(prefix + ".m." + std::to_string(i), a, /*is_buffer=*/true);
    archive.read(prefix + ".v." + std::to_string(i), b, /*is_buffer=*/true);
    m.push_back(a);
    v.push_back(b);
  }
  beta_ = beta.toDouble();
  updates_ = updates.toInt();
  m_ = std::move(m);
  v_ = std::move(v);
  return true;
}

} // namespace signopt::diag

// Deterministic reductions: per-chunk serial sums in double, chunk partials added in order.
#include <signopt/kernels/half_tensor.h>
#include <signopt/kernels/reductions.h>
#include <signopt/kernels/reductions_core.h>

#include "chunk_sum.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace signopt::kernels {
namespace {

// Deterministic sums over [0, n) in kReductionChunk chunks: chunk(lo, len, out) writes the chunk's K
// partial sums to out[0..K); the totals add the partials in chunk order.
template <size_t K, typename Chunk>
std::array<double, K> chunked_partials(int64_t n, Chunk chunk) {
  const int64_t chunks = (n + kReductionChunk - 1) / kReductionChunk;
  std::vector<double> partial(K * static_cast<size_t>(chunks), 0.0);
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t lo = c * kReductionChunk;
      chunk(lo, std::min(n, lo + kReductionChunk) - lo, partial.data() + K * static_cast<size_t>(c));
    }
  });
  std::array<double, K> total{};
  for (int64_t c = 0; c < chunks; ++c) {
    for (size_t k = 0; k < K; ++k) {
      total[k] += partial[K * static_cast<size_t>(c) + k];
    }
  }
  return total;
}

// Deterministic sums of each term(i) over [0, n): chunk_sum8 per chunk and term (each chunk is summed once
// per term while it is in cache).
template <typename... Terms>
std::array<double, sizeof...(Terms)> chunked_sums(int64_t n, Terms... terms) {
  return chunked_partials<sizeof...(Terms)>(n, [&](int64_t lo, int64_t len, double* out) {
    ((*out++ = detail::chunk_sum8(len, [&](int64_t i) { return terms(lo + i); })), ...);
  });
}

template <typename Term>
double chunked_sum(int64_t n, Term term) {
  return chunked_sums(n, term)[0];
}

bool cpu_fast_path(const torch::Tensor& x) {
  return x.device().is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble);
}

} // namespace

double sum_abs(const torch::Tensor& x_in) {
  if (!cpu_fast_path(x_in)) {
    return x_in.to(at::kDouble).abs().sum().item<double>();
  }
  const auto x = x_in.contiguous();
  double out = 0;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "signopt_sum_abs", [&] {
    const scalar_t* d = x.data_ptr<scalar_t>();
    out = chunked_sum(x.numel(), [d](int64_t i) { return std::abs(static_cast<double>(d[i])); });
  });
  return out;
}

double sum_sq(const torch::Tensor& x_in) {
  if (!cpu_fast_path(x_in)) {
    return x_in.to(at::kDouble).square().sum().item<double>();
  }
  const auto x = x_in.contiguous();
  double out = 0;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "signopt_sum_sq", [&] {
    const scalar_t* d = x.data_ptr<scalar_t>();
    out = chunked_sum(x.numel(), [d](int64_t i) {
      const double v = static_cast<double>(d[i]);
      return v * v;
    });
  });
  return out;
}

double dot(const torch::Tensor& a_in, const torch::Tensor& b_in) {
  TORCH_CHECK(a_in.numel() == b_in.numel(), "signopt::kernels::dot: sizes differ");
  if (!cpu_fast_path(a_in) || a_in.scalar_type() != b_in.scalar_type() || !b_in.device().is_cpu()) {
    return (a_in.to(at::kDouble) * b_in.to(at::kDouble)).sum().item<double>();
  }
  const auto a = a_in.contiguous();
  const auto b = b_in.contiguous();
  double out = 0;
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "signopt_dot", [&] {
    const scalar_t* da = a.data_ptr<scalar_t>();
    const scalar_t* db = b.data_ptr<scalar_t>();
    out =
        chunked_sum(a.numel(), [da, db](int64_t i) { return static_cast<double>(da[i]) * static_cast<double>(db[i]); });
  });
  return out;
}

double max_abs(const torch::Tensor& x) {
  if (x.numel() == 0) {
    return 0.0;
  }
  // A maximum does not depend on the order of evaluation.
  return x.abs().max().item<double>();
}

MomentSums moment_sums(const torch::Tensor& x_in) {
  if (x_in.device().is_cpu() && half_type_of(x_in.scalar_type())) {
    return moment_sums(x_in.to(at::kFloat)); // exact: the float32 values and their double terms are the 16-bit ones'
  }
  MomentSums r;
  if (!cpu_fast_path(x_in)) {
    const auto x = x_in.to(at::kDouble);
    r.nonzero = static_cast<double>(x.ne(0).sum().item<int64_t>());
    r.abs = x.abs().sum().item<double>();
    r.sq = x.square().sum().item<double>();
    return r;
  }
  const auto x = x_in.contiguous();
  const auto out =
      cpu::moment_sums(x.scalar_type() == at::kFloat ? Dtype::kFloat32 : Dtype::kFloat64, x.data_ptr(), x.numel());
  r.nonzero = out[0];
  r.abs = out[1];
  r.sq = out[2];
  return r;
}

bool all_finite(const torch::Tensor& x_in) {
  if (x_in.numel() == 0) {
    return true;
  }
  if (const auto half = half_type_of(x_in.scalar_type()); half && x_in.device().is_cpu()) {
    const auto x = x_in.contiguous();
    return cpu::all_finite_half(*half, static_cast<const uint16_t*>(x.data_ptr()), x.numel());
  }
  if (!cpu_fast_path(x_in)) {
    return torch::isfinite(x_in).all().item<bool>();
  }
  const auto x = x_in.contiguous();
  return cpu::all_finite(x.scalar_type() == at::kFloat ? Dtype::kFloat32 : Dtype::kFloat64, x.data_ptr(), x.numel());
}

} // namespace signopt::kernels

// The CPU kernels' core built without LibTorch (signopt_kernels_core: OpenMP threads, no ATen headers):
// a torch-free program runs dithered Signum, EF-SignSGD and Lion steps on plain arrays with 1 and 2 OpenMP
// threads, requires the same bits from both, and checks each step against its definition where that is
// exact (a sign step moves every coordinate by exactly lr when nothing else changes p). Exit status 0
// when every check holds; each failure is printed.
#include <signopt/kernels/args.h>

#include "../../src/kernels/fused_cpu_internal.h"

#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

using signopt::kernels::Dtype;
namespace cpu = signopt::kernels::cpu;

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    ++failures;
  }
}

// Deterministic test data in [-1, 1).
std::vector<float> data(int64_t n, uint32_t seed) {
  std::vector<float> x(static_cast<size_t>(n));
  uint32_t s = seed;
  for (auto& v : x) {
    s = s * 1664525u + 1013904223u;
    v = static_cast<float>(s >> 8) / 8388608.0f - 1.0f;
  }
  return x;
}

struct Result {
  std::vector<float> p, m, e;
};

Result run(int threads, int64_t n) {
  omp_set_num_threads(threads);
  Result r{data(n, 1), std::vector<float>(static_cast<size_t>(n), 0.0f), std::vector<float>(static_cast<size_t>(n), 0.0f)};
  const std::vector<float> g = data(n, 2);
  signopt::kernels::SignStepArgs sign;
  sign.lr = 0.01;
  sign.beta = 0.9;
  sign.dither.enabled = true;
  sign.dither.alpha = 0.5;
  sign.dither.seed = 7;
  sign.dither.step = 1;
  const std::vector<float> before = r.p;
  cpu::sign_descent_step(Dtype::kFloat32, r.p.data(), g.data(), r.m.data(), n, sign, nullptr);
  int64_t exact = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = std::fabs(r.p[static_cast<size_t>(i)] - before[static_cast<size_t>(i)]);
    exact += std::fabs(d - 0.01f) < 1e-6f ? 1 : 0;
  }
  expect(exact == n, "a dithered Signum step moves every coordinate by lr");
  signopt::kernels::EfStepArgs ef;
  ef.lr = 0.1;
  cpu::ef_sign_sgd_step(Dtype::kFloat32, r.p.data(), g.data(), r.e.data(), nullptr, n, ef);
  signopt::kernels::LionStepArgs lion;
  lion.lr = 0.001;
  lion.beta1 = 0.9;
  lion.beta2 = 0.99;
  cpu::lion_step(Dtype::kFloat32, r.p.data(), g.data(), r.m.data(), n, lion);
  return r;
}

} // namespace

int main() {
  const int64_t n = 3 * 4096 + 77; // several chunks and a partial one
  const Result one = run(1, n);
  const Result two = run(2, n);
  const auto same = [](const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
  };
  expect(same(one.p, two.p), "parameters bit-identical on 1 and 2 threads");
  expect(same(one.m, two.m), "momentum bit-identical on 1 and 2 threads");
  expect(same(one.e, two.e), "EF error bit-identical on 1 and 2 threads");
  double e_l1 = 0;
  for (float v : one.e) {
    e_l1 += std::fabs(v);
  }
  expect(e_l1 > 0, "EF-SignSGD keeps a non-zero error");
  std::printf("kernels_core_check: %d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}

// cuda_kernel_check: the CUDA kernels against their host model (bit for bit, every rule and option
// mix, sizes 0..100003 and 11M, float32/float64, the sign and SGD cases on the 16-bit layouts too, several
// grid sizes), then a timing at ResNet-18
// size. Needs only the CUDA driver: no LibTorch (tests/kernels/test_fused_cuda.cpp ties the host model to
// the CPU kernels). Exit status: 0 all equal, 1 a mismatch or CUDA error, 77 no usable GPU, 2 usage.
#define SIGNOPT_CUDA_EXECUTOR 1
#include "executors.h"

#include <signopt/kernels/fused_cuda.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

namespace cu = signopt::kernels::cuda;
using namespace signopt::test::cuda_cases;

const char* dtype_name(Dtype d) {
  return d == Dtype::kFloat32 ? "float32" : "float64";
}

// One comparison: `steps` steps of c on the host model and on the GPU from the same inputs (of a 16-bit
// layout when `layout` is given).
bool check_one(
    const Case& c,
    Dtype dtype,
    int64_t n,
    int steps,
    int64_t grid_limit,
    int* failures,
    const HalfLayout* layout = nullptr) {
  Arrays host = make_arrays(dtype, n, 1234, layout);
  Arrays device = host;
  HostExec h(host);
  run_steps(h, c, steps, host.stochastic);
  cu::set_grid_limit(grid_limit);
  {
    DeviceExec d(device);
    run_steps(d, c, steps, host.stochastic);
    d.copy_back();
  }
  cu::set_grid_limit(0);
  const std::string diff = compare(host, device, c);
  if (diff.empty()) {
    return true;
  }
  if (++*failures <= 25) {
    std::printf(
        "MISMATCH %s %s n=%lld steps=%d grid_limit=%lld: %s\n",
        c.name.c_str(),
        layout != nullptr ? layout->name.c_str() : dtype_name(dtype),
        static_cast<long long>(n),
        steps,
        static_cast<long long>(grid_limit),
        diff.c_str());
  }
  return false;
}

int run_checks(bool large) {
  const std::vector<Case> all = cases();
  int failures = 0, checks = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (Dtype dtype : {Dtype::kFloat32, Dtype::kFloat64}) {
    for (int64_t n : sizes()) {
      for (const Case& c : all) {
        ++checks;
        check_one(c, dtype, n, 2, 0, &failures);
      }
    }
    // Results must not depend on the launch configuration: one block, and a few blocks that each
    // take several tiles and chunks.
    for (int64_t limit : {1, 3}) {
      for (const Case& c : all) {
        ++checks;
        check_one(c, dtype, 100003, 2, limit, &failures);
      }
    }
  }
  for (const HalfLayout& layout : half_layouts()) {
    for (int64_t n : sizes()) {
      for (const Case& c : all) {
        if (has_half_version(c)) {
          ++checks;
          check_one(c, Dtype::kFloat32, n, 2, 0, &failures, &layout);
        }
      }
    }
    for (const Case& c : all) {
      if (has_half_version(c)) {
        ++checks;
        check_one(c, Dtype::kFloat32, 100003, 2, 3, &failures, &layout);
      }
    }
  }
  if (large) {
    // Past the default grid (every block loops over many chunks) and past one staging batch of the
    // final sums (2048 chunks).
    const int64_t n = 11173962 + 5;
    for (const Case& c : all) {
      const bool pick = c.name == "Signum" || c.name == "Dither_rms_momentum_signum_gaussian" ||
          c.name == "Dither_max3sigma_gradient_signum_uniform" || c.name == "HybridCalibration" ||
          c.name == "HybridCalibrationDitherMeanAbsDecoupled" || c.name == "EFMomentumDecoupled" ||
          c.name == "LionCoupled" || c.name == "SgdMomentumCoupled";
      if (pick) {
        ++checks;
        check_one(c, Dtype::kFloat32, n, 1, 0, &failures);
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "checks: %d comparisons (%zu cases x sizes 0,1,7,4097,100003 x float32/float64 x 2 steps, grid limits "
      "default/1/3; the sign and SGD cases on 4 16-bit layouts%s): %d mismatches (%.1f s)\n",
      checks,
      all.size(),
      large ? ", 11M float32" : "",
      failures,
      seconds);
  return failures;
}

// ---- timing --------------------------------------------------------------------------------------

struct Timed {
  const Case* c;
  Dtype dtype;
  int64_t n;
  void *p, *g, *a, *b;
  double* ws;
};

void step_once(void* context) {
  auto* t = static_cast<Timed*>(context);
  const Case& c = *t->c;
  switch (c.rule) {
    case Rule::kSign:
      cu::sign_descent_step(
          t->dtype, t->p, t->g, c.sign.beta > 0 ? t->a : nullptr, t->n, c.sign, c.calibrate, t->ws, nullptr);
      if (c.calibrate) {
        cu::read_results(t->ws, nullptr); // the hybrid reads its sums back every step
      }
      break;
    case Rule::kSgd:
      cu::sgd_step(t->dtype, t->p, t->g, c.sgd.mu > 0 ? t->a : nullptr, t->n, c.sgd, nullptr);
      break;
    case Rule::kEf:
      cu::ef_sign_sgd_step(t->dtype, t->p, t->g, t->a, c.ef.momentum > 0 ? t->b : nullptr, t->n, c.ef, t->ws, nullptr);
      break;
    case Rule::kLion:
      cu::lion_step(t->dtype, t->p, t->g, t->a, t->n, c.lion, nullptr);
      break;
  }
}

struct CopyContext {
  void* dst;
  const void* src;
  size_t bytes;
};

void copy_once(void* context) {
  auto* c = static_cast<CopyContext*>(context);
  cu::copy_on_device(c->dst, c->src, c->bytes);
}

// Bytes a single pass must move per element: reads of p, g and each state buffer, writes of p and
// each state buffer.
int ideal_bytes_per_element(const Case& c, size_t es) {
  int arrays = 3; // read p, g; write p
  switch (c.rule) {
    case Rule::kSign:
      arrays += c.sign.beta > 0 ? 2 : 0;
      break;
    case Rule::kSgd:
      arrays += c.sgd.mu > 0 ? 2 : 0;
      break;
    case Rule::kEf:
      arrays += 2 + (c.ef.momentum > 0 ? 2 : 0);
      break;
    case Rule::kLion:
      arrays += 2;
      break;
  }
  return arrays * static_cast<int>(es);
}

void run_timing(int64_t n, int iterations) {
  const Dtype dtype = Dtype::kFloat32;
  const size_t bytes = static_cast<size_t>(n) * 4;
  Arrays x = make_arrays(dtype, n, 99);
  DeviceExec d(x);

  // The bandwidth floor: a device-to-device copy (reads and writes `bytes` each).
  void* copy_dst = cu::device_alloc(bytes);
  CopyContext cc{copy_dst, d.p, bytes};
  const double copy_ms = cu::time_ms(copy_once, &cc, iterations);
  const double copy_gbs = 2.0 * static_cast<double>(bytes) / (copy_ms * 1e6);
  cu::device_free(copy_dst);
  std::printf(
      "timing: n=%lld float32 on %s; plain copy %.4f ms = %.0f GB/s (the floor's bandwidth)\n",
      static_cast<long long>(n),
      cu::device_description().c_str(),
      copy_ms,
      copy_gbs);
  std::printf("%-44s %10s %10s %10s %12s\n", "kernel", "ms/step", "GB/s", "B/param", "x floor");

  const char* timed[] = {
      "SignSGD",
      "Signum",
      "Dither_absolute_momentum_signum_gaussian",
      "Dither_rms_momentum_signum_gaussian",
      "Dither_rms_gradient_signum_gaussian",
      "Dither_max3sigma_momentum_signum_uniform",
      "HybridCalibration",
      "HybridCalibrationDitherMeanAbsDecoupled",
      "SgdMomentumCoupled",
      "EFPlainCoupled",
      "EFMomentumDecoupled",
      "LionCoupled"};
  const std::vector<Case> all = cases();
  for (const char* name : timed) {
    const Case* c = nullptr;
    for (const Case& k : all) {
      c = k.name == name ? &k : c;
    }
    if (c == nullptr) {
      continue;
    }
    Timed t{c, dtype, n, d.p, d.g, d.a, d.b, d.ws};
    const double ms = cu::time_ms(step_once, &t, iterations);
    const int per = ideal_bytes_per_element(*c, 4);
    const double ideal = static_cast<double>(per) * static_cast<double>(n);
    const double floor_ms = ideal / (copy_gbs * 1e6);
    std::printf("%-44s %10.4f %10.0f %10d %12.2f\n", name, ms, ideal / (ms * 1e6), per, ms / floor_ms);
  }
  std::printf("(GB/s = the single-pass bytes per step / time; x floor = time / (those bytes at copy bandwidth))\n");
}

} // namespace

int main(int argc, char** argv) {
  bool timing = true, checks = true, large = true;
  int64_t n = 11173962; // ResNet-18 (CIFAR variant)
  int iterations = 50;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--no-timing") {
      timing = false;
    } else if (arg == "--timing-only") {
      checks = false;
    } else if (arg == "--no-large") {
      large = false;
    } else if (arg == "--n" && i + 1 < argc) {
      n = std::atoll(argv[++i]);
    } else if (arg == "--iterations" && i + 1 < argc) {
      iterations = std::atoi(argv[++i]);
    } else {
      std::fprintf(
          stderr,
          "usage: %s [--no-timing] [--timing-only] [--no-large] [--n ELEMENTS] [--iterations K]\n"
          "unknown or incomplete argument '%s'\n",
          argv[0],
          arg.c_str());
      return 2;
    }
  }
  if (n <= 0 || iterations <= 0) {
    std::fprintf(
        stderr, "--n and --iterations must be positive; got %lld and %d\n", static_cast<long long>(n), iterations);
    return 2;
  }
  std::string why;
  if (!cu::device_available(&why)) {
    std::printf("SKIPPED: no usable CUDA device: %s\n", why.c_str());
    return 77;
  }
  try {
    std::printf("device: %s\n", cu::device_description().c_str());
    int failures = 0;
    if (checks) {
      failures = run_checks(large);
    }
    if (timing) {
      run_timing(n, iterations);
    }
    std::printf("%s\n", failures == 0 ? "RESULT: PASS" : "RESULT: FAIL");
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::printf("RESULT: FAIL (error: %s)\n", e.what());
    return 1;
  }
}

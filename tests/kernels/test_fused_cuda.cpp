// The CUDA kernels against the CPU kernels, bit for bit (results, dither scales and the hybrid's
// calibration sums; the reductions keep the CPU's exact summation order, so the bound is 0 ulp):
// every rule and option mix, sizes 0, 1, 7, 4097 and 100003, float32 and float64; the sign and SGD cases also
// on the 16-bit layouts (bfloat16/float16 parameters, float32 or 16-bit state, both roundings).
//  - HostModel runs everywhere: the CUDA kernels' rules and passes (src/kernels/fused_rules.h),
//    run serially on the host, equal the CPU kernels. cuda_kernel_check compares the GPU with this
//    model on machines without LibTorch.
//  - Device needs signopt built with CUDA and a GPU (else skipped): raw kernels on device memory.
//  - Optimizers additionally needs LibTorch's CUDA backend (libtorch_cuda loadable): optimizer
//    steps on CUDA tensors equal those on CPU tensors.
#include "support/problems.h"

#ifdef SIGNOPT_WITH_CUDA
#define SIGNOPT_CUDA_EXECUTOR 1
#endif
#include "cuda/executors.h"

#include <signopt/kernels/fused.h>
#include <signopt/kernels/fused_cuda.h>

#include <torch/cuda.h>

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>

namespace signopt::test {
namespace {

using namespace cuda_cases;

// The torch dtype of array k of x.
torch::Dtype torch_dtype(const Arrays& x, int k) {
  switch (x.size_of(k)) {
    case 2:
      return x.half_type == kernels::HalfType::kBFloat16 ? torch::kBFloat16 : torch::kHalf;
    case 4:
      return torch::kFloat;
    default:
      return torch::kDouble;
  }
}

// Runs the steps with the CPU fused kernels (kernels::*_step on CPU tensors): the oracle, itself
// bit-identical to the reference torch-op path (test_fused.cpp).
struct TorchExec {
  Arrays& x;
  torch::Tensor p, g, a, b;

  explicit TorchExec(Arrays& arrays) : x(arrays) {
    auto from = [&](std::vector<unsigned char>& v, int k) {
      return torch::from_blob(v.data(), {x.n}, torch_dtype(x, k)).clone();
    };
    p = from(x.p, 0);
    g = from(x.g, 1);
    a = from(x.a, 2);
    b = from(x.b, 3);
  }

  double* scale_state() {
    return &x.base;
  }
  void sign(const kernels::cuda::SignStepArgs& s, bool calibrate) {
    torch::Tensor m = s.beta > 0 ? a : torch::Tensor();
    double dot_gg[2] = {0.0, 0.0};
    x.results.scale = kernels::sign_descent_step(p, g, m, s, calibrate ? dot_gg : nullptr);
    x.results.dot = dot_gg[0];
    x.results.gg = dot_gg[1];
  }
  void sgd(const kernels::cuda::SgdStepArgs& s) {
    torch::Tensor v = s.mu > 0 ? a : torch::Tensor();
    kernels::sgd_step(p, g, v, s);
  }
  void ef(const kernels::cuda::EfStepArgs& s) {
    torch::Tensor buf = s.momentum > 0 ? b : torch::Tensor();
    kernels::ef_sign_sgd_step(p, g, a, buf, s);
  }
  void lion(const kernels::cuda::LionStepArgs& s) {
    kernels::lion_step(p, g, a, s);
  }
  void copy_back() {
    std::memcpy(x.p.data(), p.data_ptr(), x.bytes_of(0));
    std::memcpy(x.g.data(), g.data_ptr(), x.bytes_of(1));
    std::memcpy(x.a.data(), a.data_ptr(), x.bytes_of(2));
    std::memcpy(x.b.data(), b.data_ptr(), x.bytes_of(3));
  }
};

constexpr int kSteps = 3;

Arrays run_cpu(const Case& c, Dtype dtype, int64_t n, const HalfLayout* layout = nullptr) {
  Arrays x = make_arrays(dtype, n, 1234, layout);
  TorchExec exec(x);
  run_steps(exec, c, kSteps, x.stochastic);
  exec.copy_back();
  return x;
}

// The cases with a 16-bit version (sign steps, the SGD phase), by index into cases().
std::vector<size_t> half_cases() {
  std::vector<size_t> out;
  for (size_t c = 0; c < cases().size(); ++c) {
    if (has_half_version(cases()[c])) {
      out.push_back(c);
    }
  }
  return out;
}

// The 16-bit sizes: empty, one element, below a Philox block, across a chunk boundary.
const std::vector<int64_t> kHalfSizes = {0, 1, 7, 4097, 9001};

class FusedCudaHostModel16 : public ::testing::TestWithParam<size_t> {};

// The CUDA kernels' 16-bit rules (src/kernels/half_rules.h), run serially on the host, equal the CPU's 16-bit
// kernel (fused_cpu_half.cpp): parameters, state, calibration sums and stored bases, bit for bit, on every layout.
TEST_P(FusedCudaHostModel16, EqualsCpuKernels) {
  const Case c = cases().at(half_cases().at(GetParam())); // cases() is a new vector
  for (const HalfLayout& layout : half_layouts()) {
    for (int64_t n : kHalfSizes) {
      const Arrays cpu = run_cpu(c, Dtype::kFloat32, n, &layout);
      Arrays model = make_arrays(Dtype::kFloat32, n, 1234, &layout);
      const Arrays start = model;
      HostExec exec(model);
      run_steps(exec, c, kSteps, layout.stochastic);
      const std::string diff = compare(cpu, model, c);
      EXPECT_TRUE(diff.empty()) << c.name << " " << layout.name << " n=" << n << ": " << diff;
      if (n > 1) {
        EXPECT_NE(model.p, start.p) << c.name << " " << layout.name << ": the parameter did not move";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    SignAndSgd,
    FusedCudaHostModel16,
    ::testing::Range<size_t>(0, half_cases().size()),
    [](const ::testing::TestParamInfo<size_t>& info) { return cases().at(half_cases().at(info.param)).name; });

class FusedCudaHostModel : public ::testing::TestWithParam<size_t> {};

TEST_P(FusedCudaHostModel, EqualsCpuKernels) {
  const Case c = cases().at(GetParam());
  for (Dtype dtype : {Dtype::kFloat32, Dtype::kFloat64}) {
    for (int64_t n : sizes()) {
      const Arrays cpu = run_cpu(c, dtype, n);
      Arrays model = make_arrays(dtype, n, 1234);
      HostExec exec(model);
      run_steps(exec, c, kSteps);
      const std::string diff = compare(cpu, model, c);
      EXPECT_TRUE(diff.empty()) << c.name << " " << (dtype == Dtype::kFloat32 ? "float32" : "float64") << " n=" << n
                                << ": " << diff;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllRules,
    FusedCudaHostModel,
    ::testing::Range<size_t>(0, cases().size()),
    [](const ::testing::TestParamInfo<size_t>& info) { return cases().at(info.param).name; });

// Why the GPU tests cannot run here, or empty when they can.
std::string gpu_unavailable() {
#ifdef SIGNOPT_WITH_CUDA
  std::string why;
  if (!kernels::cuda::device_available(&why)) {
    return "no usable CUDA GPU: " + why;
  }
  return "";
#else
  return "signopt was built without CUDA (configure with nvcc present or -DSIGNOPT_WITH_CUDA=ON)";
#endif
}

class FusedCudaDevice : public ::testing::TestWithParam<size_t> {};

TEST_P(FusedCudaDevice, EqualsCpuKernels) {
  const std::string why = gpu_unavailable();
  if (!why.empty()) {
    GTEST_SKIP() << why;
  }
#ifdef SIGNOPT_WITH_CUDA
  const Case c = cases().at(GetParam());
  for (Dtype dtype : {Dtype::kFloat32, Dtype::kFloat64}) {
    for (int64_t n : sizes()) {
      const Arrays cpu = run_cpu(c, dtype, n);
      Arrays gpu = make_arrays(dtype, n, 1234);
      {
        DeviceExec exec(gpu);
        run_steps(exec, c, kSteps);
        exec.copy_back();
      }
      const std::string diff = compare(cpu, gpu, c);
      EXPECT_TRUE(diff.empty()) << c.name << " " << (dtype == Dtype::kFloat32 ? "float32" : "float64") << " n=" << n
                                << ": " << diff;
    }
  }
#endif
}

INSTANTIATE_TEST_SUITE_P(
    AllRules,
    FusedCudaDevice,
    ::testing::Range<size_t>(0, cases().size()),
    [](const ::testing::TestParamInfo<size_t>& info) { return cases().at(info.param).name; });

// The 16-bit CUDA kernels against the CPU's 16-bit kernel, every sign and SGD case on every layout (one test:
// skipped without a GPU).
TEST(FusedCudaDevice16, EqualsCpuKernels) {
  const std::string why = gpu_unavailable();
  if (!why.empty()) {
    GTEST_SKIP() << why;
  }
#ifdef SIGNOPT_WITH_CUDA
  const std::vector<Case> all = cases();
  for (const size_t ci : half_cases()) {
    const Case& c = all.at(ci);
    for (const HalfLayout& layout : half_layouts()) {
      for (int64_t n : kHalfSizes) {
        const Arrays cpu = run_cpu(c, Dtype::kFloat32, n, &layout);
        Arrays gpu = make_arrays(Dtype::kFloat32, n, 1234, &layout);
        {
          DeviceExec exec(gpu);
          run_steps(exec, c, kSteps, layout.stochastic);
          exec.copy_back();
        }
        const std::string diff = compare(cpu, gpu, c);
        EXPECT_TRUE(diff.empty()) << c.name << " " << layout.name << " n=" << n << ": " << diff;
      }
    }
  }
#endif
}

// LibTorch's CUDA backend, loaded next to the libtorch_cpu this test links (signopt links only
// torch_cpu and c10); empty when usable, else why not.
std::string torch_cuda_unavailable() {
  const std::string gpu = gpu_unavailable();
  if (!gpu.empty()) {
    return gpu;
  }
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&torch::cuda::is_available), &info) == 0 || info.dli_fname == nullptr) {
    return "cannot locate libtorch_cpu";
  }
  const auto lib = std::filesystem::path(info.dli_fname).parent_path() / "libtorch_cuda.so";
  if (dlopen(lib.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    const char* err = dlerror();
    return "LibTorch's CUDA backend cannot be loaded (" + std::string(err ? err : lib.string()) + ")";
  }
  if (!torch::cuda::is_available()) {
    return "torch::cuda::is_available() is false after loading " + lib.string();
  }
  return "";
}

// Steps of the table's optimizers on CUDA tensors equal those on CPU tensors: the dispatch routes
// CUDA tensors to the CUDA kernels (the fused-call counter moves) and the bits agree. The hybrids
// are left out: their unfused calibration steps reduce CUDA tensors with torch ops (another
// summation order), so they agree only to rounding; their fused sign phase is in the cases above.
TEST(FusedCudaOptimizers, CudaTensorsEqualCpuTensors) {
  const std::string why = torch_cuda_unavailable();
  if (!why.empty()) {
    GTEST_SKIP() << why;
  }
  for (const auto& spec : all_optimizers()) {
    if (spec.name.rfind("Hybrid", 0) == 0) {
      continue;
    }
    for (torch::Dtype dtype : {torch::kFloat, torch::kDouble}) {
      auto run = [&](torch::Device device) {
        std::vector<torch::Tensor> params;
        for (const auto& p : random_params(5, dtype)) {
          params.push_back(p.detach().to(device).requires_grad_(true));
        }
        auto opt = spec.make(params, 0.01);
        for (int s = 1; s <= 4; ++s) {
          for (size_t i = 0; i < params.size(); ++i) {
            params[i].mutable_grad() = replay_grad(params[i].detach().cpu(), 17, s, static_cast<int64_t>(i)).to(device);
          }
          opt->step();
        }
        std::vector<torch::Tensor> out;
        for (auto& p : params) {
          out.push_back(p.detach().cpu());
        }
        return out;
      };
      const auto cpu = run(torch::kCPU);
      const int64_t calls = kernels::fused_call_count();
      const auto gpu = run(torch::Device(torch::kCUDA, 0));
      EXPECT_GT(kernels::fused_call_count(), calls) << spec.name << ": CUDA tensors never reached a fused kernel";
      for (size_t i = 0; i < cpu.size(); ++i) {
        EXPECT_TRUE(torch::equal(cpu[i], gpu[i])) << spec.name << " dtype " << dtype << " parameter " << i
                                                  << " max diff " << (cpu[i] - gpu[i]).abs().max().item<double>();
      }
    }
  }
}

// Runs without a GPU: CPU tensors stay on the CPU kernels in every build (a CUDA build on a machine
// without a GPU must not route them to the device), other devices never reach a fused kernel.
TEST(FusedCudaDispatch, CpuTensorsStayOnTheCpu) {
  const auto f = torch::randn({4097});
  EXPECT_TRUE(kernels::fused_eligible({f, f}));
  const auto meta = torch::empty({4097}, torch::TensorOptions().device(torch::kMeta));
  EXPECT_FALSE(kernels::fused_eligible({meta}));
  EXPECT_FALSE(kernels::fused_eligible({f, meta})) << "tensors on two devices";
  // A Signum step on CPU tensors through the public entry point equals the host model.
  Case c;
  for (const Case& k : cases()) {
    if (k.name == "Dither_rms_momentum_signum_gaussian") {
      c = k;
    }
  }
  ASSERT_EQ(c.name, "Dither_rms_momentum_signum_gaussian");
  const int64_t calls = kernels::fused_call_count();
  const Arrays cpu = run_cpu(c, Dtype::kFloat32, 4097);
  EXPECT_EQ(kernels::fused_call_count(), calls + kSteps);
  Arrays model = make_arrays(Dtype::kFloat32, 4097, 1234);
  HostExec exec(model);
  run_steps(exec, c, kSteps);
  EXPECT_EQ(compare(cpu, model, c), "");
  EXPECT_TRUE(std::isfinite(cpu.results.scale)) << "the CPU kernels return the dither scale they used";
}

// Runs without a GPU: the raw API's contracts that need no device.
TEST(FusedCudaDispatch, WorkspaceLayoutAndErrors) {
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{4096}, int64_t{4097}, int64_t{100003}}) {
    EXPECT_EQ(kernels::host_model::workspace_doubles(n), 4 + 2 * ((n + 4095) / 4096)) << n;
#ifdef SIGNOPT_WITH_CUDA
    EXPECT_EQ(kernels::cuda::workspace_doubles(n), kernels::host_model::workspace_doubles(n)) << n;
#endif
  }
  // A reduction without a workspace is refused with a message that says what is missing (the
  // same pass sequence runs on the device).
  Arrays x = make_arrays(Dtype::kFloat32, 10, 1);
  kernels::cuda::EfStepArgs ef;
  ef.lr = 0.1;
  try {
    kernels::host_model::ef_sign_sgd_step(x.dtype, x.p.data(), x.g.data(), x.a.data(), nullptr, x.n, ef, nullptr);
    FAIL() << "a missing workspace was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("workspace"), std::string::npos) << e.what();
  }
  kernels::cuda::SignStepArgs sign;
  sign.dither.enabled = true;
  sign.dither.scale = DitherScale::Rms;
  EXPECT_THROW(
      kernels::host_model::sign_descent_step(x.dtype, x.p.data(), x.g.data(), nullptr, x.n, sign, false, nullptr),
      std::invalid_argument);
#ifdef SIGNOPT_WITH_CUDA
  std::string why;
  if (!kernels::cuda::device_available(&why)) {
    // No GPU: the runtime helpers fail loudly instead of crashing.
    EXPECT_FALSE(why.empty());
    try {
      kernels::cuda::device_alloc(16);
      FAIL() << "device_alloc succeeded without a usable device";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("signopt CUDA: cudaMalloc"), std::string::npos) << e.what();
    }
  }
#endif
}

} // namespace
} // namespace signopt::test

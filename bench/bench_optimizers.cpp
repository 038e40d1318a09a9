// Per-step time of every signopt optimizer (fused kernels and the reference composition), LibTorch's
// SGD-momentum and Adam, and a plain copy of the same bytes, at 1M / 11M / 100M float32 parameters, and Signum
// on bfloat16 parameters (with its float32 or bfloat16 momentum, stochastic or nearest rounding).
// bytes_per_second uses each rule's minimum traffic (the bandwidth floor); bench/report.py turns the
// JSON output into docs/benchmarks.md with ratios measured in the same run.
#include <signopt/kernels/isa.h>
#include <signopt/signopt.h>

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

namespace {

using Make = std::function<std::unique_ptr<torch::optim::Optimizer>(std::vector<torch::Tensor>)>;

// One parameter tensor of n floats with a fixed gradient; the optimizer is stepped repeatedly.
void run_optimizer(
    benchmark::State& state,
    const Make& make,
    bool fused,
    double floor_bytes_per_param,
    bool avx512_noise = true,
    torch::Dtype dtype = torch::kFloat) {
  const int64_t n = state.range(0);
  signopt::kernels::set_fused_enabled(fused);
  // Without AVX-512 noise: the hand-vectorized paths capped below AVX-512 (the portable noise loops).
  const auto isa_cap = signopt::kernels::detail::set_isa_cap(
      avx512_noise ? signopt::kernels::detail::Isa::Avx512 : signopt::kernels::detail::Isa::Avx2);
  auto p = torch::randn({n}).to(dtype).requires_grad_(true);
  p.mutable_grad() = torch::randn({n}).to(dtype);
  auto opt = make({p});
  opt->step(); // state allocation outside the timed loop
  for (auto _ : state) {
    opt->step();
    benchmark::ClobberMemory();
  }
  signopt::kernels::set_fused_enabled(true);
  signopt::kernels::detail::set_isa_cap(isa_cap);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * floor_bytes_per_param * n));
  state.counters["floor_bytes_per_param"] = floor_bytes_per_param;
}

void BM_Copy(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto src = torch::randn({n});
  auto dst = torch::empty({n});
  for (auto _ : state) {
    dst.copy_(src);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 8 * n); // read 4 + write 4 bytes per element
}

// The hybrid's extra read of the momentum per sign step (kernels::moment_sums: nnz, ||m||_1, ||m||^2 for
// the calibration estimators), to set against HybridSignPhase - Signum.
// The bfloat16 copy: 2 + 2 bytes per element (the same bandwidth as Copy, for the bfloat16 rows' floors).
void BM_CopyBF16(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto src = torch::randn({n}).to(torch::kBFloat16);
  auto dst = torch::empty({n}, torch::kBFloat16);
  for (auto _ : state) {
    dst.copy_(src);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 4 * n);
}

void BM_MomentSums(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto m = torch::randn({n});
  for (auto _ : state) {
    benchmark::DoNotOptimize(signopt::kernels::moment_sums(m));
  }
  state.SetBytesProcessed(state.iterations() * 4 * n);
  state.counters["floor_bytes_per_param"] = 4;
}

struct Case {
  const char* name;
  double floor_bytes; // minimum bytes moved per parameter per step
  Make make;
  bool has_fused;
  torch::Dtype dtype = torch::kFloat;
};

// The bfloat16 cases.
std::vector<Case> half_cases() {
  using P = std::vector<torch::Tensor>;
  using Ptr = std::unique_ptr<torch::optim::Optimizer>;
  return {
      // bfloat16 parameters and gradients (docs/optimizers.md, "Low-precision parameters"): 2 + 2 + 2 bytes of
      // p, g, p and 4 + 4 of a float32 momentum, or 2 + 2 of a bfloat16 one.
      {"SignumBF16", 14,
       [](P p) -> Ptr { return std::make_unique<signopt::Signum>(p, signopt::SignumOptions(1e-3)); }, true, torch::kBFloat16},
      {"SignumBF16Nearest", 14,
       [](P p) -> Ptr {
         return std::make_unique<signopt::Signum>(p, signopt::SignumOptions(1e-3).rounding(signopt::Rounding::Nearest));
       },
       true, torch::kBFloat16},
      {"SignumBF16MomentumBF16", 10,
       [](P p) -> Ptr {
         return std::make_unique<signopt::Signum>(
             p, signopt::SignumOptions(1e-3).momentum_dtype(signopt::MomentumDtype::Parameter));
       },
       true, torch::kBFloat16},
      // Dithered Signum on bfloat16 (the rms scale of the current argument: a statistics pass first) and with the
      // one-pass scale (DitherScaleFrom::Previous: measured in the update pass).
      {"DitheredSignumBF16", 14,
       [](P p) -> Ptr { return std::make_unique<signopt::Signum>(p, signopt::SignumOptions(1e-3).dither(signopt::DitherOptions().seed(1))); },
       true, torch::kBFloat16},
      {"DitheredSignumBF16PreviousScale", 14,
       [](P p) -> Ptr {
         return std::make_unique<signopt::Signum>(
             p, signopt::SignumOptions(1e-3).dither(signopt::DitherOptions().seed(1).scale_from(signopt::DitherScaleFrom::Previous)));
       },
       true, torch::kBFloat16},
      // The hybrid on bfloat16 (its sign phase with the calibration sums; its SGD phase with float32 v).
      {"HybridSignPhaseBF16", 14,
       [](P p) -> Ptr {
         return std::make_unique<signopt::HybridSignSGD>(p, signopt::HybridSignSGDOptions(1e-3).switch_never());
       },
       true, torch::kBFloat16},
      {"HybridSgdPhaseMomentumBF16", 14,
       [](P p) -> Ptr {
         return std::make_unique<signopt::HybridSignSGD>(
             p, signopt::HybridSignSGDOptions(1e-3).switch_at_step(1).post_switch_momentum(0.9));
       },
       true, torch::kBFloat16},
  };
}

std::vector<Case> cases() {
  using P = std::vector<torch::Tensor>;
  using Ptr = std::unique_ptr<torch::optim::Optimizer>;
  std::vector<Case> out = {
      {"SignSGD", 12, [](P p) -> Ptr { return std::make_unique<signopt::SignSGD>(p, signopt::SignSGDOptions(1e-3)); }, true},
      {"Signum", 20, [](P p) -> Ptr { return std::make_unique<signopt::Signum>(p, signopt::SignumOptions(1e-3)); }, true},
      {"DitheredSignum", 20,
       [](P p) -> Ptr {
         return std::make_unique<signopt::Signum>(p, signopt::SignumOptions(1e-3).dither(signopt::DitherOptions().seed(1)));
       },
       true},
      // Absolute scale: no statistics pass, so this isolates the cost of drawing the noise.
      {"DitheredSignumAbsScale", 20,
       [](P p) -> Ptr {
         return std::make_unique<signopt::Signum>(
             p, signopt::SignumOptions(1e-3).dither(signopt::DitherOptions().seed(1).scale(signopt::DitherScale::Absolute)));
       },
       true},
      // The threshold draw (DitherDraw::Threshold): one 16-bit uniform per element against the Gaussian tail.
      {"DitheredSignumThreshold", 20,
       [](P p) -> Ptr {
         return std::make_unique<signopt::Signum>(
             p, signopt::SignumOptions(1e-3).dither(signopt::DitherOptions().seed(1).draw(signopt::DitherDraw::Threshold)));
       },
       true},
      {"DitheredSignumThresholdAbsScale", 20,
       [](P p) -> Ptr {
         return std::make_unique<signopt::Signum>(
             p, signopt::SignumOptions(1e-3).dither(
                    signopt::DitherOptions().seed(1).scale(signopt::DitherScale::Absolute).draw(signopt::DitherDraw::Threshold)));
       },
       true},
      // The scale from the previous step (DitherScaleFrom::Previous): one pass over memory.
      {"DitheredSignumPreviousScale", 20,
       [](P p) -> Ptr {
         return std::make_unique<signopt::Signum>(
             p, signopt::SignumOptions(1e-3).dither(signopt::DitherOptions().seed(1).scale_from(signopt::DitherScaleFrom::Previous)));
       },
       true},
      {"DitheredSignumThresholdPreviousScale", 20,
       [](P p) -> Ptr {
         return std::make_unique<signopt::Signum>(
             p, signopt::SignumOptions(1e-3).dither(signopt::DitherOptions().seed(1).draw(signopt::DitherDraw::Threshold).scale_from(
                    signopt::DitherScaleFrom::Previous)));
       },
       true},
      {"HybridSignPhase", 20,
       [](P p) -> Ptr {
         return std::make_unique<signopt::HybridSignSGD>(p, signopt::HybridSignSGDOptions(1e-3).switch_never());
       },
       true},
      {"HybridSgdPhaseMomentum", 20,
       [](P p) -> Ptr {
         auto o = std::make_unique<signopt::HybridSignSGD>(
             p, signopt::HybridSignSGDOptions(1e-3).switch_at_step(1).post_switch_momentum(0.9));
         return o;
       },
       true},
      {"EFSignSGD", 20, [](P p) -> Ptr { return std::make_unique<signopt::EFSignSGD>(p, signopt::EFSignSGDOptions(1e-3)); }, true},
      {"Lion", 20, [](P p) -> Ptr { return std::make_unique<signopt::Lion>(p, signopt::LionOptions(1e-4)); }, true},
      {"TorchSGDMomentum", 20,
       [](P p) -> Ptr { return std::make_unique<torch::optim::SGD>(p, torch::optim::SGDOptions(1e-2).momentum(0.9)); },
       false},
      {"TorchAdam", 28, [](P p) -> Ptr { return std::make_unique<torch::optim::Adam>(p, torch::optim::AdamOptions(1e-3)); }, false},
  };
  for (auto& c : half_cases()) {
    out.push_back(std::move(c));
  }
  return out;
}

void register_all() {
  const std::vector<int64_t> sizes = {1 << 20, 11 * 1000 * 1000, 100 * 1000 * 1000};
  const char* max_size = std::getenv("SIGNOPT_BENCH_MAX_SIZE");
  const int64_t limit = max_size ? std::atoll(max_size) : sizes.back();
  auto add_sizes = [&](benchmark::internal::Benchmark* b) {
    for (int64_t n : sizes) {
      if (n <= limit) {
        b->Arg(n);
      }
    }
    b->Unit(benchmark::kMillisecond)->UseRealTime();
  };
  add_sizes(benchmark::RegisterBenchmark("Copy", BM_Copy));
  add_sizes(benchmark::RegisterBenchmark("CopyBF16", BM_CopyBF16));
  add_sizes(benchmark::RegisterBenchmark("MomentSums", BM_MomentSums));
  for (const auto& c : cases()) {
    add_sizes(benchmark::RegisterBenchmark(
        (std::string(c.name) + (c.has_fused ? "/fused" : "")).c_str(),
        [c](benchmark::State& s) { run_optimizer(s, c.make, true, c.floor_bytes, true, c.dtype); }));
    if (c.has_fused) {
      add_sizes(benchmark::RegisterBenchmark(
          (std::string(c.name) + "/reference").c_str(),
          [c](benchmark::State& s) { run_optimizer(s, c.make, false, c.floor_bytes, true, c.dtype); }));
    }
    // The dither noise without the hand-written AVX-512 path (what CPUs without AVX-512 run).
    if (std::string(c.name) == "DitheredSignum" || std::string(c.name) == "DitheredSignumThreshold") {
      add_sizes(benchmark::RegisterBenchmark(
          (std::string(c.name) + "/fused-portable-noise").c_str(),
          [c](benchmark::State& s) { run_optimizer(s, c.make, true, c.floor_bytes, false); }));
    }
  }
}

} // namespace

int main(int argc, char** argv) {
  const char* threads = std::getenv("SIGNOPT_BENCH_THREADS");
  at::set_num_threads(threads ? std::atoi(threads) : 2);
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("torch_threads", std::to_string(at::get_num_threads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

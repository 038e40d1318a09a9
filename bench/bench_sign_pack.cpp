// Throughput of the 1-bit sign kernels (signopt/kernels/bitpack.h): pack, unpack and the majority vote
// (W = 2, 4, 8) at 1M / 11M / 100M coordinates, per ISA path and against the plain references, next to a
// plain memcpy of each kernel's input bytes (on one thread, and split over the kernels' threads) in the
// same run. bytes_per_second counts the bytes a kernel reads plus the bytes it writes, and the copy's
// read plus write, so the ratio of the two is the fraction of copy bandwidth reached.
#include <signopt/comm/sign_pack.h>
#include <signopt/kernels/isa.h>

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using signopt::comm::packed_words;
using signopt::comm::ZeroSign;
using signopt::kernels::detail::Isa;

const char* isa_name(Isa isa) {
  return isa == Isa::Avx512 ? "avx512" : isa == Isa::Avx2 ? "avx2" : "scalar";
}

// Random words standing for packed vectors (the vote's speed does not depend on the bits).
std::vector<uint64_t> random_words(int64_t words, uint64_t seed) {
  std::vector<uint64_t> v(words);
  uint64_t s = seed;
  for (auto& w : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    w = s ^ (s >> 29);
  }
  return v;
}

// memcpy of `bytes` bytes: reads them and writes them.
void BM_Copy(benchmark::State& state) {
  const int64_t bytes = state.range(0);
  std::vector<char> src(bytes, 1), dst(bytes);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 2 * bytes);
}

// The same copy split over the LibTorch threads the kernels use (at::parallel_for, 512 KiB grain): the
// bandwidth the kernels compete with when they run on more than one thread.
void BM_CopyParallel(benchmark::State& state) {
  const int64_t bytes = state.range(0);
  std::vector<char> src(bytes, 1), dst(bytes);
  for (auto _ : state) {
    at::parallel_for(0, bytes, int64_t{1} << 19, [&](int64_t begin, int64_t end) {
      std::memcpy(dst.data() + begin, src.data() + begin, end - begin);
    });
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 2 * bytes);
}

// Pack of n float32 gradient-like values (no zeros): reads 4n bytes, writes n / 8.
void BM_Pack(benchmark::State& state, Isa isa, bool reference) {
  const int64_t n = state.range(0);
  torch::manual_seed(0);
  const auto x = torch::randn({n});
  std::vector<uint64_t> out(packed_words(n));
  const auto key = signopt::comm::zero_sign_key(1, 2, 3);
  const auto previous = signopt::kernels::detail::set_isa_cap(isa);
  for (auto _ : state) {
    const int64_t zeros = reference
        ? signopt::comm::reference::pack_signs(x.data_ptr<float>(), n, out.data(), ZeroSign::Random, key)
        : signopt::comm::pack_signs(x.data_ptr<float>(), n, out.data(), ZeroSign::Random, key);
    benchmark::DoNotOptimize(zeros);
    benchmark::ClobberMemory();
  }
  signopt::kernels::detail::set_isa_cap(previous);
  state.SetBytesProcessed(state.iterations() * (4 * n + 8 * packed_words(n)));
}

// Unpack of n signs with a tie plane to float32: reads 2 n / 8 bytes, writes 4n.
void BM_Unpack(benchmark::State& state, Isa isa, bool reference) {
  const int64_t n = state.range(0);
  const auto bits = random_words(packed_words(n), 1);
  auto tie = random_words(packed_words(n), 2);
  for (auto& w : tie) {
    w &= w >> 7; // ties are rarer than signs
  }
  std::vector<float> out(n);
  const auto previous = signopt::kernels::detail::set_isa_cap(isa);
  for (auto _ : state) {
    if (reference) {
      signopt::comm::reference::unpack_signs(bits.data(), tie.data(), n, 1e-3f, out.data());
    } else {
      signopt::comm::unpack_signs(bits.data(), tie.data(), n, 1e-3f, out.data());
    }
    benchmark::ClobberMemory();
  }
  signopt::kernels::detail::set_isa_cap(previous);
  state.SetBytesProcessed(state.iterations() * (4 * n + 2 * 8 * packed_words(n)));
}

// Vote of W packed vectors of n coordinates: reads W n / 8 bytes, writes 2 n / 8 (sign and tie planes).
void BM_Vote(benchmark::State& state, bool reference) {
  const int64_t workers = state.range(0), n = state.range(1);
  const int64_t words = packed_words(n);
  std::vector<std::vector<uint64_t>> inputs;
  std::vector<const uint64_t*> rows;
  for (int64_t k = 0; k < workers; ++k) {
    inputs.push_back(random_words(words, 10 + k));
    rows.push_back(inputs.back().data());
  }
  std::vector<uint64_t> sign(words), tie(words);
  for (auto _ : state) {
    if (reference) {
      signopt::comm::reference::majority_vote(rows.data(), workers, n, sign.data(), tie.data());
    } else {
      signopt::comm::majority_vote(rows.data(), workers, words, sign.data(), tie.data());
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * (workers + 2) * 8 * words);
}

void register_all() {
  const std::vector<int64_t> sizes = {1 << 20, 11 * 1000 * 1000, 100 * 1000 * 1000};
  const char* max_size = std::getenv("SIGNOPT_BENCH_MAX_SIZE");
  const int64_t limit = max_size ? std::atoll(max_size) : sizes.back();
  const std::vector<int64_t> workers = {2, 4, 8};
  const Isa best = signopt::kernels::detail::isa_supported();

  // Copies of each kernel's input bytes: 4n (pack's float32 input, as many bytes as unpack writes)
  // and W n / 8 (the vote's packed inputs).
  for (auto* copy :
       {benchmark::RegisterBenchmark("Copy", BM_Copy), benchmark::RegisterBenchmark("CopyParallel", BM_CopyParallel)}) {
    for (int64_t n : sizes) {
      if (n <= limit) {
        copy->Arg(4 * n);
        for (int64_t w : workers) {
          copy->Arg(w * 8 * packed_words(n));
        }
      }
    }
    copy->Unit(benchmark::kMillisecond)->UseRealTime();
  }

  auto add_sizes = [&](benchmark::internal::Benchmark* b) {
    for (int64_t n : sizes) {
      if (n <= limit) {
        b->Arg(n);
      }
    }
    b->Unit(benchmark::kMillisecond)->UseRealTime();
  };
  for (Isa isa : {Isa::Avx512, Isa::Avx2, Isa::Scalar}) {
    if (static_cast<int>(isa) > static_cast<int>(best)) {
      continue;
    }
    add_sizes(benchmark::RegisterBenchmark(
        (std::string("Pack/") + isa_name(isa)).c_str(), [isa](benchmark::State& s) { BM_Pack(s, isa, false); }));
    add_sizes(benchmark::RegisterBenchmark(
        (std::string("Unpack/") + isa_name(isa)).c_str(), [isa](benchmark::State& s) { BM_Unpack(s, isa, false); }));
  }
  add_sizes(benchmark::RegisterBenchmark(
      "Pack/reference", [](benchmark::State& s) { BM_Pack(s, Isa::Scalar, true); }));
  add_sizes(benchmark::RegisterBenchmark(
      "Unpack/reference", [](benchmark::State& s) { BM_Unpack(s, Isa::Scalar, true); }));
  for (bool reference : {false, true}) {
    auto b = benchmark::RegisterBenchmark(
        reference ? "Vote/reference" : "Vote/fused", [reference](benchmark::State& s) { BM_Vote(s, reference); });
    for (int64_t n : sizes) {
      for (int64_t w : workers) {
        if (n <= limit) {
          b->Args({w, n});
        }
      }
    }
    b->ArgNames({"W", "n"})->Unit(benchmark::kMillisecond)->UseRealTime();
  }
}

} // namespace

int main(int argc, char** argv) {
  const char* threads = std::getenv("SIGNOPT_BENCH_THREADS");
  at::set_num_threads(threads ? std::atoi(threads) : 2);
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("torch_threads", std::to_string(at::get_num_threads()));
  benchmark::AddCustomContext("sign_pack_isa", isa_name(signopt::kernels::detail::isa_supported()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

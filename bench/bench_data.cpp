// Google Benchmark of the trainer's data pipeline: one training batch (gather, optional random
// crop + flip, normalisation) per iteration, against a plain copy of the batch's bytes.
#include <signopt/data/loader.h>

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

namespace {

signopt::data::Dataset random_dataset(int64_t n, int64_t c, int64_t side) {
  signopt::data::Dataset d;
  d.images = torch::randint(0, 256, {n, c, side, side}, torch::kUInt8);
  d.labels = torch::randint(0, 10, {n}, torch::kInt64);
  d.num_classes = 10;
  d.name = "random";
  return d;
}

// Args: channels, side, augment (0/1), threads.
void BM_TrainBatch(benchmark::State& state) {
  const int64_t c = state.range(0), side = state.range(1);
  at::set_num_threads(static_cast<int>(state.range(3)));
  signopt::data::LoaderOptions o;
  o.batch_size = 128;
  o.augment = state.range(2) != 0;
  const signopt::data::BatchLoader loader(
      random_dataset(8192, c, side), std::vector<float>(c, 0.5f), std::vector<float>(c, 0.25f), o);
  int64_t i = 0;
  for (auto _ : state) {
    auto batch = loader.batch(0, i++ % loader.batches_per_epoch());
    benchmark::DoNotOptimize(batch.images.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * 128);
}

// The floor: copying the batch's float32 output bytes.
void BM_CopyBatchBytes(benchmark::State& state) {
  const int64_t c = state.range(0), side = state.range(1);
  at::set_num_threads(static_cast<int>(state.range(3)));
  auto src = torch::rand({128, c, side, side});
  auto dst = torch::empty_like(src);
  for (auto _ : state) {
    dst.copy_(src);
    benchmark::DoNotOptimize(dst.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * 128);
}

} // namespace

BENCHMARK(BM_TrainBatch)->Args({1, 28, 0, 1})->Args({1, 28, 1, 1})->Args({3, 32, 1, 1})->Args({3, 32, 1, 2})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CopyBatchBytes)->Args({1, 28, 0, 1})->Args({3, 32, 0, 1})->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();

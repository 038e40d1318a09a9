// The data layer beyond the file readers: the synthetic dataset, the split helpers, BatchLoader's
// determinism, shards, augmentation and normalisation, and the real Fashion-MNIST when installed.
#include <signopt/data/datasets.h>
#include <signopt/data/loader.h>

#include "support/data_errors.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <numeric>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace signopt::test {
namespace {

namespace fs = std::filesystem;
using support::expect_data_error;

// ------------------------------------------------------------------------------------------------
// Synthetic and helpers

data::SyntheticOptions small_synthetic(uint64_t seed = 5) {
  data::SyntheticOptions o;
  o.train_size = 600;
  o.test_size = 300;
  o.seed = seed;
  return o;
}

TEST(Synthetic, DeterministicFromTheSeedAndThreadCount) {
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto a = data::load_dataset("synthetic", "", small_synthetic());
  at::set_num_threads(2);
  const auto b = data::load_dataset("synthetic", "", small_synthetic());
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(a.train.images, b.train.images));
  EXPECT_TRUE(torch::equal(a.test.labels, b.test.labels));
  EXPECT_EQ(a.mean, b.mean);
  const auto c = data::load_dataset("synthetic", "", small_synthetic(6));
  EXPECT_FALSE(torch::equal(a.train.images, c.train.images));
  EXPECT_FALSE(torch::equal(a.train.images.slice(0, 0, 300), a.test.images));
  // The first n train samples do not depend on train_size.
  auto longer = small_synthetic();
  longer.train_size = 900;
  const auto d = data::load_dataset("synthetic", "", longer);
  EXPECT_TRUE(torch::equal(d.train.images.slice(0, 0, 600), a.train.images));
  EXPECT_EQ(a.train.images.sizes(), torch::IntArrayRef({600, 1, 28, 28}));
  EXPECT_EQ(a.train.name, "synthetic");
}

TEST(Synthetic, IsLearnableAndStatisticsAreComputed) {
  const auto s = data::load_dataset("synthetic", "", small_synthetic());
  // A nearest-class-mean classifier fitted on train must do well on test.
  const auto x = s.train.images.to(torch::kFloat).reshape({600, -1});
  const auto one_hot = torch::one_hot(s.train.labels, 10).to(torch::kFloat);
  ASSERT_GT(one_hot.sum(0).min().item<float>(), 20) << "every class should be present";
  const auto means = one_hot.t().mm(x) / one_hot.sum(0).unsqueeze(1);
  const auto xt = s.test.images.to(torch::kFloat).reshape({300, -1});
  const auto predicted = torch::cdist(xt, means).argmin(1);
  const double accuracy = predicted.eq(s.test.labels).to(torch::kDouble).mean().item<double>();
  EXPECT_GT(accuracy, 0.9);
  const auto scaled = s.train.images.to(torch::kDouble) / 255;
  EXPECT_NEAR(s.mean.at(0), scaled.mean().item<double>(), 1e-6);
  EXPECT_NEAR(s.std.at(0), scaled.std(false).item<double>(), 1e-6);
}

TEST(Synthetic, BadOptionsNameTheField) {
  auto o = small_synthetic();
  o.num_classes = 1;
  expect_data_error([&] { data::load_dataset("synthetic", "", o); }, {"num_classes", "got 1"});
  o = small_synthetic();
  o.train_size = 0;
  expect_data_error([&] { data::load_dataset("synthetic", "", o); }, {"train_size", "got 0"});
}

data::Dataset indexed_dataset(int64_t n, int64_t channels = 1, int64_t h = 4, int64_t w = 4) {
  // Image i holds (i + j) % 256 at pixel j, label i % 7: content identifies the sample.
  const auto base = torch::arange(n, torch::kInt64).unsqueeze(1) + torch::arange(channels * h * w).unsqueeze(0);
  return {
      base.remainder(256).to(torch::kUInt8).reshape({n, channels, h, w}), torch::arange(n).remainder(7), 7, "indexed"};
}

TEST(Datasets, SubsetTakesTheFirstN) {
  const auto d = indexed_dataset(50);
  const auto s = data::subset(d, 20);
  EXPECT_EQ(s.size(), 20);
  EXPECT_TRUE(torch::equal(s.images, d.images.slice(0, 0, 20)));
  EXPECT_EQ(data::subset(d, 500).size(), 50);
  expect_data_error([&] { data::subset(d, 0); }, {"subset size must be > 0, got 0"});
}

TEST(Datasets, ValidationSplitIsSeededDisjointAndComplete) {
  const auto d = indexed_dataset(200);
  const auto [train, val] = data::split_validation(d, 0.1, 3);
  ASSERT_EQ(val.size(), 20);
  ASSERT_EQ(train.size(), 180);
  std::vector<int64_t> seen;
  for (const auto* part : {&train, &val}) {
    for (int64_t i = 0; i < part->size(); ++i) {
      seen.push_back(part->images[i][0][0][0].item<int64_t>());
    }
  }
  // Pixel 0 of image i is i % 256 = i here: the two parts hold every sample exactly once.
  std::sort(seen.begin(), seen.end());
  std::vector<int64_t> all(200);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(seen, all);
  const auto again = data::split_validation(d, 0.1, 3);
  EXPECT_TRUE(torch::equal(again.second.images, val.images));
  const auto other = data::split_validation(d, 0.1, 4);
  EXPECT_FALSE(torch::equal(other.second.images, val.images));
  // Not simply the last samples.
  EXPECT_FALSE(torch::equal(val.images, d.images.slice(0, 180)));
  expect_data_error([&] { data::split_validation(d, 0.0, 1); }, {"validation fraction must be in (0, 1)"});
  expect_data_error([&] { data::split_validation(d, 0.001, 1); }, {"leaves 0 validation"});
}

// ------------------------------------------------------------------------------------------------
// BatchLoader

data::LoaderOptions loader_options(int64_t batch, uint64_t seed = 1) {
  data::LoaderOptions o;
  o.batch_size = batch;
  o.seed = seed;
  return o;
}

data::BatchLoader make_loader(const data::Dataset& d, data::LoaderOptions o) {
  std::vector<float> mean(d.images.size(1), 0.5f), std(d.images.size(1), 0.25f);
  return data::BatchLoader(d, mean, std, o);
}

torch::Tensor normalised(const torch::Tensor& raw, float mean, float std) {
  return (raw.to(torch::kFloat) / 255 - mean) / std;
}

TEST(Loader, PermutationIsStable) {
  // Orders computed by an independent Python transcription of Philox4x32-10 + Fisher-Yates (as
  // documented in loader.h); a change here would also break resuming runs made by older builds.
  EXPECT_EQ(data::random_permutation(10, 0, 1, 0), (std::vector<int64_t>{4, 0, 5, 3, 2, 7, 1, 9, 6, 8}));
  EXPECT_EQ(
      data::random_permutation(12, 123456789012ull, 1, 5),
      (std::vector<int64_t>{7, 6, 3, 2, 11, 9, 5, 4, 1, 8, 10, 0}));
  auto p = data::random_permutation(1000, 7, 1, 3);
  std::sort(p.begin(), p.end());
  std::vector<int64_t> all(1000);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(p, all);
  EXPECT_TRUE(data::random_permutation(0, 1, 1, 1).empty());
}

TEST(Loader, EveryEpochServesEverySampleOnceWithItsImageAndLabel) {
  const auto d = indexed_dataset(1000);
  const auto loader = make_loader(d, loader_options(128));
  ASSERT_EQ(loader.batches_per_epoch(), 8);
  std::vector<int64_t> seen;
  for (int64_t b = 0; b < 8; ++b) {
    const auto idx = loader.batch_indices(2, b);
    const auto batch = loader.batch(2, b);
    ASSERT_EQ(batch.images.size(0), b < 7 ? 128 : 1000 - 7 * 128);
    ASSERT_EQ(static_cast<int64_t>(idx.size()), batch.images.size(0));
    const auto index = torch::tensor(idx, torch::kInt64);
    EXPECT_TRUE(torch::equal(batch.labels, d.labels.index_select(0, index)));
    EXPECT_TRUE(torch::allclose(batch.images, normalised(d.images.index_select(0, index), 0.5f, 0.25f), 1e-6, 1e-6));
    seen.insert(seen.end(), idx.begin(), idx.end());
  }
  std::sort(seen.begin(), seen.end());
  std::vector<int64_t> all(1000);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(seen, all);
  // drop_last leaves out the short batch.
  auto o = loader_options(128);
  o.drop_last = true;
  EXPECT_EQ(make_loader(d, o).batches_per_epoch(), 7);
}

TEST(Loader, OrdersDifferByEpochAndSeedAndRepeatExactly) {
  const auto d = indexed_dataset(300);
  const auto loader = make_loader(d, loader_options(32, 9));
  EXPECT_NE(loader.epoch_order(0), loader.epoch_order(1));
  EXPECT_EQ(loader.epoch_order(1), make_loader(d, loader_options(32, 9)).epoch_order(1));
  EXPECT_NE(loader.epoch_order(1), make_loader(d, loader_options(32, 10)).epoch_order(1));
  auto in_order = loader_options(32);
  in_order.shuffle = false;
  const auto plain = make_loader(d, in_order).epoch_order(3);
  for (int64_t i = 0; i < 300; ++i) {
    ASSERT_EQ(plain[i], i);
  }
}

TEST(Loader, BatchIsAPureFunctionOfSeedEpochIndexAndThreads) {
  const auto d = indexed_dataset(700, 3, 12, 12);
  auto o = loader_options(64, 4);
  o.augment = true;
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  const auto uninterrupted = make_loader(d, o);
  std::vector<data::Batch> reference;
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    for (int64_t b = 0; b < uninterrupted.batches_per_epoch(); ++b) {
      reference.push_back(uninterrupted.batch(epoch, b));
    }
  }
  // A "resumed" loader, on one thread, asked for epoch 1 batch 3 first and then the rest.
  at::set_num_threads(1);
  const auto resumed = make_loader(d, o);
  const int64_t per_epoch = resumed.batches_per_epoch();
  for (const auto& [epoch, b] : std::vector<std::pair<int64_t, int64_t>>{{1, 3}, {1, 4}, {0, 0}, {1, 10}, {0, 10}}) {
    const auto got = resumed.batch(epoch, b);
    const auto& want = reference.at(epoch * per_epoch + b);
    EXPECT_TRUE(torch::equal(got.images, want.images)) << "epoch " << epoch << " batch " << b;
    EXPECT_TRUE(torch::equal(got.labels, want.labels)) << "epoch " << epoch << " batch " << b;
  }
  at::set_num_threads(threads);
  // The augmentation does change the images between epochs of the same sample.
  EXPECT_FALSE(torch::equal(reference[0].images, uninterrupted.batch(0, 1).images));
}

TEST(Loader, RankShardsAreDisjointCoverTheEpochAndMatchOneBigBatch) {
  const auto d = indexed_dataset(200);
  constexpr int64_t kWorld = 3, kBatch = 16;
  auto single_options = loader_options(kWorld * kBatch, 2);
  const auto single = make_loader(d, single_options);
  std::vector<int64_t> seen;
  for (int64_t r = 0; r < kWorld; ++r) {
    auto o = loader_options(kBatch, 2);
    o.rank = r;
    o.world_size = kWorld;
    const auto loader = make_loader(d, o);
    // 200 = 4 * 48 + 8: four full steps and a short one of 8 split 2 / 3 / 3.
    ASSERT_EQ(loader.batches_per_epoch(), 5) << "rank " << r;
    for (int64_t b = 0; b < 5; ++b) {
      const auto idx = loader.batch_indices(1, b);
      ASSERT_EQ(static_cast<int64_t>(idx.size()), b < 4 ? kBatch : (r + 1) * 8 / 3 - r * 8 / 3);
      // Rank r's part of step b is the r-th block of the single process's batch b.
      const auto big = single.batch_indices(1, b);
      const int64_t offset = b < 4 ? r * kBatch : r * 8 / 3;
      EXPECT_TRUE(std::equal(idx.begin(), idx.end(), big.begin() + offset)) << "rank " << r << " batch " << b;
      seen.insert(seen.end(), idx.begin(), idx.end());
    }
  }
  std::sort(seen.begin(), seen.end());
  std::vector<int64_t> all(200);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(seen, all) << "the shards must be disjoint and cover the epoch";

  // A last step with fewer samples than ranks is dropped on every rank; drop_last drops any short one.
  for (const bool drop_last : {false, true}) {
    for (int64_t r = 0; r < kWorld; ++r) {
      auto o = loader_options(kBatch, 2);
      o.rank = r;
      o.world_size = kWorld;
      o.drop_last = drop_last;
      EXPECT_EQ(make_loader(indexed_dataset(97), o).batches_per_epoch(), 2);
      EXPECT_EQ(make_loader(indexed_dataset(100), o).batches_per_epoch(), drop_last ? 2 : 3);
    }
  }
}

TEST(Loader, AugmentationIsAPaddedCropAndFlip) {
  // One hand-made 3 x 7 x 9 image: every pixel distinct per channel, nothing symmetric.
  const auto image = (torch::arange(3 * 7 * 9, torch::kInt64) * 5 + 11).remainder(251).add(1).to(torch::kUInt8);
  data::Dataset d{image.reshape({1, 3, 7, 9}), torch::zeros({1}, torch::kInt64), 1, "one"};
  const std::vector<float> mean{0.1f, 0.2f, 0.3f}, std{0.5f, 0.6f, 0.7f};
  data::LoaderOptions o = loader_options(1, 12);
  o.augment = true;
  o.crop_padding = 3;
  const data::BatchLoader loader(d, mean, std, o);
  std::set<int64_t> offsets;
  int flips = 0;
  constexpr int kEpochs = 60;
  for (int64_t epoch = 0; epoch < kEpochs; ++epoch) {
    const auto draw = data::augment_draw(12, epoch, 0, 3);
    ASSERT_GE(draw.dy, 0);
    ASSERT_LE(draw.dy, 6);
    ASSERT_GE(draw.dx, 0);
    ASSERT_LE(draw.dx, 6);
    offsets.insert(draw.dy * 7 + draw.dx);
    flips += draw.flip;
    const auto padded = torch::constant_pad_nd(d.images[0], {3, 3, 3, 3}, 0);
    auto crop = padded.slice(1, draw.dy, draw.dy + 7).slice(2, draw.dx, draw.dx + 9);
    if (draw.flip)
      crop = torch::flip(crop, {2});
    const auto want =
        (crop.to(torch::kFloat) / 255 - torch::tensor(mean).view({3, 1, 1})) / torch::tensor(std).view({3, 1, 1});
    const auto got = loader.batch(epoch, 0).images[0];
    EXPECT_TRUE(torch::allclose(got, want, 1e-6, 1e-6))
        << "epoch " << epoch << " dy " << draw.dy << " dx " << draw.dx << " flip " << draw.flip;
  }
  // The draws move around: many offsets and both flip states in 60 epochs.
  EXPECT_GT(offsets.size(), 20u);
  EXPECT_GT(flips, 10);
  EXPECT_LT(flips, kEpochs - 10);
}

TEST(Loader, NormalisationAndEvalBatches) {
  const auto d = indexed_dataset(50, 2, 3, 3);
  const std::vector<float> mean{0.4914f, 0.2f}, std{0.247f, 0.9f};
  auto o = loader_options(8);
  o.augment = true; // eval batches are never augmented
  const data::BatchLoader loader(d, mean, std, o);
  const auto eval = loader.eval_batch(40, 32);
  ASSERT_EQ(eval.images.sizes(), torch::IntArrayRef({10, 2, 3, 3}));
  ASSERT_EQ(eval.images.scalar_type(), torch::kFloat32);
  const auto raw = d.images.slice(0, 40).to(torch::kFloat);
  const auto want = (raw / 255 - torch::tensor(mean).view({1, 2, 1, 1})) / torch::tensor(std).view({1, 2, 1, 1});
  EXPECT_TRUE(torch::allclose(eval.images, want, 1e-6, 1e-6));
  EXPECT_TRUE(torch::equal(eval.labels, d.labels.slice(0, 40)));
  EXPECT_THROW(loader.eval_batch(50, 1), std::out_of_range);
  EXPECT_THROW(loader.batch(0, loader.batches_per_epoch()), std::out_of_range);
}

TEST(Loader, BadOptionsAndInputsAreReported) {
  const auto d = indexed_dataset(10);
  auto o = loader_options(0);
  EXPECT_THROW(make_loader(d, o), std::invalid_argument);
  o = loader_options(4);
  o.world_size = 2;
  o.rank = 2;
  try {
    make_loader(d, o);
    ADD_FAILURE() << "rank 2 of 2 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("rank must be in 0..world_size - 1 = 1, got 2"), std::string::npos);
  }
  o = loader_options(16);
  o.drop_last = true;
  EXPECT_THROW(make_loader(d, o), std::invalid_argument);
  expect_data_error(
      [&] {
        data::BatchLoader(d, {0.5f, 0.5f}, {0.2f, 0.2f}, loader_options(4));
      },
      {"one value per channel (1), got 2 and 2"});
  auto bad = d;
  bad.num_classes = 5;
  expect_data_error([&] { make_loader(bad, loader_options(4)); }, {"labels span 0..6, outside 0..4"});
}

// ------------------------------------------------------------------------------------------------
// The real Fashion-MNIST (Debian's dataset-fashion-mnist), when installed.

TEST(RealData, FashionMnistLoads) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const auto s = data::load_dataset("fashion-mnist");
  ASSERT_EQ(s.train.images.sizes(), torch::IntArrayRef({60000, 1, 28, 28}));
  ASSERT_EQ(s.test.images.sizes(), torch::IntArrayRef({10000, 1, 28, 28}));
  EXPECT_EQ(s.train.labels.min().item<int64_t>(), 0);
  EXPECT_EQ(s.train.labels.max().item<int64_t>(), 9);
  EXPECT_EQ(s.test.labels.max().item<int64_t>(), 9);
  // Balanced classes: 6000 and 1000 of each.
  EXPECT_TRUE(torch::equal(torch::bincount(s.train.labels), torch::full({10}, 6000, torch::kInt64)));
  EXPECT_TRUE(torch::equal(torch::bincount(s.test.labels), torch::full({10}, 1000, torch::kInt64)));
  // The standard mean is that of this data.
  EXPECT_NEAR(s.train.images.to(torch::kDouble).mean().item<double>() / 255, s.mean[0], 5e-4);
}

} // namespace
} // namespace signopt::test

// The datasets: the synthetic dataset, load_dataset (the file readers are in readers.cpp) and the split
// helpers.
#include <signopt/data/datasets.h>
#include <signopt/data/loader.h>
#include <signopt/kernels/philox.h>

#include "datasets_internal.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace signopt::data {

using detail::join;
using detail::load_cifar;
using detail::load_idx_split;
using detail::shape_text;

namespace {

// Streams of the counter-based generator; the loader uses 1 (orders), 2 (validation split) and 3
// (augmentation).
constexpr uint64_t kPrototypeStream = 10;
constexpr uint64_t kTrainSampleStream = 11;
constexpr uint64_t kTestSampleStream = 12;

// ---------------------------------------------------------------------------------------------
// Synthetic

float unit_uniform(uint32_t bits) {
  return static_cast<float>(bits >> 8) * 5.9604644775390625e-8f; // [0, 1) on a 2^-24 grid
}

// prototypes[((k * C + c) * H + y) * W + x] in [0, 1]: three Gaussian blobs per class and channel.
std::vector<float> synthetic_prototypes(const SyntheticOptions& o) {
  const int64_t C = o.channels, H = o.height, W = o.width;
  std::vector<float> protos(static_cast<size_t>(o.num_classes * C * H * W), 0.0f);
  const auto key = kernels::DrawKey::make(o.seed, kPrototypeStream, 0, 0);
  constexpr int kBlobs = 3;
  for (int64_t k = 0; k < o.num_classes; ++k) {
    for (int64_t c = 0; c < C; ++c) {
      float* p = protos.data() + (k * C + c) * H * W;
      for (int b = 0; b < kBlobs; ++b) {
        const auto draw = key.block(static_cast<uint64_t>((k * C + c) * kBlobs + b));
        const double cy = (0.2 + 0.6 * unit_uniform(draw.x[0])) * H;
        const double cx = (0.2 + 0.6 * unit_uniform(draw.x[1])) * W;
        const double sigma = (0.08 + 0.12 * unit_uniform(draw.x[2])) * std::min(H, W);
        const double amplitude = 0.5 + 0.5 * unit_uniform(draw.x[3]);
        for (int64_t y = 0; y < H; ++y) {
          for (int64_t x = 0; x < W; ++x) {
            const double d2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
            p[y * W + x] += static_cast<float>(amplitude * std::exp(-d2 / (2 * sigma * sigma)));
          }
        }
      }
      for (int64_t i = 0; i < H * W; ++i) {
        p[i] = std::min(p[i], 1.0f);
      }
    }
  }
  return protos;
}

Dataset synthetic_split(const SyntheticOptions& o, const std::vector<float>& protos, int64_t n, uint64_t stream) {
  const int64_t C = o.channels, H = o.height, W = o.width, s = o.max_shift;
  auto images = torch::empty({n, C, H, W}, torch::kUInt8);
  auto labels = torch::empty({n}, torch::kInt64);
  uint8_t* img = images.data_ptr<uint8_t>();
  int64_t* lab = labels.data_ptr<int64_t>();
  const float noise = static_cast<float>(o.noise);
  // Each sample's draws are keyed by its index alone, so the result does not depend on the chunking.
  at::parallel_for(0, n, 64, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const auto key = kernels::DrawKey::make(o.seed, stream, static_cast<uint64_t>(i) >> 32, static_cast<uint64_t>(i));
      const auto meta = key.block(0);
      const int64_t label = meta.x[0] % static_cast<uint32_t>(o.num_classes);
      const int64_t sy = static_cast<int64_t>(meta.x[1] % static_cast<uint32_t>(2 * s + 1)) - s;
      const int64_t sx = static_cast<int64_t>(meta.x[2] % static_cast<uint32_t>(2 * s + 1)) - s;
      const float brightness = 0.7f + 0.6f * unit_uniform(meta.x[3]);
      lab[i] = label;
      uint8_t* out = img + i * C * H * W;
      kernels::PhiloxBlock draw{};
      for (int64_t e = 0; e < C * H * W; ++e) {
        if (e % 4 == 0)
          draw = key.block(1 + static_cast<uint64_t>(e / 4));
        const int64_t c = e / (H * W), y = (e / W) % H - sy, x = e % W - sx;
        const float base = (y >= 0 && y < H && x >= 0 && x < W) ? protos[((label * C + c) * H + y) * W + x] : 0.0f;
        const float v = base * brightness + noise * (2 * unit_uniform(draw.x[e % 4]) - 1);
        out[e] = static_cast<uint8_t>(std::lround(255 * std::clamp(v, 0.0f, 1.0f)));
      }
    }
  });
  return {images, labels, o.num_classes, "synthetic"};
}

// Per-channel mean and std of x / 255 over a dataset (population std, accumulated in double).
std::pair<std::vector<float>, std::vector<float>> channel_stats(const Dataset& d) {
  const auto x = d.images.to(torch::kFloat64).div_(255).transpose(0, 1).reshape({d.images.size(1), -1});
  const auto mean = x.mean(1), std = x.std(1, /*unbiased=*/false);
  std::vector<float> m, s;
  for (int64_t c = 0; c < x.size(0); ++c) {
    m.push_back(static_cast<float>(mean[c].item<double>()));
    s.push_back(static_cast<float>(std::max(std[c].item<double>(), 1e-6)));
  }
  return {m, s};
}

void check_name(const std::string& name) {
  const auto names = dataset_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    throw DataError("unknown dataset '" + name + "' (valid names: " + join(names, ", ") + ")");
}

} // namespace

void SyntheticOptions::validate() const {
  auto require = [](bool ok, const std::string& what) {
    if (!ok)
      throw DataError("synthetic dataset: " + what);
  };
  require(train_size > 0, "train_size must be > 0, got " + std::to_string(train_size));
  require(test_size > 0, "test_size must be > 0, got " + std::to_string(test_size));
  require(
      num_classes >= 2 && num_classes <= 1000, "num_classes must be in 2..1000, got " + std::to_string(num_classes));
  require(channels >= 1 && channels <= 16, "channels must be in 1..16, got " + std::to_string(channels));
  require(height >= 1 && height <= 1024, "height must be in 1..1024, got " + std::to_string(height));
  require(width >= 1 && width <= 1024, "width must be in 1..1024, got " + std::to_string(width));
  require(std::isfinite(noise) && noise >= 0, "noise must be >= 0, got " + std::to_string(noise));
  require(
      max_shift >= 0 && max_shift < std::min(height, width),
      "max_shift must be in 0..min(height, width) - 1, got " + std::to_string(max_shift));
}

std::vector<std::string> dataset_names() {
  return {"fashion-mnist", "mnist", "cifar10", "cifar100", "synthetic"};
}

std::string default_data_dir(const std::string& name) {
  check_name(name);
  if (name == "fashion-mnist")
    return "/usr/share/datasets/fashion-mnist";
  if (name == "mnist")
    return "/usr/share/datasets/mnist";
  if (name == "cifar10")
    return "./data/cifar10";
  if (name == "cifar100")
    return "./data/cifar100";
  return "";
}

DatasetSplits load_dataset(const std::string& name, const std::string& data_dir, const SyntheticOptions& synthetic) {
  check_name(name);
  const std::string dir = data_dir.empty() ? default_data_dir(name) : data_dir;
  DatasetSplits out;
  if (name == "synthetic") {
    synthetic.validate();
    const auto protos = synthetic_prototypes(synthetic);
    out.train = synthetic_split(synthetic, protos, synthetic.train_size, kTrainSampleStream);
    out.test = synthetic_split(synthetic, protos, synthetic.test_size, kTestSampleStream);
    std::tie(out.mean, out.std) = channel_stats(out.train);
    return out;
  }
  if (name == "fashion-mnist" || name == "mnist") {
    out.train = load_idx_split(name, dir, "train");
    out.test = load_idx_split(name, dir, "t10k");
  } else {
    std::tie(out.train, out.test) = load_cifar(name, dir);
  }
  if (out.train.images.sizes().slice(1) != out.test.images.sizes().slice(1))
    throw DataError(
        name + " in " + dir + ": train images are " + shape_text(out.train.images.sizes().slice(1).vec()) +
        " but test images are " + shape_text(out.test.images.sizes().slice(1).vec()));
  // The datasets' customary per-channel statistics of x / 255 over the train split.
  if (name == "fashion-mnist")
    out.mean = {0.2860f}, out.std = {0.3530f};
  else if (name == "mnist")
    out.mean = {0.1307f}, out.std = {0.3081f};
  else if (name == "cifar10")
    out.mean = {0.4914f, 0.4822f, 0.4465f}, out.std = {0.2470f, 0.2435f, 0.2616f};
  else
    out.mean = {0.5071f, 0.4865f, 0.4409f}, out.std = {0.2673f, 0.2564f, 0.2762f};
  return out;
}

Dataset subset(const Dataset& dataset, int64_t n) {
  if (n <= 0)
    throw DataError(dataset.name + ": subset size must be > 0, got " + std::to_string(n));
  const int64_t m = std::min(n, dataset.size());
  return {dataset.images.slice(0, 0, m), dataset.labels.slice(0, 0, m), dataset.num_classes, dataset.name};
}

std::pair<Dataset, Dataset> split_validation(const Dataset& train, double fraction, uint64_t seed) {
  const int64_t n = train.size();
  if (!(fraction > 0 && fraction < 1))
    throw DataError(train.name + ": validation fraction must be in (0, 1), got " + std::to_string(fraction));
  const int64_t n_val = std::llround(fraction * static_cast<double>(n));
  if (n_val < 1 || n_val >= n)
    throw DataError(
        train.name + ": a validation fraction of " + std::to_string(fraction) + " of " + std::to_string(n) +
        " samples leaves " + std::to_string(n_val) + " validation and " + std::to_string(n - n_val) +
        " train samples; both must be non-empty");
  const auto perm = random_permutation(n, seed, 2, 0);
  std::vector<int64_t> val(perm.begin(), perm.begin() + n_val), rest(perm.begin() + n_val, perm.end());
  std::sort(val.begin(), val.end());
  std::sort(rest.begin(), rest.end());
  auto pick = [&](std::vector<int64_t>& idx) {
    const auto index = torch::from_blob(idx.data(), {static_cast<int64_t>(idx.size())}, torch::kInt64);
    return Dataset{
        train.images.index_select(0, index).contiguous(),
        train.labels.index_select(0, index),
        train.num_classes,
        train.name};
  };
  return {pick(rest), pick(val)};
}

} // namespace signopt::data

// BatchLoader: seeded epoch orders, rank shards, and the parallel crop / flip / normalise pass.
#include <signopt/data/loader.h>
#include <signopt/kernels/philox.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>

namespace signopt::data {
namespace {

constexpr uint64_t kOrderStream = 1;
constexpr uint64_t kAugmentStream = 3;

// The key of a draw sequence whose counter is a 64-bit number (an epoch, a split id).
kernels::DrawKey draw_key(uint64_t seed, uint64_t stream, uint64_t counter) {
  return kernels::DrawKey::make(seed, stream, counter >> 32, counter);
}

// dst[k] = src[k] * scale + shift: (x / 255 - mean) / std within a few float ulps, in a loop the
// compiler vectorizes (a 256-entry table would need a gather per pixel).
void normalise(const uint8_t* src, float* dst, int64_t n, float scale, float shift) {
  for (int64_t k = 0; k < n; ++k) {
    dst[k] = static_cast<float>(src[k]) * scale + shift;
  }
}

} // namespace

void LoaderOptions::validate() const {
  auto require = [](bool ok, const std::string& what) {
    if (!ok)
      throw std::invalid_argument("BatchLoader: " + what);
  };
  require(batch_size > 0, "batch_size must be > 0, got " + std::to_string(batch_size));
  require(world_size > 0, "world_size must be > 0, got " + std::to_string(world_size));
  require(
      rank >= 0 && rank < world_size,
      "rank must be in 0..world_size - 1 = " + std::to_string(world_size - 1) + ", got " + std::to_string(rank));
  require(crop_padding >= 0, "crop_padding must be >= 0, got " + std::to_string(crop_padding));
}

std::vector<int64_t> random_permutation(int64_t n, uint64_t seed, uint64_t stream, uint64_t counter) {
  if (n < 0)
    throw std::invalid_argument("random_permutation: n must be >= 0, got " + std::to_string(n));
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  const auto key = draw_key(seed, stream, counter);
  kernels::PhiloxBlock block{};
  // Fisher-Yates from the top; draw t uses half t % 2 of block t / 2 as a 64-bit number r, and
  // j = floor(r * (i + 1) / 2^64) is uniform on 0..i up to a bias below n / 2^64.
  for (int64_t i = n - 1, t = 0; i > 0; --i, ++t) {
    if (t % 2 == 0)
      block = key.block(static_cast<uint64_t>(t / 2));
    const int half = static_cast<int>(t % 2) * 2;
    const uint64_t r = uint64_t(block.x[half]) << 32 | block.x[half + 1];
    const auto j = static_cast<int64_t>((static_cast<unsigned __int128>(r) * static_cast<uint64_t>(i + 1)) >> 64);
    std::swap(perm[i], perm[j]);
  }
  return perm;
}

AugmentDraw augment_draw(uint64_t seed, int64_t epoch, int64_t position, int64_t padding) {
  const auto b = draw_key(seed, kAugmentStream, static_cast<uint64_t>(epoch)).block(static_cast<uint64_t>(position));
  const auto span = static_cast<uint32_t>(2 * padding + 1);
  return {b.x[0] % span, b.x[1] % span, (b.x[2] & 1u) != 0};
}

struct BatchLoader::OrderCache {
  std::mutex mutex;
  int64_t epoch = -1;
  std::shared_ptr<const std::vector<int64_t>> order;
};

BatchLoader::BatchLoader(Dataset dataset, std::vector<float> mean, std::vector<float> std, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(options), cache_(std::make_shared<OrderCache>()) {
  options_.validate();
  const std::string who = "BatchLoader(" + dataset_.name + "): ";
  const auto& images = dataset_.images;
  const auto& labels = dataset_.labels;
  if (!images.defined() || images.dim() != 4 || images.scalar_type() != torch::kUInt8)
    throw DataError(
        who + "images must be a uint8 [N, C, H, W] tensor, got " +
        (images.defined() ? std::string(images.toString()) + " of " + std::to_string(images.dim()) + " dimensions"
                          : std::string("an undefined tensor")));
  if (!labels.defined() || labels.dim() != 1 || labels.scalar_type() != torch::kInt64)
    throw DataError(who + "labels must be an int64 [N] tensor");
  if (labels.size(0) != images.size(0))
    throw DataError(who + std::to_string(images.size(0)) + " images but " + std::to_string(labels.size(0)) + " labels");
  if (images.size(0) == 0)
    throw DataError(who + "the dataset is empty");
  if (const auto lo = labels.min().item<int64_t>(), hi = labels.max().item<int64_t>();
      lo < 0 || hi >= dataset_.num_classes)
    throw DataError(
        who + "labels span " + std::to_string(lo) + ".." + std::to_string(hi) + ", outside 0.." +
        std::to_string(dataset_.num_classes - 1));
  const int64_t channels = images.size(1);
  if (static_cast<int64_t>(mean.size()) != channels || static_cast<int64_t>(std.size()) != channels)
    throw DataError(
        who + "mean and std need one value per channel (" + std::to_string(channels) + "), got " +
        std::to_string(mean.size()) + " and " + std::to_string(std.size()));
  for (int64_t c = 0; c < channels; ++c) {
    if (!std::isfinite(mean[c]) || !std::isfinite(std[c]) || !(std[c] > 0))
      throw DataError(
          who + "channel " + std::to_string(c) + " has mean " + std::to_string(mean[c]) + " and std " +
          std::to_string(std[c]) + "; need finite values and std > 0");
    scale_.push_back(static_cast<float>(1.0 / (255.0 * std[c])));
    shift_.push_back(static_cast<float>(-mean[c] / static_cast<double>(std[c])));
  }
  dataset_.images = images.contiguous();
  dataset_.labels = labels.contiguous();

  const int64_t n = dataset_.size(), step = options_.world_size * options_.batch_size;
  const int64_t tail = n % step;
  batches_per_epoch_ = n / step + (!options_.drop_last && tail >= options_.world_size ? 1 : 0);
  if (batches_per_epoch_ == 0)
    throw std::invalid_argument(
        who + std::to_string(n) + " samples give no batch with batch_size " + std::to_string(options_.batch_size) +
        ", world_size " + std::to_string(options_.world_size) + (options_.drop_last ? " and drop_last" : "") +
        "; use a smaller batch size");
}

int64_t BatchLoader::batches_per_epoch() const {
  return batches_per_epoch_;
}

std::pair<int64_t, int64_t> BatchLoader::positions(int64_t index) const {
  if (index < 0 || index >= batches_per_epoch_)
    throw std::out_of_range(
        "BatchLoader(" + dataset_.name + "): batch index " + std::to_string(index) + " is outside 0.." +
        std::to_string(batches_per_epoch_ - 1));
  const int64_t world = options_.world_size, rank = options_.rank, b = options_.batch_size;
  const int64_t chunk_begin = index * world * b;
  const int64_t c = std::min(world * b, size() - chunk_begin);
  if (c == world * b)
    return {chunk_begin + rank * b, chunk_begin + (rank + 1) * b};
  // The short last step: W nearly equal contiguous blocks.
  return {chunk_begin + rank * c / world, chunk_begin + (rank + 1) * c / world};
}

std::shared_ptr<const std::vector<int64_t>> BatchLoader::order(int64_t epoch) const {
  if (epoch < 0)
    throw std::out_of_range("BatchLoader(" + dataset_.name + "): epoch must be >= 0, got " + std::to_string(epoch));
  std::lock_guard<std::mutex> lock(cache_->mutex);
  if (cache_->epoch != epoch || !cache_->order) {
    std::vector<int64_t> perm;
    if (options_.shuffle) {
      perm = random_permutation(size(), options_.seed, kOrderStream, static_cast<uint64_t>(epoch));
    } else {
      perm.resize(static_cast<size_t>(size()));
      std::iota(perm.begin(), perm.end(), int64_t{0});
    }
    cache_->order = std::make_shared<const std::vector<int64_t>>(std::move(perm));
    cache_->epoch = epoch;
  }
  return cache_->order;
}

std::vector<int64_t> BatchLoader::epoch_order(int64_t epoch) const {
  return *order(epoch);
}

std::vector<int64_t> BatchLoader::batch_indices(int64_t epoch, int64_t index) const {
  const auto [begin, end] = positions(index);
  const auto ord = order(epoch);
  return std::vector<int64_t>(ord->begin() + begin, ord->begin() + end);
}

Batch BatchLoader::batch(int64_t epoch, int64_t index) const {
  const auto [begin, end] = positions(index);
  const auto ord = order(epoch);
  return gather(ord->data() + begin, end - begin, epoch, begin, options_.augment);
}

Batch BatchLoader::eval_batch(int64_t start, int64_t size) const {
  if (start < 0 || start >= this->size() || size <= 0)
    throw std::out_of_range(
        "BatchLoader(" + dataset_.name + "): eval_batch(" + std::to_string(start) + ", " + std::to_string(size) +
        ") needs 0 <= start < " + std::to_string(this->size()) + " and size > 0");
  std::vector<int64_t> samples(static_cast<size_t>(std::min(size, this->size() - start)));
  std::iota(samples.begin(), samples.end(), start);
  return gather(samples.data(), static_cast<int64_t>(samples.size()), 0, 0, false);
}

Batch BatchLoader::gather(const int64_t* samples, int64_t count, int64_t epoch, int64_t first_position, bool augment)
    const {
  const int64_t C = dataset_.images.size(1), H = dataset_.images.size(2), W = dataset_.images.size(3);
  const int64_t plane = H * W, image = C * plane, pad = options_.crop_padding;
  auto images = torch::empty({count, C, H, W}, torch::kFloat32);
  auto labels = torch::empty({count}, torch::kInt64);
  const uint8_t* src_all = dataset_.images.data_ptr<uint8_t>();
  const int64_t* src_labels = dataset_.labels.data_ptr<int64_t>();
  float* dst_all = images.data_ptr<float>();
  int64_t* dst_labels = labels.data_ptr<int64_t>();
  // Chunks of at least ~64k pixels (tens of microseconds) keep OpenMP's fork-join cost small.
  const int64_t grain = std::max<int64_t>(1, 65536 / image);
  at::parallel_for(0, count, grain, [&](int64_t lo, int64_t hi) {
    std::vector<uint8_t> crop(augment ? static_cast<size_t>(image) : 0);
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t sample = samples[i];
      dst_labels[i] = src_labels[sample];
      const uint8_t* src = src_all + sample * image;
      float* dst = dst_all + i * image;
      if (!augment) {
        for (int64_t c = 0; c < C; ++c) {
          normalise(src + c * plane, dst + c * plane, plane, scale_[c], shift_[c]);
        }
        continue;
      }
      // Output pixel (y, x) is source pixel (y + dy - pad, x' + dx - pad) with x' = W - 1 - x when
      // flipped, or the zero padding outside the source. The crop is assembled in bytes (each row a
      // padding / source / padding run) and then normalised in one contiguous, vectorized pass.
      const AugmentDraw d = augment_draw(options_.seed, epoch, first_position + i, pad);
      const int64_t off = d.dx - pad;
      const int64_t x_lo = d.flip ? std::max<int64_t>(0, off) : std::max<int64_t>(0, -off);
      const int64_t x_hi = std::max(x_lo, d.flip ? std::min(W, W + off) : std::min(W, W - off));
      std::fill(crop.begin(), crop.end(), uint8_t{0});
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t y = std::max<int64_t>(0, pad - d.dy); y < std::min(H, H + pad - d.dy); ++y) {
          const uint8_t* src_row = src + c * plane + (y + d.dy - pad) * W;
          uint8_t* row = crop.data() + c * plane + y * W;
          if (d.flip) {
            for (int64_t x = x_lo; x < x_hi; ++x) {
              row[x] = src_row[W - 1 + off - x];
            }
          } else if (x_hi > x_lo) {
            std::memcpy(row + x_lo, src_row + x_lo + off, static_cast<size_t>(x_hi - x_lo));
          }
        }
      }
      for (int64_t c = 0; c < C; ++c) {
        normalise(crop.data() + c * plane, dst + c * plane, plane, scale_[c], shift_[c]);
      }
    }
  });
  return {images, labels};
}

} // namespace signopt::data

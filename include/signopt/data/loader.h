// Deterministic minibatches: every batch is a pure function of (seed, epoch, index), so a resumed
// run, a run on another thread count and each rank of a distributed run see exactly the data an
// uninterrupted single-process run would.
#pragma once

#include <signopt/data/datasets.h>

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace signopt::data {

/// Options of BatchLoader. Defaults: batch 128, shuffled, no augmentation, seed 0, one rank.
struct LoaderOptions {
  /// Samples per batch on each rank.
  int64_t batch_size = 128;
  /// Visit the samples in a fresh random order each epoch (else in dataset order).
  bool shuffle = true;
  /// Random crop with `crop_padding` zero pixels on each side, then a horizontal flip with
  /// probability 1/2 (the standard CIFAR augmentation).
  bool augment = false;
  int64_t crop_padding = 4;
  /// Seed of the epoch orders and the augmentation draws.
  uint64_t seed = 0;
  /// This process's rank and the number of ranks sharing each epoch.
  int64_t rank = 0;
  int64_t world_size = 1;
  /// Drop the epoch's last, partial step instead of serving smaller batches.
  bool drop_last = false;

  /// Throws std::invalid_argument naming the field and the value when an option is out of range.
  void validate() const;
};

/// A minibatch: float32 [B, C, H, W] images normalised per channel as (x / 255 - mean) / std,
/// and int64 [B] labels.
struct Batch {
  torch::Tensor images;
  torch::Tensor labels;
};

/// One step's draw of the augmentation: the crop's top-left corner in the padded image, each in
/// [0, 2 * padding], and whether the crop is flipped left-right.
struct AugmentDraw {
  int64_t dy;
  int64_t dx;
  bool flip;
};

/// The augmentation draw for the sample at `position` of epoch `epoch`'s order: Philox4x32-10 keyed
/// by `seed`, so it depends on nothing else (not the rank, the batch size or the thread count).
AugmentDraw augment_draw(uint64_t seed, int64_t epoch, int64_t position, int64_t padding);

/// A uniformly random permutation of 0..n-1, the same on every machine and LibTorch version.
/// Fisher-Yates from 0..n-1 in place: for i = n-1 down to 1 (draw t = n-1-i) swap entries i and
/// j = floor(r * (i + 1) / 2^64), where r = x[2h] << 32 | x[2h+1] with h = t % 2 and x the Philox4x32-10
/// block t / 2 of kernels::DrawKey::make(seed, stream, counter >> 32, counter).
/// BatchLoader uses stream 1 with counter = epoch; split_validation stream 2 with counter 0.
std::vector<int64_t> random_permutation(int64_t n, uint64_t seed, uint64_t stream, uint64_t counter);

/// Serves the minibatches of a dataset, epoch by epoch.
///
/// Epoch `e`'s order is random_permutation(N, seed, 1, e) (or 0..N-1 without shuffle), the same on
/// every rank. Step `index` covers the order's positions [index * W * B, (index + 1) * W * B) for
/// W = world_size, B = batch_size, and rank r takes the r-th block of B of them: rank r's batches are
/// every W-th batch of the order, and the ranks of one step together see exactly the samples a
/// single process with batch W * B would. The epoch's last step may be short: its c samples are
/// split into W contiguous blocks whose sizes differ by at most one; a last step with fewer than W
/// samples is dropped (so no rank gets an empty batch), and with drop_last every short step is.
/// So without drop_last every sample appears exactly once per epoch across the ranks, except for
/// those at most W - 1 samples, and every rank has the same batches_per_epoch().
///
/// Augmentation draws are keyed by (seed, epoch, position in the order), and the images are
/// assembled with at::parallel_for over images, so batches do not depend on the thread count.
/// Copies share a cache of the last epoch's order; batch() may be called from several threads.
class BatchLoader {
 public:
  /// `mean` and `std` have one entry per image channel. Throws DataError for a malformed or empty
  /// dataset or mean/std, and std::invalid_argument for bad options or when they leave no batch.
  BatchLoader(Dataset dataset, std::vector<float> mean, std::vector<float> std, LoaderOptions options);

  /// Steps per epoch; the same on every rank.
  int64_t batches_per_epoch() const;

  /// This rank's batch `index` (0 <= index < batches_per_epoch()) of epoch `epoch` (>= 0).
  Batch batch(int64_t epoch, int64_t index) const;

  /// The dataset indices of batch(epoch, index), in batch order.
  std::vector<int64_t> batch_indices(int64_t epoch, int64_t index) const;

  /// Epoch `epoch`'s order of all N dataset indices (shared by every rank).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

  /// Samples [start, min(start + size, N)) in dataset order, normalised, never augmented: for
  /// evaluation. Requires 0 <= start < N and size > 0.
  Batch eval_batch(int64_t start, int64_t size) const;

  /// N, the number of samples in the dataset.
  int64_t size() const {
    return dataset_.size();
  }

  const Dataset& dataset() const {
    return dataset_;
  }

  const LoaderOptions& options() const {
    return options_;
  }

 private:
  struct OrderCache;

  // The order positions [begin, end) this rank serves at step `index`.
  std::pair<int64_t, int64_t> positions(int64_t index) const;
  std::shared_ptr<const std::vector<int64_t>> order(int64_t epoch) const;
  Batch gather(const int64_t* samples, int64_t count, int64_t epoch, int64_t first_position, bool augment) const;

  Dataset dataset_;
  LoaderOptions options_;
  // Per channel, (x / 255 - mean) / std = x * scale_ + shift_.
  std::vector<float> scale_, shift_;
  int64_t batches_per_epoch_ = 0;
  std::shared_ptr<OrderCache> cache_;
};

} // namespace signopt::data

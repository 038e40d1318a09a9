// Datasets of the trainer: IDX (MNIST, Fashion-MNIST) and CIFAR binary readers with precise errors,
// a generated synthetic dataset, and the subset / validation-split helpers.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace signopt::data {

/// Every data problem (missing or malformed file, bad label, bad split request). The message names
/// the file or value and what to do about it.
struct DataError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// An in-memory image classification dataset.
struct Dataset {
  torch::Tensor images; ///< uint8 [N, C, H, W], contiguous, raw pixel values.
  torch::Tensor labels; ///< int64 [N], each in [0, num_classes).
  int64_t num_classes = 0;
  std::string name; ///< e.g. "fashion-mnist"; for messages and logs.

  /// N, the number of samples.
  int64_t size() const {
    return labels.defined() ? labels.size(0) : 0;
  }
};

/// The generated `synthetic` dataset: `num_classes` prototype images (a few random Gaussian blobs
/// each), and samples = prototype shifted by up to `max_shift` pixels, scaled by a brightness in
/// [0.7, 1.3], plus uniform pixel noise in [-noise, noise] (in units of full scale), with labels
/// drawn uniformly. Everything comes from a counter-based generator keyed by `seed`, so a dataset
/// does not depend on the thread count or LibTorch version, and the first n train samples are the
/// same whatever `train_size` is.
struct SyntheticOptions {
  int64_t train_size = 6000;
  int64_t test_size = 1000;
  int64_t num_classes = 10;
  int64_t channels = 1;
  int64_t height = 28;
  int64_t width = 28;
  double noise = 0.35;
  int64_t max_shift = 2;
  uint64_t seed = 0;

  /// Throws DataError naming the field and the value when an option is out of range.
  void validate() const;
};

/// A dataset's train and test splits and its per-channel mean and std of x / 255 (for normalisation).
struct DatasetSplits {
  Dataset train;
  Dataset test;
  std::vector<float> mean;
  std::vector<float> std;
};

/// The dataset names load_dataset() knows: fashion-mnist, mnist, cifar10, cifar100, synthetic.
std::vector<std::string> dataset_names();

/// Where load_dataset() looks when `data_dir` is empty: /usr/share/datasets/fashion-mnist (Debian's
/// dataset-fashion-mnist), /usr/share/datasets/mnist, ./data/cifar10, ./data/cifar100; "" for
/// synthetic. Throws DataError listing the valid names for an unknown name.
std::string default_data_dir(const std::string& name);

/// Loads a dataset by name from `data_dir` ("" = default_data_dir(name)).
/// - fashion-mnist, mnist: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
///   t10k-labels-idx1-ubyte, each plain or with a .gz suffix (the plain file is preferred).
/// - cifar10: data_batch_1.bin .. data_batch_5.bin and test_batch.bin (CIFAR-10 binary version),
///   in data_dir or data_dir/cifar-10-batches-bin.
/// - cifar100: train.bin and test.bin (CIFAR-100 binary version, fine labels, 100 classes), in
///   data_dir or data_dir/cifar-100-binary.
/// - synthetic: generated from `synthetic` (data_dir is not used).
/// mean/std are the datasets' standard constants (computed from the train split for synthetic).
/// Throws DataError for an unknown name (listing the valid ones), missing files (naming the paths
/// looked at and how to get the data) and malformed files (naming the file and the problem).
DatasetSplits load_dataset(
    const std::string& name,
    const std::string& data_dir = "",
    const SyntheticOptions& synthetic = {});

/// Reads one IDX file of unsigned bytes with `ndim` dimensions (3 for images, 1 for labels), plain
/// or gzipped, as a uint8 tensor of the shape its header gives. Throws DataError naming `path` for
/// a missing file, a wrong magic number (got / expected), a truncated header or data (bytes got of
/// bytes expected), trailing bytes, or corrupt gzip data.
torch::Tensor read_idx(const std::string& path, int64_t ndim);

/// The first min(n, N) samples of `dataset` (a view, not a copy). Throws DataError for n <= 0.
Dataset subset(const Dataset& dataset, int64_t n);

/// Splits `train` into (train part, validation part) with round(fraction * N) validation samples
/// chosen by a seeded random permutation (the same seed gives the same split on every machine);
/// both parts keep the original sample order. Used to pick hyperparameters without the test set.
/// Throws DataError unless 0 < fraction < 1 and both parts are non-empty.
std::pair<Dataset, Dataset> split_validation(const Dataset& train, double fraction, uint64_t seed);

} // namespace signopt::data

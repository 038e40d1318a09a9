// Internal: what the dataset file readers (readers.cpp: IDX, CIFAR binary) and the rest of the datasets
// (datasets.cpp: the synthetic set, load_dataset, the splits) share.
#pragma once

#include <signopt/data/datasets.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace signopt::data::detail {

// items with sep between them.
inline std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0)
      out += sep;
    out += items[i];
  }
  return out;
}

// A shape as "1x28x28".
inline std::string shape_text(const std::vector<int64_t>& dims) {
  std::string out;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0)
      out += 'x';
    out += std::to_string(dims[i]);
  }
  return out;
}

// The train or test split (`prefix` "train" or "t10k") of an IDX dataset (fashion-mnist, mnist) in `dir`,
// as plain or gzipped files.
Dataset load_idx_split(const std::string& name, const std::string& dir, const std::string& prefix);

// The train and test splits of a CIFAR binary dataset (cifar10, cifar100) in `dir` or in the folder its
// archive unpacks to.
std::pair<Dataset, Dataset> load_cifar(const std::string& name, const std::string& dir);

} // namespace signopt::data::detail

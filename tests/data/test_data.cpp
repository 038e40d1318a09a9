// The dataset readers: IDX and CIFAR files and their error messages (on files written here at runtime).
// The synthetic dataset, the split helpers and BatchLoader: test_loader.cpp.
#include <signopt/data/datasets.h>
#include <signopt/data/loader.h>

#include "support/data_errors.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace signopt::test {
namespace {

namespace fs = std::filesystem;
using data::DataError;
using support::expect_data_error;

using Bytes = std::vector<uint8_t>;

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
        ("signopt_test_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
         (info ? info->name() : "x"));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string str() const {
    return path_.string();
  }
  std::string operator/(const std::string& name) const {
    return (path_ / name).string();
  }

 private:
  fs::path path_;
};

void write_file(const std::string& path, const Bytes& bytes, bool gzip = false) {
  fs::create_directories(fs::path(path).parent_path());
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr) << path;
    if (!bytes.empty())
      ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
    ASSERT_EQ(gzclose(f), Z_OK);
    return;
  }
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void put_be32(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<uint8_t>(v >> shift));
  }
}

// An IDX file's bytes: magic, sizes, payload.
Bytes idx_bytes(uint32_t magic, const std::vector<uint32_t>& sizes, const Bytes& payload) {
  Bytes out;
  put_be32(out, magic);
  for (const uint32_t s : sizes) {
    put_be32(out, s);
  }
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// Pixel j of image i of a split: distinct enough that a wrong offset or order shows.
uint8_t pixel(int split, int64_t i, int64_t j) {
  return static_cast<uint8_t>((split * 101 + i * 37 + j * 7) % 256);
}

struct IdxSplit {
  Bytes images, labels;
};

// n images of rows x cols with pixel(split, ...) values, labels (3 * i + split) % 10.
IdxSplit make_idx_split(int split, uint32_t n, uint32_t rows = 6, uint32_t cols = 5) {
  Bytes pixels, labels;
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t j = 0; j < rows * cols; ++j) {
      pixels.push_back(pixel(split, i, j));
    }
    labels.push_back(static_cast<uint8_t>((3 * i + split) % 10));
  }
  return {idx_bytes(2051, {n, rows, cols}, pixels), idx_bytes(2049, {n}, labels)};
}

// A complete MNIST-style directory; train files plain, test files gzipped unless told otherwise.
void write_mnist(const std::string& dir, uint32_t n_train = 7, uint32_t n_test = 3, bool gzip_train = false) {
  const auto train = make_idx_split(0, n_train), test = make_idx_split(1, n_test);
  const std::string train_suffix = gzip_train ? ".gz" : "";
  write_file(dir + "/train-images-idx3-ubyte" + train_suffix, train.images, gzip_train);
  write_file(dir + "/train-labels-idx1-ubyte" + train_suffix, train.labels, gzip_train);
  write_file(dir + "/t10k-images-idx3-ubyte.gz", test.images, true);
  write_file(dir + "/t10k-labels-idx1-ubyte.gz", test.labels, true);
}

void expect_mnist_values(const data::Dataset& d, int split, int64_t n) {
  ASSERT_EQ(d.images.sizes(), torch::IntArrayRef({n, 1, 6, 5}));
  ASSERT_EQ(d.images.scalar_type(), torch::kUInt8);
  ASSERT_EQ(d.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(d.num_classes, 10);
  const auto flat = d.images.reshape({n, -1});
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(d.labels[i].item<int64_t>(), (3 * i + split) % 10) << "label " << i;
    for (int64_t j = 0; j < 30; ++j) {
      ASSERT_EQ(flat[i][j].item<int>(), pixel(split, i, j)) << "image " << i << " pixel " << j;
    }
  }
}

// ------------------------------------------------------------------------------------------------
// IDX

TEST(Idx, ReadsPlainAndGzippedFilesBack) {
  for (const bool gzip_train : {false, true}) {
    TempDir dir;
    write_mnist(dir.str(), 7, 3, gzip_train);
    const auto splits = data::load_dataset("mnist", dir.str());
    expect_mnist_values(splits.train, 0, 7);
    expect_mnist_values(splits.test, 1, 3);
    EXPECT_EQ(splits.train.name, "mnist");
    ASSERT_EQ(splits.mean.size(), 1u);
    EXPECT_FLOAT_EQ(splits.mean[0], 0.1307f);
    EXPECT_FLOAT_EQ(splits.std[0], 0.3081f);
  }
}

TEST(Idx, FashionMnistUsesItsOwnStatistics) {
  TempDir dir;
  write_mnist(dir.str());
  const auto splits = data::load_dataset("fashion-mnist", dir.str());
  EXPECT_EQ(splits.train.name, "fashion-mnist");
  EXPECT_FLOAT_EQ(splits.mean.at(0), 0.2860f);
  EXPECT_FLOAT_EQ(splits.std.at(0), 0.3530f);
}

TEST(Idx, ReadIdxGivesTheHeaderShape) {
  TempDir dir;
  write_file(dir / "a.gz", idx_bytes(2051, {2, 3, 4}, Bytes(24, 9)), true);
  const auto t = data::read_idx(dir / "a.gz", 3);
  EXPECT_EQ(t.sizes(), torch::IntArrayRef({2, 3, 4}));
  EXPECT_EQ(t.sum().item<int64_t>(), 24 * 9);
}

TEST(Idx, TruncatedHeaderNamesFileAndBytes) {
  TempDir dir;
  Bytes header;
  put_be32(header, 2051);
  header.push_back(0);
  header.push_back(0);
  for (const bool gzip : {false, true}) {
    const std::string path = dir / (gzip ? "h.gz" : "h");
    write_file(path, header, gzip);
    expect_data_error([&] { data::read_idx(path, 3); }, {path, "truncated", "header has 6 of 16 bytes"});
  }
}

TEST(Idx, TruncatedDataNamesFileAndBytes) {
  TempDir dir;
  const Bytes bytes = idx_bytes(2051, {3, 2, 2}, Bytes(7, 1));
  for (const bool gzip : {false, true}) {
    const std::string path = dir / (gzip ? "d.gz" : "d");
    write_file(path, bytes, gzip);
    expect_data_error(
        [&] { data::read_idx(path, 3); }, {path, "truncated", "data has 7 of 12 bytes", "3 items of 2x2"});
  }
  // Through load_dataset: the short labels file of a split.
  write_mnist(dir.str());
  write_file(dir / "train-labels-idx1-ubyte", idx_bytes(2049, {7}, Bytes(5, 1)));
  expect_data_error(
      [&] { data::load_dataset("mnist", dir.str()); },
      {dir / "train-labels-idx1-ubyte", "truncated", "data has 5 of 7 bytes"});
}

TEST(Idx, CutOffGzipStreamIsReportedAsTruncated) {
  TempDir dir;
  Bytes payload(4000);
  for (size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  }
  const std::string path = dir / "cut.gz";
  write_file(path, idx_bytes(2051, {10, 20, 20}, payload), true);
  Bytes gz = read_file(path);
  gz.resize(gz.size() / 2);
  write_file(path, gz);
  expect_data_error([&] { data::read_idx(path, 3); }, {path, "truncated", "of 4000 bytes", "gzip stream is cut off"});
}

TEST(Idx, WrongMagicSaysGotAndExpected) {
  TempDir dir;
  const auto split = make_idx_split(0, 4);
  write_file(dir / "labels", split.labels);
  expect_data_error(
      [&] { data::read_idx(dir / "labels", 3); },
      {dir / "labels", "wrong magic number 0x00000801 (2049", "expected 0x00000803 (2051", "labels file"});
  write_file(dir / "junk", Bytes{'h', 'e', 'l', 'l', 'o', '!', '!', '!'});
  expect_data_error(
      [&] { data::read_idx(dir / "junk", 1); }, {dir / "junk", "wrong magic number", "not an IDX file", "0x00000801"});
  // In a dataset directory: the images file swapped for a labels file.
  write_mnist(dir.str());
  write_file(dir / "train-images-idx3-ubyte", split.labels);
  expect_data_error(
      [&] { data::load_dataset("mnist", dir.str()); }, {dir / "train-images-idx3-ubyte", "wrong magic number"});
}

TEST(Idx, CorruptGzipIsReported) {
  TempDir dir;
  const std::string path = dir / "bad.gz";
  write_file(path, idx_bytes(2051, {10, 20, 20}, Bytes(4000, 3)), true);
  Bytes gz = read_file(path);
  ASSERT_GT(gz.size(), 30u);
  for (size_t i = 12; i < gz.size() - 10; ++i) {
    gz[i] ^= 0x5A; // the deflate stream, after the 10-byte gzip header
  }
  write_file(path, gz);
  expect_data_error([&] { data::read_idx(path, 3); }, {path, "corrupt gzip data"});
  // A damaged CRC in the trailer: the data decompresses but fails the check.
  write_file(path, idx_bytes(2051, {10, 20, 20}, Bytes(4000, 3)), true);
  gz = read_file(path);
  gz[gz.size() - 6] ^= 0xFF;
  write_file(path, gz);
  expect_data_error([&] { data::read_idx(path, 3); }, {path, "corrupt gzip data"});
}

// An IDX images file of 300 images of 60 x 60 patterned pixels (1,080,000 data bytes), gzipped:
// big enough that zlib's gzread() decompressed the end of the data straight into the caller's
// buffer, where it never looked for a missing gzip trailer.
std::string write_large_gzip_idx(const TempDir& dir, const std::string& name) {
  Bytes payload(300 * 60 * 60);
  for (size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  }
  const std::string path = dir / name;
  write_file(path, idx_bytes(2051, {300, 60, 60}, payload), true);
  return path;
}

// A small gzip IDX file (4000 data bytes, decompressed through zlib's own buffer).
std::string write_small_gzip_idx(const TempDir& dir, const std::string& name) {
  const std::string path = dir / name;
  write_file(path, idx_bytes(2051, {10, 20, 20}, Bytes(4000, 3)), true);
  return path;
}

TEST(Idx, LargeFilesReadBackPlainAndGzipped) {
  TempDir dir;
  const std::string gz = write_large_gzip_idx(dir, "large.gz");
  for (const bool gzip : {true, false}) {
    std::string path = gz;
    if (!gzip) {
      path = dir / "large";
      Bytes payload(300 * 60 * 60);
      for (size_t i = 0; i < payload.size(); ++i) {
        payload[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
      }
      write_file(path, idx_bytes(2051, {300, 60, 60}, payload));
    }
    const auto t = data::read_idx(path, 3);
    ASSERT_EQ(t.sizes(), torch::IntArrayRef({300, 60, 60})) << path;
    const uint8_t* p = t.data_ptr<uint8_t>();
    for (size_t i = 0; i < size_t(300 * 60 * 60); i += 997) {
      ASSERT_EQ(p[i], static_cast<uint8_t>((i * 2654435761u) >> 13)) << path << " byte " << i;
    }
    EXPECT_EQ(p[300 * 60 * 60 - 1], static_cast<uint8_t>((size_t(300 * 60 * 60 - 1) * 2654435761u) >> 13)) << path;
  }
}

TEST(Idx, GzipWithoutItsTrailerIsTruncated) {
  // The data decompresses completely, but the CRC-32 and length that would check it are gone.
  TempDir dir;
  for (const bool large : {true, false}) {
    const std::string path = large ? write_large_gzip_idx(dir, "large.gz") : write_small_gzip_idx(dir, "small.gz");
    Bytes gz = read_file(path);
    ASSERT_GT(gz.size(), 30u);
    gz.resize(gz.size() - 8);
    write_file(path, gz);
    expect_data_error(
        [&] { data::read_idx(path, 3); }, {path, "truncated", "gzip stream is cut off after the data", "trailer"});
  }
}

TEST(Idx, GzipWithPartOfItsTrailerIsTruncated) {
  TempDir dir;
  for (const size_t cut : {4, 1, 7}) {
    for (const bool large : {true, false}) {
      const std::string path = large ? write_large_gzip_idx(dir, "large.gz") : write_small_gzip_idx(dir, "small.gz");
      Bytes gz = read_file(path);
      ASSERT_GT(gz.size(), 30u);
      gz.resize(gz.size() - cut);
      write_file(path, gz);
      SCOPED_TRACE("cut " + std::to_string(cut) + " bytes of " + path);
      expect_data_error(
          [&] { data::read_idx(path, 3); }, {path, "truncated", "gzip stream is cut off after the data", "trailer"});
    }
  }
}

TEST(Idx, GzipWithAWrongCrcOrLengthIsCorrupt) {
  TempDir dir;
  for (const bool large : {true, false}) {
    // The trailer: CRC-32 in the last 8..5 bytes, the length in the last 4.
    for (const auto& [from_end, check] :
         std::vector<std::pair<size_t, std::string>>{{8, "incorrect data check"}, {1, "incorrect length check"}}) {
      const std::string path = large ? write_large_gzip_idx(dir, "large.gz") : write_small_gzip_idx(dir, "small.gz");
      Bytes gz = read_file(path);
      ASSERT_GT(gz.size(), 30u);
      gz[gz.size() - from_end] ^= 0x01;
      write_file(path, gz);
      expect_data_error([&] { data::read_idx(path, 3); }, {path, "corrupt gzip data", check});
    }
  }
}

TEST(Idx, BytesAfterTheGzipDataAreAnError) {
  // zlib's gzread() ignores what follows a gzip member; the reader refuses it, zero padding too.
  TempDir dir;
  for (const bool large : {true, false}) {
    for (const Bytes& tail : {Bytes{'G', 'A', 'R', 'B', 'A', 'G', 'E', '!'}, Bytes(16, 0), Bytes{0x1F}}) {
      const std::string path = large ? write_large_gzip_idx(dir, "large.gz") : write_small_gzip_idx(dir, "small.gz");
      Bytes gz = read_file(path);
      const size_t member = gz.size();
      gz.insert(gz.end(), tail.begin(), tail.end());
      write_file(path, gz);
      expect_data_error(
          [&] { data::read_idx(path, 3); },
          {path,
           "corrupt gzip file",
           std::to_string(tail.size()) + (tail.size() == 1 ? " byte" : " bytes") +
               " after the end of its gzip data (from byte " + std::to_string(member) + " on)",
           "not another gzip member"});
    }
  }
}

TEST(Idx, ConcatenatedGzipMembersReadAsOneFile) {
  // RFC 1952 allows several members in one file; gzip -d outputs their data one after another.
  TempDir dir;
  const Bytes bytes = idx_bytes(
      2051, {2, 3, 4}, Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24});
  const std::string path = dir / "two.gz";
  write_file(path, Bytes(bytes.begin(), bytes.begin() + 10), true);
  Bytes gz = read_file(path);
  write_file(dir / "second.gz", Bytes(bytes.begin() + 10, bytes.end()), true);
  const Bytes second = read_file(dir / "second.gz");
  gz.insert(gz.end(), second.begin(), second.end());
  write_file(path, gz);
  const auto t = data::read_idx(path, 3);
  ASSERT_EQ(t.sizes(), torch::IntArrayRef({2, 3, 4}));
  EXPECT_EQ(t.data_ptr<uint8_t>()[0], 1);
  EXPECT_EQ(t.data_ptr<uint8_t>()[23], 24);
  // A further member with more data is data the header does not account for.
  write_file(dir / "third.gz", Bytes{99}, true);
  const Bytes third = read_file(dir / "third.gz");
  gz.insert(gz.end(), third.begin(), third.end());
  write_file(path, gz);
  expect_data_error([&] { data::read_idx(path, 3); }, {path, "bytes after the 24 data bytes"});
}

TEST(Idx, HeaderOverTheSizeLimitSaysTheLimitAndWhy) {
  TempDir dir;
  for (const bool gzip : {false, true}) {
    const std::string path = dir / (gzip ? "huge.gz" : "huge");
    write_file(path, idx_bytes(2051, {100000, 60000, 1000}, Bytes(10, 0)), gzip);
    expect_data_error(
        [&] { data::read_idx(path, 3); },
        {path, "100000x60000...", "promise more than 4294967296 bytes", "the limit for an IDX file", "corrupt"});
  }
}

TEST(Idx, TrailingBytesAreAnError) {
  TempDir dir;
  write_file(dir / "t", idx_bytes(2049, {3}, Bytes{1, 2, 3, 4}));
  expect_data_error([&] { data::read_idx(dir / "t", 1); }, {dir / "t", "bytes after the 3 data bytes"});
}

TEST(Idx, LabelOutOfRangeNamesLabelIndexAndRange) {
  TempDir dir;
  write_mnist(dir.str());
  Bytes labels{0, 1, 10, 3, 4, 5, 6};
  write_file(dir / "train-labels-idx1-ubyte", idx_bytes(2049, {7}, labels));
  expect_data_error(
      [&] { data::load_dataset("mnist", dir.str()); },
      {dir / "train-labels-idx1-ubyte", "label 10 at index 2", "allowed 0..9"});
}

TEST(Idx, ImageLabelCountMismatchNamesBothFiles) {
  TempDir dir;
  write_mnist(dir.str());
  write_file(dir / "t10k-labels-idx1-ubyte.gz", make_idx_split(1, 4).labels, true);
  expect_data_error(
      [&] { data::load_dataset("mnist", dir.str()); },
      {dir / "t10k-images-idx3-ubyte.gz", "holds 3 images", dir / "t10k-labels-idx1-ubyte.gz", "4 labels"});
}

TEST(Idx, SplitItemCountsAreComparedBeforeTheDataIsRead) {
  // A small gzip images file whose header claims 1,000,000 images of 28 x 28 (784 MB) with 100 bytes
  // of data, beside a labels file of 3: the headers disagree, and that is reported before the images
  // are decompressed (which would report a truncation) or their 784 MB allocated.
  TempDir dir;
  write_mnist(dir.str());
  write_file(dir / "t10k-images-idx3-ubyte.gz", idx_bytes(2051, {1000000, 28, 28}, Bytes(100, 7)), true);
  try {
    data::load_dataset("mnist", dir.str());
    ADD_FAILURE() << "no DataError thrown";
  } catch (const DataError& e) {
    const std::string message = e.what();
    for (const std::string& part :
         {dir / "t10k-images-idx3-ubyte.gz",
          std::string("holds 1000000 images"),
          dir / "t10k-labels-idx1-ubyte.gz",
          std::string("holds 3 labels"),
          std::string("same split")}) {
      EXPECT_NE(message.find(part), std::string::npos) << "message lacks '" << part << "':\n  " << message;
    }
    EXPECT_EQ(message.find("truncated"), std::string::npos) << message;
  }
}

// Found by fuzz_datasets: a 56-byte gzip file whose header promised 3 GB made the reader allocate them. A
// gzip file cannot expand more than ~1032 times, so such a header is refused before any allocation.
TEST(Idx, ATinyGzipFilePromisingGigabytesIsRefusedBeforeAllocating) {
  TempDir dir;
  const std::string path = dir / "huge.gz";
  write_file(path, idx_bytes(2051, {100000, 100, 100}, Bytes(100, 7)), true); // promises 1 GB
  expect_data_error([&] { data::read_idx(path, 3); }, {path, "1000000000 bytes", "can hold at most"});
}

TEST(Idx, ZeroItemsIsAnError) {
  TempDir dir;
  write_file(dir / "z", idx_bytes(2049, {0}, {}));
  expect_data_error([&] { data::read_idx(dir / "z", 1); }, {dir / "z", "holds no items"});
}

TEST(Idx, MissingFilesSayWhereAndHow) {
  TempDir dir;
  // An empty directory: the first file looked for, both names tried, how to get the data.
  expect_data_error(
      [&] { data::load_dataset("mnist", dir.str()); },
      {"train-images-idx3-ubyte not found in " + dir.str(),
       dir / "train-images-idx3-ubyte.gz",
       "yann.lecun.com/exdb/mnist"});
  expect_data_error(
      [&] { data::load_dataset("fashion-mnist", dir / "nowhere"); },
      {"data directory " + (dir / "nowhere") + " does not exist", "apt-get install dataset-fashion-mnist"});
  // One file of four missing.
  write_mnist(dir.str());
  fs::remove(dir / "t10k-labels-idx1-ubyte.gz");
  expect_data_error(
      [&] { data::load_dataset("mnist", dir.str()); },
      {"t10k-labels-idx1-ubyte not found", dir / "t10k-labels-idx1-ubyte.gz"});
  expect_data_error([&] { data::read_idx(dir / "absent", 1); }, {dir / "absent", "file not found"});
}

TEST(Datasets, UnknownNameListsTheValidOnes) {
  for (const auto& call : std::vector<std::function<void()>>{
           [] { data::load_dataset("imagenet"); }, [] { data::default_data_dir("imagenet"); }}) {
    expect_data_error(call, {"unknown dataset 'imagenet'", "fashion-mnist, mnist, cifar10, cifar100, synthetic"});
  }
  EXPECT_EQ(data::default_data_dir("fashion-mnist"), "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(data::default_data_dir("mnist"), "/usr/share/datasets/mnist");
  EXPECT_EQ(data::default_data_dir("cifar10"), "./data/cifar10");
  EXPECT_EQ(data::default_data_dir("cifar100"), "./data/cifar100");
  EXPECT_EQ(data::dataset_names().size(), 5u);
}

// ------------------------------------------------------------------------------------------------
// CIFAR

constexpr int64_t kCifarPixels = 3072;

uint8_t cifar_pixel(int file, int64_t record, int64_t j) {
  return static_cast<uint8_t>((file * 53 + record * 29 + j * 3 + j / 1024) % 256);
}

// `n` records of file `file` with labels given by `label(record)` (one or two label bytes).
Bytes cifar_records(int file, int64_t n, const std::function<Bytes(int64_t)>& label) {
  Bytes out;
  for (int64_t r = 0; r < n; ++r) {
    const Bytes l = label(r);
    out.insert(out.end(), l.begin(), l.end());
    for (int64_t j = 0; j < kCifarPixels; ++j) {
      out.push_back(cifar_pixel(file, r, j));
    }
  }
  return out;
}

int64_t cifar10_label(int file, int64_t r) {
  return (file + r) % 10;
}

// data_batch_1..5.bin (2 records each) and test_batch.bin (3 records) in `dir`.
void write_cifar10(const std::string& dir) {
  for (int f = 1; f <= 6; ++f) {
    const std::string name = f <= 5 ? "data_batch_" + std::to_string(f) + ".bin" : "test_batch.bin";
    write_file(dir + "/" + name, cifar_records(f, f <= 5 ? 2 : 3, [f](int64_t r) {
                 return Bytes{static_cast<uint8_t>(cifar10_label(f, r))};
               }));
  }
}

void expect_cifar_image(const data::Dataset& d, int64_t index, int file, int64_t record) {
  const auto flat = d.images[index].reshape({-1});
  for (int64_t j = 0; j < kCifarPixels; j += 97) {
    ASSERT_EQ(flat[j].item<int>(), cifar_pixel(file, record, j)) << "image " << index << " pixel " << j;
  }
  // R, G and B planes in that order: pixel (c, y, x) is byte c * 1024 + y * 32 + x of the record.
  EXPECT_EQ(d.images[index][2][31][31].item<int>(), cifar_pixel(file, record, 3071));
  EXPECT_EQ(d.images[index][1][0][5].item<int>(), cifar_pixel(file, record, 1029));
}

TEST(Cifar, Cifar10ReadsBackInNestedAndFlatDirectories) {
  for (const bool nested : {true, false}) {
    TempDir dir;
    write_cifar10(nested ? dir / "cifar-10-batches-bin" : dir.str());
    const auto splits = data::load_dataset("cifar10", dir.str());
    ASSERT_EQ(splits.train.images.sizes(), torch::IntArrayRef({10, 3, 32, 32}));
    ASSERT_EQ(splits.test.images.sizes(), torch::IntArrayRef({3, 3, 32, 32}));
    EXPECT_EQ(splits.train.num_classes, 10);
    for (int f = 1; f <= 5; ++f) {
      for (int64_t r = 0; r < 2; ++r) {
        const int64_t i = (f - 1) * 2 + r;
        EXPECT_EQ(splits.train.labels[i].item<int64_t>(), cifar10_label(f, r));
        expect_cifar_image(splits.train, i, f, r);
      }
    }
    for (int64_t r = 0; r < 3; ++r) {
      EXPECT_EQ(splits.test.labels[r].item<int64_t>(), cifar10_label(6, r));
      expect_cifar_image(splits.test, r, 6, r);
    }
    EXPECT_EQ(splits.mean, (std::vector<float>{0.4914f, 0.4822f, 0.4465f}));
    EXPECT_EQ(splits.std, (std::vector<float>{0.2470f, 0.2435f, 0.2616f}));
  }
}

TEST(Cifar, Cifar100UsesFineLabels) {
  TempDir dir;
  auto label = [](int64_t r) { return Bytes{static_cast<uint8_t>(r % 20), static_cast<uint8_t>(99 - r)}; };
  write_file(dir / "cifar-100-binary/train.bin", cifar_records(1, 4, label));
  write_file(dir / "cifar-100-binary/test.bin", cifar_records(2, 2, label));
  const auto splits = data::load_dataset("cifar100", dir.str());
  ASSERT_EQ(splits.train.size(), 4);
  ASSERT_EQ(splits.test.size(), 2);
  EXPECT_EQ(splits.train.num_classes, 100);
  for (int64_t r = 0; r < 4; ++r) {
    EXPECT_EQ(splits.train.labels[r].item<int64_t>(), 99 - r);
    expect_cifar_image(splits.train, r, 1, r);
  }
  expect_cifar_image(splits.test, 1, 2, 1);
  EXPECT_EQ(splits.mean, (std::vector<float>{0.5071f, 0.4865f, 0.4409f}));
}

TEST(Cifar, TruncatedFileSaysBytesOfRecord) {
  TempDir dir;
  write_cifar10(dir.str());
  Bytes b = read_file(dir / "data_batch_2.bin");
  b.resize(3073 + 100);
  write_file(dir / "data_batch_2.bin", b);
  expect_data_error(
      [&] { data::load_dataset("cifar10", dir.str()); },
      {dir / "data_batch_2.bin", "truncated", "last record has 100 of 3073 bytes"});
  write_file(dir / "data_batch_2.bin", {});
  expect_data_error([&] { data::load_dataset("cifar10", dir.str()); }, {dir / "data_batch_2.bin", "empty file"});
}

TEST(Cifar, FileOverTheSizeLimitIsRefusedBeforeReading) {
  TempDir dir;
  write_cifar10(dir.str());
  // Just over the 256 MiB limit and a whole number of 3073-byte records of zeros (valid labels), so
  // only the size limit can refuse it; sparse, so it takes no disk space.
  constexpr uint64_t kLimit = uint64_t(256) << 20;
  const uint64_t size = (kLimit / 3073 + 1) * 3073;
  const std::string path = dir / "data_batch_3.bin";
  fs::resize_file(path, size);
  ASSERT_EQ(fs::file_size(path), size);
  expect_data_error(
      [&] { data::load_dataset("cifar10", dir.str()); },
      {path,
       "has " + std::to_string(size) + " bytes",
       "limit of " + std::to_string(kLimit) + " bytes",
       "154400000",
       "not a CIFAR binary file"});
}

TEST(Cifar, LabelOutOfRangeNamesLabelRecordAndRange) {
  TempDir dir;
  write_cifar10(dir.str());
  write_file(dir / "data_batch_3.bin", cifar_records(3, 2, [](int64_t r) { return Bytes{uint8_t(r == 1 ? 10 : 0)}; }));
  expect_data_error(
      [&] { data::load_dataset("cifar10", dir.str()); },
      {dir / "data_batch_3.bin", "label 10 at record 1", "allowed 0..9"});

  TempDir dir100;
  write_file(dir100 / "train.bin", cifar_records(1, 3, [](int64_t r) { return Bytes{0, uint8_t(r == 2 ? 100 : 5)}; }));
  write_file(dir100 / "test.bin", cifar_records(2, 1, [](int64_t) { return Bytes{0, 0}; }));
  expect_data_error(
      [&] { data::load_dataset("cifar100", dir100.str()); },
      {dir100 / "train.bin", "fine label 100 at record 2", "allowed 0..99"});
  write_file(dir100 / "train.bin", cifar_records(1, 1, [](int64_t) { return Bytes{20, 0}; }));
  expect_data_error(
      [&] { data::load_dataset("cifar100", dir100.str()); },
      {dir100 / "train.bin", "coarse label 20 at record 0", "allowed 0..19"});
}

TEST(Cifar, MissingFilesSayWhereAndHow) {
  TempDir dir;
  expect_data_error(
      [&] { data::load_dataset("cifar10", dir.str()); },
      {"data_batch_1.bin not found",
       dir / "cifar-10-batches-bin",
       "binary version",
       "https://www.cs.toronto.edu/~kriz/cifar.html"});
  expect_data_error(
      [&] { data::load_dataset("cifar100", dir / "none"); },
      {dir / "none", "does not exist", "cifar-100-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar.html"});
  write_cifar10(dir.str());
  fs::remove(dir / "data_batch_4.bin");
  expect_data_error(
      [&] { data::load_dataset("cifar10", dir.str()); }, {dir / "data_batch_4.bin", "not found", "incomplete"});
}

} // namespace
} // namespace signopt::test

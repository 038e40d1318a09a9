// Dataset readers (IDX, CIFAR binary), the synthetic dataset and the split helpers.
#include <signopt/data/datasets.h>
#include <signopt/data/loader.h>
#include <signopt/kernels/philox.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace signopt::data {
namespace {

namespace fs = std::filesystem;

// Streams of the counter-based generator; the loader uses 1 (orders), 2 (validation split) and 3
// (augmentation).
constexpr uint64_t kPrototypeStream = 10;
constexpr uint64_t kTrainSampleStream = 11;
constexpr uint64_t kTestSampleStream = 12;

// The largest IDX payload accepted: MNIST-sized files are ~47 MB, so a header promising more than
// this is corrupt, and refusing it avoids a huge allocation before the truncation shows.
constexpr uint64_t kMaxIdxBytes = uint64_t(1) << 32;

std::string hex32(uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof(buf), "0x%08X", v);
  return buf;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0)
      out += sep;
    out += items[i];
  }
  return out;
}

std::string shape_text(const std::vector<int64_t>& dims) {
  std::string out;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0)
      out += 'x';
    out += std::to_string(dims[i]);
  }
  return out;
}

// What an IDX magic number says: 0x0000TTDD with type TT (0x08 = unsigned byte) and DD dimensions.
std::string describe_idx_magic(uint32_t magic) {
  if ((magic >> 16) != 0)
    return "not an IDX file";
  const uint32_t type = (magic >> 8) & 0xFF, dims = magic & 0xFF;
  std::string type_name;
  switch (type) {
    case 0x08:
      type_name = "unsigned bytes";
      break;
    case 0x09:
      type_name = "signed bytes";
      break;
    case 0x0B:
      type_name = "int16";
      break;
    case 0x0C:
      type_name = "int32";
      break;
    case 0x0D:
      type_name = "float32";
      break;
    case 0x0E:
      type_name = "float64";
      break;
    default:
      return "not an IDX file";
  }
  return "IDX " + type_name + ", " + std::to_string(dims) + (dims == 1 ? " dimension" : " dimensions");
}

// The instructions printed when a dataset's files are missing.
std::string how_to_get(const std::string& name, const std::string& dir) {
  if (name == "fashion-mnist")
    return "Get Fashion-MNIST with `apt-get install dataset-fashion-mnist` (it installs "
           "/usr/share/datasets/fashion-mnist), or download train-images-idx3-ubyte.gz, "
           "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz from "
           "https://github.com/zalandoresearch/fashion-mnist (data/fashion) into " +
        dir + " or another directory given as the data directory.";
  if (name == "mnist")
    return "Download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
           "t10k-labels-idx1-ubyte.gz from https://yann.lecun.com/exdb/mnist/ (or a mirror such as "
           "https://ossci-datasets.s3.amazonaws.com/mnist/) into " +
        dir + " (plain or gzipped), or into another directory given as the data directory.";
  const bool ten = name == "cifar10";
  const std::string archive = ten ? "cifar-10-binary.tar.gz" : "cifar-100-binary.tar.gz";
  return std::string("Download the ") + (ten ? "CIFAR-10" : "CIFAR-100") + " binary version (" + archive + ", \"" +
      (ten ? "CIFAR-10" : "CIFAR-100") + " binary version (suitable for C programs)\") from " +
      "https://www.cs.toronto.edu/~kriz/cifar.html and unpack it with `mkdir -p " + dir + " && tar -xzf " + archive +
      " -C " + dir + "` (it creates " + dir + (ten ? "/cifar-10-batches-bin" : "/cifar-100-binary") +
      "), or pass another data directory.";
}

// ---------------------------------------------------------------------------------------------
// IDX

// A zlib reader: gzread() reads gzipped and plain files alike.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!fs::exists(path, ec))
      throw DataError(path + ": file not found");
    if (fs::is_directory(path, ec))
      throw DataError(path + ": is a directory, expected an IDX file");
    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr)
      throw DataError(path + ": cannot open (" + std::strerror(errno) + ")");
    gzbuffer(file_, 1 << 17);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;
  ~GzFile() {
    gzclose(file_);
  }

  // Reads up to n bytes; returns how many were read, or throws on corrupt gzip data.
  uint64_t read(void* dst, uint64_t n) {
    uint64_t got = 0;
    while (got < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(n - got, 1u << 30));
      const int r = gzread(file_, static_cast<char*>(dst) + got, chunk);
      if (r < 0)
        throw_gzip_error();
      got += static_cast<uint64_t>(r);
      if (static_cast<unsigned>(r) < chunk)
        break;
    }
    int errnum = Z_OK;
    gzerror(file_, &errnum);
    if (errnum != Z_OK && errnum != Z_BUF_ERROR)
      throw_gzip_error();
    return got;
  }

  // True when the last short read came from a gzip stream that ends early (cut off).
  bool gzip_cut_off() {
    int errnum = Z_OK;
    gzerror(file_, &errnum);
    return errnum == Z_BUF_ERROR;
  }

 private:
  [[noreturn]] void throw_gzip_error() {
    int errnum = Z_OK;
    const char* message = gzerror(file_, &errnum);
    if (errnum == Z_ERRNO)
      throw DataError(path_ + ": read error (" + std::strerror(errno) + ")");
    throw DataError(
        path_ + ": corrupt gzip data (zlib: " + (message ? message : "unknown error") + "); download the file again");
  }

  std::string path_;
  gzFile file_ = nullptr;
};

} // namespace

torch::Tensor read_idx(const std::string& path, int64_t ndim) {
  if (ndim < 1 || ndim > 255)
    throw DataError(path + ": an IDX file has 1..255 dimensions, asked for " + std::to_string(ndim));
  GzFile file(path);
  const uint64_t header_bytes = 4 * (1 + static_cast<uint64_t>(ndim));
  uint64_t header_got = 0;
  auto read_be32 = [&](const char* what) {
    unsigned char b[4];
    const uint64_t got = file.read(b, 4);
    header_got += got;
    if (got != 4)
      throw DataError(
          path + ": truncated: the header has " + std::to_string(header_got) + " of " + std::to_string(header_bytes) +
          " bytes (it ends in the " + what + ")" + (file.gzip_cut_off() ? "; the gzip stream is cut off" : ""));
    return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | uint32_t(b[3]);
  };
  const uint32_t expected_magic = 0x0800u | static_cast<uint32_t>(ndim);
  const uint32_t magic = read_be32("magic number");
  if (magic != expected_magic)
    throw DataError(
        path + ": wrong magic number " + hex32(magic) + " (" + std::to_string(magic) + ", " +
        describe_idx_magic(magic) + "), expected " + hex32(expected_magic) + " (" + std::to_string(expected_magic) +
        ", " + describe_idx_magic(expected_magic) + ")" +
        (ndim == 3 && magic == 0x0801u       ? "; this looks like a labels file"
             : ndim == 1 && magic == 0x0803u ? "; this looks like an images file"
                                             : ""));
  std::vector<int64_t> shape;
  uint64_t data_bytes = 1;
  for (int64_t d = 0; d < ndim; ++d) {
    const uint32_t size = read_be32(d == 0 ? "item count" : "item dimensions");
    if (size == 0)
      throw DataError(
          path + ": the header gives dimension " + std::to_string(d) + " as 0" +
          (d == 0 ? " (the file holds no items)" : ""));
    shape.push_back(size);
    data_bytes *= size;
    if (data_bytes > kMaxIdxBytes)
      throw DataError(
          path + ": the header's sizes " + shape_text(shape) + "... promise more than " + std::to_string(kMaxIdxBytes) +
          " bytes; the header is corrupt");
  }
  auto data = torch::empty(shape, torch::kUInt8);
  const uint64_t got = file.read(data.data_ptr(), data_bytes);
  if (got != data_bytes) {
    const std::string items = std::to_string(shape[0]) + (ndim > 1 ? " items of " : " items") +
        (ndim > 1 ? shape_text(std::vector<int64_t>(shape.begin() + 1, shape.end())) : "");
    throw DataError(
        path + ": truncated: the data has " + std::to_string(got) + " of " + std::to_string(data_bytes) +
        " bytes (the header promises " + items + ")" + (file.gzip_cut_off() ? "; the gzip stream is cut off" : ""));
  }
  // One more read also makes zlib check the gzip trailer (CRC and length).
  char extra[64];
  if (const uint64_t more = file.read(extra, sizeof(extra)); more > 0)
    throw DataError(
        path + ": has bytes after the " + std::to_string(data_bytes) + " data bytes its header promises (" +
        shape_text(shape) + "); the header or the file is wrong");
  if (file.gzip_cut_off())
    throw DataError(path + ": truncated: the gzip stream is cut off after the data (no gzip trailer)");
  return data;
}

namespace {

// `dir/base` or, failing that, `dir/base.gz`; throws the missing-data error naming both.
std::string find_idx_file(const std::string& name, const std::string& dir, const std::string& base) {
  std::error_code ec;
  const std::string plain = (fs::path(dir) / base).string(), gz = plain + ".gz";
  if (fs::exists(plain, ec))
    return plain;
  if (fs::exists(gz, ec))
    return gz;
  if (!fs::is_directory(dir, ec))
    throw DataError(name + ": data directory " + dir + " does not exist. " + how_to_get(name, dir));
  throw DataError(
      name + ": " + base + " not found in " + dir + " (looked for " + plain + " and " + gz + "). " +
      how_to_get(name, dir));
}

Dataset load_idx_split(const std::string& name, const std::string& dir, const std::string& prefix) {
  constexpr int64_t kClasses = 10;
  const std::string image_path = find_idx_file(name, dir, prefix + "-images-idx3-ubyte");
  const std::string label_path = find_idx_file(name, dir, prefix + "-labels-idx1-ubyte");
  const auto images = read_idx(image_path, 3);
  const auto labels = read_idx(label_path, 1);
  if (images.size(0) != labels.size(0))
    throw DataError(
        name + ": " + image_path + " holds " + std::to_string(images.size(0)) + " images but " + label_path +
        " holds " + std::to_string(labels.size(0)) + " labels; the two files must come from the same split");
  const uint8_t* l = labels.data_ptr<uint8_t>();
  for (int64_t i = 0; i < labels.size(0); ++i) {
    if (l[i] >= kClasses)
      throw DataError(
          label_path + ": label " + std::to_string(l[i]) + " at index " + std::to_string(i) +
          " is out of range (allowed 0.." + std::to_string(kClasses - 1) + ")");
  }
  return {images.unsqueeze(1).contiguous(), labels.to(torch::kInt64), kClasses, name};
}

// ---------------------------------------------------------------------------------------------
// CIFAR

struct CifarFormat {
  std::string subdir; // where the archive unpacks
  std::vector<std::string> train_files;
  std::string test_file;
  int64_t label_bytes; // 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine)
  std::vector<int64_t> label_limits; // classes of each label byte
};

constexpr int64_t kCifarImageBytes = 3 * 32 * 32;

CifarFormat cifar_format(const std::string& name) {
  if (name == "cifar10")
    return {
        "cifar-10-batches-bin",
        {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
        "test_batch.bin",
        1,
        {10}};
  return {"cifar-100-binary", {"train.bin"}, "test.bin", 2, {20, 100}};
}

// Appends a CIFAR binary file's records: images [3, 32, 32] (R, G, B planes) and the last label byte.
void read_cifar_file(
    const std::string& path,
    const CifarFormat& format,
    std::vector<uint8_t>& images,
    std::vector<int64_t>& labels) {
  const int64_t record = format.label_bytes + kCifarImageBytes;
  std::error_code ec;
  const auto size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec)
    throw DataError(path + ": cannot read its size (" + ec.message() + ")");
  if (size == 0)
    throw DataError(path + ": empty file (expected records of " + std::to_string(record) + " bytes)");
  if (size % record != 0)
    throw DataError(
        path + ": truncated: its last record has " + std::to_string(size % record) + " of " + std::to_string(record) +
        " bytes (the file has " + std::to_string(size) + " bytes, not a whole number of " + std::to_string(record) +
        "-byte records: " + (format.label_bytes == 2 ? "2 label bytes (coarse, fine)" : "1 label byte") +
        " + 3072 pixel bytes)");
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (!in || !in.read(reinterpret_cast<char*>(bytes.data()), size))
    throw DataError(path + ": read error (" + std::strerror(errno) + ")");
  const int64_t n = size / record;
  const size_t first_image = images.size();
  images.resize(first_image + static_cast<size_t>(n * kCifarImageBytes));
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* r = bytes.data() + i * record;
    for (int64_t b = 0; b < format.label_bytes; ++b) {
      if (r[b] >= format.label_limits[b])
        throw DataError(
            path + ": " + (format.label_bytes == 2 ? (b == 0 ? "coarse label " : "fine label ") : "label ") +
            std::to_string(r[b]) + " at record " + std::to_string(i) + " is out of range (allowed 0.." +
            std::to_string(format.label_limits[b] - 1) + ")");
    }
    labels.push_back(r[format.label_bytes - 1]);
    std::memcpy(images.data() + first_image + i * kCifarImageBytes, r + format.label_bytes, kCifarImageBytes);
  }
}

std::pair<Dataset, Dataset> load_cifar(const std::string& name, const std::string& dir) {
  const CifarFormat format = cifar_format(name);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw DataError(name + ": data directory " + dir + " does not exist. " + how_to_get(name, dir));
  // The files sit in dir itself or in the folder the archive unpacks to.
  const std::string nested = (fs::path(dir) / format.subdir).string();
  std::string base;
  for (const auto& candidate : {dir, nested}) {
    if (fs::exists(fs::path(candidate) / format.train_files[0], ec)) {
      base = candidate;
      break;
    }
  }
  if (base.empty())
    throw DataError(
        name + ": " + format.train_files[0] + " not found (looked in " + dir + " and " + nested + "). " +
        how_to_get(name, dir));
  auto read_split = [&](const std::vector<std::string>& files) {
    std::vector<uint8_t> images;
    std::vector<int64_t> labels;
    for (const auto& file : files) {
      const std::string path = (fs::path(base) / file).string();
      if (!fs::exists(path, ec))
        throw DataError(
            name + ": " + path + " not found (the other files are in " + base + "; the download is incomplete). " +
            how_to_get(name, dir));
      read_cifar_file(path, format, images, labels);
    }
    const auto n = static_cast<int64_t>(labels.size());
    Dataset out;
    out.images = torch::from_blob(images.data(), {n, 3, 32, 32}, torch::kUInt8).clone();
    out.labels = torch::from_blob(labels.data(), {n}, torch::kInt64).clone();
    out.num_classes = format.label_limits.back();
    out.name = name;
    return out;
  };
  Dataset train = read_split(format.train_files);
  Dataset test = read_split({format.test_file});
  return {std::move(train), std::move(test)};
}

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

// The dataset file readers: IDX (plain or gzipped; MNIST, Fashion-MNIST) and the CIFAR binary format. A bad
// file ends in a DataError naming it, never in a crash or an allocation its size does not justify.
#include <signopt/data/datasets.h>

#include "datasets_internal.h"

#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace signopt::data {

using detail::join;
using detail::shape_text;

namespace {

namespace fs = std::filesystem;

// The largest IDX payload accepted (4 GiB): MNIST-sized files are ~47 MB, so a header promising more
// than this is corrupt, and refusing it avoids a huge allocation (and, for a gzip file, a huge
// decompression) before the truncation shows. The header is checked before any data is read.
constexpr uint64_t kMaxIdxBytes = uint64_t(1) << 32;
// The largest expansion of deflate (RFC 1951: 258 bytes from a 2-bit code at best, ~1032:1).
constexpr uint64_t kMaxDeflateRatio = 1032;

std::string hex32(uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof(buf), "0x%08X", v);
  return buf;
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

// Reads a file's bytes, decompressing them when the file starts with the gzip magic bytes 1F 8B (an
// IDX file starts with two zero bytes, so a plain IDX file is never taken for a gzip one).
//
// This drives zlib's inflate() itself rather than using gzread(), which cannot tell a complete gzip
// file from a cut-off one: it treats input that ends inside a gzip stream as a soft condition
// (Z_BUF_ERROR, "unexpected end of file", only when it notices), and when a large read is
// decompressed straight into the caller's buffer and fills it exactly as the input runs out, it
// never looks at the trailer at all, so a file without its last 1..8 bytes (the CRC-32 and length)
// was read back with no error (seen with zlib 1.2.13). It also silently ignores whatever follows a gzip member.
// Here:
// - every gzip member must end with its 8-byte trailer, whose CRC-32 and length inflate() checks
//   (a mismatch is corrupt gzip data, an error);
// - input that ends inside a member (in its data, or in or before its trailer) makes gzip_cut_off()
//   true, and reads return what was decompressed up to there;
// - after a member the file may hold further gzip members, whose data follows (RFC 1952 allows
//   concatenated members and gzip -d outputs them one after another; so did gzread()), and nothing
//   else: any other bytes after a member, zero padding included, are an error, since they are no
//   part of the data and point to a damaged or wrongly assembled file.
class InputFile {
 public:
  explicit InputFile(const std::string& path) : path_(path), in_(size_t(1) << 17) {
    std::error_code ec;
    if (!fs::exists(path, ec))
      throw DataError(path + ": file not found");
    if (fs::is_directory(path, ec))
      throw DataError(path + ": is a directory, expected an IDX file");
    file_.reset(std::fopen(path.c_str(), "rb"));
    if (file_ == nullptr)
      throw DataError(path + ": cannot open (" + std::strerror(errno) + ")");
    stream_.next_in = in_.data();
    stream_.avail_in = 0;
    const size_t have = fill(2);
    gzip_ = have >= 2 && in_[0] == 0x1F && in_[1] == 0x8B;
    if (gzip_) {
      // 16 + MAX_WBITS: a gzip wrapper (header, and a trailer that inflate() checks), no zlib one.
      auto* const next_in = stream_.next_in;
      const uInt avail_in = stream_.avail_in;
      if (inflateInit2(&stream_, 16 + MAX_WBITS) != Z_OK)
        throw DataError(path + ": cannot start decompressing (zlib: out of memory)");
      stream_.next_in = next_in;
      stream_.avail_in = avail_in;
      inflate_ready_ = true;
    }
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile() {
    if (inflate_ready_)
      inflateEnd(&stream_);
  }

  bool gzip() const {
    return gzip_;
  }

  // The file's size in bytes, or -1 where it has none (not a regular file).
  int64_t size() const {
    std::error_code ec;
    const std::uintmax_t bytes = fs::file_size(path_, ec);
    return ec ? -1 : static_cast<int64_t>(bytes);
  }

  // Reads up to n bytes (decompressed for a gzip file); fewer only at the end of the data. Throws
  // DataError for a read error, corrupt gzip data (a failed CRC-32 or length check included) and
  // bytes after a gzip member that are not another member.
  uint64_t read(void* dst, uint64_t n) {
    auto* const out = static_cast<unsigned char*>(dst);
    uint64_t got = 0;
    if (!gzip_) {
      // What the magic-byte check buffered, then straight from the file.
      const uint64_t buffered = std::min<uint64_t>(n, stream_.avail_in);
      if (buffered > 0) {
        std::memcpy(out, stream_.next_in, static_cast<size_t>(buffered));
        stream_.next_in += buffered;
        stream_.avail_in -= static_cast<uInt>(buffered);
        got = buffered;
      }
      while (got < n && !eof_) {
        const size_t asked = static_cast<size_t>(std::min<uint64_t>(n - got, uint64_t(1) << 30));
        const size_t r = std::fread(out + got, 1, asked, file_.get());
        got += r;
        if (r < asked) {
          if (std::ferror(file_.get()))
            throw_read_error();
          eof_ = true; // fread() returns short only at the end of the file or on an error
        }
      }
      return got;
    }
    while (got < n && !done_) {
      if (!in_member_) {
        // Between members (or before the first): the end of the file, another member, or neither.
        const size_t have = fill(2);
        if (have == 0) {
          done_ = true;
          break;
        }
        if (have < 2 || stream_.next_in[0] != 0x1F || stream_.next_in[1] != 0x8B)
          throw_bytes_after_gzip();
        if (inflateReset(&stream_) != Z_OK)
          throw_gzip_error("inflateReset failed");
        in_member_ = true;
      }
      if (stream_.avail_in == 0 && fill(1) == 0) {
        // The input ends inside a member: in its data, or in or before its trailer.
        cut_off_ = true;
        done_ = true;
        break;
      }
      const uInt chunk = static_cast<uInt>(std::min<uint64_t>(n - got, uint64_t(1) << 30));
      const uInt avail_in = stream_.avail_in;
      stream_.next_out = out + got;
      stream_.avail_out = chunk;
      const int ret = inflate(&stream_, Z_NO_FLUSH);
      const uInt produced = chunk - stream_.avail_out;
      got += produced;
      if (ret == Z_STREAM_END) {
        in_member_ = false; // inflate() has checked the trailer's CRC-32 and length
      } else if (ret == Z_MEM_ERROR) {
        throw DataError(path_ + ": out of memory while decompressing (zlib); free some memory and run again");
      } else if (ret == Z_BUF_ERROR) {
        if (produced == 0 && stream_.avail_in == avail_in) // cannot happen with input and room for output
          throw_gzip_error("no progress");
      } else if (ret != Z_OK) {
        throw_gzip_error(stream_.msg); // Z_DATA_ERROR (incorrect data check, ...), Z_STREAM_ERROR, ...
      }
    }
    return got;
  }

  // True when the input ended inside a gzip member (its data or its trailer is cut off).
  bool gzip_cut_off() const {
    return cut_off_;
  }

 private:
  struct CloseFile {
    void operator()(std::FILE* f) const {
      std::fclose(f);
    }
  };

  // Makes at least `want` (at most in_.size()) unread bytes available at stream_.next_in, unless the
  // file ends first; returns how many are available.
  size_t fill(size_t want) {
    size_t have = stream_.avail_in;
    if (have >= want || eof_)
      return have;
    in_start_ += static_cast<uint64_t>(stream_.next_in - in_.data());
    if (have > 0)
      std::memmove(in_.data(), stream_.next_in, have);
    stream_.next_in = in_.data();
    while (have < want && !eof_) {
      const size_t asked = in_.size() - have;
      const size_t r = std::fread(in_.data() + have, 1, asked, file_.get());
      have += r;
      if (r < asked) {
        if (std::ferror(file_.get()))
          throw_read_error();
        eof_ = true;
      }
    }
    stream_.avail_in = static_cast<uInt>(have);
    return have;
  }

  [[noreturn]] void throw_read_error() const {
    throw DataError(path_ + ": read error (" + std::strerror(errno) + ")");
  }

  [[noreturn]] void throw_gzip_error(const char* message) const {
    throw DataError(
        path_ + ": corrupt gzip data (zlib: " + (message ? message : "unknown error") + "); download the file again");
  }

  [[noreturn]] void throw_bytes_after_gzip() const {
    const uint64_t at = in_start_ + static_cast<uint64_t>(stream_.next_in - in_.data());
    const int64_t total = size();
    const uint64_t after = total >= 0 && static_cast<uint64_t>(total) > at ? static_cast<uint64_t>(total) - at : 0;
    throw DataError(
        path_ + ": corrupt gzip file: " +
        (after == 0 ? std::string("the bytes") : std::to_string(after) + (after == 1 ? " byte" : " bytes")) +
        " after the end of its gzip data (from byte " + std::to_string(at) + " on) " + (after == 1 ? "is" : "are") +
        " not another gzip member; the file is damaged or not a plain .gz file; download it again");
  }

  std::string path_;
  std::unique_ptr<std::FILE, CloseFile> file_;
  std::vector<unsigned char> in_; // input buffer; stream_.next_in / avail_in are its unread bytes
  uint64_t in_start_ = 0; // the file offset of in_[0]
  z_stream stream_{}; // zalloc, zfree, opaque = Z_NULL: zlib's default allocator
  bool gzip_ = false;
  bool inflate_ready_ = false;
  bool eof_ = false; // the file has been read to its end (what is left is in in_)
  bool in_member_ = false; // inside a gzip member, which has not reached its end yet
  bool done_ = false; // gzip: no more data (the end of the file, or the input cut off)
  bool cut_off_ = false;
};

// An IDX file of unsigned bytes with its header read and checked (magic number, sizes, the size
// limit): the shape it promises is known before any of its data is read or decompressed and before
// anything is allocated for it, so load_idx_split() can compare the two files of a split first.
// `ndim` must be in 1..255 (read_idx() checks it).
class IdxReader {
 public:
  IdxReader(const std::string& path, int64_t ndim) : path_(path), ndim_(ndim), file_(path) {
    read_header();
  }

  // The item count, the first size of the header.
  int64_t items() const {
    return shape_.front();
  }

  // Reads the data the header promises, as a uint8 tensor of the header's shape, and checks that
  // nothing follows it: no more bytes, and for a gzip file a complete gzip stream (trailer and
  // CRC-32 / length check included).
  torch::Tensor read_data() {
    // Deflate cannot expand a file more than ~1032 times, so a small gzip file that promises more data is
    // damaged; refused before the allocation it would cause (found by fuzz_datasets: 56 bytes asking for
    // 3 GB). Checked here, not with the header, so that a split's two headers are compared first.
    if (const int64_t size = file_.size();
        file_.gzip() && size >= 0 && data_bytes_ > kMaxDeflateRatio * static_cast<uint64_t>(size))
      throw DataError(
          path_ + ": corrupt or truncated: the header promises " + std::to_string(data_bytes_) + " bytes of data, but a " +
          std::to_string(size) + "-byte gzip file can hold at most " +
          std::to_string(kMaxDeflateRatio * static_cast<uint64_t>(size)) + " (gzip expands at most " +
          std::to_string(kMaxDeflateRatio) + "x); download the file again");
    torch::Tensor data;
    try {
      data = torch::empty(shape_, torch::kUInt8);
    } catch (const std::bad_alloc&) {
      throw_out_of_memory();
    } catch (const c10::Error&) {
      throw_out_of_memory();
    }
    const uint64_t got = file_.read(data.data_ptr(), data_bytes_);
    if (got != data_bytes_)
      throw_truncated_data(got);
    // One more read finds bytes the header does not account for, and drives a gzip stream to its
    // end: inflate() checks the trailer, and what follows the member is checked (see InputFile).
    char extra[64];
    if (const uint64_t more = file_.read(extra, sizeof(extra)); more > 0)
      throw DataError(
          path_ + ": has bytes after the " + std::to_string(data_bytes_) + " data bytes its header promises (" +
          shape_text(shape_) + "); the header or the file is wrong");
    if (file_.gzip_cut_off())
      throw DataError(
          path_ +
          ": truncated: the gzip stream is cut off after the data (its 8-byte trailer, which holds the CRC-32 and "
          "length of the data, is missing or incomplete), so the data cannot be checked; download the file again");
    return data;
  }

 private:
  void read_header() {
    const uint64_t header_bytes = 4 * (1 + static_cast<uint64_t>(ndim_));
    uint64_t header_got = 0;
    auto read_be32 = [&](const char* what) {
      unsigned char b[4];
      const uint64_t got = file_.read(b, 4);
      header_got += got;
      if (got != 4)
        throw DataError(
            path_ + ": truncated: the header has " + std::to_string(header_got) + " of " +
            std::to_string(header_bytes) + " bytes (it ends in the " + what + ")" +
            (file_.gzip_cut_off() ? "; the gzip stream is cut off" : ""));
      return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | uint32_t(b[3]);
    };
    const uint32_t expected_magic = 0x0800u | static_cast<uint32_t>(ndim_);
    const uint32_t magic = read_be32("magic number");
    if (magic != expected_magic)
      throw DataError(
          path_ + ": wrong magic number " + hex32(magic) + " (" + std::to_string(magic) + ", " +
          describe_idx_magic(magic) + "), expected " + hex32(expected_magic) + " (" + std::to_string(expected_magic) +
          ", " + describe_idx_magic(expected_magic) + ")" +
          (ndim_ == 3 && magic == 0x0801u       ? "; this looks like a labels file"
               : ndim_ == 1 && magic == 0x0803u ? "; this looks like an images file"
                                                : ""));
    for (int64_t d = 0; d < ndim_; ++d) {
      const uint32_t size = read_be32(d == 0 ? "item count" : "item dimensions");
      if (size == 0)
        throw DataError(
            path_ + ": the header gives dimension " + std::to_string(d) + " as 0" +
            (d == 0 ? " (the file holds no items)" : ""));
      shape_.push_back(size);
      data_bytes_ *= size;
      if (data_bytes_ > kMaxIdxBytes)
        throw DataError(
            path_ + ": the header's sizes " + shape_text(shape_) + "... promise more than " +
            std::to_string(kMaxIdxBytes) + " bytes of data, the limit for an IDX file (the largest MNIST or " +
            "Fashion-MNIST file holds 47040000; the limit keeps a corrupt header from causing a huge allocation " +
            "or decompression); the header is corrupt, or the file is not one of these datasets' files");
    }
    // A plain file's size shows a truncation before anything is allocated.
    if (!file_.gzip()) {
      const int64_t size = file_.size();
      if (size >= 0 && static_cast<uint64_t>(size) >= header_bytes &&
          static_cast<uint64_t>(size) - header_bytes < data_bytes_)
        throw_truncated_data(static_cast<uint64_t>(size) - header_bytes);
    }
  }

  [[noreturn]] void throw_truncated_data(uint64_t got) const {
    const std::string items = std::to_string(shape_[0]) + (ndim_ > 1 ? " items of " : " items") +
        (ndim_ > 1 ? shape_text(std::vector<int64_t>(shape_.begin() + 1, shape_.end())) : "");
    throw DataError(
        path_ + ": truncated: the data has " + std::to_string(got) + " of " + std::to_string(data_bytes_) +
        " bytes (the header promises " + items + ")" + (file_.gzip_cut_off() ? "; the gzip stream is cut off" : ""));
  }

  [[noreturn]] void throw_out_of_memory() const {
    throw DataError(
        path_ + ": out of memory allocating the " + std::to_string(data_bytes_) +
        " bytes of data its header promises (" + shape_text(shape_) +
        "); free some memory, or check the file if that size is not expected");
  }

  std::string path_;
  int64_t ndim_;
  InputFile file_;
  std::vector<int64_t> shape_;
  uint64_t data_bytes_ = 1;
};

} // namespace

torch::Tensor read_idx(const std::string& path, int64_t ndim) {
  if (ndim < 1 || ndim > 255)
    throw DataError(path + ": an IDX file has 1..255 dimensions, asked for " + std::to_string(ndim));
  IdxReader file(path, ndim);
  return file.read_data();
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

} // namespace

namespace detail {

Dataset load_idx_split(const std::string& name, const std::string& dir, const std::string& prefix) {
  constexpr int64_t kClasses = 10;
  const std::string image_path = find_idx_file(name, dir, prefix + "-images-idx3-ubyte");
  const std::string label_path = find_idx_file(name, dir, prefix + "-labels-idx1-ubyte");
  // Both headers first: files of different splits, or a corrupt item count, show before anything
  // is allocated for the data or decompressed.
  IdxReader image_file(image_path, 3);
  IdxReader label_file(label_path, 1);
  if (image_file.items() != label_file.items())
    throw DataError(
        name + ": the header of " + image_path + " says it holds " + std::to_string(image_file.items()) +
        " images but the header of " + label_path + " says it holds " + std::to_string(label_file.items()) +
        " labels; the two files must come from the same split (a header may be corrupt: download them again)");
  const auto images = image_file.read_data();
  const auto labels = label_file.read_data();
  const uint8_t* l = labels.data_ptr<uint8_t>();
  for (int64_t i = 0; i < labels.size(0); ++i) {
    if (l[i] >= kClasses)
      throw DataError(
          label_path + ": label " + std::to_string(l[i]) + " at index " + std::to_string(i) +
          " is out of range (allowed 0.." + std::to_string(kClasses - 1) + ")");
  }
  return {images.unsqueeze(1).contiguous(), labels.to(torch::kInt64), kClasses, name};
}

} // namespace detail

namespace {

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

// The largest CIFAR binary file accepted (256 MiB): the real ones have 30,730,000 bytes (CIFAR-10's
// data_batch_N.bin and test_batch.bin) and at most 154,400,000 (CIFAR-100's train.bin), so a bigger
// file is not one of them; its size is checked before anything is allocated or read.
constexpr uint64_t kMaxCifarFileBytes = uint64_t(256) << 20;

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
  const std::uintmax_t file_bytes = fs::file_size(path, ec);
  if (ec)
    throw DataError(path + ": cannot read its size (" + ec.message() + ")");
  if (file_bytes == 0)
    throw DataError(path + ": empty file (expected records of " + std::to_string(record) + " bytes)");
  // Checked on the size, before anything is allocated or read.
  if (file_bytes > kMaxCifarFileBytes)
    throw DataError(
        path + ": the file has " + std::to_string(file_bytes) + " bytes, more than the limit of " +
        std::to_string(kMaxCifarFileBytes) + " bytes (256 MiB) for a CIFAR binary file (the real ones have " +
        "30730000 bytes, CIFAR-10's batches, and at most 154400000, CIFAR-100's train.bin; the limit keeps a wrong " +
        "file from causing a huge allocation); this is not a CIFAR binary file: check the data directory or " +
        "download the dataset again");
  const auto size = static_cast<int64_t>(file_bytes);
  if (size % record != 0)
    throw DataError(
        path + ": truncated: its last record has " + std::to_string(size % record) + " of " + std::to_string(record) +
        " bytes (the file has " + std::to_string(size) + " bytes, not a whole number of " + std::to_string(record) +
        "-byte records: " + (format.label_bytes == 2 ? "2 label bytes (coarse, fine)" : "1 label byte") +
        " + 3072 pixel bytes)");
  const int64_t n = size / record;
  try {
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> bytes(static_cast<size_t>(size));
    if (!in || !in.read(reinterpret_cast<char*>(bytes.data()), size))
      throw DataError(path + ": read error (" + std::strerror(errno) + ")");
    const size_t first_image = images.size();
    images.resize(first_image + static_cast<size_t>(n * kCifarImageBytes));
    labels.reserve(labels.size() + static_cast<size_t>(n));
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
  } catch (const std::bad_alloc&) {
    throw DataError(
        path + ": out of memory loading its " + std::to_string(n) + " records (" + std::to_string(size) +
        " bytes); free some memory and run again");
  }
}

} // namespace

namespace detail {

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
    auto out_of_memory = [&] {
      return DataError(
          name + ": out of memory copying the " + std::to_string(n) + " images of " + join(files, ", ") + " (in " +
          base + "); free some memory and run again");
    };
    Dataset out;
    try {
      out.images = torch::from_blob(images.data(), {n, 3, 32, 32}, torch::kUInt8).clone();
      out.labels = torch::from_blob(labels.data(), {n}, torch::kInt64).clone();
    } catch (const std::bad_alloc&) {
      throw out_of_memory();
    } catch (const c10::Error&) {
      throw out_of_memory();
    }
    out.num_classes = format.label_limits.back();
    out.name = name;
    return out;
  };
  Dataset train = read_split(format.train_files);
  Dataset test = read_split({format.test_file});
  return {std::move(train), std::move(test)};
}

} // namespace detail

} // namespace signopt::data

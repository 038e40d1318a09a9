// The checkpoint container of signopt train: a versioned header that ties a checkpoint to its run
// (optimizer, model, a hash of the options that must not change) and checksums of header and payload,
// verified before a byte of the payload reaches LibTorch's loader; and the rotation that keeps the last N.
#pragma once

#include <signopt/io/files.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace signopt::io {

/// The container's version; a checkpoint of another version is refused with a message saying so.
inline constexpr int64_t kCheckpointFormat = 1;

/// The most checkpoints a run keeps (--keep-checkpoints).
inline constexpr int64_t kMaxKeptCheckpoints = 100;

/// The largest checkpoint file read (a ResNet-18 with Adam state is about 135 MB).
inline constexpr uint64_t kMaxCheckpointBytes = uint64_t(16) << 30;

/// A checkpoint that cannot be used: its bytes are damaged (`corrupt`) or it belongs to another run.
class CheckpointError : public IoError {
 public:
  CheckpointError(const std::string& what, bool corrupt) : IoError(what), corrupt_(corrupt) {}
  /// True for damaged bytes (a truncated file, a flipped bit): an older checkpoint may be used instead.
  bool corrupt() const {
    return corrupt_;
  }

 private:
  bool corrupt_;
};

/// What a checkpoint says about itself, stored in its header.
struct CheckpointHeader {
  int64_t format = kCheckpointFormat;
  std::string signopt_version;
  std::string optimizer; ///< --optimizer of the run that wrote it
  std::string model; ///< --model
  std::string dataset; ///< --dataset
  int64_t world_size = 1;
  int64_t epoch = 0; ///< 0-based epoch in progress
  int64_t step = 0; ///< optimizer steps taken
  std::string options; ///< the options that must not change on resume, as compact JSON
  uint64_t options_hash = 0; ///< fnv1a64(options)
};

/// The container's bytes: a magic line, the header as one JSON line, its CRC-32, then the payload (with its
/// length and CRC-32 in the header).
std::string encode_checkpoint(const CheckpointHeader& header, std::string_view payload);

/// A verified checkpoint.
struct Checkpoint {
  CheckpointHeader header;
  std::string payload;
};

/// Decodes and verifies `bytes` (read from `origin`, named in errors): magic, version, header checksum,
/// payload length and checksum. CheckpointError(corrupt) for damaged bytes; CheckpointError(not corrupt)
/// for a checkpoint of another format version or a file that is no signopt checkpoint at all.
Checkpoint decode_checkpoint(std::string bytes, const std::string& origin);

/// Reads and verifies the checkpoint file `path` (at most kMaxCheckpointBytes).
Checkpoint read_checkpoint(const std::filesystem::path& path);

/// The checkpoint files of a run directory, newest first: `dir`/checkpoint.pt, then checkpoint.1.pt,
/// checkpoint.2.pt, ... (those that exist).
std::vector<std::filesystem::path> checkpoint_files(const std::filesystem::path& dir);

/// Writes a new checkpoint into `dir` keeping the last `keep` (>= 1): the bytes are written to
/// checkpoint.pt.tmp and made durable first; then checkpoint.K.pt moves to checkpoint.(K+1).pt (the oldest
/// dropped), checkpoint.pt is linked as checkpoint.1.pt and the new file renamed over checkpoint.pt. A
/// crash at any point leaves checkpoint.pt holding a complete checkpoint (the old or the new one). On a
/// failed write the temporary file is removed and IoError thrown; the previous checkpoints are untouched.
/// `before_commit`, when given, runs after the new bytes are durable and before any rename (a test hook).
void save_checkpoint_rotating(
    const std::filesystem::path& dir, std::string_view bytes, int64_t keep, void (*before_commit)() = nullptr);

} // namespace signopt::io

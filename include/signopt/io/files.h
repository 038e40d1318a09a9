// Checked, crash-safe file I/O for run directories: whole-file atomic writes, appended logs whose every
// write is checked, and an advisory lock that keeps two processes out of one run directory.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace signopt::io {

/// A failed read or write: the message names the file, what failed and the system's reason
/// ("No space left on device"); nothing half-written is left under the file's final name.
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Writes `bytes` to `path` atomically and durably: `path`.tmp is written in full (short writes and EINTR
/// retried), fsynced and closed with every result checked, renamed over `path`, and the directory fsynced.
/// On any failure the temporary file is removed, `path` keeps its previous content and IoError is thrown.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

/// Writes `bytes` to `path` (created or truncated) durably: every byte written (short writes and EINTR
/// retried), fsynced and closed, each result checked. On failure the file is removed and IoError thrown,
/// its message ending in "(`unchanged`)" (what the failure left as it was). No rename: the caller commits.
void write_file_durably(const std::filesystem::path& path, std::string_view bytes, const std::string& unchanged);

/// Makes the finished temporary file `tmp` durable under `path` (fsync, rename, directory fsync). IoError
/// naming both files when a step fails.
void commit_file(const std::filesystem::path& tmp, const std::filesystem::path& path);

/// fsync of a directory, so that renames in it survive a power loss. IoError when it fails.
void fsync_directory(const std::filesystem::path& dir);

/// The whole file, refusing files larger than `max_bytes` (IoError naming the file, its size and the limit).
std::string read_file(const std::filesystem::path& path, uint64_t max_bytes);

/// The largest text file signopt reads whole: a run's config.json, metrics.csv, summary.json, a sweep's log
/// and files (1 GiB; a 200-epoch run's metrics.csv is well under 1 MB).
inline constexpr uint64_t kMaxTextFileBytes = uint64_t(1) << 30;

/// read_file(path, max_bytes), or nothing when `path` does not exist (for files that may not be there yet,
/// such as a run's log). Any other failure throws IoError, as read_file does.
std::optional<std::string> read_file_if_present(const std::filesystem::path& path, uint64_t max_bytes);

/// A log file opened for appending whose every write, flush, fsync and close is checked: a failure
/// (full disk, I/O error) throws IoError naming the file instead of being lost.
class AppendFile {
 public:
  AppendFile() = default;
  /// Opens `path` for appending; `truncate` empties it first. IoError when it cannot be opened.
  AppendFile(const std::filesystem::path& path, bool truncate);
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;
  AppendFile(AppendFile&& other) noexcept;
  AppendFile& operator=(AppendFile&& other) noexcept;
  ~AppendFile(); ///< Closes without throwing (call close() to learn about failures).

  bool is_open() const {
    return file_ != nullptr;
  }
  /// Appends `text` and flushes it to the kernel.
  void write(std::string_view text);
  /// Flushes and fsyncs (the bytes written so far survive a crash).
  void sync();
  /// Bytes in the file (its length after the last write).
  int64_t size() const {
    return size_;
  }
  /// Closes, checking the result; a no-op when not open.
  void close();
  const std::filesystem::path& path() const {
    return path_;
  }

 private:
  [[noreturn]] void fail(const char* what) const;
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  int64_t size_ = 0;
};

/// An exclusive advisory lock (flock) on `dir`/.lock, held until destruction. The kernel drops it when the
/// process dies, even by SIGKILL, so a crashed run never leaves a stale lock.
class DirectoryLock {
 public:
  DirectoryLock() = default;
  /// Takes the lock or throws IoError naming the directory and the pid recorded by the holder. `purpose`
  /// says what the holder does ("training or resuming").
  explicit DirectoryLock(const std::filesystem::path& dir);
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  DirectoryLock(DirectoryLock&& other) noexcept;
  DirectoryLock& operator=(DirectoryLock&& other) noexcept;
  ~DirectoryLock();

 private:
  int fd_ = -1;
};

/// 64-bit FNV-1a of `bytes` (the options hash of a checkpoint).
uint64_t fnv1a64(std::string_view bytes);

/// CRC-32 (zlib's polynomial) of `bytes`.
uint32_t crc32(std::string_view bytes);

} // namespace signopt::io

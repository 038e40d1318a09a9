// Checked, crash-safe file I/O (see include/signopt/io/files.h).
#include <signopt/io/files.h>

#include <zlib.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace signopt::io {
namespace fs = std::filesystem;

namespace {

std::string reason(int err) {
  return std::strerror(err) + std::string(err == ENOSPC || err == EDQUOT ? "; free some space and try again" : "");
}

// write(2) until every byte is out; false (errno set) on failure.
bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    if (w == 0) {
      errno = EIO;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

} // namespace

void fsync_directory(const fs::path& dir) {
  const fs::path d = dir.empty() ? fs::path(".") : dir;
  const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    throw IoError("cannot open directory " + d.string() + " to sync it: " + reason(errno));
  const int r = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some filesystems cannot sync directories (EINVAL); the rename itself has happened.
  if (r != 0 && err != EINVAL)
    throw IoError("cannot sync directory " + d.string() + ": " + reason(err));
}

void commit_file(const fs::path& tmp, const fs::path& path) {
  const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw IoError("cannot open " + tmp.string() + " to sync it: " + reason(errno));
  const int r = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (r != 0)
    throw IoError("cannot sync " + tmp.string() + ": " + reason(err));
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw IoError("cannot rename " + tmp.string() + " to " + path.string() + ": " + reason(errno));
  fsync_directory(path.parent_path());
}

void write_file_durably(const fs::path& path, std::string_view bytes, const std::string& unchanged) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw IoError("cannot create " + path.string() + ": " + reason(errno));
  std::string failure;
  if (!write_all(fd, bytes.data(), bytes.size()))
    failure = "cannot write " + path.string() + ": " + reason(errno);
  else if (::fsync(fd) != 0)
    failure = "cannot sync " + path.string() + ": " + reason(errno);
  if (::close(fd) != 0 && failure.empty())
    failure = "cannot close " + path.string() + ": " + reason(errno);
  if (!failure.empty()) {
    ::unlink(path.c_str()); // never leave a half-written file taking the space
    throw IoError(failure + " (" + unchanged + ")");
  }
}

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  const fs::path tmp = path.string() + ".tmp";
  const std::string unchanged = path.string() + " is unchanged";
  write_file_durably(tmp, bytes, unchanged);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = reason(errno);
    ::unlink(tmp.c_str());
    throw IoError("cannot rename " + tmp.string() + " to " + path.string() + ": " + why + " (" + unchanged + ")");
  }
  fsync_directory(path.parent_path());
}

std::string read_file(const fs::path& path, uint64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw IoError("cannot open " + path.string() + ": " + reason(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw IoError("cannot stat " + path.string() + ": " + reason(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw IoError(path.string() + " is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    throw IoError(
        path.string() + " has " + std::to_string(st.st_size) + " bytes, more than the " + std::to_string(max_bytes) +
        " this reader accepts; it is not a file signopt wrote");
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t r = ::read(fd, out.data() + got, out.size() - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      const int err = r < 0 ? errno : 0;
      ::close(fd);
      throw IoError(
          "cannot read " + path.string() + ": " + (r < 0 ? reason(err) : std::string("it shrank while being read")));
    }
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  return out;
}

std::optional<std::string> read_file_if_present(const fs::path& path, uint64_t max_bytes) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec)) && !ec)
    return std::nullopt;
  return read_file(path, max_bytes);
}

AppendFile::AppendFile(const fs::path& path, bool truncate) : path_(path) {
  file_ = std::fopen(path.c_str(), truncate ? "wb" : "ab");
  if (file_ == nullptr)
    throw IoError("cannot open " + path.string() + " for writing: " + reason(errno));
  std::fseek(file_, 0, SEEK_END);
  size_ = static_cast<int64_t>(std::ftell(file_));
}

AppendFile::AppendFile(AppendFile&& other) noexcept
    : path_(std::move(other.path_)), file_(std::exchange(other.file_, nullptr)), size_(other.size_) {}

AppendFile& AppendFile::operator=(AppendFile&& other) noexcept {
  if (this != &other) {
    if (file_ != nullptr)
      std::fclose(file_);
    path_ = std::move(other.path_);
    file_ = std::exchange(other.file_, nullptr);
    size_ = other.size_;
  }
  return *this;
}

AppendFile::~AppendFile() {
  if (file_ != nullptr)
    std::fclose(file_);
}

void AppendFile::fail(const char* what) const {
  throw IoError(std::string("cannot ") + what + " " + path_.string() + ": " + reason(errno));
}

void AppendFile::write(std::string_view text) {
  if (file_ == nullptr)
    throw IoError("cannot write " + path_.string() + ": it is not open");
  errno = 0;
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0) {
    if (errno == 0)
      errno = EIO;
    fail("write");
  }
  size_ += static_cast<int64_t>(text.size());
}

void AppendFile::sync() {
  if (file_ == nullptr)
    return;
  if (std::fflush(file_) != 0)
    fail("write");
  if (::fsync(::fileno(file_)) != 0)
    fail("sync");
}

void AppendFile::close() {
  if (file_ == nullptr)
    return;
  std::FILE* f = std::exchange(file_, nullptr);
  if (std::fclose(f) != 0)
    fail("close");
}

DirectoryLock::DirectoryLock(const fs::path& dir) {
  const fs::path path = dir / ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw IoError("cannot create the lock file " + path.string() + ": " + reason(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = "";
    const ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
    pid[n > 0 ? n : 0] = '\0';
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw IoError(
          "run directory " + dir.string() + " is in use by another signopt process" +
          (pid[0] ? " (pid " + std::string(pid) + ")" : std::string()) +
          " that is training or resuming it; wait for it to finish or stop it, then try again");
    throw IoError("cannot lock " + path.string() + ": " + reason(err));
  }
  const std::string me = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) == 0)
    (void)!::pwrite(fd_, me.data(), me.size(), 0); // informative only
}

DirectoryLock::DirectoryLock(DirectoryLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

DirectoryLock& DirectoryLock::operator=(DirectoryLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0)
    ::close(fd_);
}

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : bytes)
    h = (h ^ c) * 1099511628211ull;
  return h;
}

uint32_t crc32(std::string_view bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  const auto* p = reinterpret_cast<const Bytef*>(bytes.data());
  size_t left = bytes.size();
  while (left > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
    crc = ::crc32(crc, p, chunk);
    p += chunk;
    left -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

} // namespace signopt::io

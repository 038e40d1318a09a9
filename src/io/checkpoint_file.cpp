// The checkpoint container and its rotation (see include/signopt/io/checkpoint_file.h).
#include <signopt/io/checkpoint_file.h>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace signopt::io {
namespace fs = std::filesystem;

namespace {

using json = nlohmann::ordered_json;

constexpr std::string_view kMagic = "SIGNOPT-CHECKPOINT\n";
// The header line is small (options of a few KB); anything longer is damage.
constexpr size_t kMaxHeaderBytes = 1 << 20;

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08" PRIx32, v);
  return buf;
}

std::string hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

[[noreturn]] void corrupt(const std::string& origin, const std::string& what) {
  throw CheckpointError(origin + " is corrupt: " + what, /*corrupt=*/true);
}

fs::path numbered(const fs::path& dir, int64_t k) {
  return k == 0 ? dir / "checkpoint.pt" : dir / ("checkpoint." + std::to_string(k) + ".pt");
}

} // namespace

std::string encode_checkpoint(const CheckpointHeader& h, std::string_view payload) {
  json j;
  j["format"] = h.format;
  j["signopt_version"] = h.signopt_version;
  j["optimizer"] = h.optimizer;
  j["model"] = h.model;
  j["dataset"] = h.dataset;
  j["world_size"] = h.world_size;
  j["epoch"] = h.epoch;
  j["step"] = h.step;
  j["options_hash"] = hex64(h.options_hash);
  j["options"] = h.options;
  j["payload_bytes"] = payload.size();
  j["payload_crc32"] = hex32(crc32(payload));
  const std::string line = j.dump();
  std::string out;
  out.reserve(kMagic.size() + line.size() + 10 + payload.size());
  out += kMagic;
  out += line;
  out += '\n';
  out += hex32(crc32(line));
  out += '\n';
  out += payload;
  return out;
}

Checkpoint decode_checkpoint(std::string bytes, const std::string& origin) {
  if (bytes.compare(0, kMagic.size(), kMagic) != 0) {
    if (bytes.size() < kMagic.size() && kMagic.compare(0, bytes.size(), bytes) == 0)
      corrupt(origin, "it is cut off in its first line");
    // A checkpoint of signopt before the container (a bare LibTorch archive starts with a zip header).
    if (bytes.compare(0, 2, "PK") == 0)
      throw CheckpointError(
          origin + " is a bare LibTorch archive without signopt's checkpoint header (written by signopt 0.1 before "
                   "checkpoints were versioned, or by another program); it cannot be verified, so it is not resumed. "
                   "Start the run again",
          /*corrupt=*/false);
    throw CheckpointError(origin + " is not a signopt checkpoint (its first bytes are not the checkpoint header)", false);
  }
  const size_t line_end = bytes.find('\n', kMagic.size());
  if (line_end == std::string::npos || line_end - kMagic.size() > kMaxHeaderBytes)
    corrupt(origin, "its header line is cut off or damaged");
  const size_t crc_end = bytes.find('\n', line_end + 1);
  if (crc_end == std::string::npos || crc_end != line_end + 9)
    corrupt(origin, "its header checksum is cut off or damaged");
  const std::string line = bytes.substr(kMagic.size(), line_end - kMagic.size());
  const std::string crc_text = bytes.substr(line_end + 1, 8);
  if (crc_text != hex32(crc32(line)))
    corrupt(origin, "its header does not match its checksum (" + crc_text + " stored, " + hex32(crc32(line)) + " computed)");
  Checkpoint out;
  try {
    const json j = json::parse(line);
    auto& h = out.header;
    h.format = j.at("format").get<int64_t>();
    if (h.format != kCheckpointFormat)
      throw CheckpointError(
          origin + " has checkpoint format " + std::to_string(h.format) + "; this signopt reads format " +
              std::to_string(kCheckpointFormat) + ". Resume it with the signopt version that wrote it (" +
              j.value("signopt_version", std::string("unknown")) + ")",
          /*corrupt=*/false);
    h.signopt_version = j.at("signopt_version").get<std::string>();
    h.optimizer = j.at("optimizer").get<std::string>();
    h.model = j.at("model").get<std::string>();
    h.dataset = j.at("dataset").get<std::string>();
    h.world_size = j.at("world_size").get<int64_t>();
    h.epoch = j.at("epoch").get<int64_t>();
    h.step = j.at("step").get<int64_t>();
    h.options = j.at("options").get<std::string>();
    const std::string hash = j.at("options_hash").get<std::string>();
    h.options_hash = fnv1a64(h.options);
    if (hash != hex64(h.options_hash))
      corrupt(origin, "its options do not match their hash");
    const auto payload_bytes = j.at("payload_bytes").get<uint64_t>();
    const std::string payload_crc = j.at("payload_crc32").get<std::string>();
    const size_t start = crc_end + 1;
    const uint64_t have = bytes.size() - start;
    if (have != payload_bytes)
      corrupt(
          origin,
          "its payload has " + std::to_string(have) + " bytes, its header says " + std::to_string(payload_bytes) +
              (have < payload_bytes ? " (the file is truncated)" : " (bytes were appended)"));
    bytes.erase(0, start);
    const std::string computed = hex32(crc32(bytes));
    if (computed != payload_crc)
      corrupt(origin, "its payload does not match its checksum (" + payload_crc + " stored, " + computed + " computed)");
    out.payload = std::move(bytes);
  } catch (const json::exception& e) {
    corrupt(origin, std::string("its header is unreadable (") + e.what() + ")");
  }
  return out;
}

Checkpoint read_checkpoint(const fs::path& path) {
  return decode_checkpoint(read_file(path, kMaxCheckpointBytes), path.string());
}

std::vector<fs::path> checkpoint_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (int64_t k = 0; k < kMaxKeptCheckpoints; ++k) {
    std::error_code ec;
    const auto p = numbered(dir, k);
    if (fs::is_regular_file(p, ec))
      out.push_back(p);
  }
  return out;
}

void save_checkpoint_rotating(const fs::path& dir, std::string_view bytes, int64_t keep, void (*before_commit)()) {
  if (keep < 1 || keep > kMaxKeptCheckpoints)
    throw IoError(
        "keep-checkpoints must be in 1.." + std::to_string(kMaxKeptCheckpoints) + ", got " + std::to_string(keep));
  const fs::path latest = numbered(dir, 0), tmp = dir / "checkpoint.pt.tmp";
  // The new bytes are durable before the old checkpoints move.
  write_file_durably(tmp, bytes, "the previous checkpoints are intact");
  if (before_commit != nullptr)
    before_commit();
  std::error_code ec;
  // Shift the older ones: checkpoint.(keep-2).pt -> checkpoint.(keep-1).pt, ..., checkpoint.1.pt -> .2.
  for (int64_t k = keep - 2; k >= 1; --k) {
    const auto from = numbered(dir, k);
    if (fs::exists(from, ec) && ::rename(from.c_str(), numbered(dir, k + 1).c_str()) != 0)
      throw IoError("cannot rename " + from.string() + ": " + std::strerror(errno));
  }
  if (keep >= 2 && fs::exists(latest, ec)) {
    // A hard link keeps checkpoint.pt in place until the new one replaces it atomically.
    const auto previous = numbered(dir, 1), staged = dir / "checkpoint.1.pt.tmp";
    ::unlink(staged.c_str());
    if (::link(latest.c_str(), staged.c_str()) != 0) {
      ::unlink(tmp.c_str());
      throw IoError("cannot link " + latest.string() + " as " + staged.string() + ": " + std::strerror(errno));
    }
    if (::rename(staged.c_str(), previous.c_str()) != 0)
      throw IoError("cannot rename " + staged.string() + " to " + previous.string() + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), latest.c_str()) != 0)
    throw IoError("cannot rename " + tmp.string() + " to " + latest.string() + ": " + std::strerror(errno));
  fsync_directory(dir);
  // Checkpoints beyond `keep` (left by a run that kept more) are removed.
  for (int64_t k = keep; k < kMaxKeptCheckpoints; ++k)
    if (fs::exists(numbered(dir, k), ec))
      fs::remove(numbered(dir, k), ec);
}

} // namespace signopt::io

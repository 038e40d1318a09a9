// The checkpoint container (every kind of damage is caught before the payload is used), the rotation that
// keeps the last N checkpoints, and the checked writes (a full device is an error naming the file).
#include <signopt/io/checkpoint_file.h>
#include <signopt/io/files.h>

#include <gtest/gtest.h>

#include "support/temp_dirs.h"

#include <filesystem>
#include <fstream>
#include <random>

namespace fs = std::filesystem;
using namespace signopt::io;

namespace {

const auto* const kCleanUp = signopt::test::remove_when_passed("signopt_io");

fs::path fresh(const std::string& name) {
  return signopt::test::fresh_dir("signopt_io", name, /*create=*/true);
}

CheckpointHeader header(int64_t step) {
  CheckpointHeader h;
  h.signopt_version = "test";
  h.optimizer = "signum";
  h.model = "mlp";
  h.dataset = "synthetic";
  h.world_size = 2;
  h.epoch = 1;
  h.step = step;
  h.options = R"({"lr":0.001})";
  h.options_hash = fnv1a64(h.options);
  return h;
}

std::string payload(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string p(n, '\0');
  for (auto& c : p)
    c = static_cast<char>(rng());
  return p;
}

// The error decode_checkpoint throws for `bytes`, and whether it says "corrupt".
std::pair<std::string, bool> decode_error(const std::string& bytes) {
  try {
    decode_checkpoint(bytes, "ckpt");
  } catch (const CheckpointError& e) {
    return {e.what(), e.corrupt()};
  }
  return {"", false};
}

} // namespace

TEST(CheckpointFile, RoundTripsHeaderAndPayload) {
  const auto p = payload(10000, 1);
  const auto c = decode_checkpoint(encode_checkpoint(header(42), p), "ckpt");
  EXPECT_EQ(c.payload, p);
  EXPECT_EQ(c.header.step, 42);
  EXPECT_EQ(c.header.optimizer, "signum");
  EXPECT_EQ(c.header.model, "mlp");
  EXPECT_EQ(c.header.dataset, "synthetic");
  EXPECT_EQ(c.header.world_size, 2);
  EXPECT_EQ(c.header.options, R"({"lr":0.001})");
  EXPECT_EQ(c.header.options_hash, fnv1a64(R"({"lr":0.001})"));
  EXPECT_EQ(decode_checkpoint(encode_checkpoint(header(0), ""), "ckpt").payload, ""); // empty payload
}

// Every truncation (a crash of the machine mid-write) and every single flipped byte is caught as corruption.
TEST(CheckpointFile, EveryTruncationAndEveryFlippedByteIsCaught) {
  const std::string bytes = encode_checkpoint(header(7), payload(300, 2));
  for (size_t n = 0; n < bytes.size(); ++n) {
    const auto [what, corrupt] = decode_error(bytes.substr(0, n));
    ASSERT_FALSE(what.empty()) << "a checkpoint cut to " << n << " bytes was accepted";
    ASSERT_TRUE(corrupt) << what; // a torn write is damage (an older checkpoint may be used instead)
    ASSERT_NE(what.find("ckpt"), std::string::npos) << what;
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x10);
    const auto [what, corrupt] = decode_error(damaged);
    ASSERT_FALSE(what.empty()) << "a flipped byte at " << i << " was accepted";
  }
  const auto [appended, corrupt] = decode_error(bytes + "x");
  EXPECT_NE(appended.find("appended"), std::string::npos) << appended;
  EXPECT_TRUE(corrupt);
}

TEST(CheckpointFile, ForeignFilesAreNamedForWhatTheyAre) {
  auto [bare, corrupt] = decode_error(std::string("PK\x03\x04", 4) + "rest of a zip");
  EXPECT_NE(bare.find("bare LibTorch archive"), std::string::npos) << bare;
  EXPECT_FALSE(corrupt);
  auto [other, other_corrupt] = decode_error("hello world, this is not a checkpoint");
  EXPECT_NE(other.find("not a signopt checkpoint"), std::string::npos) << other;
  EXPECT_FALSE(other_corrupt);
  // A future format version is refused as such, not as damage.
  std::string future = encode_checkpoint(header(1), "abc");
  const auto at = future.find("\"format\":1");
  ASSERT_NE(at, std::string::npos);
  const size_t line_start = future.find('\n') + 1, line_end = future.find('\n', line_start);
  std::string line = future.substr(line_start, line_end - line_start);
  line.replace(line.find("\"format\":1"), 10, "\"format\":9");
  char crc[16];
  std::snprintf(crc, sizeof crc, "%08x", crc32(line));
  future = future.substr(0, line_start) + line + "\n" + crc + future.substr(line_end + 9);
  auto [version, version_corrupt] = decode_error(future);
  EXPECT_NE(version.find("checkpoint format 9"), std::string::npos) << version;
  EXPECT_FALSE(version_corrupt);
}

TEST(CheckpointFile, RotationKeepsTheLastNNewestFirst) {
  const auto dir = fresh("rotate");
  for (int64_t step = 1; step <= 5; ++step)
    save_checkpoint_rotating(dir, encode_checkpoint(header(step), payload(100, static_cast<uint32_t>(step))), 3);
  const auto files = checkpoint_files(dir);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].filename(), "checkpoint.pt");
  for (size_t i = 0; i < files.size(); ++i)
    EXPECT_EQ(read_checkpoint(files[i]).header.step, 5 - static_cast<int64_t>(i));
  EXPECT_FALSE(fs::exists(dir / "checkpoint.pt.tmp"));
  EXPECT_FALSE(fs::exists(dir / "checkpoint.1.pt.tmp"));
  // Keeping fewer later drops the extra ones; keep 1 keeps checkpoint.pt alone.
  save_checkpoint_rotating(dir, encode_checkpoint(header(6), "p"), 1);
  ASSERT_EQ(checkpoint_files(dir).size(), 1u);
  EXPECT_EQ(read_checkpoint(dir / "checkpoint.pt").header.step, 6);
  EXPECT_THROW(save_checkpoint_rotating(dir, "x", 0), IoError);
}

TEST(CheckpointFile, OversizedFilesAreRefusedBeforeReading) {
  const auto dir = fresh("big");
  const auto path = dir / "checkpoint.pt";
  { std::ofstream(path) << "x"; }
  fs::resize_file(path, kMaxCheckpointBytes + 1); // sparse: no disk used
  try {
    read_checkpoint(path);
    FAIL() << "an oversized checkpoint was read";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(kMaxCheckpointBytes)), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

// /dev/full answers every write with ENOSPC: the append log reports it, naming the file.
TEST(CheckedFiles, AFullDeviceIsAnErrorNamingTheFile) {
  if (!fs::exists("/dev/full"))
    GTEST_SKIP() << "no /dev/full on this machine";
  AppendFile log("/dev/full", false);
  try {
    log.write(std::string(100000, 'x'));
    FAIL() << "a write to /dev/full succeeded";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/dev/full"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
  }
}

TEST(CheckedFiles, AFailedAtomicWriteLeavesTheOldFileAndNoTemporary) {
  const auto dir = fresh("atomic");
  const auto path = dir / "summary.json";
  write_file_atomic(path, "old");
  fs::create_directory(dir / "summary.json.tmp"); // the temporary cannot be created
  EXPECT_THROW(write_file_atomic(path, "new"), IoError);
  EXPECT_EQ(signopt::test::read_file(path), "old");
  fs::remove(dir / "summary.json.tmp");
  write_file_atomic(path, "new");
  EXPECT_EQ(signopt::test::read_file(path), "new");
  EXPECT_FALSE(fs::exists(dir / "summary.json.tmp"));
}

TEST(CheckedFiles, TheDirectoryLockExcludesASecondHolderUntilReleased) {
  const auto dir = fresh("lock");
  {
    DirectoryLock first(dir);
    try {
      DirectoryLock second(dir);
      FAIL() << "two locks on one directory";
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find("in use by another signopt process"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(dir.string()), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(DirectoryLock again(dir));
}

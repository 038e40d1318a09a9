// Per-process scratch folders for tests that write files, and a whole-file reader.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace signopt::test {

/// <tmp>/<prefix>_<pid>: one folder per test process, so ctest -j can run test programs side by side.
inline std::filesystem::path test_root(const std::string& prefix) {
  return std::filesystem::temp_directory_path() / (prefix + "_" + std::to_string(::getpid()));
}

/// test_root(prefix)/<name>, removed if present; its parent exists, and with `create` the folder itself.
inline std::filesystem::path fresh_dir(const std::string& prefix, const std::string& name, bool create = false) {
  namespace fs = std::filesystem;
  const fs::path dir = test_root(prefix) / name;
  fs::remove_all(dir);
  fs::create_directories(create ? dir : dir.parent_path());
  return dir;
}

/// Registers a GoogleTest environment that removes test_root(prefix) at the end of the program when every
/// test passed (the folders are kept to look at otherwise). Use as a namespace-scope initializer.
inline ::testing::Environment* remove_when_passed(const std::string& prefix) {
  struct CleanUp : ::testing::Environment {
    explicit CleanUp(std::string p) : prefix(std::move(p)) {}
    void TearDown() override {
      if (::testing::UnitTest::GetInstance()->Passed())
        std::filesystem::remove_all(test_root(prefix));
    }
    std::string prefix;
  };
  return ::testing::AddGlobalTestEnvironment(new CleanUp(prefix));
}

/// The whole file as a string ("" if it cannot be read).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

} // namespace signopt::test

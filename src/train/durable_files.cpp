// Internal: whole-file reads and crash-safe writes (see durable_files.h).
#include "durable_files.h"

#include <signopt/io/files.h>
#include <signopt/train/config.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace signopt::train::detail {
namespace fs = std::filesystem;

void write_file_atomic(const fs::path& path, const std::string& text) {
  io::write_file_atomic(path, text);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw ConfigError("cannot read " + path.string());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string read_file_if_present(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return {};
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

} // namespace signopt::train::detail

// Internal: whole-file reads and crash-safe writes shared by the trainer, the noise probe and the sweep.
#pragma once

#include <filesystem>
#include <string>

namespace signopt::train::detail {

/// Writes `text` to `path` atomically: io::write_file_atomic (every write checked; io::IoError naming the
/// file when one fails, with nothing half-written left).
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

/// The whole file; ConfigError("cannot read PATH") when it cannot be opened.
std::string read_file(const std::filesystem::path& path);

/// The whole file, or "" when it does not exist or cannot be opened (for files that may not be there yet,
/// such as a run's log).
std::string read_file_if_present(const std::filesystem::path& path);

} // namespace signopt::train::detail

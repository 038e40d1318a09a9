// libFuzzer target: the run-directory readers of `signopt report` (summary.json, config.json, metrics.csv).
// The input is split at 0xff bytes into the three files. Damaged files must end in a std::runtime_error
// naming the file (report skips or reports such runs), never a crash or a hang.
#include <signopt/report/runs.h>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  static const fs::path dir = fs::temp_directory_path() / ("signopt_fuzz_run_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const char* names[] = {"summary.json", "config.json", "metrics.csv"};
  size_t start = 0;
  for (int f = 0; f < 3; ++f) {
    size_t end = start;
    while (end < size && data[end] != 0xff)
      ++end;
    std::ofstream(dir / names[f], std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(data + start), static_cast<std::streamsize>(end - start));
    start = end < size ? end + 1 : size;
  }
  try {
    signopt::report::read_run(dir.string());
  } catch (const std::runtime_error&) {
  }
  try {
    signopt::report::read_metrics(dir.string());
  } catch (const std::runtime_error&) {
  }
  return 0;
}

// libFuzzer target: sweep files (TOML) through parse_sweep, expand_sweep and validate_runs. Bad input must
// end in ConfigError, never a crash, a hang, an unbounded grid or another exception.
#include <signopt/experiments/sweep.h>
#include <signopt/train/config.h>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  using namespace signopt;
  try {
    const auto spec = experiments::parse_sweep(text, "fuzz.toml");
    auto runs = experiments::expand_sweep(spec);
    experiments::validate_runs(spec, runs);
  } catch (const train::ConfigError&) {
  }
  return 0;
}

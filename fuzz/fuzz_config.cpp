// libFuzzer target: the trainer's config files (JSON and TOML) and config.json, through the option table,
// then resolve_defaults(). Bad input must end in ConfigError, never a crash, a hang or another exception.
#include <signopt/train/config.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

namespace {

// A per-process scratch file (the TOML parser reads files by path).
std::string scratch(const char* ext) {
  return "/tmp/signopt_fuzz_config_" + std::to_string(::getpid()) + ext;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  const int mode = data[0] % 3; // 0: config.json text, 1: a .json config file, 2: a .toml config file
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  using namespace signopt::train;
  try {
    TrainConfig c;
    if (mode == 0) {
      c = from_json_text(text, "fuzz.json");
    } else {
      const std::string path = scratch(mode == 1 ? ".json" : ".toml");
      std::ofstream(path, std::ios::binary) << text;
      load_config_file(c, path);
      std::remove(path.c_str());
    }
    resolve_defaults(c);
    // A config that is accepted writes a config.json that reads back to the same text.
    const std::string json = to_json_text(c);
    if (to_json_text(from_json_text(json, "round trip")) != json)
      __builtin_trap();
  } catch (const ConfigError&) {
  }
  return 0;
}

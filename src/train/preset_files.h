// Internal: the text of every preset file (configs/presets/<name>.toml), compiled into the program by
// cmake/presets.cmake. config.cpp parses them (apply_preset, presets(), resolve_defaults).
#pragma once

#include <vector>

namespace signopt::train {

struct PresetFile {
  const char* name;
  const char* text; ///< the file's TOML
};

/// Every shipped preset, in --help order.
const std::vector<PresetFile>& preset_files();

} // namespace signopt::train

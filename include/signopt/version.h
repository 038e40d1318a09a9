// signopt's version, for logs, run configs and checkpoints.
#pragma once

#define SIGNOPT_VERSION_MAJOR 0
#define SIGNOPT_VERSION_MINOR 1
#define SIGNOPT_VERSION_PATCH 0
#define SIGNOPT_VERSION_STRING "0.1.0"

namespace signopt {
/// The library version as "major.minor.patch".
inline const char* version() {
  return SIGNOPT_VERSION_STRING;
}
} // namespace signopt

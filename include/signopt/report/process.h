// Child processes for `signopt sweep` (training runs) and `signopt report` (gnuplot): start one
// with its output captured to a file, poll or wait for it, find a program on PATH.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace signopt::report {

/// What to start and how.
struct ProcessSpec {
  std::string program; ///< Path of the executable (not searched on PATH: see find_program()).
  std::vector<std::string> args; ///< Arguments after argv[0].
  std::string cwd; ///< Working directory; "" = the caller's.
  std::string log_file; ///< stdout and stderr go here ("" = inherited).
  bool append_log = false; ///< Append to log_file instead of truncating it.
  /// Start the child in its own process group, so that a Ctrl-C at the terminal reaches only the
  /// parent, which then decides what the child gets (a sweep forwards exactly one SIGINT).
  bool own_process_group = false;
  /// Send the child SIGTERM if the parent dies (Linux PR_SET_PDEATHSIG), so no run outlives a
  /// killed sweep.
  bool terminate_with_parent = false;
};

/// Starts the process; stdin is /dev/null. Throws std::runtime_error naming the program when it
/// cannot be started (exec failures are reported by the child as exit status 127 and a line in the log).
pid_t start_process(const ProcessSpec& spec);

/// How a process ended: its exit code, or 128 + the signal that killed it (as shells report it).
struct ProcessExit {
  int code = 0;
  bool signaled = false;
  int signal = 0;
};

/// Non-blocking check: the exit of `pid` if it has ended (and reaps it), std::nullopt otherwise.
std::optional<ProcessExit> poll_process(pid_t pid);

/// Blocks until `pid` ends (retrying on EINTR).
ProcessExit wait_process(pid_t pid);

/// The path of `name` on PATH ("" if absent); a name containing '/' is checked as it is.
std::string find_program(const std::string& name);

} // namespace signopt::report

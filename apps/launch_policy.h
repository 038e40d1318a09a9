// How the built-in launcher (launch_command.cpp) judges a failed distributed job: which worker statuses mean
// a worker failed only because another one did, and which rank the job's error blames.
#pragma once

#include <sys/wait.h>

#include <csignal>
#include <cstdint>
#include <vector>

namespace signopt::apps {

/// The trainer's exit status for comm::PeerFailure: the worker failed waiting for a rank that failed.
constexpr int kPeerFailureStatus = 4;

/// The exit status of a worker that was interrupted (Ctrl-C) and saved its checkpoint: not a failure.
constexpr int kInterruptedStatus = 130;

/// The shell's exit code for a wait status: the exit status, or 128 + the signal that killed the worker.
inline int exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// Whether a wait status is a failure of the job (neither success nor an interruption).
inline bool is_failure(int status) {
  const int code = exit_code(status);
  return code != 0 && code != kInterruptedStatus;
}

/// Whether a worker's wait status says it failed only because a peer did: it exited with the PeerFailure
/// status, or was killed by SIGPIPE (it wrote to the socket of a peer that had died; the Communicator ignores
/// SIGPIPE once joined, but a worker can die of it before, e.g. in the rendezvous).
inline bool failed_waiting(int status) {
  return (WIFEXITED(status) && WEXITSTATUS(status) == kPeerFailureStatus) ||
      (WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE);
}

/// The rank a failed job blames, from every rank's wait status and the ranks that failed in the order the
/// launcher reaped them (not the ranks it killed itself): the first whose failure is its own, or the first
/// reaped when each of them failed waiting. The order of reaping is not the order of failing: the launcher
/// polls, and by its next poll a peer that noticed a death may have exited and be reaped before the rank
/// that died. Returns -1 when no rank failed.
inline int64_t blamed_rank(const std::vector<int>& statuses, const std::vector<int64_t>& failures) {
  for (const int64_t r : failures)
    if (!failed_waiting(statuses[static_cast<size_t>(r)]))
      return r;
  return failures.empty() ? -1 : failures.front();
}

} // namespace signopt::apps

// Internal: SIGNOPT_FAULT, the test hook that makes a rank fail at a chosen step (crash and fault-tolerance tests).
#pragma once

#include <signopt/models/models.h>

#include <cstdint>
#include <string>
#include <vector>

namespace signopt::train::detail {

// Test hook (docs/distributed.md, docs/cli.md): SIGNOPT_FAULT="RANK:STEP:KIND" injects a failure into rank
// RANK at 0-based step STEP: die (exit status 3), hang (stop responding), diverge (nudge the first parameter),
// kill (SIGKILL itself, as `kill -9` would), and, at the first checkpoint or evaluation at or after STEP,
// kill-in-checkpoint (SIGKILL with half the new checkpoint written), kill-before-commit (SIGKILL with the new
// checkpoint durable but not yet renamed into place) and kill-in-eval (SIGKILL in the middle of an evaluation).
struct Fault {
  int64_t rank = -1, step = -1;
  std::string kind;
};

/// The KINDs SIGNOPT_FAULT accepts.
const std::vector<std::string>& fault_kinds();

/// The fault SIGNOPT_FAULT asks for (none, rank -1, when it is unset or empty); ConfigError when it is malformed.
Fault fault_from_environment();

// True when fault `f` of `kind` is due for this rank at `step` (at or after its step).
bool fault_due(const Fault& f, const char* kind, int64_t rank, int64_t step);

/// Injects the step kinds of `f` (die, hang, diverge, kill) when they are due for `rank` exactly at `step`.
void inject_fault(const Fault& f, int64_t rank, int64_t step, models::ClassifierImpl& model);

// Ends this process as `kill -9` would (the crash-consistency tests' SIGNOPT_FAULT kinds).
[[noreturn]] void kill_self(const char* what);

} // namespace signopt::train::detail

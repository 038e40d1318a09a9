// SIGNOPT_FAULT (faults.h): reading the test hook from the environment and injecting its failures.
#include "faults.h"

#include <signopt/train/config.h>

#include <torch/utils.h>

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace signopt::train::detail {

[[noreturn]] void kill_self(const char* what) {
  std::fprintf(stderr, "SIGNOPT_FAULT: SIGKILL %s\n", what);
  std::fflush(stderr);
  ::kill(::getpid(), SIGKILL);
  for (;;)
    ::pause();
}

const std::vector<std::string>& fault_kinds() {
  static const std::vector<std::string> kinds = {
      "die", "hang", "diverge", "kill", "kill-in-checkpoint", "kill-before-commit", "kill-in-eval"};
  return kinds;
}

Fault fault_from_environment() {
  Fault f;
  const char* v = std::getenv("SIGNOPT_FAULT");
  if (v == nullptr || *v == '\0')
    return f;
  long long rank = -1, step = -1;
  char kind[32] = "";
  const auto& kinds = fault_kinds();
  if (std::sscanf(v, "%lld:%lld:%31s", &rank, &step, kind) != 3 ||
      std::find(kinds.begin(), kinds.end(), std::string(kind)) == kinds.end()) {
    std::string list;
    for (const auto& k : kinds)
      list += (list.empty() ? "" : "|") + k;
    throw ConfigError(std::string("SIGNOPT_FAULT='") + v + "' is not RANK:STEP:KIND with KIND one of " + list);
  }
  f.rank = rank;
  f.step = step;
  f.kind = kind;
  return f;
}

bool fault_due(const Fault& f, const char* kind, int64_t rank, int64_t step) {
  return f.kind == kind && f.rank == rank && step >= f.step;
}

void inject_fault(const Fault& f, int64_t rank, int64_t step, models::ClassifierImpl& model) {
  if (f.rank != rank || f.step != step || f.kind.rfind("kill-", 0) == 0)
    return;
  std::fprintf(
      stderr,
      "rank %lld: SIGNOPT_FAULT: %s at step %lld\n",
      static_cast<long long>(rank),
      f.kind.c_str(),
      static_cast<long long>(step));
  std::fflush(stderr);
  if (f.kind == "diverge") {
    torch::NoGradGuard no_grad;
    model.parameters().front().add_(1e-3);
    return;
  }
  if (f.kind == "die")
    std::_Exit(3);
  if (f.kind == "kill")
    kill_self("before the step");
  for (;;)
    ::pause();
}

} // namespace signopt::train::detail

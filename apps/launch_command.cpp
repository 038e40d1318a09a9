// `signopt train --nproc N`: the built-in launcher that starts N local workers of a distributed job the way
// torchrun does (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), forwards Ctrl-C,
// and ends the whole job when a worker fails.
#include "commands.h"
#include "launch_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using signopt::apps::blamed_rank;
using signopt::apps::exit_code;
using signopt::apps::failed_waiting;
using signopt::apps::is_failure;
using Clock = std::chrono::steady_clock;

std::atomic<int> g_launcher_signals{0};

extern "C" void on_launcher_signal(int) {
  g_launcher_signals.fetch_add(1);
}

// A loopback port that was free a moment ago (the kernel's pick for port 0), for rank 0's TCPStore.
int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw std::runtime_error("cannot open a socket to choose MASTER_PORT; set MASTER_PORT yourself");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok)
    throw std::runtime_error("cannot bind a loopback socket to choose MASTER_PORT; set MASTER_PORT yourself");
  return ntohs(addr.sin_port);
}

std::string describe(int status) {
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

// Kills the first `started` workers and reaps them.
void stop_started_workers(const std::vector<pid_t>& pids, int64_t started) {
  for (int64_t k = 0; k < started; ++k)
    ::kill(pids[static_cast<size_t>(k)], SIGKILL);
  for (int64_t k = 0; k < started; ++k)
    ::waitpid(pids[static_cast<size_t>(k)], nullptr, 0);
}

// In the forked child: becomes worker r of nproc (torchrun's environment) by exec'ing `exe train ...`.
[[noreturn]] void exec_worker(
    const std::vector<std::string>& train_args,
    const std::string& exe,
    const std::string& port,
    int64_t r,
    int64_t nproc) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL); // no worker outlives a launcher that was killed
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  ::setenv("RANK", std::to_string(r).c_str(), 1);
  ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
  ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
  ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  ::setenv("MASTER_PORT", port.c_str(), 1);
  ::unsetenv("TORCHELASTIC_USE_AGENT_STORE");
  ::unsetenv("TORCHELASTIC_RESTART_COUNT");
  std::vector<std::string> argv_strings = {exe, "train"};
  argv_strings.insert(argv_strings.end(), train_args.begin(), train_args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(exe.c_str(), argv.data());
  std::fprintf(stderr, "signopt: cannot start worker %lld (%s): %s\n", static_cast<long long>(r), exe.c_str(), strerror(errno));
  std::_Exit(127);
}

// Forks the nproc workers into pids/running; the launcher's exit code if starting failed, nothing if all started.
std::optional<int> start_workers(
    const std::vector<std::string>& train_args,
    const std::string& exe,
    const std::string& port,
    int64_t nproc,
    std::vector<pid_t>& pids,
    std::vector<bool>& running) {
  for (int64_t r = 0; r < nproc; ++r) {
    // Ctrl-C or SIGTERM while starting: stop the workers already started instead of starting the rest.
    if (g_launcher_signals.load() > 0) {
      stop_started_workers(pids, r);
      std::fprintf(stderr, "signopt: interrupted while starting the workers; none is left running\n");
      return 130;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("signopt: fork");
      stop_started_workers(pids, r);
      return 1;
    }
    if (pid == 0)
      exec_worker(train_args, exe, port, r, nproc);
    pids[static_cast<size_t>(r)] = pid;
    running[static_cast<size_t>(r)] = true;
  }
  return std::nullopt;
}

// What waiting for the workers saw: the ranks that failed, in the order they were reaped (not those killed
// here), and the ranks killed as hung.
struct WaitOutcome {
  std::vector<int64_t> failures;
  std::vector<int64_t> killed;
};

// Wait for every worker, forwarding one SIGINT per signal received. After the first failure the others get
// --dist-timeout (plus a margin) to notice it in their next collective and exit with their own error;
// whoever is still there then has hung.
WaitOutcome wait_for_workers(
    const std::vector<pid_t>& pids,
    std::vector<bool>& running,
    std::vector<int>& statuses,
    int64_t nproc,
    double dist_timeout) {
  int forwarded = 0;
  std::vector<int64_t> failures;
  Clock::time_point deadline = Clock::time_point::max();
  int64_t left = nproc;
  std::vector<int64_t> killed;
  while (left > 0) {
    const int signals = g_launcher_signals.load();
    for (; forwarded < signals; ++forwarded)
      for (int64_t r = 0; r < nproc; ++r)
        if (running[static_cast<size_t>(r)])
          ::kill(pids[static_cast<size_t>(r)], SIGINT);
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (int64_t r = 0; r < nproc; ++r) {
        if (pids[static_cast<size_t>(r)] != pid || !running[static_cast<size_t>(r)])
          continue;
        running[static_cast<size_t>(r)] = false;
        statuses[static_cast<size_t>(r)] = status;
        --left;
        const bool was_killed = std::find(killed.begin(), killed.end(), r) != killed.end();
        if (!is_failure(status) || was_killed)
          continue;
        failures.push_back(r);
        if (failures.size() == 1) {
          std::fprintf(
              stderr,
              "signopt: rank %lld %s; waiting up to %.0f s for the other workers to stop\n",
              static_cast<long long>(r),
              describe(status).c_str(),
              dist_timeout + 10);
          deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>((dist_timeout + 10) * 1000));
        }
      }
      continue;
    }
    if (Clock::now() > deadline) {
      for (int64_t r = 0; r < nproc; ++r) {
        if (!running[static_cast<size_t>(r)])
          continue;
        ::kill(pids[static_cast<size_t>(r)], SIGKILL);
        killed.push_back(r);
      }
      deadline = Clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WaitOutcome{failures, killed};
}

// Reports a failed job (rank `cause` is blamed: blamed_rank) and returns the launcher's exit code for it.
int failed_job_exit_code(
    const std::vector<int>& statuses,
    int64_t cause,
    const std::vector<int64_t>& killed,
    int64_t nproc) {
  // The others were killed because they waited for the rank that failed (a busy MASTER_PORT on rank 0, a bad
  // option): that rank is the cause, not the ones that were waiting.
  if (!killed.empty() && !failed_waiting(statuses[static_cast<size_t>(cause)])) {
    std::string ranks;
    for (int64_t r : killed)
      ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
    std::fprintf(
        stderr,
        "error: the distributed job failed: rank %lld %s first (its error is above); rank %s, still waiting for it, "
        "was stopped\n",
        static_cast<long long>(cause),
        describe(statuses[static_cast<size_t>(cause)]).c_str(),
        ranks.c_str());
    const int code = exit_code(statuses[static_cast<size_t>(cause)]);
    return code == 2 ? 2 : 1;
  }
  if (!killed.empty()) {
    std::string ranks;
    for (int64_t r : killed)
      ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
    std::fprintf(
        stderr,
        "error: the distributed job failed: rank %s stopped responding (killed); the other ranks failed waiting for it\n",
        ranks.c_str());
    return 1;
  }
  std::fprintf(
      stderr,
      "error: the distributed job failed: rank %lld %s first (its error is above)\n",
      static_cast<long long>(cause),
      describe(statuses[static_cast<size_t>(cause)]).c_str());
  // A configuration error that every rank found is still a configuration error (2).
  const int code = exit_code(statuses[0]);
  for (int64_t r = 1; r < nproc; ++r)
    if (exit_code(statuses[static_cast<size_t>(r)]) != code)
      return 1;
  return code == 2 ? 2 : 1;
}

} // namespace

// The most local workers per core: each worker is a whole trainer process (LibTorch, its data, a few hundred
// MB), so more of them only exhaust memory (--nproc 1000000 once forked until the machine ran out).
constexpr int64_t kLocalWorkersPerCore = 4;

int launch_workers(const std::vector<std::string>& train_args, int64_t nproc, double dist_timeout) {
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  if (nproc > kLocalWorkersPerCore * cores) {
    std::fprintf(
        stderr,
        "error: --nproc %lld: at most %lld local workers per core may be started on this machine (%lld cores, so "
        "%lld); each worker is a whole trainer process. Use fewer workers, or start them on several machines with "
        "torchrun --no-python\n",
        static_cast<long long>(nproc),
        static_cast<long long>(kLocalWorkersPerCore),
        static_cast<long long>(cores),
        static_cast<long long>(kLocalWorkersPerCore * cores));
    return 2;
  }
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  const char* port_env = std::getenv("MASTER_PORT");
  const std::string port = port_env != nullptr && *port_env != '\0' ? port_env : std::to_string(free_loopback_port());
  std::printf(
      "signopt: launching %lld workers on this machine (rendezvous 127.0.0.1:%s, --dist-timeout %gs)\n",
      static_cast<long long>(nproc),
      port.c_str(),
      dist_timeout);
  std::fflush(stdout);

  // The workers run in their own process group: a Ctrl-C at the terminal reaches only this launcher, which
  // forwards exactly one SIGINT per signal (two would make a worker quit without its checkpoint).
  std::signal(SIGINT, on_launcher_signal);
  std::signal(SIGTERM, on_launcher_signal);
  std::vector<pid_t> pids(static_cast<size_t>(nproc), -1);
  std::vector<int> statuses(static_cast<size_t>(nproc), 0);
  std::vector<bool> running(static_cast<size_t>(nproc), false);
  if (const std::optional<int> code = start_workers(train_args, exe, port, nproc, pids, running))
    return *code;

  const WaitOutcome waited = wait_for_workers(pids, running, statuses, nproc, dist_timeout);
  const int64_t cause = blamed_rank(statuses, waited.failures);
  for (int64_t r : waited.killed)
    std::fprintf(
        stderr,
        "signopt: rank %lld did not exit within %.0f s after rank %lld failed (it hung?) and was killed\n",
        static_cast<long long>(r),
        dist_timeout + 10,
        static_cast<long long>(waited.failures.front()));
  if (cause >= 0)
    return failed_job_exit_code(statuses, cause, waited.killed, nproc);
  for (int64_t r = 0; r < nproc; ++r)
    if (exit_code(statuses[static_cast<size_t>(r)]) == signopt::apps::kInterruptedStatus)
      return signopt::apps::kInterruptedStatus;
  return 0;
}

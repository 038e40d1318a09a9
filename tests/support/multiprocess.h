// Multi-process tests on loopback: start this test binary (or another program) once per rank with the
// launcher variables, enforce a deadline, collect exit statuses and logs (tests/test_comm_*.cpp).
#pragma once

#include <gtest/gtest.h>

#include "support/temp_dirs.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace signopt::test {

/// The variables a launcher sets; every test starts without them and leaves none behind.
inline const std::vector<std::string> kLauncherVariables = {
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_USE_AGENT_STORE",
    "TORCHELASTIC_RESTART_COUNT"};

/// A port that was free a moment ago (the kernel's choice for port 0); each multi-process test takes its own.
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// Why torchrun (the path configure found, or empty) cannot launch a job here, or empty when it can. torchrun
/// needs Python's `import torch`, which needs the wheel's dependencies (scripts/setup.sh); without them the
/// launcher itself cannot start.
inline std::string torchrun_unavailable(const std::string& torchrun) {
  if (torchrun.empty())
    return "no torchrun found at configure time (the .venv's torch wheel provides it)";
  if (std::system((torchrun + " --help >/dev/null 2>&1").c_str()) != 0)
    return torchrun + " --help fails (Python cannot import torch): torchrun is unavailable";
  return "";
}

/// The command that starts `program` (a binary and its arguments) on `nproc` local workers under torchrun, with
/// the rendezvous at 127.0.0.1:port.
inline std::vector<std::string> torchrun_command(
    const std::string& torchrun,
    int nproc,
    int port,
    const std::vector<std::string>& program) {
  std::vector<std::string> argv = {
      torchrun,
      "--no-python",
      "--nnodes",
      "1",
      "--nproc-per-node",
      std::to_string(nproc),
      "--master-addr",
      "127.0.0.1",
      "--master-port",
      std::to_string(port)};
  argv.insert(argv.end(), program.begin(), program.end());
  return argv;
}

/// An integer environment variable a worker needs; std::runtime_error when it is not set.
inline int64_t env_int(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr)
    throw std::runtime_error(std::string("worker: ") + name + " is not set");
  return std::stoll(v);
}

/// How one started process ended.
struct RankOutcome {
  int64_t rank = 0;
  bool exited = false; // false: killed at the deadline
  int status = -1; // exit status when exited
  bool done = false; // the worker wrote its marker
  std::string log;
};

inline std::string outcome_text(const std::vector<RankOutcome>& outcomes) {
  std::string s;
  for (const auto& o : outcomes)
    s += "--- rank " + std::to_string(o.rank) +
        (o.exited ? " exit " + std::to_string(o.status) : " KILLED at deadline") +
        (o.done ? " (done)" : " (no marker)") + "\n" + o.log + "\n";
  return s;
}

// Starts `argv` once per entry of `rank_envs` (extra variables on top of this process's environment without
// the launcher variables), with output in <dir>/log<i>; kills whatever runs past `deadline`.
inline std::vector<RankOutcome> run_processes(
    const std::filesystem::path& dir,
    const std::vector<std::string>& argv,
    const std::vector<std::map<std::string, std::string>>& process_envs,
    std::chrono::seconds deadline) {
  std::vector<pid_t> pids;
  std::vector<RankOutcome> outcomes(process_envs.size());
  for (size_t i = 0; i < process_envs.size(); ++i) {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string kv = *e;
      const std::string name = kv.substr(0, kv.find('='));
      if (std::find(kLauncherVariables.begin(), kLauncherVariables.end(), name) == kLauncherVariables.end() &&
          process_envs[i].count(name) == 0)
        env_strings.push_back(kv);
    }
    for (const auto& [name, value] : process_envs[i])
      env_strings.push_back(name + "=" + value);
    std::vector<char*> envp;
    for (auto& s : env_strings)
      envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = argv;
    std::vector<char*> argp;
    for (auto& s : args)
      argp.push_back(s.data());
    argp.push_back(nullptr);

    const std::string log = (dir / ("log" + std::to_string(i))).string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(rc, 0) << "could not start " << argv[0];
    pids.push_back(rc == 0 ? pid : -1);
    outcomes[i].rank = static_cast<int64_t>(i);
  }
  const auto end = std::chrono::steady_clock::now() + deadline;
  // A process that could not be started is not waited for.
  size_t running = static_cast<size_t>(std::count_if(pids.begin(), pids.end(), [](pid_t p) { return p > 0; }));
  while (running > 0) {
    for (size_t i = 0; i < pids.size(); ++i) {
      if (pids[i] <= 0)
        continue;
      int status = 0;
      if (::waitpid(pids[i], &status, WNOHANG) == pids[i]) {
        outcomes[i].exited = true;
        outcomes[i].status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pids[i] = -1;
        --running;
      }
    }
    if (running > 0 && std::chrono::steady_clock::now() > end) {
      for (auto& pid : pids) {
        if (pid > 0) {
          ::kill(pid, SIGKILL);
          ::waitpid(pid, nullptr, 0);
          pid = -1;
        }
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (size_t i = 0; i < outcomes.size(); ++i)
    outcomes[i].log = read_file(dir / ("log" + std::to_string(i)));
  return outcomes;
}

inline void expect_all_passed(const std::vector<RankOutcome>& outcomes) {
  for (const auto& o : outcomes) {
    EXPECT_TRUE(o.exited && o.status == 0 && o.done) << "rank " << o.rank << " did not pass\n"
                                                     << outcome_text(outcomes);
  }
}

} // namespace signopt::test

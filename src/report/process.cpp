// fork/exec with captured output, for sweeps (one child per run) and reports (gnuplot).
#include <signopt/report/process.h>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace signopt::report {
namespace {

ProcessExit decode(int status) {
  ProcessExit e;
  if (WIFEXITED(status)) {
    e.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    e.signaled = true;
    e.signal = WTERMSIG(status);
    e.code = 128 + e.signal;
  }
  return e;
}

// Writes a message from the forked child without allocating (only async-signal-safe calls there).
void child_write(int fd, const char* a, const char* b) {
  if (::write(fd, a, std::strlen(a)) < 0 || ::write(fd, b, std::strlen(b)) < 0 || ::write(fd, "\n", 1) < 0)
    return;
}

} // namespace

pid_t start_process(const ProcessSpec& spec) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> argv_storage;
  argv_storage.push_back(spec.program);
  argv_storage.insert(argv_storage.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int log_fd = -1;
  if (!spec.log_file.empty()) {
    log_fd =
        ::open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (spec.append_log ? O_APPEND : O_TRUNC), 0644);
    if (log_fd < 0)
      throw std::runtime_error("cannot open log file " + spec.log_file + ": " + std::strerror(errno));
  }
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    if (log_fd >= 0)
      ::close(log_fd);
    if (null_fd >= 0)
      ::close(null_fd);
    throw std::runtime_error("cannot start " + spec.program + ": fork failed: " + std::strerror(err));
  }
  if (pid == 0) {
    if (spec.own_process_group)
      ::setpgid(0, 0);
    if (spec.terminate_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) // the parent died before prctl took effect
        ::_exit(143);
    }
    // The parent may ignore or block signals; a training run must see SIGINT and SIGTERM.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (null_fd >= 0)
      ::dup2(null_fd, STDIN_FILENO);
    if (log_fd >= 0) {
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
    }
    if (!spec.cwd.empty() && ::chdir(spec.cwd.c_str()) != 0) {
      child_write(STDERR_FILENO, "error: cannot change to directory ", spec.cwd.c_str());
      ::_exit(127);
    }
    ::execv(spec.program.c_str(), argv.data());
    child_write(STDERR_FILENO, "error: cannot execute ", spec.program.c_str());
    ::_exit(127);
  }
  if (log_fd >= 0)
    ::close(log_fd);
  if (null_fd >= 0)
    ::close(null_fd);
  if (spec.own_process_group)
    ::setpgid(pid, pid); // also from the parent, so the group exists before any signal is sent to it
  return pid;
}

std::optional<ProcessExit> poll_process(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0)
    return std::nullopt;
  if (r < 0)
    throw std::runtime_error("waitpid(" + std::to_string(pid) + ") failed: " + std::strerror(errno));
  return decode(status);
}

ProcessExit wait_process(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0)
    throw std::runtime_error("waitpid(" + std::to_string(pid) + ") failed: " + std::strerror(errno));
  return decode(status);
}

std::string find_program(const std::string& name) {
  if (name.empty())
    return "";
  if (name.find('/') != std::string::npos)
    return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return "";
}

} // namespace signopt::report

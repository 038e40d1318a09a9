// Multi-process tests of the communication layer: a test binary re-executes itself as the ranks of a Gloo
// job on loopback, each rank runs one named scenario with a Communicator, and the parent collects the
// outcomes (tests/test_comm_*.cpp).
#pragma once

#include <signopt/comm/process_group.h>

#include "support/multiprocess.h"
#include "support/temp_dirs.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace signopt::test {

/// What one rank of a job runs; `done_dir` is the job's folder (a scenario may leave files there).
using JobScenario = std::function<void(signopt::comm::Communicator& comm, const std::filesystem::path& done_dir)>;

/// The worker side. In a process started by run_comm_job (SIGNOPT_JOB_SCENARIO set) this registers the test
/// JobWorker.Run, which joins the job with the launcher variables, runs the scenario named by
/// SIGNOPT_JOB_SCENARIO and, when nothing failed, writes <done_dir>/rank<r>: a filter that matched no test
/// would exit 0 too, so the parent counts a rank as passed only with that file. Returns whether it
/// registered; call it once per test binary at namespace scope. `before_join` maps a scenario to what its
/// process does before it joins the job (e.g. install a signal handler the Communicator must keep).
inline bool register_job_worker(
    std::map<std::string, JobScenario> scenarios,
    std::map<std::string, std::function<void()>> before_join = {}) {
  if (std::getenv("SIGNOPT_JOB_SCENARIO") == nullptr)
    return false;
  struct Worker : ::testing::Test {
    Worker(std::map<std::string, JobScenario> s, std::map<std::string, std::function<void()>> b)
        : scenarios(std::move(s)), before_join(std::move(b)) {}
    void TestBody() override {
      const std::string scenario = std::getenv("SIGNOPT_JOB_SCENARIO");
      const std::filesystem::path done_dir = std::getenv("SIGNOPT_JOB_DONE_DIR");
      const auto env = signopt::comm::DistEnv::from_environment();
      if (const auto before = before_join.find(scenario); before != before_join.end())
        before->second();
      {
        signopt::comm::Communicator comm(env, std::chrono::milliseconds(env_int("SIGNOPT_JOB_TIMEOUT_MS")));
        ASSERT_EQ(comm.rank(), env.rank);
        ASSERT_EQ(comm.world_size(), env.world_size);
        const auto it = scenarios.find(scenario);
        if (it == scenarios.end())
          FAIL() << "unknown worker scenario '" << scenario << "'";
        else
          it->second(comm, done_dir);
      }
      if (!HasFailure())
        std::ofstream(done_dir / ("rank" + std::to_string(env.rank))) << "passed\n";
    }
    std::map<std::string, JobScenario> scenarios;
    std::map<std::string, std::function<void()>> before_join;
  };
  ::testing::RegisterTest(
      "JobWorker", "Run", nullptr, nullptr, __FILE__, __LINE__, [scenarios, before_join]() -> ::testing::Test* {
        return new Worker(scenarios, before_join);
      });
  return true;
}

/// The variables a rank of a job started by run_comm_job (or by torchrun for one) needs besides the
/// launcher's: the scenario, the job's folder and the collective timeout.
inline std::map<std::string, std::string> job_variables(
    const std::string& scenario,
    const std::filesystem::path& dir,
    int64_t timeout_ms) {
  return {
      {"SIGNOPT_JOB_SCENARIO", scenario},
      {"SIGNOPT_JOB_DONE_DIR", dir.string()},
      {"SIGNOPT_JOB_TIMEOUT_MS", std::to_string(timeout_ms)},
      {"OMP_NUM_THREADS", "1"}};
}

/// The parent side: runs `scenario` as ranks 0..world-1 of one job on loopback (this binary, once per rank,
/// with the launcher variables and output in <dir>/log<rank>), in the fresh folder
/// test_root(prefix)/<suite>.<test>.W<world>. Each collective times out after `timeout_ms`; whatever runs
/// past `deadline` is killed. RankOutcome::done says whether the rank passed.
inline std::vector<RankOutcome> run_comm_job(
    const std::string& prefix,
    const std::string& scenario,
    int64_t world,
    int64_t timeout_ms,
    std::chrono::seconds deadline) {
  namespace fs = std::filesystem;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fresh_dir(
      prefix, std::string(info->test_suite_name()) + "." + info->name() + ".W" + std::to_string(world), true);
  const int port = free_port();
  std::vector<std::map<std::string, std::string>> envs;
  for (int64_t r = 0; r < world; ++r) {
    auto env = job_variables(scenario, dir, timeout_ms);
    env.insert(
        {{"RANK", std::to_string(r)},
         {"WORLD_SIZE", std::to_string(world)},
         {"LOCAL_RANK", std::to_string(r)},
         {"MASTER_ADDR", "127.0.0.1"},
         {"MASTER_PORT", std::to_string(port)}});
    envs.push_back(env);
  }
  auto outcomes =
      run_processes(dir, {fs::read_symlink("/proc/self/exe").string(), "--gtest_filter=JobWorker.Run"}, envs, deadline);
  for (auto& o : outcomes)
    o.done = fs::exists(dir / ("rank" + std::to_string(o.rank)));
  return outcomes;
}

} // namespace signopt::test

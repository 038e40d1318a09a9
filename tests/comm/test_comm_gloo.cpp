// Tests of signopt::comm: DistEnv parsing, and Gloo collectives across real processes on loopback (this
// binary re-executes itself as the ranks of a job), including ranks that die or hang, and torchrun.
#include <signopt/comm/data_parallel.h>
#include <signopt/comm/process_group.h>

#include <gtest/gtest.h>

#include "support/comm_job.h"
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
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>


namespace {

using signopt::comm::Communicator;
using signopt::comm::DistEnv;
using Clock = std::chrono::steady_clock;
using signopt::test::env_int;
using signopt::test::expect_all_passed;
using signopt::test::free_port;
using signopt::test::kLauncherVariables;
using signopt::test::outcome_text;
using signopt::test::RankOutcome;
using signopt::test::run_processes;
namespace fs = std::filesystem;

const auto kCleanUp = signopt::test::remove_when_passed("signopt_test_comm");

int64_t elapsed_ms(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// Sets launcher variables for one test and restores the previous environment when it ends.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::map<std::string, std::string>& values) {
    for (const auto& name : kLauncherVariables) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
      ::unsetenv(name.c_str());
    }
    for (const auto& [name, value] : values)
      ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value)
        ::setenv(name.c_str(), value->c_str(), 1);
      else
        ::unsetenv(name.c_str());
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

// ---------------------------------------------------------------------------------------------------------
// The worker side: the scenarios a rank runs (tests/support/comm_job.h).

void expect_equal(const torch::Tensor& actual, const torch::Tensor& expected, const std::string& what) {
  EXPECT_EQ(actual.scalar_type(), expected.scalar_type()) << what;
  EXPECT_EQ(actual.sizes(), expected.sizes()) << what;
  EXPECT_TRUE(torch::equal(actual, expected)) << what << "\nactual:\n" << actual << "\nexpected:\n" << expected;
}

// The bytes a rank's communicator sent and received since the last check, against the expected counts.
struct ByteCheck {
  Communicator& comm;
  std::string at; // "rank r of w: "
  int64_t sent = comm.bytes_sent();
  int64_t received = comm.bytes_received();

  void expect(int64_t d_sent, int64_t d_received, const std::string& what) {
    EXPECT_EQ(comm.bytes_sent() - sent, d_sent) << at << what << " bytes sent";
    EXPECT_EQ(comm.bytes_received() - received, d_received) << at << what << " bytes received";
    sent = comm.bytes_sent();
    received = comm.bytes_received();
  }
};

void check_broadcast(Communicator& comm, ByteCheck& bytes) {
  const int64_t r = comm.rank();
  const int64_t w = comm.world_size();
  const std::string& at = bytes.at;
  // broadcast_ from the last rank (not rank 0, so the root really is honoured).
  const int64_t root = w - 1;
  auto bf = torch::arange(6, torch::kFloat32).reshape({2, 3}) + 100.0 * static_cast<double>(r);
  comm.broadcast_(bf, root);
  expect_equal(
      bf,
      torch::arange(6, torch::kFloat32).reshape({2, 3}) + 100.0 * static_cast<double>(root),
      at + "broadcast float");
  // Gloo's binomial tree: for W <= 3 the root sends to every other rank directly.
  bytes.expect(r == root ? (w - 1) * 24 : 0, r == root ? 0 : 24, "broadcast float");
  auto bu = torch::full({7}, static_cast<int64_t>(10 + r), torch::kUInt8);
  comm.broadcast_(bu, 0);
  expect_equal(bu, torch::full({7}, 10, torch::kUInt8), at + "broadcast uint8");
  bytes.expect(r == 0 ? (w - 1) * 7 : 0, r == 0 ? 0 : 7, "broadcast uint8");
}

void check_allreduce(Communicator& comm, ByteCheck& bytes) {
  const int64_t r = comm.rank();
  const int64_t w = comm.world_size();
  const std::string& at = bytes.at;
  // allreduce_sum_: exact in float for small integers; a large tensor exercises the ring's segments.
  auto af = torch::arange(5, torch::kFloat32) + 10.0 * static_cast<double>(r);
  comm.allreduce_sum_(af);
  expect_equal(
      af,
      torch::arange(5, torch::kFloat32) * static_cast<double>(w) + 10.0 * static_cast<double>(w * (w - 1) / 2),
      at + "allreduce float");
  bytes.expect(2 * (w - 1) * 20 / w, 2 * (w - 1) * 20 / w, "allreduce float");
  auto big = torch::full({100003}, static_cast<double>(r + 1), torch::kFloat32);
  comm.allreduce_sum_(big);
  expect_equal(big, torch::full({100003}, static_cast<double>(w * (w + 1) / 2), torch::kFloat32), at + "allreduce big");
  bytes.expect(2 * (w - 1) * 400012 / w, 2 * (w - 1) * 400012 / w, "allreduce big");
  auto al = torch::tensor({int64_t{1} << 40, r}, torch::kInt64);
  comm.allreduce_sum_(al);
  expect_equal(al, torch::tensor({w << 40, w * (w - 1) / 2}, torch::kInt64), at + "allreduce int64");
  bytes.expect(2 * (w - 1) * 16 / w, 2 * (w - 1) * 16 / w, "allreduce int64");
}

void check_allgather(Communicator& comm, ByteCheck& bytes) {
  const int64_t r = comm.rank();
  const int64_t w = comm.world_size();
  const std::string& at = bytes.at;
  // allgather: row s of the result is rank s's input, for float, uint8 (packed signs) and int64.
  const auto gf_of = [](int64_t s) {
    return torch::arange(6, torch::kFloat32).reshape({2, 3}) * static_cast<double>(s + 1);
  };
  const auto gf = comm.allgather(gf_of(r));
  ASSERT_EQ(gf.sizes(), (std::vector<int64_t>{w, 2, 3})) << at;
  for (int64_t s = 0; s < w; ++s)
    expect_equal(gf[s], gf_of(s), at + "allgather float row " + std::to_string(s));
  bytes.expect((w - 1) * 24, (w - 1) * 24, "allgather float");
  const auto gu_of = [](int64_t s) {
    return (torch::arange(11, torch::kInt64) * 37 + 200 * s).remainder(256).to(torch::kUInt8);
  };
  const auto gu = comm.allgather(gu_of(r));
  for (int64_t s = 0; s < w; ++s)
    expect_equal(gu[s], gu_of(s), at + "allgather uint8 row " + std::to_string(s));
  bytes.expect((w - 1) * 11, (w - 1) * 11, "allgather uint8");
  const auto gl = comm.allgather(torch::tensor({-r, r << 50}, torch::kInt64));
  for (int64_t s = 0; s < w; ++s)
    expect_equal(gl[s], torch::tensor({-s, s << 50}, torch::kInt64), at + "allgather int64 row " + std::to_string(s));
  bytes.expect((w - 1) * 16, (w - 1) * 16, "allgather int64");
}

void check_alltoall(Communicator& comm, ByteCheck& bytes) {
  const int64_t r = comm.rank();
  const int64_t w = comm.world_size();
  const std::string& at = bytes.at;
  // alltoall: chunk j of rank i's input holds 100 i + j; chunk j of the output must hold 100 j + r.
  const auto chunked = [&](int64_t from, torch::ScalarType dtype) {
    std::vector<torch::Tensor> chunks;
    for (int64_t to = 0; to < w; ++to)
      chunks.push_back(torch::full({2, 3}, static_cast<double>(100 * from + to), dtype));
    return torch::cat(chunks);
  };
  const auto received_chunks = [&](torch::ScalarType dtype) {
    std::vector<torch::Tensor> chunks;
    for (int64_t from = 0; from < w; ++from)
      chunks.push_back(torch::full({2, 3}, static_cast<double>(100 * from + r), dtype));
    return torch::cat(chunks);
  };
  for (const auto dtype : {torch::kFloat32, torch::kUInt8, torch::kInt64}) {
    const auto in = chunked(r, dtype);
    const auto out = comm.alltoall(in);
    expect_equal(out, received_chunks(dtype), at + "alltoall " + std::string(c10::toString(dtype)));
    const int64_t n = in.nbytes();
    bytes.expect((w - 1) * n / w, (w - 1) * n / w, "alltoall");
  }

  // A size that does not split into W chunks is refused before anything is sent, on every rank alike.
  try {
    comm.alltoall(torch::zeros({w + 1}, torch::kUInt8));
    ADD_FAILURE() << at << "alltoall of " << w + 1 << " elements did not throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("equal chunks"), std::string::npos) << e.what();
  }
}

void check_byte_strings(Communicator& comm, const std::string& at) {
  const int64_t r = comm.rank();
  const int64_t w = comm.world_size();
  // Byte strings (the trainer's config, checkpoint and per-rank states): every byte value, lengths that
  // differ between ranks, an empty string.
  auto bytes_of = [](int64_t rank) {
    std::string b(static_cast<size_t>(rank * 300), '\0');
    for (size_t i = 0; i < b.size(); ++i)
      b[i] = static_cast<char>((i * 7 + static_cast<size_t>(rank)) % 256);
    return b;
  };
  const auto all = signopt::comm::allgather_bytes(comm, bytes_of(r));
  ASSERT_EQ(static_cast<int64_t>(all.size()), w) << at;
  for (int64_t k = 0; k < w; ++k)
    EXPECT_EQ(all[static_cast<size_t>(k)], bytes_of(k)) << at << "allgather_bytes from rank " << k;
  const int64_t last = w - 1;
  EXPECT_EQ(signopt::comm::broadcast_bytes(comm, r == last ? bytes_of(last) : "ignored", last), bytes_of(last)) << at;
  EXPECT_EQ(signopt::comm::broadcast_bytes(comm, "", 0), "") << at;
}

// Every collective on float, uint8 and int64 data; each rank checks its own results and byte counts.
void scenario_collectives(Communicator& comm) {
  const std::string at = "rank " + std::to_string(comm.rank()) + " of " + std::to_string(comm.world_size()) + ": ";
  ByteCheck bytes{comm, at};
  check_broadcast(comm, bytes);
  check_allreduce(comm, bytes);
  check_allgather(comm, bytes);
  check_alltoall(comm, bytes);
  comm.barrier();
  bytes.expect(0, 0, "barrier");
  check_byte_strings(comm, at);
}

// Rank W-1 leaves the job right after a barrier; the others must fail in their next collective, in time.
void scenario_dead_rank(Communicator& comm, const fs::path& done_dir) {
  comm.barrier();
  if (comm.rank() == comm.world_size() - 1) {
    std::ofstream(done_dir / ("rank" + std::to_string(comm.rank()))) << "exiting without joining\n";
    std::_Exit(0); // no destructors: a process that dies
  }
  auto t = torch::ones({1000});
  const auto start = Clock::now();
  try {
    comm.allreduce_sum_(t);
    ADD_FAILURE() << "rank " << comm.rank() << ": allreduce with a dead rank did not throw";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    std::cout << "caught as expected: " << msg << std::endl;
    const std::string expected = "rank " + std::to_string(comm.rank()) + ": allreduce_sum_ failed or timed out after " +
        std::to_string(comm.timeout().count()) + " ms (a peer may have died or hung)";
    EXPECT_EQ(msg.rfind(expected, 0), 0u) << msg;
  }
  // A dead peer is noticed within the timeout (a closed connection is usually seen at once).
  EXPECT_LT(elapsed_ms(start), comm.timeout().count() + 2000);
}

// Rank W-1 is alive but never joins the collective: the others must time out within the timeout.
void scenario_hung_rank(Communicator& comm, const fs::path& done_dir) {
  comm.barrier();
  if (comm.rank() == comm.world_size() - 1) {
    std::ofstream(done_dir / ("rank" + std::to_string(comm.rank()))) << "hanging\n";
    std::this_thread::sleep_for(comm.timeout() * 3);
    std::_Exit(0);
  }
  auto t = torch::ones({10});
  const auto start = Clock::now();
  EXPECT_THROW(
      {
        try {
          comm.allreduce_sum_(t);
        } catch (const std::runtime_error& e) {
          std::cout << "caught as expected: " << e.what() << std::endl;
          EXPECT_NE(
              std::string(e.what()).find(
                  "rank " + std::to_string(comm.rank()) + ": allreduce_sum_ failed or timed out"),
              std::string::npos)
              << e.what();
          throw;
        }
      },
      std::runtime_error);
  const int64_t ms = elapsed_ms(start);
  EXPECT_GE(ms, comm.timeout().count() * 9 / 10) << "failed before the timeout although no peer died";
  EXPECT_LT(ms, comm.timeout().count() + 2000);
}

// The whole job as torchrun runs it: the sum of the ranks, and every rank's view of the job.
void scenario_torchrun(Communicator& comm) {
  auto t = torch::tensor({comm.rank() + 1, comm.world_size()}, torch::kInt64);
  comm.allreduce_sum_(t);
  const int64_t w = comm.world_size();
  expect_equal(t, torch::tensor({w * (w + 1) / 2, w * w}, torch::kInt64), "torchrun allreduce");
}

// Writes to a socket whose peer end is closed, as Gloo writes to a peer that died: the write must fail with
// EPIPE and leave this process alive (a SIGPIPE with its default action would kill it here).
void expect_a_write_to_a_closed_socket_fails_with_epipe(Communicator& comm) {
  int fds[2] = {-1, -1};
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0) << std::strerror(errno);
  ::close(fds[1]);
  const char byte = 'x';
  errno = 0;
  EXPECT_EQ(::write(fds[0], &byte, 1), -1);
  EXPECT_EQ(errno, EPIPE) << std::strerror(errno);
  ::close(fds[0]);
  comm.barrier(); // every rank is still here
}

// Joining a job of several ranks ignores SIGPIPE that had its default action.
void scenario_sigpipe_ignored(Communicator& comm) {
  struct sigaction now {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, SIG_IGN) << "rank " << comm.rank() << ": SIGPIPE still has its default action";
  expect_a_write_to_a_closed_socket_fails_with_epipe(comm);
}

// A SIGPIPE handler the program installed before joining stays, and still runs.
std::atomic<int> g_sigpipes{0};

extern "C" void count_sigpipe(int) {
  g_sigpipes.fetch_add(1);
}

void install_sigpipe_counter() {
  struct sigaction counter {};
  counter.sa_handler = count_sigpipe;
  sigemptyset(&counter.sa_mask);
  ASSERT_EQ(::sigaction(SIGPIPE, &counter, nullptr), 0);
}

void scenario_own_sigpipe_handler(Communicator& comm) {
  struct sigaction now {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, &count_sigpipe) << "rank " << comm.rank() << ": joining replaced the program's handler";
  expect_a_write_to_a_closed_socket_fails_with_epipe(comm);
  EXPECT_EQ(g_sigpipes.load(), 1);
}

const bool kWorkerRegistered = signopt::test::register_job_worker(
    {
        {"collectives", [](Communicator& comm, const fs::path&) { scenario_collectives(comm); }},
        {"dead_rank", [](Communicator& comm, const fs::path& done_dir) { scenario_dead_rank(comm, done_dir); }},
        {"hung_rank", [](Communicator& comm, const fs::path& done_dir) { scenario_hung_rank(comm, done_dir); }},
        {"torchrun", [](Communicator& comm, const fs::path&) { scenario_torchrun(comm); }},
        {"sigpipe_ignored", [](Communicator& comm, const fs::path&) { scenario_sigpipe_ignored(comm); }},
        {"own_sigpipe_handler", [](Communicator& comm, const fs::path&) { scenario_own_sigpipe_handler(comm); }},
    },
    {{"own_sigpipe_handler", install_sigpipe_counter}});

// ---------------------------------------------------------------------------------------------------------
// The parent side: starts ranks, enforces a deadline, collects exit codes and logs.

// Runs `scenario` as ranks 0..world-1 of one job on loopback.
std::vector<RankOutcome> run_job(const std::string& scenario, int64_t world, int64_t timeout_ms) {
  return signopt::test::run_comm_job("signopt_test_comm", scenario, world, timeout_ms, std::chrono::seconds(90));
}

// ---------------------------------------------------------------------------------------------------------
// DistEnv

TEST(DistEnv, NoVariablesMeansASingleProcess) {
  ScopedEnv env(std::map<std::string, std::string>{});
  const auto e = DistEnv::from_environment();
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.world_size, 1);
  EXPECT_EQ(e.local_rank, 0);
  EXPECT_EQ(e.master_addr, "127.0.0.1");
  EXPECT_EQ(e.master_port, 29500);
  EXPECT_FALSE(e.agent_store);
}

TEST(DistEnv, ReadsTheLauncherVariables) {
  ScopedEnv env(
      {{"RANK", "2"},
       {"WORLD_SIZE", "4"},
       {"LOCAL_RANK", "0"},
       {"MASTER_ADDR", "node17.cluster"},
       {"MASTER_PORT", "31337"},
       {"TORCHELASTIC_USE_AGENT_STORE", "True"},
       {"TORCHELASTIC_RESTART_COUNT", "3"}});
  const auto e = DistEnv::from_environment();
  EXPECT_EQ(e.rank, 2);
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.local_rank, 0);
  EXPECT_EQ(e.master_addr, "node17.cluster");
  EXPECT_EQ(e.master_port, 31337);
  EXPECT_TRUE(e.agent_store);
  EXPECT_EQ(e.restart_count, 3);
}

TEST(DistEnv, BadValuesNameTheVariableAndTheValue) {
  const std::map<std::string, std::string> good = {
      {"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}};
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"WORLD_SIZE", "two", "WORLD_SIZE='two' is not an integer"},
      {"WORLD_SIZE", "0", "WORLD_SIZE='0' is out of range"},
      {"WORLD_SIZE", "", "WORLD_SIZE='' is empty"},
      {"RANK", "2", "RANK='2' is out of range: it must be an integer in [0, 1]"},
      {"RANK", "-1", "RANK='-1' is out of range"},
      {"RANK", "1x", "RANK='1x' is not an integer"},
      {"LOCAL_RANK", "-3", "LOCAL_RANK='-3' is out of range"},
      {"MASTER_PORT", "70000", "MASTER_PORT='70000' is out of range: it must be an integer in [1, 65535]"},
      {"MASTER_PORT", "http", "MASTER_PORT='http' is not an integer"},
      {"MASTER_ADDR", "", "MASTER_ADDR is empty"},
      {"TORCHELASTIC_RESTART_COUNT", "x", "TORCHELASTIC_RESTART_COUNT='x' is not an integer"},
  };
  for (const auto& [name, value, message] : cases) {
    auto vars = good;
    vars[name] = value;
    ScopedEnv env(vars);
    try {
      DistEnv::from_environment();
      ADD_FAILURE() << name << "=" << value << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
}

TEST(DistEnv, RankAndWorldSizeComeTogether) {
  {
    ScopedEnv env(std::map<std::string, std::string>{{"RANK", "0"}});
    EXPECT_THROW(
        {
          try {
            DistEnv::from_environment();
          } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find("RANK is set but WORLD_SIZE is not"), std::string::npos) << e.what();
            throw;
          }
        },
        std::invalid_argument);
  }
  {
    ScopedEnv env({{"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "1234"}});
    EXPECT_THROW(DistEnv::from_environment(), std::invalid_argument);
  }
}

TEST(DistEnv, SeveralRanksNeedTheMaster) {
  for (const auto& missing : {"MASTER_ADDR", "MASTER_PORT"}) {
    std::map<std::string, std::string> vars = {
        {"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "1234"}};
    vars.erase(missing);
    ScopedEnv env(vars);
    try {
      DistEnv::from_environment();
      ADD_FAILURE() << "accepted without " << missing;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::string(missing) + " is not set but WORLD_SIZE=2"), std::string::npos)
          << e.what();
    }
  }
  // One process needs neither.
  ScopedEnv env({{"RANK", "0"}, {"WORLD_SIZE", "1"}});
  EXPECT_EQ(DistEnv::from_environment().world_size, 1);
}

TEST(DistEnv, ValidateNamesTheField) {
  DistEnv e;
  e.world_size = 2;
  e.rank = 2;
  EXPECT_THROW(e.validate(), std::invalid_argument);
  e.rank = 1;
  e.master_port = 0;
  try {
    e.validate();
    ADD_FAILURE() << "port 0 accepted";
  } catch (const std::invalid_argument& err) {
    EXPECT_NE(std::string(err.what()).find("master_port must be in [1, 65535], got 0"), std::string::npos);
  }
  EXPECT_THROW(Communicator(e, std::chrono::seconds(1)), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------------------
// One process, in this process

TEST(Communicator, SingleProcessCollectivesAreIdentities) {
  Communicator comm(DistEnv{}, std::chrono::seconds(10));
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.world_size(), 1);
  auto t = torch::tensor({1.5f, -2.0f});
  comm.allreduce_sum_(t);
  EXPECT_TRUE(torch::equal(t, torch::tensor({1.5f, -2.0f})));
  comm.broadcast_(t, 0);
  EXPECT_TRUE(torch::equal(t, torch::tensor({1.5f, -2.0f})));
  const auto bits = torch::tensor({0, 255, 7}, torch::kUInt8);
  const auto g = comm.allgather(bits);
  EXPECT_EQ(g.sizes(), (std::vector<int64_t>{1, 3}));
  EXPECT_TRUE(torch::equal(g[0], bits));
  EXPECT_TRUE(torch::equal(comm.alltoall(bits), bits));
  comm.barrier();
  EXPECT_EQ(comm.bytes_sent(), 0);
  EXPECT_EQ(comm.bytes_received(), 0);
}

TEST(Communicator, BadArgumentsAreRefusedWithAReason) {
  EXPECT_THROW(Communicator(DistEnv{}, std::chrono::milliseconds(0)), std::invalid_argument);
  Communicator comm(DistEnv{}, std::chrono::seconds(10));
  const auto expect_refusal = [](const std::function<void()>& call, const std::string& message) {
    try {
      call();
      ADD_FAILURE() << "accepted; expected: " << message;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  torch::Tensor undefined;
  expect_refusal([&] { comm.allreduce_sum_(undefined); }, "rank 0: allreduce_sum_: the tensor is undefined");
  auto strided = torch::zeros({4, 4}).t();
  expect_refusal([&] { comm.allreduce_sum_(strided); }, "must be dense and contiguous");
  auto t = torch::zeros({3});
  expect_refusal([&] { comm.broadcast_(t, 1); }, "broadcast_: root must be in [0, 1), got 1");
  expect_refusal([&] { comm.alltoall(torch::tensor(3.0)); }, "alltoall: the input's first dimension");
}

TEST(Communicator, StoreTimesOutWhenRankZeroNeverStarts) {
  DistEnv env;
  env.rank = 1;
  env.world_size = 2;
  env.master_port = free_port(); // nobody listens there
  const auto start = Clock::now();
  try {
    Communicator comm(env, std::chrono::milliseconds(1500));
    ADD_FAILURE() << "joined a job without rank 0";
  } catch (const std::runtime_error& e) {
    const std::string expected = "rank 1: the TCPStore rendezvous at 127.0.0.1:" + std::to_string(env.master_port) +
        " failed or timed out after 1500 ms (is rank 0 running";
    EXPECT_EQ(std::string(e.what()).rfind(expected, 0), 0u) << e.what();
  }
  // TCPStore retries a refused connection once a second, so the limit may be overshot by about that.
  EXPECT_LT(elapsed_ms(start), 1500 + 5000);
}

// ---------------------------------------------------------------------------------------------------------
// Real jobs on loopback

TEST(CommGloo, CollectivesOnTwoRanks) {
  expect_all_passed(run_job("collectives", 2, 20000));
}

TEST(CommGloo, CollectivesOnThreeRanks) {
  expect_all_passed(run_job("collectives", 3, 20000));
}

TEST(CommGloo, ARankThatDiesMakesTheOthersFailWithinTheTimeout) {
  const auto start = Clock::now();
  expect_all_passed(run_job("dead_rank", 3, 3000));
  // Start-up (three processes loading LibTorch on a shared machine) plus at most one timeout each.
  EXPECT_LT(elapsed_ms(start), 60000);
}

TEST(CommGloo, JoiningIgnoresSigpipeSoADeadPeersSocketIsAnError) {
  expect_all_passed(run_job("sigpipe_ignored", 2, 20000));
}

TEST(CommGloo, JoiningKeepsTheProgramsOwnSigpipeHandler) {
  expect_all_passed(run_job("own_sigpipe_handler", 2, 20000));
}

TEST(CommGloo, ARankThatHangsMakesTheOthersTimeOut) {
  expect_all_passed(run_job("hung_rank", 2, 2000));
}

TEST(CommGloo, RunsUnderTorchrun) {
  const std::string torchrun = SIGNOPT_TORCHRUN;
  const std::string why = signopt::test::torchrun_unavailable(torchrun);
  if (!why.empty())
    GTEST_SKIP() << why;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = signopt::test::fresh_dir("signopt_test_comm", std::string("torchrun.") + info->name(), true);
  const auto env = signopt::test::job_variables("torchrun", dir, 30000);
  auto outcomes = run_processes(
      dir,
      signopt::test::torchrun_command(
          torchrun, 2, free_port(), {fs::read_symlink("/proc/self/exe").string(), "--gtest_filter=JobWorker.Run"}),
      {env},
      std::chrono::seconds(120));
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_TRUE(outcomes[0].exited && outcomes[0].status == 0) << outcome_text(outcomes);
  for (int r = 0; r < 2; ++r)
    EXPECT_TRUE(fs::exists(dir / ("rank" + std::to_string(r)))) << "rank " << r << " did not pass\n"
                                                                << outcome_text(outcomes);
}

} // namespace

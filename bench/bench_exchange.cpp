// One MajorityVote exchange (pack, alltoall, vote, allgather, unpack) against a plain fp32 allreduce of the
// same gradient, across W local processes on loopback: bytes per worker and wall time, with the breakdown.
// A second table times whole Signum steps (momentum update, exchange, parameter update) of the same
// parameters split into tensors like a network's: one worker without exchange, fp32 allreduce of the
// gradients then the local step (what DDP does), and the vote on the packed path (signs packed in the fused
// momentum pass, the agreed bits applied in the parameter pass) and on the unfused path. A step's
// exchange cost is its time minus the single worker's.
//
//   bench_exchange [--params N] [--workers 2,4] [--repeats R] [--threads T]
//
// The program starts itself W times as the ranks of a job (RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a
// free MASTER_PORT, as torchrun would) and prints one markdown table. Each repeat is timed on every rank
// after a barrier; the slowest rank's time counts (the exchange is done when the last rank has its
// result), and the table shows the median over the repeats.
#include <signopt/comm/majority_vote.h>
#include <signopt/kernels/fused.h>
#include <signopt/optim/signum.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace {

using signopt::comm::Communicator;
using signopt::comm::DistEnv;
using signopt::comm::MajorityVote;
using signopt::comm::MajorityVoteOptions;
using signopt::comm::TieRule;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Args {
  int64_t params = 11'000'000;
  std::vector<int64_t> workers = {2, 4};
  int64_t repeats = 7;
  int64_t threads = 1;
};

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "bench_exchange: " << what
            << "\nusage: bench_exchange [--params N >= 1] [--workers W1,W2,... each in [1, 64]] [--repeats R >= 1] "
               "[--threads T >= 1]\n";
  std::exit(2);
}

int64_t parse_int(const std::string& flag, const std::string& text, int64_t lo, int64_t hi) {
  try {
    size_t used = 0;
    const int64_t v = std::stoll(text, &used);
    if (used == text.size() && v >= lo && v <= hi)
      return v;
  } catch (const std::exception&) {
  }
  usage_error(
      flag + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + text + "'");
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h")
      usage_error("one MajorityVote exchange vs one fp32 allreduce, W local processes");
    if (i + 1 >= argc)
      usage_error(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--params") {
      a.params = parse_int(flag, value, 1, int64_t{1} << 31);
    } else if (flag == "--repeats") {
      a.repeats = parse_int(flag, value, 1, 1000);
    } else if (flag == "--threads") {
      a.threads = parse_int(flag, value, 1, 256);
    } else if (flag == "--workers") {
      a.workers.clear();
      std::stringstream list(value);
      std::string item;
      while (std::getline(list, item, ','))
        a.workers.push_back(parse_int(flag, item, 1, 64));
      if (a.workers.empty())
        usage_error("--workers needs at least one world size");
    } else {
      usage_error("unknown option '" + flag + "'");
    }
  }
  return a;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Per column of `times` ([repeats, columns] seconds on this rank): the median over the repeats, in ms, of
// each repeat's slowest rank (an exchange is done when the last rank has its result). Every rank calls it;
// the result is the same on all of them.
std::vector<double> slowest_rank_median_ms(Communicator& comm, const torch::Tensor& times) {
  const auto all = std::get<0>(comm.allgather(times).max(0)); // [repeats, columns]
  std::vector<double> out;
  for (int64_t c = 0; c < all.size(1); ++c) {
    std::vector<double> v;
    for (int64_t r = 0; r < all.size(0); ++r)
      v.push_back(all[r][c].item<double>());
    out.push_back(1e3 * median(v));
  }
  return out;
}

// The parameter split of the step table: `total` coordinates in 50 tensors of uneven sizes (none a multiple
// of 64, so most tensors start inside a packed word, as a network's do).
std::vector<int64_t> tensor_sizes(int64_t total) {
  const int64_t k = std::min<int64_t>(50, total);
  std::vector<int64_t> sizes;
  int64_t used = 0;
  for (int64_t i = 0; i < k - 1; ++i) {
    const int64_t n = std::max<int64_t>(1, total / k + (i * 37) % 101 - 50);
    sizes.push_back(n);
    used += n;
  }
  sizes.push_back(total - used);
  return sizes;
}

// Rank 0 prints "T2" rows: W, path, ms per step, ms of exchange (step - local step), fp32/vote ratio.
void step_rows(const Args& args, Communicator& comm) {
  const int64_t w = comm.world_size();
  const auto sizes = tensor_sizes(args.params);
  const auto flat_grad = torch::randn({args.params}, at::detail::createCPUGenerator(99 + comm.rank()));
  auto grad_buffer = flat_grad.clone(); // the gradients are views of it, as DDP's bucket views are
  std::vector<torch::Tensor> params;
  int64_t offset = 0;
  for (const int64_t n : sizes) {
    auto p = torch::randn({n}, at::detail::createCPUGenerator(5 + params.size())).requires_grad_();
    p.mutable_grad() = grad_buffer.narrow(0, offset, n);
    params.push_back(p);
    offset += n;
  }
  enum Path { kLocal, kAllreduce, kVotePacked, kVoteUnfused, kPaths };
  const char* names[kPaths] = {
      "Signum step, 1 worker, no exchange",
      "fp32 allreduce of the gradients + local Signum step",
      "Signum step with the vote, packed path",
      "Signum step with the vote, unfused path"};
  // Per repeat: the step time of each path, then alltoall, vote and allgather of the two vote paths.
  auto times = torch::zeros({args.repeats, kPaths + 6}, torch::kDouble);
  for (int path = 0; path < kPaths; ++path) {
    signopt::Signum opt(params, signopt::SignumOptions(1e-4).momentum(0.9));
    std::shared_ptr<MajorityVote> vote;
    if (path == kVotePacked || path == kVoteUnfused) {
      vote = std::make_shared<MajorityVote>(comm, MajorityVoteOptions().seed(3));
      opt.set_aggregator(vote);
    }
    signopt::kernels::set_fused_enabled(path != kVoteUnfused);
    for (int64_t r = -1; r < args.repeats; ++r) { // r = -1: warm-up (buffers, first touch)
      grad_buffer.copy_(flat_grad);
      comm.barrier();
      const auto start = Clock::now();
      if (path == kAllreduce) {
        comm.allreduce_sum_(grad_buffer);
        grad_buffer.div_(static_cast<double>(w));
      }
      opt.step();
      const double t = seconds(start);
      if (r >= 0) {
        times[r][path] = t;
        if (vote) {
          const auto& st = vote->last_stats();
          const int64_t base = kPaths + 3 * (path - kVotePacked);
          times[r][base] = st.alltoall_s;
          times[r][base + 1] = st.vote_s;
          times[r][base + 2] = st.allgather_s;
        }
      }
    }
    signopt::kernels::set_fused_enabled(true);
    if (path == kVotePacked) {
      if (vote->total_stats().packed != vote->total_stats().exchanges)
        throw std::runtime_error("bench_exchange: the packed path did not run");
    }
  }
  const auto ms = slowest_rank_median_ms(comm, times);
  if (comm.rank() != 0)
    return;
  const double local = ms[kLocal];
  const double fp32_exchange = ms[kAllreduce] - local;
  for (int path = 0; path < kPaths; ++path) {
    const double step = ms[path];
    if (path == kLocal) {
      std::printf("T2| %lld | %s | %.2f | | | |\n", static_cast<long long>(w), names[path], step);
    } else if (path == kAllreduce) {
      std::printf("T2| %lld | %s | %.2f | %.2f | | |\n", static_cast<long long>(w), names[path], step, step - local);
    } else {
      const int64_t base = kPaths + 3 * (path - kVotePacked);
      std::printf(
          "T2| %lld | %s | %.2f | %.2f | %.1fx | %.2f / %.2f / %.2f |\n",
          static_cast<long long>(w),
          names[path],
          step,
          step - local,
          fp32_exchange / (step - local),
          ms[base],
          ms[base + 1],
          ms[base + 2]);
    }
  }
  std::fflush(stdout);
}

// Columns timed per repeat, in this order: vote total, pack, alltoall, vote, allgather, unpack (one tie
// rule), then the fp32 allreduce.
constexpr int kVoteColumns = 6;

// One rank: for each tie rule, `repeats` exchanges after a warm-up, then as many allreduces; rank 0 writes
// the table rows (slowest rank per repeat, median over repeats) to stdout.
int run_worker(const Args& args) {
  torch::set_num_threads(static_cast<int>(args.threads));
  const auto env = DistEnv::from_environment();
  Communicator comm(env, std::chrono::seconds(300));
  const int64_t w = comm.world_size();
  const auto g = torch::randn({args.params}, at::detail::createCPUGenerator(1234 + comm.rank()));
  const auto u = torch::sign(g);

  std::vector<std::vector<double>> times; // [repeat][column]
  std::vector<int64_t> vote_bytes;
  for (const auto ties : {TieRule::Zero, TieRule::SharedCoin}) {
    MajorityVote vote(comm, MajorityVoteOptions().ties(ties).seed(7));
    vote.aggregate_signs({u}, 0); // warm-up: first-touch of buffers, the layout check
    for (int64_t r = 0; r < args.repeats; ++r) {
      comm.barrier();
      const auto start = Clock::now();
      const auto out = vote.aggregate_signs({u}, r + 1);
      const double total = seconds(start);
      const auto& s = vote.last_stats();
      if (static_cast<int64_t>(times.size()) <= r)
        times.emplace_back();
      times[r].insert(times[r].end(), {total, s.pack_s, s.alltoall_s, s.vote_s, s.allgather_s, s.unpack_s});
    }
    vote_bytes.push_back(vote.last_stats().bytes_sent);
  }
  auto buffer = g.clone();
  comm.allreduce_sum_(buffer); // warm-up
  int64_t allreduce_bytes = 0;
  for (int64_t r = 0; r < args.repeats; ++r) {
    buffer.copy_(g);
    comm.barrier();
    const int64_t before = comm.bytes_sent();
    const auto start = Clock::now();
    comm.allreduce_sum_(buffer);
    times[r].push_back(seconds(start));
    allreduce_bytes = comm.bytes_sent() - before;
  }

  step_rows(args, comm);

  // Every rank's times, so that each repeat counts at its slowest rank.
  const int64_t columns = static_cast<int64_t>(times[0].size());
  auto mine = torch::empty({args.repeats, columns}, torch::kDouble);
  for (int64_t r = 0; r < args.repeats; ++r)
    for (int64_t c = 0; c < columns; ++c)
      mine[r][c] = times[r][c];
  const auto ms = slowest_rank_median_ms(comm, mine);
  if (comm.rank() != 0)
    return 0;
  const double fp32_ms = ms[columns - 1];
  std::printf(
      "T1| %lld | fp32 allreduce | %.2f | %.2f | | | | | | |\n",
      static_cast<long long>(w),
      static_cast<double>(allreduce_bytes) / 1e6,
      fp32_ms);
  for (int rule = 0; rule < 2; ++rule) {
    const int64_t base = rule * kVoteColumns;
    std::printf(
        "T1| %lld | vote, ties %s | %.3f (%.1fx fewer) | %.2f (%.1fx faster) | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
        static_cast<long long>(w),
        rule == 0 ? "= 0" : "by coin",
        static_cast<double>(vote_bytes[rule]) / 1e6,
        static_cast<double>(allreduce_bytes) / static_cast<double>(vote_bytes[rule]),
        ms[base],
        fp32_ms / ms[base],
        ms[base + 1],
        ms[base + 2],
        ms[base + 3],
        ms[base + 4],
        ms[base + 5]);
  }
  std::fflush(stdout);
  return 0;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("bench_exchange: could not find a free loopback port");
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::vector<std::string> exchange_rows, step_table_rows;

// Starts W ranks of this program (output of rank r in <dir>/rank<r>.log), waits for all of them, and
// prints rank 0's rows; a failed rank stops the benchmark with its log.
bool run_job(int argc, char** argv, int64_t w, const fs::path& dir) {
  const int port = free_port();
  const std::string exe = fs::read_symlink("/proc/self/exe").string();
  std::vector<pid_t> pids;
  for (int64_t r = 0; r < w; ++r) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string kv = *e;
      const std::string name = kv.substr(0, kv.find('='));
      if (name != "RANK" && name != "WORLD_SIZE" && name != "LOCAL_RANK" && name != "MASTER_ADDR" &&
          name != "MASTER_PORT" && name != "TORCHELASTIC_USE_AGENT_STORE")
        env.push_back(kv);
    }
    env.insert(
        env.end(),
        {"RANK=" + std::to_string(r),
         "WORLD_SIZE=" + std::to_string(w),
         "LOCAL_RANK=" + std::to_string(r),
         "MASTER_ADDR=127.0.0.1",
         "MASTER_PORT=" + std::to_string(port),
         "SIGNOPT_BENCH_EXCHANGE_WORKER=1"});
    std::vector<char*> envp;
    for (auto& s : env)
      envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args(argv, argv + argc);
    args[0] = exe;
    std::vector<char*> argp;
    for (auto& s : args)
      argp.push_back(s.data());
    argp.push_back(nullptr);
    const std::string log = (dir / ("rank" + std::to_string(r) + ".log")).string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = -1;
    if (posix_spawn(&pid, exe.c_str(), &actions, nullptr, argp.data(), envp.data()) != 0)
      throw std::runtime_error("bench_exchange: could not start " + exe);
    posix_spawn_file_actions_destroy(&actions);
    pids.push_back(pid);
  }
  bool ok = true;
  for (int64_t r = 0; r < w; ++r) {
    int status = 0;
    ::waitpid(pids[r], &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ok = false;
      std::ifstream in(dir / ("rank" + std::to_string(r) + ".log"));
      std::cerr << "bench_exchange: rank " << r << " of " << w << " failed:\n" << in.rdbuf() << "\n";
    }
  }
  if (ok) {
    std::ifstream in(dir / "rank0.log");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("T1| ", 0) == 0)
        exchange_rows.push_back(line.substr(2));
      if (line.rfind("T2| ", 0) == 0)
        step_table_rows.push_back(line.substr(2));
    }
  }
  return ok;
}

} // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  try {
    if (std::getenv("SIGNOPT_BENCH_EXCHANGE_WORKER") != nullptr)
      return run_worker(args);
    const fs::path dir = fs::temp_directory_path() / ("bench_exchange_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::cout << "bench_exchange: " << args.params << " parameters, median of " << args.repeats
              << " repeats (slowest rank per repeat), " << args.threads << " LibTorch thread(s) per rank\n"
              << std::flush;
    bool ok = true;
    for (const int64_t w : args.workers) {
      std::cerr << "bench_exchange: W = " << w << "...\n";
      ok = run_job(argc, argv, w, dir) && ok;
    }
    std::cout << "\nOne exchange:\n\n"
              << "| W | exchange | MB sent per worker | ms | pack | alltoall | vote | allgather | unpack |\n"
              << "|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& row : exchange_rows)
      std::cout << row << "\n";
    std::cout << "\nWhole Signum steps (" << tensor_sizes(args.params).size()
              << " tensors; exchange = step - the single worker's step):\n\n"
              << "| W | step | ms per step | ms of exchange | exchange vs fp32 allreduce | alltoall / vote / allgather ms |\n"
              << "|---|---|---:|---:|---:|---:|\n";
    for (const auto& row : step_table_rows)
      std::cout << row << "\n";
    if (ok)
      fs::remove_all(dir);
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}

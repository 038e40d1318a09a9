// The Gloo process group of signopt::comm: TCPStore rendezvous, collectives with timeouts, byte counters.
#include <signopt/comm/process_group.h>

#include <c10/util/Exception.h>
// ProcessGroupGloo.hpp includes Gloo's headers, which the torch wheel does not ship: they come from
// Debian's libgloo-dev, an older Gloo than the one built into libtorch. That is safe only because this
// file calls no inline Gloo code: it uses libtorch's exported constructors, its static device factories
// and the virtual c10d::Backend interface. cmake/comm.cmake checks that after every build (no symbol of
// namespace gloo and no inline ProcessGroupGloo member is defined by signopt_comm); docs/distributed.md
// has the whole argument.
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace signopt::comm {

namespace {

std::optional<std::string> env_value(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr)
    return std::nullopt;
  return std::string(v);
}

// A whole-string base-10 integer in [lo, hi]; anything else names the variable, the value and the range.
int64_t parse_env_int(const char* name, const std::string& text, int64_t lo, int64_t hi) {
  const auto fail = [&](const std::string& why) {
    throw std::invalid_argument(
        "environment variable " + std::string(name) + "='" + text + "' " + why + ": it must be an integer in [" +
        std::to_string(lo) + ", " + std::to_string(hi) + "]");
  };
  if (text.empty())
    fail("is empty");
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (end != text.c_str() + text.size())
    fail("is not an integer");
  if (errno == ERANGE || v < lo || v > hi)
    fail("is out of range");
  return static_cast<int64_t>(v);
}

std::string error_text(const std::exception& e) {
  // c10::Error::what() appends a C++ backtrace in some builds; the user needs the message only.
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e))
    return c10_error->what_without_backtrace();
  return e.what();
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost";
}

// Gloo's broadcast (gloo/broadcast.cc) is a binomial tree over virtual ranks (rank - root) mod W:
// this counts the children that `rank` sends to, walking the same loop.
int64_t binomial_tree_children(int64_t rank, int64_t root, int64_t world) {
  const int64_t vrank = (rank - root + world) % world;
  int64_t dim = 0;
  while ((int64_t{1} << dim) < world)
    ++dim;
  int64_t mask = (int64_t{1} << dim) - 1;
  int64_t children = 0;
  for (int64_t i = 0; i < dim; ++i) {
    mask ^= int64_t{1} << i;
    if ((vrank & mask) != 0)
      continue;
    const int64_t vpeer = vrank ^ (int64_t{1} << i);
    if (vpeer < world && (vrank & (int64_t{1} << i)) == 0)
      ++children;
  }
  return children;
}

} // namespace

DistEnv DistEnv::from_environment() {
  DistEnv env;
  const auto rank = env_value("RANK");
  const auto world = env_value("WORLD_SIZE");
  if (!rank && !world)
    return env; // not launched as part of a job: a single process
  if (!rank || !world)
    throw std::invalid_argument(
        std::string(rank ? "RANK" : "WORLD_SIZE") + " is set but " + (rank ? "WORLD_SIZE" : "RANK") +
        " is not: a distributed launcher (torchrun, mpirun wrapper, scheduler) sets both; set both or neither");
  constexpr int64_t kMaxInt = std::numeric_limits<int>::max();
  env.world_size = parse_env_int("WORLD_SIZE", *world, 1, kMaxInt);
  env.rank = parse_env_int("RANK", *rank, 0, env.world_size - 1);
  if (const auto local = env_value("LOCAL_RANK"))
    env.local_rank = parse_env_int("LOCAL_RANK", *local, 0, kMaxInt);
  const auto addr = env_value("MASTER_ADDR");
  const auto port = env_value("MASTER_PORT");
  if (env.world_size > 1 && (!addr || !port))
    throw std::invalid_argument(
        std::string(!addr ? "MASTER_ADDR" : "MASTER_PORT") + " is not set but WORLD_SIZE=" + *world +
        ": set MASTER_ADDR and MASTER_PORT to the host and a free port of rank 0 (the same on every rank)");
  if (addr) {
    if (addr->empty())
      throw std::invalid_argument("environment variable MASTER_ADDR is empty: set it to the host of rank 0");
    env.master_addr = *addr;
  }
  if (port)
    env.master_port = static_cast<int>(parse_env_int("MASTER_PORT", *port, 1, 65535));
  if (const auto agent = env_value("TORCHELASTIC_USE_AGENT_STORE"))
    env.agent_store = (*agent == "True" || *agent == "true" || *agent == "1");
  if (const auto restarts = env_value("TORCHELASTIC_RESTART_COUNT"))
    env.restart_count = parse_env_int("TORCHELASTIC_RESTART_COUNT", *restarts, 0, kMaxInt);
  return env;
}

void DistEnv::validate() const {
  if (world_size < 1 || world_size > std::numeric_limits<int>::max())
    throw std::invalid_argument("DistEnv: world_size must be in [1, 2^31), got " + std::to_string(world_size));
  if (rank < 0 || rank >= world_size)
    throw std::invalid_argument(
        "DistEnv: rank must be in [0, world_size = " + std::to_string(world_size) + "), got " + std::to_string(rank));
  if (local_rank < 0)
    throw std::invalid_argument("DistEnv: local_rank must be >= 0, got " + std::to_string(local_rank));
  if (master_addr.empty())
    throw std::invalid_argument("DistEnv: master_addr is empty: set it to the host of rank 0");
  if (master_port < 1 || master_port > 65535)
    throw std::invalid_argument("DistEnv: master_port must be in [1, 65535], got " + std::to_string(master_port));
  if (restart_count < 0)
    throw std::invalid_argument("DistEnv: restart_count must be >= 0, got " + std::to_string(restart_count));
}

struct Communicator::Impl {
  DistEnv env;
  std::chrono::milliseconds timeout{0};
  // Held through the virtual c10d::Backend interface only: no inline ProcessGroupGloo code runs here.
  c10::intrusive_ptr<c10d::Backend> backend;
  int64_t sent = 0;
  int64_t received = 0;

  std::string rank_prefix() const {
    return "rank " + std::to_string(env.rank) + ": ";
  }

  void check_tensor(const char* op, const torch::Tensor& t) const {
    if (!t.defined())
      throw std::invalid_argument(rank_prefix() + op + ": the tensor is undefined");
    if (!t.device().is_cpu())
      throw std::invalid_argument(
          rank_prefix() + op + ": the tensor is on " + t.device().str() + "; the Gloo communicator takes CPU tensors");
    if (t.is_sparse() || !t.is_contiguous())
      throw std::invalid_argument(
          rank_prefix() + op + ": the tensor must be dense and contiguous (call .contiguous() first)");
  }

  // Waits for one collective and turns every failure into the documented std::runtime_error.
  void finish(const char* op, const std::function<c10::intrusive_ptr<c10d::Work>()>& start) const {
    try {
      auto work = start();
      work->wait(timeout);
    } catch (const std::exception& e) {
      throw PeerFailure(
          rank_prefix() + op + " failed or timed out after " + std::to_string(timeout.count()) +
          " ms (a peer may have died or hung): " + error_text(e));
    }
  }
};

namespace {

// Every rank of a job must agree on WORLD_SIZE: a rank started with another one would wait in the process
// group's connection for peers that never come and end as a timeout that names nobody. Each rank posts its
// WORLD_SIZE to the store and compares it with rank 0's (rank 0 with everyone's), so the one that differs
// fails at once, saying so.
// How long rank 0 keeps the store up after finding a mismatched WORLD_SIZE, waiting for that rank to read.
constexpr std::chrono::milliseconds kMismatchGrace{10000};

void check_world_sizes(c10d::Store& store, const DistEnv& env, const std::string& prefix) {
  auto key = [](int64_t rank) { return "signopt/check/world_size/" + std::to_string(rank); };
  const std::string mine = std::to_string(env.world_size);
  store.set(key(env.rank), std::vector<uint8_t>(mine.begin(), mine.end()));
  auto read = [&](int64_t rank) {
    const auto bytes = store.get(key(rank));
    return std::string(bytes.begin(), bytes.end());
  };
  // Rank 0 hosts the store: when it finds a mismatch it waits (briefly) until the rank that differs has
  // read rank 0's value, so that rank fails with the same explanation instead of a lost connection.
  auto seen = [](int64_t rank) { return "signopt/check/world_size_seen/" + std::to_string(rank); };
  if (env.rank != 0) {
    const std::string zero = read(0);
    store.set(seen(env.rank), std::vector<uint8_t>{1});
    if (zero != mine)
      throw std::runtime_error(
          prefix + "this rank was started with WORLD_SIZE=" + mine + " but rank 0 with WORLD_SIZE=" + zero +
          "; every rank of a job must be started with the same WORLD_SIZE (check the launcher's settings)");
    return;
  }
  for (int64_t r = 1; r < env.world_size; ++r) {
    const std::string theirs = read(r);
    if (theirs != mine) {
      try {
        store.wait({seen(r)}, kMismatchGrace);
      } catch (const std::exception&) {
        // That rank died or hung before reading; this rank's own message below still names it.
      }
      throw std::runtime_error(
          prefix + "rank " + std::to_string(r) + " was started with WORLD_SIZE=" + theirs + " but this rank with WORLD_SIZE=" +
          mine + "; every rank of a job must be started with the same WORLD_SIZE (check the launcher's settings)");
    }
  }
}

// A write to a socket whose peer has closed raises SIGPIPE, whose default action kills the process: Gloo
// writes with writev, which has no MSG_NOSIGNAL. Ignored, the write fails with EPIPE and the collective
// throws, so a rank whose peer died fails with a PeerFailure and records its failure. A disposition the
// program chose (a handler, or already ignored) is kept.
void ignore_sigpipe_unless_handled() {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) != 0 || current.sa_handler != SIG_DFL ||
      (current.sa_flags & SA_SIGINFO) != 0)
    return;
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ::sigaction(SIGPIPE, &ignore, nullptr);
}

} // namespace

Communicator::Communicator(
    const DistEnv& env,
    std::chrono::milliseconds timeout,
    std::chrono::milliseconds rendezvous_timeout)
    : impl_(std::make_unique<Impl>()) {
  env.validate();
  if (timeout.count() <= 0)
    throw std::invalid_argument(
        "Communicator: timeout must be > 0 ms, got " + std::to_string(timeout.count()) +
        " (it bounds the rendezvous and each collective)");
  if (rendezvous_timeout.count() < 0)
    throw std::invalid_argument(
        "Communicator: rendezvous_timeout must be >= 0 ms (0 = the collective timeout), got " +
        std::to_string(rendezvous_timeout.count()));
  const auto store_timeout = rendezvous_timeout.count() > 0 ? rendezvous_timeout : timeout;
  impl_->env = env;
  impl_->timeout = timeout;
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  if (env.world_size > 1)
    ignore_sigpipe_unless_handled();

  c10::intrusive_ptr<c10d::Store> store;
  if (env.world_size == 1) {
    store = c10::make_intrusive<c10d::HashStore>();
  } else {
    try {
      c10d::TCPStoreOptions opts;
      opts.port = static_cast<std::uint16_t>(env.master_port);
      opts.isServer = env.rank == 0 && !env.agent_store;
      opts.numWorkers = static_cast<std::size_t>(env.world_size);
      // Every rank counts itself in; rank 0's constructor returns once all have.
      opts.waitWorkers = true;
      opts.timeout = store_timeout; // also bounds the address exchange of the Gloo connection below
      store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
    } catch (const std::exception& e) {
      const std::string why = error_text(e);
      const std::string text = impl_->rank_prefix() + "the TCPStore rendezvous at " + where + " failed or timed out after " +
          std::to_string(store_timeout.count()) + " ms (" +
          (env.rank == 0 && !env.agent_store ? "rank 0 hosts the store: is the port free, and did every rank start?"
                                             : "is rank 0 running, and do all ranks use the same MASTER_ADDR and "
                                               "MASTER_PORT?") +
          "): " + why;
      // Rank 0 that cannot host the store (a busy port) is the cause; a rank that waited for others is not.
      const bool own = env.rank == 0 && !env.agent_store &&
          (why.find("in use") != std::string::npos || why.find("bind") != std::string::npos ||
           why.find("EADDRINUSE") != std::string::npos);
      if (own)
        throw std::runtime_error(text);
      throw PeerFailure(text);
    }
    // torchrun's agent store outlives worker restarts: each attempt gets its own keys, as in
    // torch.distributed's own rendezvous.
    if (env.agent_store)
      store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(env.restart_count), store);
  }
  if (env.world_size > 1)
    check_world_sizes(*store, env, impl_->rank_prefix());
  store = c10::make_intrusive<c10d::PrefixStore>("signopt/gloo/", store);

  try {
    // make_intrusive<Options> (not the inline Options::create) keeps ProcessGroupGloo's inline members
    // out of this library; the constructor itself is libtorch's.
    auto options = c10::make_intrusive<c10d::ProcessGroupGloo::Options>(timeout);
    const auto ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifname != nullptr && *ifname != '\0')
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (env.world_size == 1 || is_loopback(env.master_addr))
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(
        store, static_cast<int>(env.rank), static_cast<int>(env.world_size), options);
  } catch (const std::exception& e) {
    throw PeerFailure(
        impl_->rank_prefix() + "connecting the Gloo process group of " + std::to_string(env.world_size) +
        " ranks (store " + where + ") failed or timed out after " + std::to_string(timeout.count()) +
        " ms (a peer may have died, or GLOO_SOCKET_IFNAME names a wrong interface): " + error_text(e));
  }
}

Communicator::~Communicator() = default;

int64_t Communicator::rank() const {
  return impl_->env.rank;
}

int64_t Communicator::world_size() const {
  return impl_->env.world_size;
}

std::chrono::milliseconds Communicator::timeout() const {
  return impl_->timeout;
}

void Communicator::broadcast_(torch::Tensor& tensor, int64_t root) {
  impl_->check_tensor("broadcast_", tensor);
  const int64_t w = world_size();
  if (root < 0 || root >= w)
    throw std::invalid_argument(
        impl_->rank_prefix() + "broadcast_: root must be in [0, " + std::to_string(w) + "), got " +
        std::to_string(root));
  impl_->finish("broadcast_", [&] {
    std::vector<torch::Tensor> tensors{tensor};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    opts.timeout = impl_->timeout;
    return impl_->backend->broadcast(tensors, opts);
  });
  const int64_t n = tensor.nbytes();
  if (rank() != root)
    impl_->received += n;
  impl_->sent += n * binomial_tree_children(rank(), root, w);
}

void Communicator::allreduce_sum_(torch::Tensor& tensor) {
  impl_->check_tensor("allreduce_sum_", tensor);
  impl_->finish("allreduce_sum_", [&] {
    std::vector<torch::Tensor> tensors{tensor};
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    opts.timeout = impl_->timeout;
    return impl_->backend->allreduce(tensors, opts);
  });
  const int64_t w = world_size();
  const int64_t moved = 2 * (w - 1) * static_cast<int64_t>(tensor.nbytes()) / w;
  impl_->sent += moved;
  impl_->received += moved;
}

torch::Tensor Communicator::allgather(const torch::Tensor& in) {
  impl_->check_tensor("allgather", in);
  const int64_t w = world_size();
  std::vector<int64_t> shape{w};
  shape.insert(shape.end(), in.sizes().begin(), in.sizes().end());
  // Gloo gathers flat buffers: W chunks of in.numel() along dim 0 of the output.
  auto flat_out = torch::empty({w * in.numel()}, in.options());
  impl_->finish("allgather", [&] {
    auto flat_in = in.reshape({-1});
    c10d::AllgatherOptions opts;
    opts.timeout = impl_->timeout;
    return impl_->backend->all_gather_single(flat_out, flat_in, opts);
  });
  auto out = flat_out.view(shape);
  const int64_t moved = (w - 1) * static_cast<int64_t>(in.nbytes());
  impl_->sent += moved;
  impl_->received += moved;
  return out;
}

torch::Tensor Communicator::alltoall(const torch::Tensor& in) {
  impl_->check_tensor("alltoall", in);
  const int64_t w = world_size();
  if (in.dim() == 0 || in.size(0) % w != 0)
    throw std::invalid_argument(
        impl_->rank_prefix() + "alltoall: the input's first dimension must split into " + std::to_string(w) +
        " equal chunks, got shape " + c10::str(in.sizes()));
  auto out = torch::empty_like(in);
  impl_->finish("alltoall", [&] {
    auto input = in;
    std::vector<int64_t> equal_splits; // empty: W equal chunks
    c10d::AllToAllOptions opts;
    opts.timeout = impl_->timeout;
    return impl_->backend->all_to_all_single(out, input, equal_splits, equal_splits, opts);
  });
  const int64_t moved = (w - 1) * static_cast<int64_t>(in.nbytes()) / w;
  impl_->sent += moved;
  impl_->received += moved;
  return out;
}

void Communicator::barrier() {
  impl_->finish("barrier", [&] {
    c10d::BarrierOptions opts;
    opts.timeout = impl_->timeout;
    return impl_->backend->barrier(opts);
  });
}

int64_t Communicator::bytes_sent() const {
  return impl_->sent;
}

int64_t Communicator::bytes_received() const {
  return impl_->received;
}

} // namespace signopt::comm

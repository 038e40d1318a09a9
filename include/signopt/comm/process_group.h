// Data-parallel communication (issue 6): a Gloo process group of PyTorch's c10d, joined through a TCPStore
// rendezvous from the torchrun environment variables, with collectives that fail within a timeout.
#pragma once

#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace signopt::comm {

/// Where this process sits in a job, as any launcher that follows torchrun's conventions describes it
/// (torchrun --no-python, mpirun wrappers, cluster schedulers).
struct DistEnv {
  /// This process's rank, in [0, world_size).
  int64_t rank = 0;
  /// The number of processes in the job, >= 1.
  int64_t world_size = 1;
  /// The rank among the processes on this machine, >= 0 (informational: signopt runs on the CPU).
  int64_t local_rank = 0;
  /// Host of the TCPStore (rank 0's machine); 127.0.0.1 or localhost keep all traffic on loopback.
  std::string master_addr = "127.0.0.1";
  /// Port of the TCPStore on master_addr, in [1, 65535].
  int master_port = 29500;
  /// True under torchrun (TORCHELASTIC_USE_AGENT_STORE=True): torchrun's agent already hosts the
  /// TCPStore on master_addr:master_port, so every rank, rank 0 included, connects to it as a client.
  bool agent_store = false;
  /// TORCHELASTIC_RESTART_COUNT: keys of restarted workers live under their own prefix in the agent's
  /// store, so that a restart never reads the keys of the attempt before it.
  int64_t restart_count = 0;

  /// Reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (and torchrun's
  /// TORCHELASTIC_USE_AGENT_STORE and TORCHELASTIC_RESTART_COUNT). None of RANK and WORLD_SIZE set means
  /// a single process (the defaults above); one of them without the other, a value that is not an integer
  /// or is out of range, or WORLD_SIZE > 1 without MASTER_ADDR and MASTER_PORT throws std::invalid_argument
  /// naming the variable and its value.
  static DistEnv from_environment();

  /// Throws std::invalid_argument naming the field and the value when one is out of range.
  void validate() const;
};

/// A c10d ProcessGroupGloo over TCP with blocking collectives on CPU tensors.
///
/// Construction is collective: rank 0 hosts a c10d::TCPStore on master_addr:master_port (unless
/// DistEnv::agent_store), every rank connects to it, then the Gloo process group connects all pairs of
/// ranks. Gloo binds to the loopback device when master_addr is 127.0.0.1 or localhost, to the interface
/// named by GLOO_SOCKET_IFNAME when set, and otherwise to the address of this machine's hostname. A single
/// process (world_size 1) uses an in-memory store and no port.
///
/// Every collective must be called by all ranks in the same order (c10d's contract). Each waits at most
/// `timeout`; a peer that died, hung or called a different collective turns into std::runtime_error
/// "rank R: <collective> failed or timed out after N ms (a peer may have died or hung): <c10d message>".
/// After such an error the communicator cannot be used again (the job should exit).
///
/// bytes_sent() and bytes_received() add up, per call, the payload this rank puts on and takes off the
/// wire under Gloo's algorithm for that collective, N being the tensor's size in bytes and W the world
/// size (the formulas are exact for Gloo's byte layout up to the ring allreduce's segment rounding):
///   broadcast_      binomial tree: every non-root receives N; a rank sends N to each of its children.
///   allreduce_sum_  ring (reduce-scatter + allgather): sends and receives 2 (W-1) N / W.
///   allgather       ring: sends and receives (W-1) N, N the input's size.
///   alltoall        pairwise exchange: sends and receives (W-1) N / W, N the input's size.
///   barrier         0 (only empty synchronisation messages).
/// A single process moves no bytes.
/// A collective, the rendezvous or the connection failed because another rank did not take part (it died,
/// hung or was never started): the error of a rank that was waiting, not the cause. Launchers blame the
/// rank that failed otherwise or stopped responding (the trainer exits with status 4 on it).
class PeerFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Communicator {
 public:
  /// Joins the job described by `env` (validated first); waits at most `timeout` (> 0) for each collective
  /// and `rendezvous_timeout` (0 = `timeout`) for every rank to reach the TCPStore and publish its address
  /// (a longer rendezvous lets slow process starts pass without loosening the collectives). Throws
  /// std::invalid_argument for a bad env or timeout and std::runtime_error naming the rank and the store's
  /// address when the rendezvous fails or times out (e.g. rank 0 never started, or ranks disagree on
  /// MASTER_ADDR/MASTER_PORT).
  ///
  /// Joining a job of more than one rank sets SIGPIPE to ignored when it still has its default action (as
  /// Python does at start-up; a handler the program installed is left alone). Otherwise a write to the
  /// socket of a peer that just died would kill this process with SIGPIPE instead of failing the collective
  /// with a PeerFailure, and the process could not report or record its failure.
  explicit Communicator(
      const DistEnv& env,
      std::chrono::milliseconds timeout = std::chrono::seconds(300),
      std::chrono::milliseconds rendezvous_timeout = std::chrono::milliseconds(0));
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  /// This process's rank.
  int64_t rank() const;
  /// The number of processes.
  int64_t world_size() const;
  /// The limit on the rendezvous and on each collective.
  std::chrono::milliseconds timeout() const;

  /// Overwrites `tensor` on every rank with root's `tensor`. It must be a defined, contiguous CPU tensor
  /// of the same shape and dtype on every rank; root in [0, world_size).
  void broadcast_(torch::Tensor& tensor, int64_t root);
  /// Replaces `tensor` on every rank with the elementwise sum over ranks (same requirements).
  void allreduce_sum_(torch::Tensor& tensor);
  /// Returns a W x in.sizes() tensor whose row r is rank r's `in` (any dtype Gloo handles: floating
  /// types, uint8, int8, int32, int64; same shape and dtype on every rank).
  torch::Tensor allgather(const torch::Tensor& in);
  /// Splits `in` into W equal chunks along dim 0 (in.size(0) divisible by W) and sends chunk j to rank j;
  /// returns a tensor shaped like `in` whose chunk j is the chunk that rank j sent here.
  torch::Tensor alltoall(const torch::Tensor& in);
  /// Returns once every rank has called barrier().
  void barrier();

  /// Payload bytes this rank has sent since construction (formulas above).
  int64_t bytes_sent() const;
  /// Payload bytes this rank has received since construction (formulas above).
  int64_t bytes_received() const;

 private:
  struct Impl;
  // c10d's and Gloo's headers stay inside process_group.cpp (see docs/distributed.md).
  std::unique_ptr<Impl> impl_;
};

} // namespace signopt::comm

// Data-parallel helpers over a Communicator (issue 6): identical start on every rank, and full-precision
// gradient averaging for the phases that do not vote (SGD, Adam, the hybrid after its switch).
#pragma once

#include <signopt/comm/process_group.h>

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace signopt::comm {

/// Overwrites every tensor in `tensors` with root's values, so that all ranks start from the same model.
/// Tensors are grouped into one flat bucket per dtype (one broadcast each). Every rank must pass tensors of
/// the same shapes and dtypes in the same order; each must be a defined dense CPU tensor (any dtype c10d's
/// Gloo backend supports). Autograd does not see the copy. Throws std::invalid_argument naming the tensor
/// for bad input, and the Communicator's std::runtime_error when a peer fails.
void broadcast_parameters_(Communicator& comm, const std::vector<torch::Tensor>& tensors, int64_t root = 0);

/// broadcast_parameters_ of module.parameters() followed by module.buffers() (e.g. BatchNorm statistics).
void broadcast_module_(Communicator& comm, const torch::nn::Module& module, int64_t root = 0);

/// Replaces each parameter's gradient by its mean over the ranks: one allreduce of a flat bucket per dtype
/// (float32 and float64; bfloat16 and float16 buckets are summed and divided in float32, then rounded to
/// nearest), then a division by W. Parameters whose gradient is undefined are skipped; they must be the same
/// on every rank: each call first allgathers the bucket sizes (32 bytes per rank) and throws
/// std::invalid_argument on every rank, naming both sizes, when two ranks differ. A gradient that is not a
/// dense CPU float32/float64/bfloat16/float16 tensor throws std::invalid_argument naming the parameter.
void average_gradients_(Communicator& comm, const std::vector<torch::Tensor>& params);

/// Returns root's `data` on every rank (the other ranks' arguments are ignored): two broadcasts, the length
/// and the bytes. Used for the config and the checkpoint of a resumed run, which only rank 0 can read.
std::string broadcast_bytes(Communicator& comm, const std::string& data, int64_t root = 0);

/// Returns every rank's `data`, indexed by rank, on every rank: an allgather of the lengths, then one of
/// the bytes padded to the longest (so each rank receives (W - 1) times the longest length). Used to bring
/// every rank's optimizer state to rank 0 for its checkpoint.
std::vector<std::string> allgather_bytes(Communicator& comm, const std::string& data);

} // namespace signopt::comm

// Data-parallel helpers: broadcast of the initial model and bucketed fp32/fp64 gradient averaging.
#include <signopt/comm/data_parallel.h>

#include <torch/torch.h>

#include <array>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>

namespace signopt::comm {

namespace {

[[noreturn]] void fail(const std::string& function, const std::string& what) {
  throw std::invalid_argument("signopt::comm::" + function + ": " + what);
}

// Indices of `tensors` grouped by dtype, in a fixed dtype order so every rank issues the same collectives.
std::map<torch::ScalarType, std::vector<size_t>> by_dtype(const std::vector<torch::Tensor>& tensors) {
  std::map<torch::ScalarType, std::vector<size_t>> groups;
  for (size_t i = 0; i < tensors.size(); ++i)
    groups[tensors[i].scalar_type()].push_back(i);
  return groups;
}

// Copies the tensors of one group into a new flat tensor of their dtype.
torch::Tensor flatten(const std::vector<torch::Tensor>& tensors, const std::vector<size_t>& indices) {
  int64_t n = 0;
  for (size_t i : indices)
    n += tensors[i].numel();
  auto flat = torch::empty({n}, tensors[indices.front()].options());
  int64_t offset = 0;
  for (size_t i : indices) {
    flat.narrow(0, offset, tensors[i].numel()).copy_(tensors[i].reshape({-1}));
    offset += tensors[i].numel();
  }
  return flat;
}

// Copies a flat tensor back into the tensors of one group (in place, whatever their strides).
void unflatten_into(
    const torch::Tensor& flat,
    const std::vector<torch::Tensor>& tensors,
    const std::vector<size_t>& indices) {
  int64_t offset = 0;
  for (size_t i : indices) {
    auto target = tensors[i];
    target.copy_(flat.narrow(0, offset, target.numel()).view(target.sizes()));
    offset += target.numel();
  }
}

} // namespace

void broadcast_parameters_(Communicator& comm, const std::vector<torch::Tensor>& tensors, int64_t root) {
  if (root < 0 || root >= comm.world_size())
    fail(
        "broadcast_parameters_",
        "root must be in [0, " + std::to_string(comm.world_size()) + "), got " + std::to_string(root));
  std::vector<torch::Tensor> data;
  data.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (!t.defined())
      fail("broadcast_parameters_", "tensor " + std::to_string(i) + " is undefined");
    if (!t.device().is_cpu() || t.layout() != torch::kStrided)
      fail(
          "broadcast_parameters_",
          "tensor " + std::to_string(i) + " is not a dense CPU tensor; broadcast the model before moving it");
    data.push_back(t.detach());
  }
  torch::NoGradGuard no_grad;
  for (const auto& [dtype, indices] : by_dtype(data)) {
    auto flat = flatten(data, indices);
    comm.broadcast_(flat, root);
    unflatten_into(flat, data, indices);
  }
}

void broadcast_module_(Communicator& comm, const torch::nn::Module& module, int64_t root) {
  auto tensors = module.parameters();
  for (const auto& b : module.buffers())
    tensors.push_back(b);
  broadcast_parameters_(comm, tensors, root);
}

void average_gradients_(Communicator& comm, const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> grads;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i].defined())
      fail("average_gradients_", "parameter " + std::to_string(i) + " is undefined");
    const auto& g = params[i].grad();
    if (!g.defined())
      continue;
    if (!g.device().is_cpu() || g.layout() != torch::kStrided)
      fail(
          "average_gradients_",
          "parameter " + std::to_string(i) + "'s gradient is not a dense CPU tensor (sparse gradients and " +
              "devices other than the CPU are not supported)");
    const auto t = g.scalar_type();
    if (t != torch::kFloat && t != torch::kDouble && t != torch::kBFloat16 && t != torch::kHalf)
      fail(
          "average_gradients_",
          "parameter " + std::to_string(i) + "'s gradient has dtype " + std::string(c10::toString(t)) +
              "; only float32, float64, bfloat16 and float16 gradients are averaged");
    grads.push_back(g);
  }
  const auto groups = by_dtype(grads);
  const auto count = [&](torch::ScalarType dtype) {
    int64_t n = 0;
    if (groups.count(dtype) != 0)
      for (size_t i : groups.at(dtype))
        n += grads[i].numel();
    return n;
  };
  // Buckets of different sizes would be summed into garbage or fail deep inside Gloo; compare them first.
  const std::array<torch::ScalarType, 4> dtypes = {torch::kFloat, torch::kDouble, torch::kBFloat16, torch::kHalf};
  const std::array<const char*, 4> names = {"float32", "float64", "bfloat16", "float16"};
  std::vector<int64_t> mine;
  for (const auto dtype : dtypes)
    mine.push_back(count(dtype));
  const auto sizes = comm.allgather(torch::tensor(mine, torch::kInt64)).contiguous();
  const auto describe = [&](const std::vector<int64_t>& n) {
    std::string text;
    for (size_t k = 0; k < dtypes.size(); ++k)
      text += (k == 0 ? "" : ", ") + std::to_string(n[k]) + " " + names[k];
    return text;
  };
  for (int64_t r = 0; r < comm.world_size(); ++r) {
    const int64_t* row = sizes[r].data_ptr<int64_t>();
    const std::vector<int64_t> theirs(row, row + dtypes.size());
    if (theirs != mine)
      fail(
          "average_gradients_",
          "rank " + std::to_string(r) + " has " + describe(theirs) + " gradient elements, rank " +
              std::to_string(comm.rank()) + " has " + describe(mine) +
              "; every rank must run the same model and leave the same gradients undefined");
  }
  torch::NoGradGuard no_grad;
  for (const auto& [dtype, indices] : groups) {
    // 16-bit gradients are summed and divided in float32, then rounded to nearest (the same on every rank).
    const bool half = dtype == torch::kBFloat16 || dtype == torch::kHalf;
    auto flat = half ? flatten(grads, indices).to(torch::kFloat) : flatten(grads, indices);
    comm.allreduce_sum_(flat);
    flat.div_(static_cast<double>(comm.world_size()));
    unflatten_into(half ? flat.to(dtype) : flat, grads, indices);
  }
}

std::string broadcast_bytes(Communicator& comm, const std::string& data, int64_t root) {
  if (root < 0 || root >= comm.world_size())
    fail("broadcast_bytes", "root must be in [0, " + std::to_string(comm.world_size()) + "), got " + std::to_string(root));
  auto length = torch::tensor({static_cast<int64_t>(data.size())}, torch::kInt64);
  comm.broadcast_(length, root);
  const int64_t n = length.item<int64_t>();
  if (n == 0)
    return {};
  auto bytes = torch::empty({n}, torch::kUInt8);
  if (comm.rank() == root)
    std::memcpy(bytes.data_ptr<uint8_t>(), data.data(), static_cast<size_t>(n));
  comm.broadcast_(bytes, root);
  return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(n));
}

std::vector<std::string> allgather_bytes(Communicator& comm, const std::string& data) {
  const auto lengths = comm.allgather(torch::tensor({static_cast<int64_t>(data.size())}, torch::kInt64));
  const int64_t longest = lengths.max().item<int64_t>();
  std::vector<std::string> out(static_cast<size_t>(comm.world_size()));
  if (longest == 0)
    return out;
  auto mine = torch::zeros({longest}, torch::kUInt8);
  if (!data.empty())
    std::memcpy(mine.data_ptr<uint8_t>(), data.data(), data.size());
  const auto all = comm.allgather(mine).contiguous();
  const auto* base = reinterpret_cast<const char*>(all.data_ptr<uint8_t>());
  for (int64_t r = 0; r < comm.world_size(); ++r)
    out[static_cast<size_t>(r)].assign(base + r * longest, static_cast<size_t>(lengths[r][0].item<int64_t>()));
  return out;
}

} // namespace signopt::comm

// ScaledSignExchange: distributed EF-SignSGD's exchange of 1-bit signs and per-tensor scales.
#include <signopt/comm/scaled_sign_exchange.h>

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>

namespace signopt::comm {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point& start) {
  const auto now = Clock::now();
  const double s = std::chrono::duration<double>(now - start).count();
  start = now;
  return s;
}

[[noreturn]] void fail(const std::string& what) {
  throw std::invalid_argument("signopt::comm::ScaledSignExchange: " + what);
}

} // namespace

int64_t scaled_sign_bytes_per_rank(const std::vector<int64_t>& sizes, int64_t world_size) {
  if (world_size < 1)
    throw std::invalid_argument("scaled_sign_bytes_per_rank: world_size must be >= 1, got " + std::to_string(world_size));
  int64_t words = 0;
  for (int64_t n : sizes) {
    if (n < 0)
      throw std::invalid_argument("scaled_sign_bytes_per_rank: sizes must be >= 0, got " + std::to_string(n));
    words += packed_words(n);
  }
  if (world_size == 1)
    return 0;
  const int64_t scale_bytes = sizes.empty() ? 0 : 8 * static_cast<int64_t>(sizes.size());
  return (world_size - 1) * (8 * words + scale_bytes);
}

ScaledSignExchange::ScaledSignExchange(Communicator& comm) : comm_(comm) {}

std::vector<torch::Tensor> ScaledSignExchange::aggregate_signs(const std::vector<torch::Tensor>&, int64_t) {
  throw std::logic_error(
      "signopt::comm::ScaledSignExchange exchanges EF-SignSGD's scaled signs; a majority vote needs "
      "signopt::comm::MajorityVote");
}

void ScaledSignExchange::allreduce_sum(std::vector<double>& values) {
  if (values.empty())
    return;
  auto t = torch::tensor(values, torch::kDouble);
  comm_.allreduce_sum_(t);
  const double* summed = t.data_ptr<double>();
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = summed[i];
}

std::vector<torch::Tensor> ScaledSignExchange::aggregate_scaled_signs(
    const std::vector<torch::Tensor>& local_signs,
    const std::vector<double>& scales,
    int64_t step) {
  if (step < 0)
    fail("step must be >= 0, got " + std::to_string(step));
  if (scales.size() != local_signs.size())
    fail(
        "got " + std::to_string(local_signs.size()) + " sign tensors but " + std::to_string(scales.size()) +
        " scales; pass one scale per tensor");
  std::vector<int64_t> offsets; // first word of each tensor's packed signs
  int64_t words = 0;
  for (size_t i = 0; i < local_signs.size(); ++i) {
    const auto& t = local_signs[i];
    const std::string name = "sign tensor " + std::to_string(i);
    if (!t.defined())
      fail(name + " is undefined; pass one defined tensor per parameter");
    if (!t.device().is_cpu() || t.layout() != torch::kStrided)
      fail(name + " is not a dense CPU tensor; the exchange runs on the CPU (move it with .cpu())");
    if (t.scalar_type() != torch::kFloat && t.scalar_type() != torch::kDouble)
      fail(name + " has dtype " + std::string(c10::toString(t.scalar_type())) + "; only float32 and float64 signs can be packed");
    if (!std::isfinite(scales[i]))
      fail("scale " + std::to_string(i) + " is not finite (" + std::to_string(scales[i]) + ")");
    if (t.numel() > 0 && !t.abs().eq(1).all().item<bool>())
      fail(name + " has values other than +1 and -1; send a 0 as +1 and keep the difference as error feedback");
    offsets.push_back(words);
    words += packed_words(t.numel());
  }
  const int64_t world = comm_.world_size();
  const int64_t rank = comm_.rank();
  const int64_t count = static_cast<int64_t>(local_signs.size());
  if (!layout_checked_) {
    const auto layout = comm_.allgather(torch::tensor({words, count}, torch::kInt64));
    for (int64_t r = 0; r < world; ++r) {
      if (layout[r][0].item<int64_t>() != words || layout[r][1].item<int64_t>() != count)
        fail(
            "rank " + std::to_string(r) + " passes " + std::to_string(layout[r][1].item<int64_t>()) + " tensors in " +
            std::to_string(layout[r][0].item<int64_t>()) + " packed words, but rank " + std::to_string(rank) +
            " passes " + std::to_string(count) + " in " + std::to_string(words) +
            "; every rank must run the same model and pass the same parameters in the same order");
    }
    layout_checked_ = true;
  }

  ExchangeStats s;
  s.exchanges = 1;
  for (const auto& t : local_signs)
    s.coordinates += t.numel();
  s.planes = 1;
  std::vector<torch::Tensor> out;
  out.reserve(local_signs.size());
  const int64_t sent_before = comm_.bytes_sent();
  const int64_t received_before = comm_.bytes_received();
  auto clock = Clock::now();

  // 1. Each tensor's signs packed at its own word offset (no zeros: the values are +-1).
  auto packed = torch::zeros({std::max<int64_t>(words, 1)}, torch::kInt64);
  for (size_t i = 0; i < local_signs.size(); ++i) {
    const auto& t = local_signs[i];
    if (t.numel() == 0)
      continue;
    auto segment = packed.narrow(0, offsets[i], packed_words(t.numel()));
    pack_signs_into(t.contiguous(), segment, ZeroSign::Positive);
  }
  s.pack_s = seconds_since(clock);

  // 2. Every rank's packed signs and scales.
  if (count == 0) {
    last_ = s;
    total_ += s;
    return out;
  }
  // [W, words]; every rank has the same number of words (checked above), so all skip an empty allgather.
  const auto all_bits = words > 0 ? comm_.allgather(packed.narrow(0, 0, words)).contiguous() : torch::Tensor();
  const auto all_scales = comm_.allgather(torch::tensor(scales, torch::kDouble)).contiguous(); // [W, count]
  s.allgather_s = seconds_since(clock);

  // 3. (1 / W) sum_w scale_w[i] sign_w[i], in rank order on every rank.
  const auto* scale = all_scales.data_ptr<double>();
  for (size_t i = 0; i < local_signs.size(); ++i) {
    const auto& t = local_signs[i];
    auto sum = torch::zeros({t.numel()}, t.options().memory_format(torch::MemoryFormat::Contiguous));
    if (t.numel() > 0) {
      auto term = torch::empty_like(sum);
      for (int64_t r = 0; r < world; ++r) {
        const auto bits = all_bits[r].narrow(0, offsets[i], packed_words(t.numel()));
        unpack_signs_into(bits, term, scale[r * count + static_cast<int64_t>(i)]);
        sum.add_(term);
      }
      sum.div_(static_cast<double>(world));
    }
    out.push_back(sum.view(t.sizes()));
  }
  s.unpack_s = seconds_since(clock);
  s.bytes_sent = comm_.bytes_sent() - sent_before;
  s.bytes_received = comm_.bytes_received() - received_before;
  last_ = s;
  total_ += s;
  return out;
}

} // namespace signopt::comm

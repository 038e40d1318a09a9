// MajorityVote: the sharded 1-bit exchange of signSGD with majority vote (pack, alltoall, vote, allgather,
// unpack) over a signopt::comm::Communicator.
#include <signopt/comm/majority_vote.h>

#include <chrono>
#include <algorithm>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <utility>

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
  throw std::invalid_argument("signopt::comm::MajorityVote: " + what);
}

// `cache` when it already has this shape and dtype and nobody else holds it or a view of it (the caller has
// dropped the previous exchange's result), else a new tensor that becomes the cache. Reuse matters: a fresh
// 44 MB buffer (11M floats) comes from mmap every time, and its page faults cost several times the
// unpacking itself.
torch::Tensor reusable(torch::Tensor& cache, torch::IntArrayRef sizes, torch::ScalarType dtype) {
  if (!cache.defined() || cache.sizes() != sizes || cache.scalar_type() != dtype || cache.use_count() != 1 ||
      cache.storage().use_count() != 1)
    cache = torch::empty(sizes, dtype);
  return cache;
}

int64_t popcount_words(const torch::Tensor& words) {
  return count_bits_at(reinterpret_cast<const uint64_t*>(words.data_ptr<int64_t>()), 0, 64 * words.numel());
}

} // namespace

int64_t majority_vote_planes(int64_t world_size, TieRule ties) {
  return ties == TieRule::Zero && world_size % 2 == 0 && world_size >= 4 ? 2 : 1;
}

double ExchangeStats::total_s() const {
  return pack_s + alltoall_s + vote_s + allgather_s + unpack_s;
}

ExchangeStats& ExchangeStats::operator+=(const ExchangeStats& other) {
  exchanges += other.exchanges;
  packed += other.packed;
  coordinates += other.coordinates;
  shard_words += other.shard_words;
  planes += other.planes;
  zero_signs += other.zero_signs;
  own_ties += other.own_ties;
  bytes_sent += other.bytes_sent;
  bytes_received += other.bytes_received;
  pack_s += other.pack_s;
  alltoall_s += other.alltoall_s;
  vote_s += other.vote_s;
  allgather_s += other.allgather_s;
  unpack_s += other.unpack_s;
  return *this;
}

int64_t majority_vote_bytes_per_rank(int64_t coordinates, int64_t world_size, int64_t planes) {
  if (coordinates < 0 || world_size < 1 || planes < 1 || planes > 2) {
    std::ostringstream m;
    m << "signopt::comm::majority_vote_bytes_per_rank: need coordinates >= 0, world_size >= 1 and planes in "
         "{1, 2}, got coordinates = "
      << coordinates << ", world_size = " << world_size << ", planes = " << planes;
    throw std::invalid_argument(m.str());
  }
  const int64_t shard = (packed_words(coordinates) + world_size - 1) / world_size;
  return 8 * shard * (world_size - 1) * (1 + planes);
}

MajorityVote::MajorityVote(Communicator& comm, MajorityVoteOptions options) : comm_(comm), options_(options) {}

void MajorityVote::check_layout_(int64_t d, int64_t tensors) {
  if (layout_checked_)
    return;
  // Ranks that pass different parameters would exchange shards of different sizes, which c10d reports
  // only as a size mismatch or a timeout; one allgather on the first call names the difference.
  const int64_t world = comm_.world_size();
  const auto layout = comm_.allgather(torch::tensor({d, tensors}, torch::kInt64));
  for (int64_t r = 0; r < world; ++r) {
    const int64_t their_d = layout[r][0].item<int64_t>();
    const int64_t their_count = layout[r][1].item<int64_t>();
    if (their_d != d || their_count != tensors)
      fail(
          "rank " + std::to_string(r) + " passes " + std::to_string(their_count) + " parameters with " +
          std::to_string(their_d) + " coordinates, but rank " + std::to_string(comm_.rank()) + " passes " +
          std::to_string(tensors) + " with " + std::to_string(d) +
          "; every rank must run the same model and pass the same parameters in the same order");
  }
  layout_checked_ = true;
}

PackedDirection MajorityVote::vote_packed_(int64_t d, int64_t step, ExchangeStats& s) {
  const int64_t sent_before = comm_.bytes_sent();
  const int64_t received_before = comm_.bytes_received();
  PackedDirection out = collectives_(d, step, s);
  s.bytes_sent = comm_.bytes_sent() - sent_before;
  s.bytes_received = comm_.bytes_received() - received_before;
  return out;
}

void MajorityVote::record_(const ExchangeStats& s) {
  last_ = s;
  total_ += s;
}

PackedDirection MajorityVote::collectives_(int64_t d, int64_t step, ExchangeStats& s) {
  const int64_t world = comm_.world_size();
  const int64_t rank = comm_.rank();
  const int64_t words = packed_words(d);
  const int64_t shard = s.shard_words;
  auto clock = Clock::now();
  const auto send = send_buffer_;
  const auto packed = send.narrow(0, 0, words);

  if (world == 2 && options_.ties() == TieRule::Zero)
    return vote_two_(d, s);

  // 2. Row j of `mine` is rank j's packed shard `rank`.
  const auto mine = comm_.alltoall(send.view({world, shard}));
  s.alltoall_s = seconds_since(clock);

  // 3. The vote on this rank's shard; shard words past d are 0 on every rank, so they vote 0 with no tie.
  auto vote = majority_vote(mine, 64 * shard);
  s.own_ties = world % 2 == 0 ? popcount_words(vote.tie) : 0;
  // A tie takes the owner's coin: what pack_signs(ZeroSign::Random) draws for a zero at its index in the
  // shard (a tied coordinate's sign bit is 0, so this sets exactly the coins that came up +1).
  if (options_.ties() == TieRule::SharedCoin && s.own_ties > 0)
    resolve_zero_signs(
        reinterpret_cast<uint64_t*>(vote.sign.data_ptr<int64_t>()),
        reinterpret_cast<const uint64_t*>(vote.tie.data_ptr<int64_t>()),
        shard,
        ZeroSign::Random,
        zero_sign_key(options_.seed(), static_cast<uint64_t>(step), rank, kTieCoinBucket));
  s.vote_s = seconds_since(clock);

  // 4. Every rank's voted shard (and tie plane), in rank order = coordinate order.
  PackedDirection out;
  if (s.planes == 2) {
    const auto gathered = comm_.allgather(torch::cat({vote.sign, vote.tie}));
    out.sign = gathered.narrow(1, 0, shard).reshape({-1}).narrow(0, 0, words).contiguous();
    out.zero = gathered.narrow(1, shard, shard).reshape({-1}).narrow(0, 0, words).contiguous();
  } else {
    out.sign = comm_.allgather(vote.sign).view({-1}).narrow(0, 0, words);
  }
  s.allgather_s = seconds_since(clock);
  return out;
}

PackedDirection MajorityVote::vote_two_(int64_t d, ExchangeStats& s) {
  // Two ranks with ties kept as 0: the alltoall and the allgather of halves would each move S words per
  // rank; one allgather of the whole padded vector moves the same 2 S words and pays one collective's
  // latency instead of two. Each rank then votes on every coordinate itself (cheap without coins: a tie is
  // where the two signs differ). With TieRule::SharedCoin the sharded path stays: there each rank draws the
  // coins of its own half only.
  const int64_t words = packed_words(d);
  const int64_t shard = s.shard_words;
  auto clock = Clock::now();
  const auto both = comm_.allgather(send_buffer_); // [2, 2 S]
  s.allgather_s = seconds_since(clock);
  const auto* a = reinterpret_cast<const uint64_t*>(both[0].data_ptr<int64_t>());
  const auto* b = reinterpret_cast<const uint64_t*>(both[1].data_ptr<int64_t>());
  PackedDirection out;
  out.sign = reusable(vote_sign_buffer_, {words}, torch::kLong);
  auto tie_t = reusable(vote_tie_buffer_, {words}, torch::kLong);
  auto* sign = reinterpret_cast<uint64_t*>(out.sign.data_ptr<int64_t>());
  auto* tie = reinterpret_cast<uint64_t*>(tie_t.data_ptr<int64_t>());
  for (int64_t k = 0; k < words; ++k) {
    sign[k] = a[k] & b[k]; // both +1
    tie[k] = a[k] ^ b[k]; // one each
  }
  const int64_t own_begin = std::min(words, comm_.rank() * shard);
  const int64_t own_end = std::min(words, own_begin + shard);
  s.own_ties = popcount_words(tie_t.narrow(0, own_begin, own_end - own_begin));
  out.zero = tie_t;
  s.vote_s = seconds_since(clock);
  return out;
}

namespace {

ExchangeStats start_stats(int64_t d, int64_t world, TieRule ties) {
  ExchangeStats s;
  s.exchanges = 1;
  s.coordinates = d;
  s.shard_words = (packed_words(d) + world - 1) / world;
  s.planes = majority_vote_planes(world, ties);
  return s;
}

void check_packed_input(const torch::Tensor& t, const char* what, int64_t d) {
  if (!t.device().is_cpu() || !t.is_contiguous() || t.scalar_type() != torch::kLong)
    fail(
        std::string("aggregate_packed: ") + what +
        " must be a contiguous int64 CPU tensor of packed words (signopt/kernels/bitpack.h)");
  if (t.numel() < packed_words(d))
    fail(
        std::string("aggregate_packed: ") + what + " has " + std::to_string(t.numel()) + " words, but " +
        std::to_string(d) + " coordinates need " + std::to_string(packed_words(d)));
}

} // namespace

std::vector<torch::Tensor> MajorityVote::aggregate_signs(const std::vector<torch::Tensor>& local, int64_t step) {
  int64_t d = 0;
  for (size_t i = 0; i < local.size(); ++i) {
    const auto& t = local[i];
    if (!t.defined())
      fail("local sign tensor " + std::to_string(i) + " is undefined; pass one defined tensor per parameter");
    if (!t.device().is_cpu() || t.layout() != torch::kStrided)
      fail(
          "local sign tensor " + std::to_string(i) + " is not a dense CPU tensor; the exchange runs on the CPU " +
          "(move the signs with .cpu())");
    if (t.scalar_type() != torch::kFloat && t.scalar_type() != torch::kDouble)
      fail(
          "local sign tensor " + std::to_string(i) + " has dtype " + std::string(c10::toString(t.scalar_type())) +
          "; only float32 and float64 signs can be packed");
    d += t.numel();
  }
  if (step < 0)
    fail("step must be >= 0, got " + std::to_string(step));

  const int64_t world = comm_.world_size();
  const int64_t rank = comm_.rank();
  check_layout_(d, static_cast<int64_t>(local.size()));

  ExchangeStats s = start_stats(d, world, options_.ties());
  const int64_t words = packed_words(d);
  const int64_t shard = s.shard_words;
  std::vector<torch::Tensor> voted;
  voted.reserve(local.size());
  if (d == 0) {
    // Every rank has d = 0 (checked above): nothing to send.
    for (const auto& t : local)
      voted.push_back(torch::zeros_like(t, torch::MemoryFormat::Contiguous));
    record_(s);
    return voted;
  }

  auto clock = Clock::now();

  // 1. Flatten (skipped for a single contiguous tensor) and pack into W zero-padded shards.
  const bool single = local.size() == 1 && local[0].is_contiguous();
  torch::Tensor flat;
  if (single) {
    flat = local[0];
  } else {
    flat = reusable(flat_buffer_, {d}, torch::kFloat);
    int64_t offset = 0;
    for (const auto& t : local) {
      flat.narrow(0, offset, t.numel()).copy_(t.reshape({-1}));
      offset += t.numel();
    }
  }
  auto send = reusable(send_buffer_, {world * shard}, torch::kInt64);
  auto packed = send.narrow(0, 0, words);
  s.zero_signs = pack_signs_into(
      flat, packed, options_.zero(), zero_sign_key(options_.seed(), static_cast<uint64_t>(step), rank, 0));
  send.narrow(0, words, world * shard - words).zero_();
  s.pack_s = seconds_since(clock);

  // 2-4. Alltoall, vote, allgather.
  const PackedDirection bits = vote_packed_(d, step, s);
  clock = Clock::now();

  // 5. Unpack (ties to 0) straight into the result, or into one float32 buffer split into the parameters.
  if (single) {
    auto out = reusable(result_buffer_, local[0].sizes(), local[0].scalar_type());
    unpack_signs_into(bits.sign, out, 1.0, bits.zero);
    voted.push_back(out);
  } else {
    auto out = reusable(result_buffer_, {d}, torch::kFloat);
    unpack_signs_into(bits.sign, out, 1.0, bits.zero);
    int64_t offset = 0;
    for (const auto& t : local) {
      voted.push_back(out.narrow(0, offset, t.numel()).view(t.sizes()).to(t.scalar_type()));
      offset += t.numel();
    }
  }
  s.unpack_s = seconds_since(clock);
  record_(s);
  return voted;
}

PackedDirection MajorityVote::aggregate_packed(
    const torch::Tensor& sign,
    const torch::Tensor& zero,
    int64_t d,
    int64_t tensors,
    int64_t step) {
  if (d < 0 || tensors < 0)
    fail(
        "aggregate_packed: coordinates and tensors must be >= 0, got " + std::to_string(d) + " and " +
        std::to_string(tensors));
  if (step < 0)
    fail("step must be >= 0, got " + std::to_string(step));
  if (!sign.defined())
    fail("aggregate_packed: the sign plane is undefined");
  check_packed_input(sign, "the sign plane", d);
  if (zero.defined())
    check_packed_input(zero, "the zero plane", d);

  const int64_t world = comm_.world_size();
  const int64_t rank = comm_.rank();
  check_layout_(d, tensors);
  ExchangeStats s = start_stats(d, world, options_.ties());
  s.packed = 1;
  const int64_t words = packed_words(d);
  const int64_t shard = s.shard_words;
  if (d == 0) {
    record_(s);
    return {torch::zeros({0}, torch::kLong), torch::Tensor()};
  }
  auto clock = Clock::now();

  // 1. The local bits into W zero-padded shards, zeros encoded as aggregate_signs's packing encodes them.
  auto send = reusable(send_buffer_, {world * shard}, torch::kInt64);
  auto* out = reinterpret_cast<uint64_t*>(send.data_ptr<int64_t>());
  std::memcpy(out, sign.data_ptr<int64_t>(), static_cast<size_t>(words) * sizeof(uint64_t));
  std::memset(out + words, 0, static_cast<size_t>(world * shard - words) * sizeof(uint64_t));
  if (zero.defined()) {
    s.zero_signs = popcount_words(zero.narrow(0, 0, words));
    resolve_zero_signs(
        out,
        reinterpret_cast<const uint64_t*>(zero.data_ptr<int64_t>()),
        words,
        options_.zero(),
        zero_sign_key(options_.seed(), static_cast<uint64_t>(step), rank, 0));
  }
  s.pack_s = seconds_since(clock);

  // 2-4. Alltoall, vote, allgather.
  PackedDirection bits = vote_packed_(d, step, s);
  record_(s);
  return bits;
}

void MajorityVote::allreduce_sum(std::vector<double>& values) {
  if (values.empty())
    return;
  auto t = torch::tensor(values, torch::kDouble);
  comm_.allreduce_sum_(t);
  const double* summed = t.data_ptr<double>();
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = summed[i];
}

} // namespace signopt::comm

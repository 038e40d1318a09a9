// Tests of signSGD with majority vote over c10d (MajorityVote) and the data-parallel helpers, across real
// processes on loopback (the data-parallel helpers' checks in one process: test_data_parallel.cpp) (this binary re-executes itself as the ranks of a job), with W = 2, 3, 4 and 5.
#include <signopt/comm/data_parallel.h>
#include <signopt/comm/majority_vote.h>
#include <signopt/kernels/fused.h>
#include <signopt/optim/hybrid.h>
#include <signopt/optim/signum.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/comm_job.h"
#include "support/expect_invalid.h"
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
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using signopt::comm::Communicator;
using signopt::comm::DistEnv;
using signopt::comm::ExchangeStats;
using signopt::comm::MajorityVote;
using signopt::comm::MajorityVoteOptions;
using signopt::comm::TieRule;
using signopt::comm::ZeroSign;
using Clock = std::chrono::steady_clock;
using signopt::test::env_int;
using signopt::test::expect_all_passed;
using signopt::test::expect_invalid;
using signopt::test::outcome_text;
using signopt::test::RankOutcome;
namespace fs = std::filesystem;

const auto kCleanUp = signopt::test::remove_when_passed("signopt_test_vote");

// ---------------------------------------------------------------------------------------------------------
// Reference: the vote computed locally from every rank's input (each rank can build every rank's input).

// Rank `rank`'s local signs in case `c`: +-1 from a generator keyed by (case, parameter, rank), and with
// `zeros` about a fifth of them 0. Parameters alternate float32 and float64 when `mixed`; the second
// parameter of a case with 2-D shapes is handed over transposed (not contiguous).
std::vector<torch::Tensor> local_signs(
    const std::vector<std::vector<int64_t>>& shapes,
    int64_t c,
    int64_t rank,
    bool zeros,
    bool mixed) {
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < shapes.size(); ++i) {
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(100000 * c + 100 * i + rank + 1));
    auto s = torch::randint(0, 2, shapes[i], gen, torch::kFloat) * 2 - 1;
    if (zeros)
      s = s * (torch::rand(shapes[i], gen) > 0.2).to(torch::kFloat);
    if (mixed && i % 2 == 1)
      s = s.to(torch::kDouble);
    if (i == 1 && shapes[i].size() == 2)
      s = s.t().contiguous().t(); // same values, transposed strides
    out.push_back(s);
  }
  return out;
}

torch::Tensor flat_float(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> parts;
  for (const auto& t : tensors)
    parts.push_back(t.reshape({-1}).to(torch::kFloat));
  return parts.empty() ? torch::zeros({0}) : torch::cat(parts);
}

// The vote every rank must agree on: each rank's sign, zeros replaced as that rank's packer encodes them
// (pack + unpack with its zero_sign_key), summed; sign of the sum, and on a tie 0 or the owner's coin.
torch::Tensor reference_vote(const std::vector<torch::Tensor>& flats, const MajorityVoteOptions& o, int64_t step) {
  const int64_t w = static_cast<int64_t>(flats.size());
  const int64_t d = flats[0].numel();
  auto sum = torch::zeros({d});
  for (int64_t r = 0; r < w; ++r) {
    const auto bits = signopt::comm::pack_signs(flats[r], o.zero(), signopt::comm::zero_sign_key(o.seed(), step, r, 0));
    sum += signopt::comm::unpack_signs(bits, d);
  }
  auto vote = torch::sign(sum);
  if (o.ties() == TieRule::SharedCoin && w % 2 == 0) {
    const int64_t shard = (signopt::comm::packed_words(d) + w - 1) / w;
    std::vector<torch::Tensor> coins;
    for (int64_t owner = 0; owner < w; ++owner) {
      const auto key = signopt::comm::zero_sign_key(o.seed(), step, owner, signopt::comm::kTieCoinBucket);
      const auto zero = torch::zeros({64 * shard});
      coins.push_back(signopt::comm::unpack_signs(signopt::comm::pack_signs(zero, ZeroSign::Random, key), 64 * shard));
    }
    const auto coin = torch::cat(coins).narrow(0, 0, d);
    vote = torch::where(sum == 0, coin, vote);
  }
  return vote;
}

struct VoteCase {
  std::vector<std::vector<int64_t>> shapes;
  bool zeros = false;
  bool mixed = false;
};

// Sizes around 64 and W * 64, several parameters of different shapes and dtypes, a transposed one.
std::vector<VoteCase> vote_cases(int64_t w) {
  return {
      {{{1}}},
      {{{63}}},
      {{{64}}},
      {{{65}}},
      {{{64 * w}}},
      {{{64 * w + 1}}},
      {{{64 * w - 1}}, false, true},
      {{{37}, {5, 7}, {1}}, false, true},
      {{{3, 100}, {17, 9}, {129}, {2, 3, 4}}, false, true},
      {{{1000}, {33}}, true, false},
      {{{100003}}},
      {{{4097}, {31, 33}, {8}}, true, true},
  };
}

// ---------------------------------------------------------------------------------------------------------
// The worker side: the scenarios a rank runs (tests/support/comm_job.h).

std::string rank_text(const Communicator& comm) {
  return "rank " + std::to_string(comm.rank()) + " of " + std::to_string(comm.world_size()) + ": ";
}

// (1) + (5): the distributed vote equals the local reference for every case, both tie rules and both zero
// encodings, over two steps (different coin keys), and each exchange moves the bytes of the formula.
void scenario_vote(Communicator& comm) {
  const int64_t w = comm.world_size();
  const std::string at = rank_text(comm);
  const auto cases = vote_cases(w);
  int64_t ties_seen = 0;
  for (const auto ties : {TieRule::Zero, TieRule::SharedCoin}) {
    for (size_t c = 0; c < cases.size(); ++c) {
      const auto& vc = cases[c];
      // Zero coins are exercised with Random; Positive gets the cases with zeros too.
      for (const auto zero : vc.zeros ? std::vector<ZeroSign>{ZeroSign::Random, ZeroSign::Positive}
                                      : std::vector<ZeroSign>{ZeroSign::Random}) {
        const auto options = MajorityVoteOptions().ties(ties).zero(zero).seed(41 + c);
        MajorityVote vote(comm, options);
        for (int64_t step = 1; step <= 2; ++step) {
          const int64_t id = static_cast<int64_t>(c) + 1000 * step;
          std::vector<torch::Tensor> flats;
          for (int64_t r = 0; r < w; ++r)
            flats.push_back(flat_float(local_signs(vc.shapes, id, r, vc.zeros, vc.mixed)));
          const auto local = local_signs(vc.shapes, id, comm.rank(), vc.zeros, vc.mixed);
          const auto voted = vote.aggregate_signs(local, step);
          const std::string what = at + "case " + std::to_string(c) + " step " + std::to_string(step) +
              (ties == TieRule::Zero ? " ties=Zero" : " ties=SharedCoin") +
              (zero == ZeroSign::Random ? " zero=Random" : " zero=Positive");
          ASSERT_EQ(voted.size(), local.size()) << what;
          const auto expected = reference_vote(flats, options, step);
          int64_t offset = 0;
          for (size_t i = 0; i < local.size(); ++i) {
            EXPECT_EQ(voted[i].scalar_type(), local[i].scalar_type()) << what << " param " << i;
            EXPECT_EQ(voted[i].sizes(), local[i].sizes()) << what << " param " << i;
            const auto want = expected.narrow(0, offset, local[i].numel()).view(local[i].sizes());
            EXPECT_TRUE(torch::equal(voted[i].to(torch::kFloat), want))
                << what << " param " << i << ": " << (voted[i].to(torch::kFloat) != want).sum().item<int64_t>()
                << " of " << want.numel() << " coordinates differ";
            offset += local[i].numel();
          }
          const auto& s = vote.last_stats();
          const int64_t d = expected.numel();
          const int64_t planes = ties == TieRule::Zero && w % 2 == 0 && w >= 4 ? 2 : 1;
          EXPECT_EQ(signopt::comm::majority_vote_planes(w, ties), planes) << what;
          EXPECT_EQ(s.coordinates, d) << what;
          EXPECT_EQ(s.planes, planes) << what;
          EXPECT_EQ(s.bytes_sent, signopt::comm::majority_vote_bytes_per_rank(d, w, planes)) << what;
          EXPECT_EQ(s.bytes_received, s.bytes_sent) << what;
          int64_t local_zeros = 0;
          for (const auto& t : local)
            local_zeros += (t == 0).sum().item<int64_t>();
          EXPECT_EQ(s.zero_signs, local_zeros) << what;
          EXPECT_GE(s.total_s(), 0.0) << what;
          // With ties = Zero a tie is a 0 in the result; with a coin there is none (every input +-1 or coin).
          const int64_t zeros_out = (expected == 0).sum().item<int64_t>();
          if (ties == TieRule::SharedCoin || w % 2 == 1)
            EXPECT_EQ(zeros_out, 0) << what;
          ties_seen += zeros_out;
        }
        EXPECT_EQ(vote.total_stats().exchanges, 2) << at;
      }
    }
  }
  // Even W must have produced ties (W = 2 ties wherever the two ranks disagree), odd W none.
  if (w % 2 == 0)
    EXPECT_GT(ties_seen, 1000) << at;
  else
    EXPECT_EQ(ties_seen, 0) << at;

  // (5) Bytes per step for d = 1,000,003 coordinates, computed by hand: 15626 words, S = ceil(15626 / W);
  // alltoall sends (W-1) S words, allgather (W-1) S words per plane.
  const int64_t d = 1000003;
  const std::map<std::pair<int64_t, TieRule>, int64_t> by_hand = {
      {{2, TieRule::Zero}, 8 * 7813 * 1 * 2}, // 125008 bytes = 1 bit per coordinate (the tie plane alone)
      {{2, TieRule::SharedCoin}, 8 * 7813 * 1 * 2}, // 125008 bytes = 1 bit per coordinate
      {{4, TieRule::Zero}, 8 * 3907 * 3 * 3}, // 281304 bytes = 2.25 bits per coordinate
      {{4, TieRule::SharedCoin}, 8 * 3907 * 3 * 2}, // 187536 bytes = 1.5 bits per coordinate
  };
  for (const auto ties : {TieRule::Zero, TieRule::SharedCoin}) {
    MajorityVote vote(comm, MajorityVoteOptions().ties(ties));
    const auto g = torch::randn({d}, at::detail::createCPUGenerator(5 + comm.rank()));
    vote.aggregate_signs({torch::sign(g)}, 1);
    const int64_t sent_before = comm.bytes_sent();
    vote.aggregate_signs({torch::sign(g)}, 2);
    const auto& s = vote.last_stats();
    EXPECT_EQ(comm.bytes_sent() - sent_before, s.bytes_sent) << at << "stats disagree with the communicator";
    const auto it = by_hand.find({w, ties});
    if (it != by_hand.end())
      EXPECT_EQ(s.bytes_sent, it->second) << at << "W=" << w;
    // Against the ring allreduce of the fp32 gradient, 2 (W-1)/W * 4 d bytes: 64 / (1 + planes) x fewer.
    const double fp32 = 2.0 * static_cast<double>(w - 1) / static_cast<double>(w) * 4.0 * static_cast<double>(d);
    EXPECT_NEAR(fp32 / static_cast<double>(s.bytes_sent), 64.0 / static_cast<double>(1 + s.planes), 0.05) << at;
  }

  // Ranks that pass different parameters fail on every rank with a message naming both layouts.
  MajorityVote mismatched(comm);
  const int64_t mine = comm.rank() == w - 1 ? 101 : 100;
  expect_invalid(
      [&] { mismatched.aggregate_signs({torch::ones({mine})}, 1); },
      "passes 1 parameters with " + std::string(comm.rank() == w - 1 ? "100" : "101") + " coordinates");
}

// A smooth model (tanh MLP) with a float32 and a float64 parameter and one that never gets a gradient.
struct Net : torch::nn::Module {
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::Tensor offset, unused, scale;
  Net() {
    fc1 = register_module("fc1", torch::nn::Linear(6, 16));
    fc2 = register_module("fc2", torch::nn::Linear(16, 1));
    offset = register_parameter("offset", torch::randn({1}, torch::kDouble) * 0.1);
    unused = register_parameter("unused", torch::randn({3}));
    scale = register_buffer("scale", torch::rand({1}) + 0.5);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return fc2(torch::tanh(fc1(x * scale))) + offset.to(torch::kFloat);
  }
};

// The regression data of batch `step` on the union of all workers: 24 rows, targets from a fixed teacher.
std::pair<torch::Tensor, torch::Tensor> union_batch(int64_t step) {
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(7000 + step));
  const auto x = torch::randn({24, 6}, gen);
  const auto teacher = torch::linspace(-1, 1, 6).view({6, 1});
  const auto y = torch::sin(x.matmul(teacher)) + 0.05 * torch::randn({24, 1}, gen);
  return {x, y};
}

std::vector<torch::Tensor> snapshot(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> out;
  for (const auto& t : tensors)
    out.push_back(t.detach().clone());
  return out;
}

// Signum over `steps` full union batches on `net`, optionally through an aggregator.
void train_signum(Net& net, std::shared_ptr<signopt::SignAggregator> aggregator, int64_t steps) {
  signopt::Signum opt(net.parameters(), signopt::SignumOptions(0.01).momentum(0.9).weight_decay(1e-3));
  if (aggregator)
    opt.set_aggregator(aggregator);
  for (int64_t t = 1; t <= steps; ++t) {
    const auto [x, y] = union_batch(t);
    opt.zero_grad();
    torch::mse_loss(net.forward(x), y).backward();
    opt.step();
  }
}

// (2) W workers on identical data with Signum + MajorityVote take exactly the steps of one Signum worker.
void scenario_signum(Communicator& comm) {
  const std::string at = rank_text(comm);
  constexpr int64_t kSteps = 25;
  torch::manual_seed(3);
  Net single;
  // The single worker runs the unfused composition; the voting workers take the packed path (fused passes
  // around aggregate_packed), so this also holds the packed path to one plain Signum worker.
  signopt::kernels::set_fused_enabled(false);
  train_signum(single, nullptr, kSteps);
  signopt::kernels::set_fused_enabled(true);
  for (const auto ties : {TieRule::Zero, TieRule::SharedCoin}) {
    torch::manual_seed(3);
    Net net;
    auto vote = std::make_shared<MajorityVote>(comm, MajorityVoteOptions().ties(ties).seed(9));
    train_signum(net, vote, kSteps);
    const auto a = net.parameters();
    const auto b = single.parameters();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_TRUE(torch::equal(a[i], b[i])) << at << "parameter " << i << " differs from one Signum worker";
    // The test means something only if the vote really ran, and without exact zeros (whose coins differ by
    // rank): every step voted over the 5 parameters with gradients (130 coordinates).
    EXPECT_EQ(vote->total_stats().exchanges, kSteps) << at;
    EXPECT_EQ(vote->total_stats().packed, kSteps) << at;
    EXPECT_EQ(vote->last_stats().coordinates, 6 * 16 + 16 + 16 + 1 + 1) << at;
    EXPECT_EQ(vote->total_stats().zero_signs, 0) << at;
    EXPECT_EQ(vote->total_stats().own_ties, 0) << at;
    // And the parameters moved.
    torch::manual_seed(3);
    Net start;
    EXPECT_FALSE(torch::equal(start.parameters()[0], a[0])) << at;
  }
}

// (2b) The packed path (kernels::sign_descent_pack, aggregate_packed, kernels::apply_packed_direction) and
// the unfused path (sign_direction, aggregate_signs) take the same steps in a real vote: every rank has its
// own gradients with a fifth of them 0 (coins), parameters of sizes that are not multiples of 64 (bit
// offsets inside words), ties for even W, both tie rules, SignSGD and dithered Signum with decoupled decay,
// float32 and float64. The two optimizers step in lockstep, each with its own MajorityVote.
void scenario_packed(Communicator& comm) {
  const std::string at = rank_text(comm);
  const int64_t w = comm.world_size();
  const int64_t r = comm.rank();
  constexpr int64_t kSteps = 6;
  const std::vector<int64_t> sizes = {1, 63, 65, 4097, 300};
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    for (const int kind : {0, 1, 2}) { // SignSGD, dithered Signum, the hybrid (switching after step 4)
      const bool signum = kind == 1;
      for (const auto ties : {TieRule::Zero, TieRule::SharedCoin}) {
        std::vector<torch::Tensor> a_params, b_params;
        for (size_t i = 0; i < sizes.size(); ++i) {
          auto gen = at::detail::createCPUGenerator(1000 + i); // the same start on every rank
          auto p = torch::randn({sizes[i]}, gen, dtype);
          a_params.push_back(p.clone().requires_grad_());
          b_params.push_back(p.clone().requires_grad_());
        }
        const auto make = [&](std::vector<torch::Tensor> params) -> std::unique_ptr<signopt::detail::SignoptOptimizer> {
          if (kind == 2)
            return std::make_unique<signopt::HybridSignSGD>(
                params,
                signopt::HybridSignSGDOptions(0.01)
                    .switch_at_step(4)
                    .weight_decay(0.05)
                    .calibration(signopt::CalibrationEstimator::Swats) // nnz(v) and ||m||: from the vote's bits
                    .dither(signopt::DitherOptions().seed(6).stream(static_cast<uint64_t>(r))));
          return std::make_unique<signopt::Signum>(
              params,
              signum ? signopt::SignumOptions(0.01).momentum(0.9).weight_decay(0.1).decoupled_weight_decay(true).dither(
                           signopt::DitherOptions().seed(4))
                     : signopt::SignumOptions(0.01).momentum(0.0)); // no coupled decay: the zero gradients stay 0
        };
        auto a = make(a_params);
        auto b = make(b_params);
        const auto vote_options = MajorityVoteOptions().ties(ties).seed(12);
        auto a_vote = std::make_shared<MajorityVote>(comm, vote_options);
        auto b_vote = std::make_shared<MajorityVote>(comm, vote_options);
        a->set_aggregator(a_vote);
        b->set_aggregator(b_vote);
        for (int64_t t = 1; t <= kSteps; ++t) {
          for (size_t i = 0; i < sizes.size(); ++i) {
            auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(100000 * r + 100 * t + i));
            auto g = torch::randn({sizes[i]}, gen, dtype) * (torch::rand({sizes[i]}, gen) > 0.2).to(dtype);
            a_params[i].mutable_grad() = g.clone();
            b_params[i].mutable_grad() = g.clone();
          }
          a->step();
          signopt::kernels::set_fused_enabled(false);
          b->step();
          signopt::kernels::set_fused_enabled(true);
        }
        const std::string what = at + (kind == 2 ? "hybrid" : signum ? "dithered Signum" : "SignSGD") + " " +
            std::string(c10::toString(dtype)) + (ties == TieRule::Zero ? " ties = 0: " : " ties by coin: ");
        for (size_t i = 0; i < sizes.size(); ++i)
          EXPECT_TRUE(torch::equal(a_params[i], b_params[i])) << what << "parameter " << i << " differs";
        const auto& pa = a_vote->total_stats();
        const auto& pb = b_vote->total_stats();
        const int64_t voted_steps = kind == 2 ? 4 : kSteps; // the hybrid votes only before its switch
        EXPECT_EQ(pa.exchanges, voted_steps) << what;
        EXPECT_EQ(pa.packed, voted_steps) << what << "the packed path did not run";
        EXPECT_EQ(pb.packed, 0) << what;
        EXPECT_EQ(pa.zero_signs, pb.zero_signs) << what;
        EXPECT_EQ(pa.own_ties, pb.own_ties) << what;
        EXPECT_EQ(pa.bytes_sent, pb.bytes_sent) << what;
        EXPECT_EQ(pa.bytes_received, pb.bytes_received) << what;
        if (kind == 0)
          EXPECT_GT(pa.zero_signs, 0) << what << "no zero reached the vote";
        if (kind == 2) {
          const auto& ha = dynamic_cast<signopt::HybridSignSGD&>(*a);
          const auto& hb = dynamic_cast<signopt::HybridSignSGD&>(*b);
          EXPECT_EQ(ha.phase(), signopt::HybridPhase::Sgd) << what;
          // Every estimator's calibration sums, allreduced over the ranks: the same in both paths and on
          // every rank (the rate is broadcast-free, so ranks that disagreed would drift apart).
          for (const auto e : signopt::kEstimators) {
            const double x = ha.calibration_bank().at(e).smoothed();
            EXPECT_EQ(x, hb.calibration_bank().at(e).smoothed()) << what << signopt::to_string(e);
            EXPECT_GT(x, 0) << what << signopt::to_string(e);
            const auto all = comm.allgather(torch::tensor({x}, torch::kDouble));
            for (int64_t k = 0; k < w; ++k)
              EXPECT_EQ(all[k][0].item<double>(), x) << what << signopt::to_string(e) << " differs on rank " << k;
          }
        }
        if (w % 2 == 0)
          EXPECT_GT(pa.own_ties, 0) << what << "no tie was voted";
      }
    }
  }
}

// (3) broadcast_module_ gives every rank rank 0's model; W workers averaging the gradients of their shards
// of each batch take the SGD steps of one worker on the whole batch (within float tolerance).
void scenario_allreduce(Communicator& comm) {
  const std::string at = rank_text(comm);
  const int64_t w = comm.world_size();
  const int64_t r = comm.rank();
  constexpr int64_t kSteps = 20;
  torch::manual_seed(100);
  Net reference;
  torch::manual_seed(100 + r); // every rank but 0 starts elsewhere
  Net net;
  if (r != 0)
    EXPECT_FALSE(torch::equal(net.parameters()[0], reference.parameters()[0])) << at;
  signopt::comm::broadcast_module_(comm, net);
  const auto initial = snapshot(net.parameters());
  for (size_t i = 0; i < net.parameters().size(); ++i)
    EXPECT_TRUE(torch::equal(net.parameters()[i], reference.parameters()[i])) << at << "parameter " << i;
  EXPECT_TRUE(torch::equal(net.scale, reference.scale)) << at << "buffer";

  ASSERT_EQ(24 % w, 0) << "the union batch of 24 rows must split evenly";
  torch::optim::SGD sgd_one(reference.parameters(), torch::optim::SGDOptions(0.1).momentum(0.5));
  torch::optim::SGD sgd_many(net.parameters(), torch::optim::SGDOptions(0.1).momentum(0.5));
  for (int64_t t = 1; t <= kSteps; ++t) {
    const auto [x, y] = union_batch(t);
    sgd_one.zero_grad();
    torch::mse_loss(reference.forward(x), y).backward();
    sgd_one.step();
    const int64_t rows = 24 / w;
    sgd_many.zero_grad();
    torch::mse_loss(net.forward(x.narrow(0, r * rows, rows)), y.narrow(0, r * rows, rows)).backward();
    EXPECT_FALSE(net.unused.grad().defined()) << at;
    signopt::comm::average_gradients_(comm, net.parameters());
    sgd_many.step();
  }
  const auto trained = net.parameters();
  const auto expected = reference.parameters();
  for (size_t i = 0; i < trained.size(); ++i) {
    const auto& a = trained[i];
    const auto& b = expected[i];
    EXPECT_TRUE(torch::allclose(a, b, 1e-4, 1e-5))
        << at << "parameter " << i << " max diff " << (a - b).abs().max().item<double>();
  }
  EXPECT_FALSE(torch::equal(net.parameters()[0], initial[0])) << at << "training did not move the model";

  // Ranks that leave different gradients undefined fail on every rank, naming both bucket sizes.
  sgd_many.zero_grad();
  torch::mse_loss(net.forward(torch::ones({2, 6})), torch::zeros({2, 1})).backward();
  if (r == w - 1)
    net.unused.mutable_grad() = torch::ones({3});
  const std::string other =
      r == w - 1 ? "rank 0 has 129 float32" : "rank " + std::to_string(w - 1) + " has 132 float32";
  expect_invalid([&] { signopt::comm::average_gradients_(comm, net.parameters()); }, other);
}

// A linear regression shared out over the ranks: 20 features, each rank its own 32 rows per step.
struct Regression {
  torch::Tensor teacher = torch::randn({20, 1}, at::detail::createCPUGenerator(77));
  torch::Tensor eval_x = torch::randn({512, 20}, at::detail::createCPUGenerator(78));
  torch::Tensor eval_y = eval_x.matmul(teacher);
  std::pair<torch::Tensor, torch::Tensor> batch(int64_t step, int64_t rank) const {
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(1000 * step + rank));
    const auto x = torch::randn({32, 20}, gen);
    return {x, x.matmul(teacher) + 0.3 * torch::randn({32, 1}, gen)};
  }
  double loss(const torch::Tensor& weights) const {
    torch::NoGradGuard no_grad;
    return torch::mse_loss(eval_x.matmul(weights), eval_y).item<double>();
  }
};

// An adversary that flips the sign it contributes to the vote (its honest sign, inverted).
struct Inverting : signopt::SignAggregator {
  explicit Inverting(std::shared_ptr<MajorityVote> inner) : vote(std::move(inner)) {}
  std::vector<torch::Tensor> aggregate_signs(const std::vector<torch::Tensor>& local, int64_t step) override {
    std::vector<torch::Tensor> flipped;
    for (const auto& u : local)
      flipped.push_back(-u);
    return vote->aggregate_signs(flipped, step);
  }
  void allreduce_sum(std::vector<double>& values) override {
    vote->allreduce_sum(values);
  }
  std::shared_ptr<MajorityVote> vote;
};

// (4) One Byzantine rank (the last) among five: majority vote still converges, fp32 averaging does not.
void scenario_byzantine(Communicator& comm) {
  const std::string at = rank_text(comm);
  const int64_t r = comm.rank();
  const bool adversary = r == comm.world_size() - 1;
  const Regression problem;
  const double start = problem.loss(torch::zeros({20, 1}));

  const auto train_vote = [&](bool with_adversary) {
    auto weights = torch::zeros({20, 1}, torch::requires_grad());
    signopt::Signum opt({weights}, signopt::SignumOptions(0.02).momentum(0.9));
    auto vote = std::make_shared<MajorityVote>(comm, MajorityVoteOptions().seed(1));
    if (with_adversary && adversary)
      opt.set_aggregator(std::make_shared<Inverting>(vote));
    else
      opt.set_aggregator(vote);
    for (int64_t t = 1; t <= 300; ++t) {
      const auto [x, y] = problem.batch(t, r);
      opt.zero_grad();
      torch::mse_loss(x.matmul(weights), y).backward();
      opt.step();
    }
    return problem.loss(weights);
  };
  const auto train_mean = [&](bool with_adversary) {
    auto weights = torch::zeros({20, 1}, torch::requires_grad());
    torch::optim::SGD opt({weights}, torch::optim::SGDOptions(0.05));
    for (int64_t t = 1; t <= 100; ++t) {
      const auto [x, y] = problem.batch(t, r);
      opt.zero_grad();
      torch::mse_loss(x.matmul(weights), y).backward();
      if (with_adversary && adversary)
        weights.mutable_grad().mul_(-10.0);
      signopt::comm::average_gradients_(comm, {weights});
      opt.step();
    }
    return problem.loss(weights);
  };
  const double vote_honest = train_vote(false);
  const double vote_attacked = train_vote(true);
  const double mean_honest = train_mean(false);
  const double mean_attacked = train_mean(true);
  std::cout << at << "eval loss at start " << start << "; majority vote: honest " << vote_honest
            << ", one inverted rank " << vote_attacked << "; fp32 mean: honest " << mean_honest
            << ", one rank sending -10 x its gradient " << mean_attacked << std::endl;
  EXPECT_LT(vote_honest, 0.01 * start) << at;
  EXPECT_LT(vote_attacked, 0.02 * start) << at << "the vote did not withstand one inverted rank";
  EXPECT_LT(mean_honest, 0.01 * start) << at;
  // -10 g among five ranks turns the mean into -1.2 x the honest mean gradient: gradient ascent.
  EXPECT_GT(mean_attacked, start) << at << "the adversary did not hurt fp32 averaging";
  EXPECT_GT(mean_attacked, 100.0 * vote_attacked) << at;
}

const bool kWorkerRegistered = signopt::test::register_job_worker({
    {"vote", [](Communicator& comm, const fs::path&) { scenario_vote(comm); }},
    {"signum", [](Communicator& comm, const fs::path&) { scenario_signum(comm); }},
    {"packed", [](Communicator& comm, const fs::path&) { scenario_packed(comm); }},
    {"allreduce", [](Communicator& comm, const fs::path&) { scenario_allreduce(comm); }},
    {"byzantine", [](Communicator& comm, const fs::path&) { scenario_byzantine(comm); }},
});

// Runs `scenario` as ranks 0..world-1 of one job on loopback; whatever runs past `deadline` is killed.
std::vector<RankOutcome> run_job(const std::string& scenario, int64_t world, std::chrono::seconds deadline) {
  return signopt::test::run_comm_job("signopt_test_vote", scenario, world, 60000, deadline);
}

// ---------------------------------------------------------------------------------------------------------
// In this process

TEST(MajorityVote, OneProcessReturnsItsOwnSigns) {
  Communicator comm(DistEnv{}, std::chrono::seconds(10));
  MajorityVote vote(comm);
  const auto a = torch::tensor({1.0f, -1.0f, 1.0f}).view({3, 1});
  const auto b = torch::tensor({-1.0, -1.0}, torch::kDouble);
  const auto out = vote.aggregate_signs({a, b}, 1);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(torch::equal(out[0], a));
  EXPECT_TRUE(torch::equal(out[1], b));
  EXPECT_EQ(vote.last_stats().bytes_sent, 0);
  EXPECT_EQ(vote.last_stats().coordinates, 5);
  EXPECT_EQ(vote.last_stats().planes, 1);
  // With one worker there is no tie, so a zero is sent (and applied) as its coin, never as 0.
  const auto z = vote.aggregate_signs({torch::zeros({1000})}, 2);
  EXPECT_EQ((z[0] == 0).sum().item<int64_t>(), 0);
  EXPECT_EQ(vote.last_stats().zero_signs, 1000);
  EXPECT_EQ(vote.total_stats().exchanges, 2);
  std::vector<double> sums = {1.5, -2.0};
  vote.allreduce_sum(sums);
  EXPECT_EQ(sums, (std::vector<double>{1.5, -2.0}));
  EXPECT_TRUE(vote.aggregate_signs({}, 3).empty());
}

// The result buffer is reused between exchanges only when the caller no longer holds the previous result.
TEST(MajorityVote, AResultHeldByTheCallerIsNotOverwritten) {
  Communicator comm(DistEnv{}, std::chrono::seconds(10));
  for (const bool several : {false, true}) {
    MajorityVote vote(comm);
    const auto plus = torch::ones({300});
    const auto minus = -torch::ones({300});
    const auto input = [&](const torch::Tensor& t) {
      return several ? std::vector<torch::Tensor>{t.narrow(0, 0, 100), t.narrow(0, 100, 200)}
                     : std::vector<torch::Tensor>{t};
    };
    const auto kept = vote.aggregate_signs(input(plus), 1);
    const auto next = vote.aggregate_signs(input(minus), 2);
    EXPECT_TRUE(torch::equal(flat_float(kept), plus)) << "several = " << several;
    EXPECT_TRUE(torch::equal(flat_float(next), minus)) << "several = " << several;
  }
}

TEST(MajorityVote, BadInputIsRefusedWithAReason) {
  Communicator comm(DistEnv{}, std::chrono::seconds(10));
  MajorityVote vote(comm);
  expect_invalid(
      [&] {
        vote.aggregate_signs({torch::ones({2}), torch::Tensor()}, 1);
      },
      "local sign tensor 1 is undefined");
  expect_invalid(
      [&] { vote.aggregate_signs({torch::ones({2}, torch::kInt32)}, 1); },
      "local sign tensor 0 has dtype Int; only float32 and float64");
  expect_invalid([&] { vote.aggregate_signs({torch::ones({2})}, -1); }, "step must be >= 0, got -1");
  expect_invalid(
      [] { signopt::comm::majority_vote_bytes_per_rank(10, 2, 3); }, "planes in {1, 2}, got coordinates = 10");
}

TEST(MajorityVote, TheByteFormula) {
  // d = 1000 -> 16 words; W = 3 -> S = 6: alltoall and allgather send 2 x 6 words each.
  EXPECT_EQ(signopt::comm::majority_vote_bytes_per_rank(1000, 3, 1), 8 * 6 * 2 * 2);
  EXPECT_EQ(signopt::comm::majority_vote_bytes_per_rank(1000, 1, 2), 0);
  EXPECT_EQ(signopt::comm::majority_vote_bytes_per_rank(0, 4, 2), 0);
  // 11M coordinates: about 2 d / 8 (W - 1) / W with one plane.
  const double d = 11e6;
  EXPECT_NEAR(static_cast<double>(signopt::comm::majority_vote_bytes_per_rank(11000000, 4, 1)), 2 * d / 8 * 0.75, 64);
}

// ---------------------------------------------------------------------------------------------------------
// Real jobs on loopback

TEST(MajorityVoteJob, MatchesTheLocalVoteOnTwoRanks) {
  expect_all_passed(run_job("vote", 2, std::chrono::seconds(180)));
}

TEST(MajorityVoteJob, MatchesTheLocalVoteOnThreeRanks) {
  expect_all_passed(run_job("vote", 3, std::chrono::seconds(180)));
}

TEST(MajorityVoteJob, MatchesTheLocalVoteOnFourRanks) {
  expect_all_passed(run_job("vote", 4, std::chrono::seconds(240)));
}

TEST(MajorityVoteJob, MatchesTheLocalVoteOnFiveRanks) {
  expect_all_passed(run_job("vote", 5, std::chrono::seconds(240)));
}

TEST(MajorityVoteJob, IdenticalWorkersTakeTheStepsOfOneSignumWorker) {
  for (int64_t w : {2, 3, 4, 5})
    expect_all_passed(run_job("signum", w, std::chrono::seconds(120)));
}

TEST(MajorityVoteJob, PackedAndUnfusedPathsTakeTheSameSteps) {
  for (int64_t w : {2, 3, 4})
    expect_all_passed(run_job("packed", w, std::chrono::seconds(180)));
}

TEST(DataParallelJob, AveragedShardGradientsEqualOneWorkerOnTheUnionBatch) {
  for (int64_t w : {2, 3, 4})
    expect_all_passed(run_job("allreduce", w, std::chrono::seconds(120)));
}

TEST(MajorityVoteJob, OneInvertedRankOfFiveDoesNotStopTheVoteButRuinsTheMean) {
  const auto outcomes = run_job("byzantine", 5, std::chrono::seconds(240));
  expect_all_passed(outcomes);
  // Rank 0's losses, for the record (the log line starting with "rank 0 of 5: eval loss").
  const auto begin = outcomes[0].log.find("rank 0 of 5: eval loss");
  if (begin != std::string::npos)
    std::cout << outcomes[0].log.substr(begin, outcomes[0].log.find('\n', begin) - begin) << std::endl;
}

} // namespace

// Tests of distributed EF-SignSGD (ScaledSignExchange and EFSignSGD with an aggregator), across real
// processes on loopback (this binary re-executes itself as the ranks of a job) and in this process.
#include <signopt/comm/scaled_sign_exchange.h>
#include <signopt/optim/ef_sign_sgd.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/comm_job.h"
#include "support/temp_dirs.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace {

using signopt::comm::Communicator;
using signopt::comm::DistEnv;
using signopt::comm::ScaledSignExchange;
using signopt::test::expect_all_passed;
using signopt::test::RankOutcome;
namespace fs = std::filesystem;

const auto kCleanUp = signopt::test::remove_when_passed("signopt_test_comm_ef");

void expect_invalid(const std::function<void()>& call, const std::string& message) {
  try {
    call();
    ADD_FAILURE() << "accepted; expected an error containing: " << message;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
}

// Rank `rank`'s +-1 signs for tensors of `sizes` in case `c` (float32 and float64 alternate).
std::vector<torch::Tensor> signs_of(const std::vector<int64_t>& sizes, int64_t c, int64_t rank) {
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(1000 * c + 10 * i + rank));
    const auto dtype = i % 2 == 0 ? torch::kFloat : torch::kDouble;
    out.push_back(torch::where(torch::rand({sizes[i]}, gen) < 0.5, 1.0, -1.0).to(dtype));
  }
  return out;
}

std::vector<double> scales_of(size_t count, int64_t c, int64_t rank) {
  std::vector<double> s;
  for (size_t i = 0; i < count; ++i)
    s.push_back(0.001 * static_cast<double>(1 + i) + 0.01 * static_cast<double>(rank) + 0.1 * static_cast<double>(c));
  return s;
}

// One worker's gradients at step t: a fixed target per rank, plus rank-specific noise (identical on all
// ranks when `same`).
std::vector<torch::Tensor> gradients_of(const std::vector<torch::Tensor>& params, int64_t t, int64_t rank, bool same) {
  std::vector<torch::Tensor> g;
  for (size_t i = 0; i < params.size(); ++i) {
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(77 + 100 * t + 10 * i + (same ? 0 : rank)));
    g.push_back(params[i].detach() * 0.5 + torch::randn(params[i].sizes(), gen, params[i].options()) * 0.3);
  }
  return g;
}

std::vector<torch::Tensor> fresh_params() {
  return {torch::linspace(-1, 1, 130, torch::kFloat).view({10, 13}), torch::linspace(2, -3, 7, torch::kDouble)};
}

// EF-SignSGD of W simulated workers in one process (reference): each keeps its error, the mean of their
// compressed steps is applied to the shared parameters.
std::vector<torch::Tensor> reference_run(int64_t world, int64_t steps, bool same, double lr) {
  auto params = fresh_params();
  std::vector<std::vector<torch::Tensor>> errors(static_cast<size_t>(world));
  for (auto& e : errors)
    for (const auto& p : params)
      e.push_back(torch::zeros_like(p));
  for (int64_t t = 0; t < steps; ++t) {
    std::vector<torch::Tensor> mean;
    for (const auto& p : params)
      mean.push_back(torch::zeros_like(p));
    for (int64_t w = 0; w < world; ++w) {
      const auto g = gradients_of(params, t, w, same);
      for (size_t i = 0; i < params.size(); ++i) {
        const auto corrected = g[i] * lr + errors[w][i];
        const double scale = corrected.abs().sum().item<double>() / static_cast<double>(corrected.numel());
        const auto sent = torch::where(corrected >= 0, 1.0, -1.0).to(corrected.scalar_type()) * scale;
        errors[w][i] = corrected - sent;
        mean[i] += sent;
      }
    }
    for (size_t i = 0; i < params.size(); ++i)
      params[i] -= mean[i] / static_cast<double>(world);
  }
  return params;
}

// ---------------------------------------------------------------------------------------------------------
// Worker scenarios

void scenario_exchange(Communicator& comm) {
  const int64_t w = comm.world_size(), r = comm.rank();
  const std::string at = "rank " + std::to_string(r) + " of " + std::to_string(w) + ": ";
  const std::vector<std::vector<int64_t>> cases = {{1000}, {0, 1, 63, 65}, {64, 1000, 129, 3}};
  for (size_t c = 0; c < cases.size(); ++c) {
    ScaledSignExchange exchange(comm);
    const auto& sizes = cases[c];
    for (int round = 0; round < 2; ++round) { // the second call has no layout check
      const int64_t k = static_cast<int64_t>(c) * 2 + round;
      const auto mine = signs_of(sizes, k, r);
      const auto out = exchange.aggregate_scaled_signs(mine, scales_of(sizes.size(), k, r), round);
      ASSERT_EQ(out.size(), sizes.size()) << at;
      for (size_t i = 0; i < sizes.size(); ++i) {
        auto want = torch::zeros({sizes[i]}, mine[i].options());
        for (int64_t q = 0; q < w; ++q)
          want += signs_of(sizes, k, q)[i] * scales_of(sizes.size(), k, q)[i];
        want /= static_cast<double>(w);
        EXPECT_EQ(out[i].scalar_type(), mine[i].scalar_type()) << at << "case " << c << " tensor " << i;
        EXPECT_TRUE(torch::allclose(out[i], want, 1e-6, 1e-9)) << at << "case " << c << " tensor " << i;
      }
      if (round == 1) {
        EXPECT_EQ(exchange.last_stats().bytes_sent, signopt::comm::scaled_sign_bytes_per_rank(sizes, w)) << at;
        EXPECT_EQ(exchange.last_stats().bytes_received, exchange.last_stats().bytes_sent) << at;
      }
    }
  }
  // Every rank gets the same bits (same summation order).
  ScaledSignExchange exchange(comm);
  const auto out = exchange.aggregate_scaled_signs(signs_of({777}, 9, r), scales_of(1, 9, r), 0);
  const auto all = comm.allgather(out[0]);
  for (int64_t q = 1; q < w; ++q)
    EXPECT_TRUE(torch::equal(all[q], all[0])) << at << "rank " << q << " got other values";
  // Ranks that pass different tensors fail on every rank, naming both layouts.
  ScaledSignExchange mismatched(comm);
  const int64_t n = r == w - 1 ? 200 : 100;
  expect_invalid(
      [&] { mismatched.aggregate_scaled_signs({torch::ones({n})}, {1.0}, 0); }, "every rank must run the same model");
}

// EF-SignSGD over the exchange equals the W-worker reference; with identical data, one worker's EF-SignSGD.
void scenario_optimizer(Communicator& comm) {
  const int64_t w = comm.world_size(), r = comm.rank();
  const std::string at = "rank " + std::to_string(r) + " of " + std::to_string(w) + ": ";
  const double lr = 0.05;
  for (const bool same : {true, false}) {
    auto params = fresh_params();
    for (auto& p : params)
      p.requires_grad_(true);
    signopt::EFSignSGD opt(params, signopt::EFSignSGDOptions(lr));
    opt.set_aggregator(std::make_shared<ScaledSignExchange>(comm));
    for (int64_t t = 0; t < 6; ++t) {
      const auto g = gradients_of(params, t, r, same);
      for (size_t i = 0; i < params.size(); ++i)
        params[i].mutable_grad() = g[i];
      opt.step();
    }
    const auto want = reference_run(same ? 1 : w, 6, same, lr);
    for (size_t i = 0; i < params.size(); ++i)
      EXPECT_TRUE(torch::allclose(params[i].detach(), want[i], 1e-5, 1e-7))
          << at << (same ? "identical data" : "own data") << ", parameter " << i << ": max diff "
          << (params[i].detach() - want[i]).abs().max().item<double>();
    if (same) {
      // One process's own EF-SignSGD without an aggregator takes the same steps (no p is exactly 0 here).
      auto solo = fresh_params();
      for (auto& p : solo)
        p.requires_grad_(true);
      signopt::EFSignSGD plain(solo, signopt::EFSignSGDOptions(lr));
      for (int64_t t = 0; t < 6; ++t) {
        const auto g = gradients_of(solo, t, r, true);
        for (size_t i = 0; i < solo.size(); ++i)
          solo[i].mutable_grad() = g[i];
        plain.step();
      }
      for (size_t i = 0; i < solo.size(); ++i)
        EXPECT_TRUE(torch::allclose(params[i].detach(), solo[i].detach(), 1e-5, 1e-7)) << at << "parameter " << i;
    }
  }
}

const bool kWorkerRegistered = signopt::test::register_job_worker({
    {"exchange", [](Communicator& comm, const fs::path&) { scenario_exchange(comm); }},
    {"optimizer", [](Communicator& comm, const fs::path&) { scenario_optimizer(comm); }},
});

std::vector<RankOutcome> run_job(const std::string& scenario, int64_t world) {
  return signopt::test::run_comm_job("signopt_test_comm_ef", scenario, world, 60000, std::chrono::seconds(180));
}

// ---------------------------------------------------------------------------------------------------------
// In this process

TEST(ScaledSignExchange, OneProcessReturnsItsOwnScaledSigns) {
  Communicator comm(DistEnv{}, std::chrono::seconds(10));
  ScaledSignExchange exchange(comm);
  const auto signs = signs_of({5, 70}, 0, 0);
  const auto out = exchange.aggregate_scaled_signs(signs, {0.5, 2.0}, 0);
  EXPECT_TRUE(torch::equal(out[0], signs[0] * 0.5));
  EXPECT_TRUE(torch::equal(out[1], signs[1] * 2.0));
  EXPECT_EQ(exchange.last_stats().bytes_sent, 0);
}

TEST(ScaledSignExchange, BadInputIsRefusedWithAReason) {
  Communicator comm(DistEnv{}, std::chrono::seconds(10));
  ScaledSignExchange exchange(comm);
  expect_invalid([&] { exchange.aggregate_scaled_signs({torch::ones({3})}, {}, 0); }, "1 sign tensors but 0 scales");
  expect_invalid([&] { exchange.aggregate_scaled_signs({torch::zeros({3})}, {1.0}, 0); }, "values other than +1 and -1");
  expect_invalid([&] { exchange.aggregate_scaled_signs({torch::ones({3}, torch::kInt32)}, {1.0}, 0); }, "dtype Int");
  expect_invalid([&] { exchange.aggregate_scaled_signs({torch::ones({3})}, {NAN}, 0); }, "scale 0 is not finite");
  expect_invalid([&] { exchange.aggregate_scaled_signs({torch::Tensor()}, {1.0}, 0); }, "undefined");
  EXPECT_THROW(exchange.aggregate_signs({torch::ones({3})}, 0), std::logic_error);
}

TEST(ScaledSignExchange, TheByteFormula) {
  // 1000 coordinates: 16 words; 65: 2 words; 0: 0 words; plus one float64 scale per tensor.
  EXPECT_EQ(signopt::comm::scaled_sign_bytes_per_rank({1000, 65, 0}, 2), 1 * (8 * (16 + 2) + 8 * 3));
  EXPECT_EQ(signopt::comm::scaled_sign_bytes_per_rank({1000, 65, 0}, 4), 3 * (8 * (16 + 2) + 8 * 3));
  EXPECT_EQ(signopt::comm::scaled_sign_bytes_per_rank({1000}, 1), 0);
  EXPECT_THROW(signopt::comm::scaled_sign_bytes_per_rank({1000}, 0), std::invalid_argument);
}

TEST(ScaledSignExchangeJob, MatchesTheLocalMeanOnTwoAndThreeRanks) {
  for (int64_t w : {2, 3})
    expect_all_passed(run_job("exchange", w));
}

TEST(ScaledSignExchangeJob, EfSignSgdWorkersEqualTheReference) {
  for (int64_t w : {2, 3})
    expect_all_passed(run_job("optimizer", w));
}

} // namespace

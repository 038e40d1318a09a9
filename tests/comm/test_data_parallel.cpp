// The data-parallel helpers (signopt/comm/data_parallel.h) in one process: their input checks, and the
// identity of averaging and broadcasting with one worker. Across processes: test_comm_vote.cpp.
#include <signopt/comm/data_parallel.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/expect_invalid.h"

#include <chrono>

namespace {

using signopt::comm::Communicator;
using signopt::comm::DistEnv;
using signopt::test::expect_invalid;

TEST(DataParallel, BadInputIsRefusedWithAReason) {
  Communicator comm(DistEnv{}, std::chrono::seconds(10));
  expect_invalid(
      [&] {
        signopt::comm::broadcast_parameters_(comm, {torch::ones({2}), torch::Tensor()});
      },
      "broadcast_parameters_: tensor 1 is undefined");
  expect_invalid(
      [&] { signopt::comm::broadcast_parameters_(comm, {torch::ones({2})}, 1); }, "root must be in [0, 1), got 1");
  auto p = torch::ones({2}, torch::kComplexFloat).requires_grad_();
  p.mutable_grad() = torch::ones({2}, torch::kComplexFloat);
  expect_invalid(
      [&] {
        signopt::comm::average_gradients_(comm, {torch::ones({1}), p});
      },
      "parameter 1's gradient has dtype ComplexFloat; only float32, float64, bfloat16 and float16");
  // 16-bit gradients are averaged in float32 and rounded back: with one process, themselves.
  auto h = torch::ones({3}, torch::kBFloat16).requires_grad_();
  h.mutable_grad() = torch::tensor({0.1, -2.0, 3.5}).to(torch::kBFloat16);
  const auto before = h.grad().clone();
  signopt::comm::average_gradients_(comm, {h});
  EXPECT_EQ(h.grad().scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(h.grad(), before));
  // One process: averaging is the identity, a broadcast leaves the tensors alone (strided ones included).
  auto q = torch::tensor({3.0, -1.0}, torch::kDouble).requires_grad_();
  q.mutable_grad() = torch::tensor({0.5, 2.0}, torch::kDouble);
  signopt::comm::average_gradients_(comm, {q});
  EXPECT_TRUE(torch::equal(q.grad(), torch::tensor({0.5, 2.0}, torch::kDouble)));
  auto strided = torch::arange(6, torch::kFloat).view({2, 3}).t();
  signopt::comm::broadcast_parameters_(comm, {strided, q});
  EXPECT_TRUE(torch::equal(strided, torch::arange(6, torch::kFloat).view({2, 3}).t()));
}

} // namespace

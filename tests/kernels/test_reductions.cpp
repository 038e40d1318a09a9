// The deterministic reductions of signopt/kernels/reductions.h (sum_abs, sum_sq, dot, moment_sums,
// all_finite) against a plain loop written from the documented order -- chunks of kReductionChunk
// elements, element i of a chunk into accumulator i % 8, the 8 combined pairwise, chunk totals added in
// chunk order -- bit for bit, for float32 and float64, sizes around the chunk and accumulator
// boundaries, zeros, NaN and infinities, and 1-3 threads; the other dtypes' torch-op path by value.
#include <signopt/kernels/reductions.h>

#include "support/threads.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace signopt::kernels {
namespace {

const std::vector<int64_t> kSizes = {0, 1, 7, 8, 9, 4095, 4096, 4097, 3 * 4096 + 5, 100003};
const std::vector<int> kThreads = {1, 2, 3};

// The documented order, one element at a time.
double reference_sum(int64_t n, const std::function<double(int64_t)>& term) {
  double total = 0.0;
  for (int64_t lo = 0; lo < n; lo += kReductionChunk) {
    const int64_t len = std::min(n, lo + kReductionChunk) - lo;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t i = 0; i < len; ++i) {
      acc[i % 8] += term(lo + i);
    }
    total += ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  }
  return total;
}

// Heavy-tailed values with exact zeros (every 5th element) and both signs, as momenta and gradients have.
torch::Tensor sample(int64_t n, torch::ScalarType dtype, uint64_t seed) {
  torch::manual_seed(seed);
  auto x = torch::randn({n}, torch::kDouble) * torch::exp(2 * torch::randn({n}, torch::kDouble));
  if (n > 0) {
    x.index_put_({torch::arange(0, n, 5)}, 0.0);
  }
  return x.to(dtype);
}

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

template <typename T>
void expect_all_match(int64_t n, int threads) {
  const auto dtype = std::is_same_v<T, float> ? torch::kFloat : torch::kDouble;
  const torch::Tensor x = sample(n, dtype, 1 + static_cast<uint64_t>(n));
  const torch::Tensor y = sample(n, dtype, 1000 + static_cast<uint64_t>(n));
  const T* a = x.data_ptr<T>();
  const T* b = y.data_ptr<T>();
  const std::string where = std::string(std::is_same_v<T, float> ? "float" : "double") + " n=" + std::to_string(n) +
                            " threads=" + std::to_string(threads);
  at::set_num_threads(threads);
  const double abs_ref = reference_sum(n, [a](int64_t i) { return std::abs(static_cast<double>(a[i])); });
  const double sq_ref = reference_sum(n, [a](int64_t i) { return static_cast<double>(a[i]) * static_cast<double>(a[i]); });
  const double nnz_ref = reference_sum(n, [a](int64_t i) { return a[i] != T(0) ? 1.0 : 0.0; });
  const double dot_ref = reference_sum(n, [a, b](int64_t i) { return static_cast<double>(a[i]) * static_cast<double>(b[i]); });
  EXPECT_TRUE(same_bits(sum_abs(x), abs_ref)) << where << ": sum_abs " << sum_abs(x) << " vs " << abs_ref;
  EXPECT_TRUE(same_bits(sum_sq(x), sq_ref)) << where << ": sum_sq " << sum_sq(x) << " vs " << sq_ref;
  EXPECT_TRUE(same_bits(kernels::dot(x, y), dot_ref)) << where << ": dot " << kernels::dot(x, y) << " vs " << dot_ref;
  const MomentSums m = moment_sums(x);
  EXPECT_TRUE(same_bits(m.nonzero, nnz_ref)) << where << ": moment_sums.nonzero " << m.nonzero << " vs " << nnz_ref;
  EXPECT_TRUE(same_bits(m.abs, abs_ref)) << where << ": moment_sums.abs " << m.abs << " vs " << abs_ref;
  EXPECT_TRUE(same_bits(m.sq, sq_ref)) << where << ": moment_sums.sq " << m.sq << " vs " << sq_ref;
  EXPECT_EQ(m.nonzero, static_cast<double>(x.ne(0).sum().item<int64_t>())) << where;
  EXPECT_TRUE(all_finite(x)) << where;
}

TEST(Reductions, MatchTheDocumentedOrderBitForBit) {
  const test::ScopedThreads restore;
  for (int threads : kThreads) {
    for (int64_t n : kSizes) {
      expect_all_match<float>(n, threads);
      expect_all_match<double>(n, threads);
    }
  }
}

TEST(Reductions, NonContiguousInputsAreReadInLogicalOrder) {
  const auto x = sample(2 * 4099, torch::kFloat, 7);
  const auto strided = x.slice(0, 0, x.numel(), 2);
  const auto packed = strided.contiguous();
  EXPECT_TRUE(same_bits(sum_abs(strided), sum_abs(packed)));
  EXPECT_TRUE(same_bits(moment_sums(strided).sq, moment_sums(packed).sq));
  EXPECT_TRUE(same_bits(moment_sums(strided).nonzero, moment_sums(packed).nonzero));
}

// NaN counts as nonzero (it is not == 0) and makes the sums NaN; all_finite sees NaN and both infinities.
TEST(Reductions, NanAndInfinities) {
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    auto x = sample(5000, dtype, 3);
    EXPECT_TRUE(all_finite(x));
    auto nan = x.clone();
    nan[4321] = std::numeric_limits<double>::quiet_NaN();
    const MomentSums m = moment_sums(nan);
    EXPECT_EQ(m.nonzero, moment_sums(x).nonzero + (x[4321].item<double>() == 0 ? 1 : 0));
    EXPECT_TRUE(std::isnan(m.abs));
    EXPECT_TRUE(std::isnan(m.sq));
    EXPECT_FALSE(all_finite(nan));
    for (double inf : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
      auto y = x.clone();
      y[17] = inf;
      EXPECT_FALSE(all_finite(y));
      EXPECT_TRUE(std::isinf(sum_abs(y)));
    }
  }
  EXPECT_TRUE(all_finite(torch::empty({0})));
  const MomentSums empty = moment_sums(torch::empty({0}));
  EXPECT_EQ(empty.nonzero, 0.0);
  EXPECT_EQ(empty.abs, 0.0);
  EXPECT_EQ(empty.sq, 0.0);
}

// The finite check reads bits: NaN (either sign, any payload) and both infinities are caught at every
// position of a chunk's vector body and tail and across chunks; the extreme finite values (the largest, the
// smallest normal and subnormal, -0) are finite.
template <typename T>
void expect_finite_check_by_position() {
  using L = std::numeric_limits<T>;
  const T bad[] = {L::quiet_NaN(), -L::quiet_NaN(), L::signaling_NaN(), L::infinity(), -L::infinity()};
  const T good[] = {L::max(), L::lowest(), L::min(), L::denorm_min(), -L::denorm_min(), T(-0.0)};
  for (const int64_t n : {int64_t{1}, int64_t{15}, int64_t{16}, int64_t{17}, int64_t{47}, kReductionChunk + 33}) {
    const auto dtype = std::is_same_v<T, float> ? torch::kFloat : torch::kDouble;
    auto x = sample(n, dtype, 9);
    for (const T g : good) {
      auto y = x.clone();
      y.fill_(static_cast<double>(g));
      EXPECT_TRUE(all_finite(y)) << n << " x " << static_cast<double>(g);
    }
    for (int64_t at = 0; at < n; at += (n > 64 ? 37 : 1)) {
      for (const T b : bad) {
        auto y = x.clone();
        y.template data_ptr<T>()[at] = b;
        EXPECT_FALSE(all_finite(y)) << "n " << n << ", " << static_cast<double>(b) << " at " << at;
      }
    }
    auto last = x.clone();
    last.template data_ptr<T>()[n - 1] = L::infinity();
    EXPECT_FALSE(all_finite(last)) << "the last of " << n;
  }
}

TEST(Reductions, FiniteCheckFindsEveryNonFiniteValueAnywhere) {
  expect_finite_check_by_position<float>();
  expect_finite_check_by_position<double>();
}

// bfloat16 and float16 on their bits: every one of the 65536 patterns alone in a tensor is judged as torch
// judges it, at a position in the vector body, in the tail and past a chunk.
TEST(Reductions, FiniteCheckOfEverySixteenBitPattern) {
  for (const auto type : {at::kBFloat16, at::kHalf}) {
    const auto patterns = torch::arange(0, 65536, torch::kInt).to(torch::kShort).view(type);
    const auto expected = torch::isfinite(patterns.to(torch::kFloat));
    const int64_t n = kReductionChunk + 50;
    for (const int64_t at : {int64_t{3}, int64_t{40}, n - 1}) {
      auto x = torch::zeros({n}, type);
      for (int64_t v = 0; v < 65536; v += (at == 3 ? 1 : 7)) {
        x[at] = patterns[v];
        ASSERT_EQ(all_finite(x), expected[v].item<bool>()) << c10::toString(type) << " pattern " << v << " at " << at;
      }
    }
  }
}

// Other dtypes take the torch-op path: the same values (a half-precision tensor's are exact in double).
TEST(Reductions, OtherDtypesByValue) {
  const auto x = torch::tensor({0.0, -1.5, 2.0, 0.0, 0.25}, torch::kHalf);
  const MomentSums m = moment_sums(x);
  EXPECT_EQ(m.nonzero, 3.0);
  EXPECT_EQ(m.abs, 3.75);
  EXPECT_EQ(m.sq, 2.25 + 4.0 + 0.0625);
  EXPECT_EQ(sum_abs(x), 3.75);
  EXPECT_EQ(sum_sq(x), 6.3125);
  EXPECT_EQ(kernels::dot(x, x), 6.3125);
  EXPECT_TRUE(all_finite(x));
}

} // namespace
} // namespace signopt::kernels

// Sign packing, unpacking and the majority vote (signopt/comm/sign_pack.h): the fused kernels against the
// plain references bit for bit (every ISA path the CPU has, several thread counts, sizes around word and
// vector boundaries), the zero-sign policies, ties, tail bits and the errors for bad inputs.
#include <signopt/comm/sign_pack.h>
#include <signopt/kernels/isa.h>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace signopt::comm {
namespace {

using kernels::detail::Isa;

const std::vector<int64_t> kSizes = {0, 1, 7, 8, 63, 64, 65, 1000, 4097, 100003};
const std::vector<int> kThreads = {1, 2, 3};

// Restores the thread count and the ISA cap whatever a test does (the cap is read by swapping it).
struct Restore {
  int threads = at::get_num_threads();
  Isa cap = kernels::detail::set_isa_cap(Isa::Avx512);
  Restore() {
    kernels::detail::set_isa_cap(cap);
  }
  ~Restore() {
    at::set_num_threads(threads);
    kernels::detail::set_isa_cap(cap);
  }
};

// The ISA paths this CPU can run, best first; lower paths are reached through the cap.
std::vector<Isa> isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Avx512, Isa::Avx2, Isa::Scalar}) {
    if (static_cast<int>(isa) <= static_cast<int>(kernels::detail::isa_supported())) {
      out.push_back(isa);
    }
  }
  return out;
}

const char* isa_name(Isa isa) {
  return isa == Isa::Avx512 ? "avx512" : isa == Isa::Avx2 ? "avx2" : "scalar";
}

// Values of every kind the pack must tell apart: positive, negative, +0, -0, NaN, +-inf, tiny.
template <typename T>
std::vector<T> mixed_values(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> kind(0, 15);
  std::normal_distribution<double> normal;
  std::vector<T> x(n);
  for (auto& v : x) {
    switch (kind(rng)) {
      case 0:
        v = T(0);
        break;
      case 1:
        v = -T(0);
        break;
      case 2:
        v = std::numeric_limits<T>::quiet_NaN();
        break;
      case 3:
        v = std::numeric_limits<T>::infinity();
        break;
      case 4:
        v = -std::numeric_limits<T>::infinity();
        break;
      case 5:
        v = std::numeric_limits<T>::denorm_min();
        break;
      case 6:
        v = -std::numeric_limits<T>::denorm_min();
        break;
      default:
        v = static_cast<T>(normal(rng));
    }
  }
  return x;
}

// Random packed vectors of n coordinates (tail bits 0, as pack_signs leaves them).
std::vector<std::vector<uint64_t>> random_packed(int64_t workers, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int64_t words = packed_words(n);
  std::vector<std::vector<uint64_t>> out(workers, std::vector<uint64_t>(words));
  for (auto& v : out) {
    for (auto& w : v) {
      w = rng();
    }
    if (n % 64 != 0) {
      v[words - 1] &= (uint64_t{1} << (n % 64)) - 1;
    }
  }
  return out;
}

uint64_t bit(const uint64_t* v, int64_t i) {
  return (v[i / 64] >> (i % 64)) & 1;
}

int64_t popcount(const torch::Tensor& packed) {
  int64_t c = 0;
  const auto* w = reinterpret_cast<const uint64_t*>(packed.data_ptr<int64_t>());
  for (int64_t i = 0; i < packed.numel(); ++i) {
    c += __builtin_popcountll(w[i]);
  }
  return c;
}

// Expects fn to throw std::invalid_argument whose message contains every one of `parts`.
void expect_invalid(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected one mentioning " << parts.front();
  } catch (const std::invalid_argument& e) {
    for (const auto& p : parts) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "'" << e.what() << "' lacks '" << p << "'";
    }
  }
}

TEST(SignPack, PackedWords) {
  EXPECT_EQ(packed_words(0), 0);
  EXPECT_EQ(packed_words(1), 1);
  EXPECT_EQ(packed_words(63), 1);
  EXPECT_EQ(packed_words(64), 1);
  EXPECT_EQ(packed_words(65), 2);
  EXPECT_EQ(packed_words(100003), 1563);
  expect_invalid([] { packed_words(-1); }, {"packed_words", "-1"});
}

// Packs with the fused kernel into a buffer pre-filled with garbage (every word, tail bits included,
// must be written) and compares words and zero counts with the reference.
template <typename T>
void check_pack(int64_t n, ZeroSign zero, const std::string& where) {
  const auto x = mixed_values<T>(n, 1000 + n);
  const auto key = zero_sign_key(7, 3, 1, 2);
  std::vector<uint64_t> fused(packed_words(n), 0xA5A5A5A5A5A5A5A5ull), ref(packed_words(n));
  const int64_t zf = pack_signs(x.data(), n, fused.data(), zero, key);
  const int64_t zr = reference::pack_signs(x.data(), n, ref.data(), zero, key);
  EXPECT_EQ(zf, zr) << where;
  ASSERT_EQ(fused, ref) << where;
}

template <typename T>
void check_unpack(int64_t n, const std::string& where) {
  const auto bits = random_packed(2, n, 77 + n);
  const T scale = T(0.375);
  for (const uint64_t* mask : {static_cast<const uint64_t*>(nullptr), bits[1].data()}) {
    std::vector<T> fused(n, T(123)), ref(n);
    unpack_signs(bits[0].data(), mask, n, scale, fused.data());
    reference::unpack_signs(bits[0].data(), mask, n, scale, ref.data());
    // memcmp: a -0 for +0 would be a difference too (n = 0 has no data pointer to give it: UB, found by UBSan).
    if (n > 0)
      ASSERT_EQ(std::memcmp(fused.data(), ref.data(), n * sizeof(T)), 0) << where << (mask ? " masked" : "");
  }
}

TEST(SignPack, FusedMatchesReference) {
  Restore restore;
  for (Isa isa : isas()) {
    kernels::detail::set_isa_cap(isa);
    ASSERT_EQ(kernels::detail::isa(), isa);
    for (int threads : kThreads) {
      at::set_num_threads(threads);
      for (int64_t n : kSizes) {
        const std::string where =
            std::string(isa_name(isa)) + " threads=" + std::to_string(threads) + " n=" + std::to_string(n);
        for (ZeroSign zero : {ZeroSign::Random, ZeroSign::Positive}) {
          check_pack<float>(n, zero, where + " f32");
          check_pack<double>(n, zero, where + " f64");
        }
        check_unpack<float>(n, where + " f32");
        check_unpack<double>(n, where + " f64");
      }
    }
  }
}

// The planes of a fused optimizer pass: pack_sign_planes against its reference on every ISA, and sign
// planes with their zeros resolved equal to pack_signs under both zero policies.
template <typename T>
void check_planes(int64_t n, const std::string& where) {
  const auto x = mixed_values<T>(n, 4242 + static_cast<uint64_t>(n));
  const int64_t words = packed_words(n);
  std::vector<uint64_t> sign(words, ~uint64_t{0}), zero(words, ~uint64_t{0});
  std::vector<uint64_t> ref_sign(words), ref_zero(words);
  const int64_t zeros = pack_sign_planes(x.data(), n, sign.data(), zero.data());
  EXPECT_EQ(zeros, reference::pack_sign_planes(x.data(), n, ref_sign.data(), ref_zero.data())) << where;
  EXPECT_EQ(sign, ref_sign) << where;
  EXPECT_EQ(zero, ref_zero) << where;
  const auto key = zero_sign_key(7, 3, 1);
  for (ZeroSign rule : {ZeroSign::Random, ZeroSign::Positive}) {
    std::vector<uint64_t> packed(words), resolved = sign;
    pack_signs(x.data(), n, packed.data(), rule, key);
    resolve_zero_signs(resolved.data(), zero.data(), words, rule, key);
    EXPECT_EQ(resolved, packed) << where << (rule == ZeroSign::Random ? " random" : " positive");
  }
}

TEST(SignPack, PlanesMatchReferenceAndResolveToPackSigns) {
  Restore restore;
  for (Isa isa : isas()) {
    kernels::detail::set_isa_cap(isa);
    for (int64_t n : kSizes) {
      const std::string where = std::string(isa_name(isa)) + " n=" + std::to_string(n);
      check_planes<float>(n, where + " f32");
      check_planes<double>(n, where + " f64");
    }
  }
}

// Bits placed at any offset, read back and counted: or_bits_at, read_bits_at and count_bits_at against their
// one-bit references,
// leaving every other bit of the destination alone.
TEST(SignPack, BitsAtOffsetsMatchReference) {
  for (int64_t offset : {0, 1, 37, 63, 64, 65, 130, 1000}) {
    for (int64_t n : {0, 1, 5, 63, 64, 65, 127, 128, 1000, 4097}) {
      const std::string where = "offset=" + std::to_string(offset) + " n=" + std::to_string(n);
      const auto src = random_packed(1, n, 11 + static_cast<uint64_t>(offset * 7 + n))[0];
      const int64_t dst_words = packed_words(offset + n) + 2;
      // A destination with bits set outside [offset, offset + n), as neighbouring parameters leave it.
      std::vector<uint64_t> dst(dst_words), ref(dst_words);
      std::mt19937_64 rng(static_cast<uint64_t>(offset + 1000 * n));
      for (int64_t i = 0; i < 64 * dst_words; ++i) {
        if ((i < offset || i >= offset + n) && (rng() & 1)) {
          dst[i / 64] |= uint64_t{1} << (i % 64);
        }
      }
      ref = dst;
      or_bits_at(src.data(), n, dst.data(), offset);
      reference::or_bits_at(src.data(), n, ref.data(), offset);
      ASSERT_EQ(dst, ref) << where;
      std::vector<uint64_t> back(packed_words(n), ~uint64_t{0}), ref_back(packed_words(n));
      read_bits_at(dst.data(), offset, n, back.data());
      reference::read_bits_at(dst.data(), offset, n, ref_back.data());
      EXPECT_EQ(back, ref_back) << where;
      EXPECT_EQ(back, src) << where << ": read_bits_at did not return what or_bits_at placed";
      const int64_t placed = reference::count_bits_at(dst.data(), offset, n);
      EXPECT_EQ(count_bits_at(dst.data(), offset, n), placed) << where;
      int64_t in_src = 0;
      for (uint64_t w : src) {
        in_src += __builtin_popcountll(w);
      }
      EXPECT_EQ(placed, in_src) << where << ": count_bits_at did not count the bits or_bits_at placed";
    }
  }
  expect_invalid([] { read_bits_at(nullptr, -1, 0, nullptr); }, {"read_bits_at", "offset = -1"});
  expect_invalid([] { (void)count_bits_at(nullptr, 0, -3); }, {"count_bits_at", "n = -3"});
  expect_invalid([] { or_bits_at(nullptr, -2, nullptr, 0); }, {"or_bits_at", "n = -2"});
}

TEST(SignPack, VoteMatchesReference) {
  Restore restore;
  for (int threads : kThreads) {
    at::set_num_threads(threads);
    for (int64_t n : kSizes) {
      for (int64_t workers : {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 33, 63, 64}) {
        const auto in = random_packed(workers, n, 31 * workers + n);
        std::vector<const uint64_t*> rows;
        for (const auto& v : in) {
          rows.push_back(v.data());
        }
        const int64_t words = packed_words(n);
        std::vector<uint64_t> sign(words, ~uint64_t{0}), tie(words, ~uint64_t{0}), rsign(words), rtie(words);
        majority_vote(rows.data(), workers, words, sign.data(), tie.data());
        reference::majority_vote(rows.data(), workers, n, rsign.data(), rtie.data());
        const std::string where =
            "threads=" + std::to_string(threads) + " n=" + std::to_string(n) + " W=" + std::to_string(workers);
        ASSERT_EQ(sign, rsign) << where;
        ASSERT_EQ(tie, rtie) << where;
        if (workers % 2 == 1) {
          for (uint64_t t : tie) {
            ASSERT_EQ(t, 0u) << where << ": an odd number of workers cannot tie";
          }
        }
        std::vector<uint64_t> sign_only(words);
        majority_vote(rows.data(), workers, words, sign_only.data(), nullptr);
        ASSERT_EQ(sign_only, rsign) << where << " without a tie plane";
      }
    }
  }
}

// Independent of the kernels: coordinate i of a W = 4 vote sees i % 5 ones, so every count 0..4 occurs,
// and 2 ones out of 4 is a tie.
TEST(SignPack, VoteCountsAndTiesByHand) {
  const int64_t n = 1000, workers = 4;
  std::vector<torch::Tensor> packed;
  for (int64_t k = 0; k < workers; ++k) {
    auto x = torch::empty({n});
    for (int64_t i = 0; i < n; ++i) {
      x[i] = (k < i % 5) ? 1.0 : -1.0;
    }
    packed.push_back(pack_signs(x));
  }
  const auto vote = majority_vote(packed, n);
  const auto* s = reinterpret_cast<const uint64_t*>(vote.sign.data_ptr<int64_t>());
  const auto* t = reinterpret_cast<const uint64_t*>(vote.tie.data_ptr<int64_t>());
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(bit(s, i), i % 5 >= 3 ? 1u : 0u) << "i=" << i;
    ASSERT_EQ(bit(t, i), i % 5 == 2 ? 1u : 0u) << "i=" << i;
  }
  const auto direction = unpack_signs(vote.sign, n, 2.0, vote.tie);
  for (int64_t i = 0; i < n; ++i) {
    const float expected = i % 5 >= 3 ? 2.0f : i % 5 == 2 ? 0.0f : -2.0f;
    ASSERT_EQ(direction[i].item<float>(), expected) << "i=" << i;
  }
}

TEST(SignPack, StackedVoteEqualsListVote) {
  const int64_t n = 4097, workers = 6;
  torch::manual_seed(5);
  std::vector<torch::Tensor> packed;
  for (int64_t k = 0; k < workers; ++k) {
    packed.push_back(pack_signs(torch::randn({n}), ZeroSign::Positive));
  }
  const auto a = majority_vote(packed, n);
  const auto b = majority_vote(torch::stack(packed), n);
  EXPECT_TRUE(torch::equal(a.sign, b.sign));
  EXPECT_TRUE(torch::equal(a.tie, b.tie));
  EXPECT_GT(popcount(a.tie), 0) << "W = 6 random signs must produce some ties";
}

TEST(SignPack, RoundTrip) {
  torch::manual_seed(11);
  for (int64_t n : kSizes) {
    for (auto dtype : {torch::kFloat, torch::kDouble}) {
      auto x = torch::randn({n}, dtype);
      x.masked_fill_(x == 0, 1.0); // no zeros: every coordinate has a sign
      int64_t zeros = -1;
      const auto packed = pack_signs(x, ZeroSign::Random, zero_sign_key(1, 2, 3), &zeros);
      EXPECT_EQ(zeros, 0);
      ASSERT_EQ(packed.numel(), packed_words(n));
      ASSERT_EQ(packed.scalar_type(), torch::kLong);
      const auto y = unpack_signs(packed, n, 0.5, {}, dtype);
      ASSERT_EQ(y.scalar_type(), dtype);
      EXPECT_TRUE(torch::equal(y, 0.5 * torch::sign(x))) << "n=" << n;
      // Into a caller's buffer of another shape, and through pack_signs_into.
      auto out = torch::full({n, 1}, 9.0, dtype);
      unpack_signs_into(packed, out, 0.5);
      EXPECT_TRUE(torch::equal(out.view({n}), y));
      auto buffer = torch::full({packed_words(n)}, -1, torch::kLong);
      EXPECT_EQ(pack_signs_into(x, buffer), 0);
      EXPECT_TRUE(torch::equal(buffer, packed));
    }
  }
}

TEST(SignPack, MultiDimensionalInputIsReadInMemoryOrder) {
  torch::manual_seed(2);
  const auto x = torch::randn({13, 7, 3});
  EXPECT_TRUE(torch::equal(pack_signs(x), pack_signs(x.flatten())));
}

TEST(SignPack, TailBitsOfTheLastWordAreZero) {
  for (int64_t n : kSizes) {
    if (n == 0) {
      continue;
    }
    // Positive policy on zeros and positives: every existing coordinate is a 1 bit.
    auto x = torch::ones({n});
    x.index_put_({torch::indexing::Slice(0, torch::indexing::None, 3)}, 0.0);
    int64_t zeros = 0;
    const auto packed = pack_signs(x, ZeroSign::Positive, {}, &zeros);
    EXPECT_EQ(zeros, (n + 2) / 3);
    EXPECT_EQ(popcount(packed), n) << "n=" << n;
    const uint64_t last = static_cast<uint64_t>(packed[-1].item<int64_t>());
    if (n % 64 != 0) {
      EXPECT_EQ(last >> (n % 64), 0u) << "n=" << n;
    }
    // The vote of all-ones inputs keeps the tail clear, and so does the tie plane.
    const auto vote = majority_vote({packed, packed}, n);
    EXPECT_TRUE(torch::equal(vote.sign, packed));
    EXPECT_EQ(popcount(vote.tie), 0);
  }
}

TEST(SignPack, EmptyTensors) {
  const auto packed = pack_signs(torch::empty({0}));
  EXPECT_EQ(packed.numel(), 0);
  EXPECT_EQ(unpack_signs(packed, 0).numel(), 0);
  const auto vote = majority_vote({packed, packed, packed}, 0);
  EXPECT_EQ(vote.sign.numel(), 0);
  EXPECT_EQ(vote.tie.numel(), 0);
  EXPECT_EQ(pack_signs(torch::empty({3, 0}, torch::kDouble)).numel(), 0);
}

TEST(SignPack, PositiveZerosAreAllOnes) {
  const int64_t n = 100003;
  int64_t zeros = 0;
  const auto packed = pack_signs(torch::zeros({n}), ZeroSign::Positive, {}, &zeros);
  EXPECT_EQ(zeros, n);
  EXPECT_EQ(popcount(packed), n);
}

TEST(SignPack, RandomZerosAreFairDeterministicCoinsPerKey) {
  Restore restore;
  const int64_t n = 100003;
  const auto zeros_x = torch::zeros({n});
  int64_t zeros = 0;
  const auto a = pack_signs(zeros_x, ZeroSign::Random, zero_sign_key(42, 10, 0), &zeros);
  EXPECT_EQ(zeros, n);
  // Binomial(n, 1/2): mean n / 2, standard deviation sqrt(n) / 2; 5 sigma fails a fair coin ~1e-6 of
  // the time, and the key is fixed, so the test is deterministic.
  const double sigma = std::sqrt(static_cast<double>(n)) / 2;
  EXPECT_NEAR(static_cast<double>(popcount(a)), n / 2.0, 5 * sigma);
  // The same key gives the same coins on any thread count; float64 input too.
  for (int threads : kThreads) {
    at::set_num_threads(threads);
    EXPECT_TRUE(torch::equal(pack_signs(zeros_x, ZeroSign::Random, zero_sign_key(42, 10, 0)), a));
    EXPECT_TRUE(torch::equal(pack_signs(zeros_x.to(torch::kDouble), ZeroSign::Random, zero_sign_key(42, 10, 0)), a));
  }
  // Another rank, step or seed gives independent coins: they agree on about half the coordinates.
  for (const auto& key : {zero_sign_key(42, 10, 1), zero_sign_key(42, 11, 0), zero_sign_key(43, 10, 0)}) {
    const auto b = pack_signs(zeros_x, ZeroSign::Random, key);
    const int64_t differ = popcount(torch::bitwise_xor(a, b));
    EXPECT_NEAR(static_cast<double>(differ), n / 2.0, 5 * sigma);
  }
  // A coin is the bit the header defines: bit i % 32 of lane (i / 32) % 4 of key.block(i / 128).
  const auto key = zero_sign_key(42, 10, 0);
  const auto* w = reinterpret_cast<const uint64_t*>(a.data_ptr<int64_t>());
  for (int64_t i : {0L, 31L, 32L, 63L, 64L, 127L, 128L, 99999L, 100002L}) {
    const uint32_t lane = key.block(static_cast<uint64_t>(i / 128)).x[(i / 32) % 4];
    EXPECT_EQ(bit(w, i), (lane >> (i % 32)) & 1u) << "i=" << i;
  }
  // Only the zeros draw coins: signed coordinates keep their sign.
  auto mixed = torch::zeros({n});
  mixed.index_put_({torch::indexing::Slice(0, torch::indexing::None, 2)}, -1.0);
  const auto m = pack_signs(mixed, ZeroSign::Random, key);
  const auto* mw = reinterpret_cast<const uint64_t*>(m.data_ptr<int64_t>());
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(bit(mw, i), i % 2 == 0 ? 0u : bit(w, i)) << "i=" << i;
  }
}

TEST(SignPack, NanAndNegativeZeroAreZeros) {
  const int64_t n = 1000;
  const auto key = zero_sign_key(9, 1, 4);
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    auto x = torch::randn({n}, dtype);
    auto zeroed = x.clone();
    for (int64_t i = 0; i < n; i += 3) {
      x[i] = (i % 2) ? std::numeric_limits<double>::quiet_NaN() : -0.0;
      zeroed[i] = 0.0;
    }
    for (ZeroSign zero : {ZeroSign::Random, ZeroSign::Positive}) {
      int64_t zx = 0, zz = 0;
      const auto px = pack_signs(x, zero, key, &zx);
      const auto pz = pack_signs(zeroed, zero, key, &zz);
      EXPECT_EQ(zx, (n + 2) / 3);
      EXPECT_EQ(zx, zz);
      EXPECT_TRUE(torch::equal(px, pz)) << "NaN and -0 must be encoded exactly like +0";
    }
  }
}

// Worker A votes +1 everywhere, worker B -1 everywhere and worker C has no signal (all zeros). The
// honest outcome is a coin flip per coordinate; encoding C's zeros as +1 decides every coordinate +1.
TEST(SignPack, AnAllZeroWorkerDoesNotBiasTheVote) {
  const int64_t n = 100003;
  const auto plus = pack_signs(torch::ones({n}));
  const auto minus = pack_signs(-torch::ones({n}));
  const auto silent_random = pack_signs(torch::zeros({n}), ZeroSign::Random, zero_sign_key(1, 1, 2));
  const auto silent_positive = pack_signs(torch::zeros({n}), ZeroSign::Positive);

  const auto fair = majority_vote({plus, minus, silent_random}, n);
  const double sigma = std::sqrt(static_cast<double>(n)) / 2;
  EXPECT_NEAR(static_cast<double>(popcount(fair.sign)), n / 2.0, 5 * sigma);
  const auto biased = majority_vote({plus, minus, silent_positive}, n);
  EXPECT_EQ(popcount(biased.sign), n);

  // With an even W, a silent worker beside one +1 worker: ties where its coin says -1, never a -1 vote.
  const auto two = majority_vote({plus, silent_random}, n);
  EXPECT_NEAR(static_cast<double>(popcount(two.tie)), n / 2.0, 5 * sigma);
  EXPECT_EQ(popcount(two.sign) + popcount(two.tie), n);
}

TEST(SignPack, BadInputsAreClearErrors) {
  const auto x = torch::randn({100});
  const auto packed = pack_signs(x);
  expect_invalid([] { pack_signs(torch::ones({4}, torch::kInt)); }, {"pack_signs", "x", "float32 or float64", "Int"});
  expect_invalid([] { pack_signs(torch::randn({4, 4}).t()); }, {"pack_signs", "x", "contiguous"});
  expect_invalid([] { pack_signs(torch::Tensor()); }, {"pack_signs", "x", "undefined"});
  expect_invalid([] { pack_signs(torch::empty({4}, torch::Device("meta"))); }, {"pack_signs", "CPU", "meta"});
  expect_invalid(
      [&] {
        auto out = torch::empty({1}, torch::kLong);
        pack_signs_into(x, out);
      },
      {"pack_signs", "out", "1 words", "n = 100", "packed_words(n) = 2"});
  expect_invalid(
      [&] {
        auto out = torch::empty({2}, torch::kInt);
        pack_signs_into(x, out);
      },
      {"pack_signs", "out", "int64"});
  expect_invalid([&] { unpack_signs(packed, 200); }, {"unpack_signs", "bits", "2 words", "n = 200"});
  expect_invalid([&] { unpack_signs(packed, -1); }, {"unpack_signs", "n", "-1"});
  expect_invalid([&] { unpack_signs(packed.to(torch::kFloat), 100); }, {"unpack_signs", "bits", "int64", "Float"});
  expect_invalid([&] { unpack_signs(packed, 100, 1.0, {}, torch::kHalf); }, {"unpack_signs", "dtype", "Half"});
  expect_invalid(
      [&] { unpack_signs(packed, 100, std::numeric_limits<double>::infinity()); }, {"unpack_signs", "scale", "inf"});
  expect_invalid(
      [&] { unpack_signs(packed, 100, 1.0, torch::zeros({3}, torch::kLong)); },
      {"unpack_signs", "zero_mask", "3 words"});
  expect_invalid([&] { majority_vote(std::vector<torch::Tensor>{}, 100); }, {"majority_vote", "workers", "got 0"});
  expect_invalid([&] { majority_vote({packed, packed}, -5); }, {"majority_vote", "n", "-5"});
  expect_invalid(
      [&] {
        majority_vote({packed, pack_signs(torch::randn({300}))}, 100);
      },
      {"majority_vote", "packed[1]", "5 words", "n = 100"});
  expect_invalid(
      [&] {
        majority_vote({packed, packed}, 70);
      },
      {"majority_vote", "packed[0]", "bits set past coordinate n = 70"});
  expect_invalid([&] { majority_vote(packed, 100); }, {"majority_vote", "stacked", "[workers, packed_words(n)]"});
  expect_invalid(
      [&] {
        majority_vote(torch::stack({packed, packed}), 64);
      },
      {"majority_vote", "stacked", "2 words", "n = 64"});
  std::vector<uint64_t> a(2);
  const uint64_t* rows[] = {a.data()};
  expect_invalid([&] { majority_vote(rows, 0, 2, a.data(), nullptr); }, {"majority_vote", "workers", "got 0"});
  expect_invalid([&] { pack_signs(static_cast<const float*>(nullptr), -3, nullptr, ZeroSign::Random, {}); }, {"-3"});
}

} // namespace
} // namespace signopt::comm

// The software prefetch of the next chunk (src/kernels/prefetch.h): which lines it issues, in which order, how
// the issuing is paced over a loop, and which chunk a task prefetches. Prefetches change no result, so the
// kernels' bitwise tests (test_fused.cpp) cover the kernels that use it; this checks the addresses and counts.
#include "../../src/kernels/fused_cpu_internal.h"
#include "../../src/kernels/prefetch.h"

#include <signopt/kernels/isa.h>
#include <signopt/kernels/noise.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace signopt::test {
namespace {

using kernels::DrawKey;
using kernels::NoiseKind;
using kernels::detail::ChunkPrefetch;
using kernels::detail::kCacheLine;
using kernels::detail::kChunk;

// The start of the cache line that holds `address`.
const char* line_of(const void* address) {
  const auto a = reinterpret_cast<uintptr_t>(address);
  return reinterpret_cast<const char*>(a - a % kCacheLine);
}

// The cache lines that hold [begin, begin + bytes).
int64_t lines_over(const void* begin, int64_t bytes) {
  const char* first = line_of(begin);
  const char* last = line_of(static_cast<const char*>(begin) + bytes - 1);
  return (last - first) / kCacheLine + 1;
}

// Every line a prefetch has left, in issue order.
std::vector<const char*> drain(ChunkPrefetch& prefetch) {
  std::vector<const char*> lines;
  while (const char* line = prefetch.next_line()) {
    lines.push_back(line);
  }
  return lines;
}

TEST(ChunkPrefetch, IssuesLineROfEachRangeBeforeLineRPlusOneOfAny) {
  alignas(64) static char a[3 * 64], b[64], c[2 * 64];
  ChunkPrefetch prefetch;
  prefetch.add(a, 3 * 64 - 10); // 3 lines (a partial last line counts)
  prefetch.add(b, 64); // 1 line
  prefetch.add(c, 65); // 2 lines
  EXPECT_EQ(prefetch.remaining(), 6);
  const std::vector<const char*> expected = {a, b, c, a + kCacheLine, c + kCacheLine, a + 2 * kCacheLine};
  EXPECT_EQ(drain(prefetch), expected);
  EXPECT_EQ(prefetch.remaining(), 0);
  EXPECT_EQ(prefetch.issued(), 6);
  EXPECT_EQ(prefetch.next_line(), nullptr);
}

TEST(ChunkPrefetch, AnUnalignedRangeStartsAtItsFirstLineAndKeepsItsLast) {
  alignas(64) static char data[4 * 64];
  ChunkPrefetch prefetch;
  prefetch.add(data + 10, 2 * 64); // bytes 10 .. 137: lines 0, 1 and 2
  const std::vector<const char*> expected = {data, data + 64, data + 128};
  EXPECT_EQ(drain(prefetch), expected);
  ChunkPrefetch inside;
  inside.add(data + 70, 20); // within line 1
  EXPECT_EQ(drain(inside), std::vector<const char*>{data + 64});
}

TEST(ChunkPrefetch, IgnoresNullEmptyAndExtraRanges) {
  alignas(64) static char data[8][64];
  ChunkPrefetch prefetch;
  prefetch.add(nullptr, 640);
  prefetch.add(data[0], 0);
  prefetch.add(data[0], -5);
  EXPECT_EQ(prefetch.remaining(), 0);
  for (int k = 1; k <= ChunkPrefetch::kMaxStreams + 2; ++k) {
    prefetch.add(data[k], 64);
  }
  EXPECT_EQ(prefetch.remaining(), ChunkPrefetch::kMaxStreams); // the ranges past kMaxStreams are dropped
  EXPECT_EQ(kernels::detail::remaining(&prefetch), ChunkPrefetch::kMaxStreams);
  EXPECT_EQ(kernels::detail::remaining(nullptr), 0); // a loop without a prefetch has nothing to pace
  const std::vector<const char*> lines = drain(prefetch);
  ASSERT_EQ(lines.size(), static_cast<size_t>(ChunkPrefetch::kMaxStreams));
  for (int k = 0; k < ChunkPrefetch::kMaxStreams; ++k) {
    EXPECT_EQ(lines[k], data[k + 1]);
  }
}

// After k of `ticks` ticks paced for `lines` lines starting from `start`, between floor(lines k / ticks) and one
// more have been issued, never more than `lines`, and exactly `lines` after the last tick; later ticks issue nothing.
void expect_even_pace(ChunkPrefetch& prefetch, int64_t ticks, int64_t lines) {
  const int64_t start = prefetch.issued();
  prefetch.pace(ticks, lines);
  EXPECT_EQ(prefetch.issued(), start);
  for (int64_t k = 1; k <= ticks; ++k) {
    prefetch.tick();
    const int64_t done = prefetch.issued() - start;
    EXPECT_GE(done, lines * k / ticks) << "tick " << k;
    EXPECT_LE(done, std::min(lines, lines * k / ticks + 1)) << "tick " << k;
  }
  EXPECT_EQ(prefetch.issued() - start, lines);
  prefetch.tick();
  EXPECT_EQ(prefetch.issued() - start, lines);
}

TEST(ChunkPrefetch, PaceSpreadsTheLinesEvenlyAndEndsOnTheLastTick) {
  alignas(64) static char data[3 * kChunk * sizeof(float)];
  ChunkPrefetch prefetch;
  for (int s = 0; s < 3; ++s) {
    prefetch.add(data + s * kChunk * sizeof(float), kChunk * sizeof(float));
  }
  ASSERT_EQ(prefetch.remaining(), 768); // three float32 chunks of 256 lines
  expect_even_pace(prefetch, 32, 384); // the threshold draw's Philox loop: half the lines
  expect_even_pace(prefetch, 7, 10); // a rate that is not a whole number of lines per tick
  expect_even_pace(prefetch, 256, prefetch.remaining()); // the levels loop: the rest
  EXPECT_EQ(prefetch.remaining(), 0);
}

TEST(ChunkPrefetch, PaceIsCappedByWhatRemainsAndZeroTicksIssueAtOnce) {
  alignas(64) static char data[10 * 64];
  ChunkPrefetch prefetch;
  prefetch.add(data, sizeof data);
  prefetch.pace(0, 4);
  EXPECT_EQ(prefetch.issued(), 4);
  prefetch.pace(3, 100); // only 6 remain
  for (int k = 0; k < 3; ++k) {
    prefetch.tick();
  }
  EXPECT_EQ(prefetch.issued(), 10);
  prefetch.pace(5, 5); // nothing left: ticks issue nothing
  prefetch.tick();
  EXPECT_EQ(prefetch.issued(), 10);
  ChunkPrefetch unpaced;
  unpaced.add(data, sizeof data);
  unpaced.tick(); // never paced: nothing
  EXPECT_EQ(unpaced.issued(), 0);
}

TEST(NextChunkPrefetch, CoversTheNextChunkOfEachArrayWithinTheTask) {
  const int64_t n = 2 * kChunk + 100; // two whole chunks and a 100-element tail
  std::vector<float> p(n);
  std::vector<uint16_t> g(n);
  std::vector<double> m(n);
  // Chunk 0 of a task [0, 3): chunk 1 of p, g and m, round-robin, each from the line that holds its first element.
  ChunkPrefetch first = kernels::detail::next_chunk_prefetch(0, 3, n, p.data(), g.data(), m.data());
  std::vector<const char*> lines = drain(first);
  const int64_t p_lines = lines_over(p.data() + kChunk, kChunk * 4);
  const int64_t g_lines = lines_over(g.data() + kChunk, kChunk * 2);
  const int64_t m_lines = lines_over(m.data() + kChunk, kChunk * 8);
  ASSERT_EQ(lines.size(), static_cast<size_t>(p_lines + g_lines + m_lines));
  EXPECT_EQ(lines[0], line_of(p.data() + kChunk));
  EXPECT_EQ(lines[1], line_of(g.data() + kChunk));
  EXPECT_EQ(lines[2], line_of(m.data() + kChunk));
  EXPECT_EQ(lines.back(), line_of(m.data() + 2 * kChunk - 1)); // m has the most lines: its last comes last
  // Chunk 1: the 100-element tail of p (400 bytes) and m (800 bytes), a null g skipped.
  ChunkPrefetch tail =
      kernels::detail::next_chunk_prefetch(1, 3, n, p.data(), static_cast<const uint16_t*>(nullptr), m.data());
  lines = drain(tail);
  ASSERT_EQ(
      lines.size(),
      static_cast<size_t>(lines_over(p.data() + 2 * kChunk, 400) + lines_over(m.data() + 2 * kChunk, 800)));
  EXPECT_EQ(lines[0], line_of(p.data() + 2 * kChunk));
  EXPECT_EQ(lines[1], line_of(m.data() + 2 * kChunk));
  // The task's last chunk prefetches nothing (the next chunk belongs to another task).
  ChunkPrefetch last = kernels::detail::next_chunk_prefetch(1, 2, n, p.data(), g.data(), m.data());
  EXPECT_EQ(last.remaining(), 0);
}

// The noise loops issue every line they are given: for each kind of noise and each instruction-set path (AVX-512,
// AVX2, the portable loops), over a whole chunk and over a short tail that leaves the vector loops no whole group.
TEST(FillChunkNoise, IssuesEveryLineOfTheNextChunkOnEveryPath) {
  alignas(64) static char data[3 * kChunk * sizeof(float)];
  std::vector<float> out(kChunk);
  const DrawKey key = DrawKey::make(7, 0, 3, 1);
  const kernels::detail::Isa paths[] = {
      kernels::detail::Isa::Avx512, kernels::detail::Isa::Avx2, kernels::detail::Isa::Scalar};
  const NoiseKind kinds[] = {
      NoiseKind::Gaussian, NoiseKind::Uniform, NoiseKind::ThresholdGaussian, NoiseKind::ThresholdUniform};
  const kernels::detail::Isa previous = kernels::detail::set_isa_cap(kernels::detail::Isa::Avx512);
  for (const kernels::detail::Isa path : paths) {
    kernels::detail::set_isa_cap(path);
    for (const NoiseKind kind : kinds) {
      for (const int64_t count : {kChunk, int64_t{40}}) {
        ChunkPrefetch prefetch;
        for (int s = 0; s < 3; ++s) {
          prefetch.add(data + s * kChunk * sizeof(float), kChunk * sizeof(float));
        }
        kernels::cpu::fill_chunk_noise(out.data(), 0, count, key, kind, &prefetch);
        EXPECT_EQ(prefetch.remaining(), 0)
            << "isa " << static_cast<int>(path) << ", kind " << static_cast<int>(kind) << ", count " << count;
      }
    }
  }
  kernels::detail::set_isa_cap(previous);
}

// The update pass prefetches the next chunk's g only where the update reads it (src/kernels/fused_cpu_sign.cpp):
// not with the momentum ready from a statistics pass, unless the calibration terms or a chunk statistic need it.
TEST(UpdatePrefetch, LeavesOutTheGradientOnlyWhereTheUpdateDoesNotReadIt) {
  using kernels::detail::update_reads_gradient;
  namespace rules = kernels::rules;
  EXPECT_FALSE(update_reads_gradient(rules::kMomentumReady, false, 0));
  EXPECT_TRUE(update_reads_gradient(rules::kMomentumReady, true, 0));
  for (int stat : {1, 2, 3})
    EXPECT_TRUE(update_reads_gradient(rules::kMomentumReady, false, stat));
  for (int mode : {rules::kNoMomentum, rules::kUpdateMomentum})
    for (bool calib : {false, true})
      EXPECT_TRUE(update_reads_gradient(mode, calib, 0));
}

// What leaving g out rests on: with the momentum ready, the update gives the same bits whatever g holds (here
// NaN), for both draws, with and without coupled weight decay.
template <int kDraw>
void expect_ready_update_ignores_the_gradient(double weight_decay) {
  namespace rules = kernels::rules;
  const int64_t n = kChunk + 37;
  std::vector<float> p0(n), g(n), nan_g(n, std::nanf("")), m(n), noise(n);
  for (int64_t i = 0; i < n; ++i) {
    p0[i] = std::sin(0.1f * static_cast<float>(i));
    g[i] = std::cos(0.37f * static_cast<float>(i));
    m[i] = std::sin(0.013f * static_cast<float>(i) + 1.0f) * 0.01f;
    noise[i] = std::cos(0.71f * static_cast<float>(i)); // a level or a unit noise: any value in range will do
  }
  kernels::SignStepArgs args;
  args.lr = 0.01;
  args.beta = 0.9;
  args.weight_decay = weight_decay;
  auto c = rules::sign_coeffs<float>(args);
  if constexpr (kDraw == rules::kThreshold) {
    rules::use_threshold_scale(c, 0.005);
  } else {
    c.s_x = 0.005f;
  }
  std::vector<float> with_g = p0, with_nan = p0;
  using Rule = rules::SignRule<float, rules::kMomentumReady, kDraw>;
  kernels::detail::elementwise_chunk<Rule, true>(Rule{with_g.data(), g.data(), m.data(), c}, 0, n, noise.data());
  kernels::detail::elementwise_chunk<Rule, true>(Rule{with_nan.data(), nan_g.data(), m.data(), c}, 0, n, noise.data());
  EXPECT_EQ(std::memcmp(with_g.data(), with_nan.data(), sizeof(float) * n), 0)
      << "draw " << kDraw << " wd " << weight_decay;
  EXPECT_NE(std::memcmp(with_g.data(), p0.data(), sizeof(float) * n), 0) << "the update moved nothing";
  // A packed exchange's first half takes the same argument (sign_pack_chunks' argument_chunk).
  const Rule reads_g{p0.data(), g.data(), m.data(), c}, reads_nan{p0.data(), nan_g.data(), m.data(), c};
  for (int64_t i = 0; i < n; ++i) {
    const float a = weight_decay != 0 ? reads_g.template argument<true>(i, noise[i])
                                      : reads_g.template argument<false>(i, noise[i]);
    const float b = weight_decay != 0 ? reads_nan.template argument<true>(i, noise[i])
                                      : reads_nan.template argument<false>(i, noise[i]);
    ASSERT_EQ(std::memcmp(&a, &b, sizeof(float)), 0) << "element " << i << " draw " << kDraw << " wd " << weight_decay;
  }
}

TEST(UpdatePrefetch, AnUpdateOrPackWithTheMomentumReadyDoesNotReadTheGradient) {
  for (double wd : {0.0, 0.01}) {
    expect_ready_update_ignores_the_gradient<kernels::rules::kAdditive>(wd);
    expect_ready_update_ignores_the_gradient<kernels::rules::kThreshold>(wd);
  }
}

} // namespace
} // namespace signopt::test

// The software prefetch of the next chunk (src/kernels/prefetch.h): which lines it issues, in which order, how
// the issuing is paced over a loop, and which chunk a task prefetches. Prefetches change no result, so the
// kernels' bitwise tests (test_fused.cpp) cover the kernels that use it; this checks the addresses and counts.
#include "../../src/kernels/fused_cpu_internal.h"
#include "../../src/kernels/prefetch.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace signopt::test {
namespace {

using kernels::detail::ChunkPrefetch;
using kernels::detail::kCacheLine;
using kernels::detail::kChunk;

// Every line a prefetch has left, in issue order.
std::vector<const char*> drain(ChunkPrefetch& prefetch) {
  std::vector<const char*> lines;
  while (const char* line = prefetch.next_line()) {
    lines.push_back(line);
  }
  return lines;
}

TEST(ChunkPrefetch, IssuesLineRofEveryRangeBeforeLineRPlusOne) {
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

TEST(ChunkPrefetch, IgnoresNullEmptyAndExtraRanges) {
  static char data[8][64];
  ChunkPrefetch prefetch;
  prefetch.add(nullptr, 640);
  prefetch.add(data[0], 0);
  prefetch.add(data[0], -5);
  EXPECT_EQ(prefetch.remaining(), 0);
  for (int k = 1; k <= ChunkPrefetch::kMaxStreams + 2; ++k) {
    prefetch.add(data[k], 64);
  }
  EXPECT_EQ(prefetch.remaining(), ChunkPrefetch::kMaxStreams); // the ranges past kMaxStreams are dropped
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
  static std::vector<char> data(3 * kChunk * sizeof(float));
  ChunkPrefetch prefetch;
  for (int s = 0; s < 3; ++s) {
    prefetch.add(data.data() + s * kChunk * sizeof(float), kChunk * sizeof(float));
  }
  ASSERT_EQ(prefetch.remaining(), 768); // three float32 chunks of 256 lines
  expect_even_pace(prefetch, 32, 384); // the threshold draw's Philox loop: half the lines
  expect_even_pace(prefetch, 7, 10); // a rate that is not a whole number of lines per tick
  expect_even_pace(prefetch, 256, prefetch.remaining()); // the levels loop: the rest
  EXPECT_EQ(prefetch.remaining(), 0);
}

TEST(ChunkPrefetch, PaceIsCappedByWhatRemainsAndZeroTicksIssueAtOnce) {
  static char data[10 * 64];
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
  // Chunk 0 of a task [0, 3): chunk 1 of p, g and m.
  ChunkPrefetch first = kernels::detail::next_chunk_prefetch(0, 3, n, p.data(), g.data(), m.data());
  std::vector<const char*> lines = drain(first);
  const int64_t p_lines = kChunk * 4 / kCacheLine, g_lines = kChunk * 2 / kCacheLine, m_lines = kChunk * 8 / kCacheLine;
  ASSERT_EQ(lines.size(), static_cast<size_t>(p_lines + g_lines + m_lines));
  EXPECT_EQ(lines[0], reinterpret_cast<const char*>(p.data() + kChunk));
  EXPECT_EQ(lines[1], reinterpret_cast<const char*>(g.data() + kChunk));
  EXPECT_EQ(lines[2], reinterpret_cast<const char*>(m.data() + kChunk));
  EXPECT_EQ(lines.back(), reinterpret_cast<const char*>(m.data() + 2 * kChunk) - kCacheLine);
  // Chunk 1: the 100-element tail (7 lines of p's 400 bytes, 13 of m's 800), a null g skipped.
  ChunkPrefetch tail =
      kernels::detail::next_chunk_prefetch(1, 3, n, p.data(), static_cast<const uint16_t*>(nullptr), m.data());
  lines = drain(tail);
  ASSERT_EQ(lines.size(), static_cast<size_t>(7 + 13));
  EXPECT_EQ(lines[0], reinterpret_cast<const char*>(p.data() + 2 * kChunk));
  EXPECT_EQ(lines[1], reinterpret_cast<const char*>(m.data() + 2 * kChunk));
  // The task's last chunk prefetches nothing (the next chunk belongs to another task).
  ChunkPrefetch last = kernels::detail::next_chunk_prefetch(1, 2, n, p.data(), g.data(), m.data());
  EXPECT_EQ(last.remaining(), 0);
}

} // namespace
} // namespace signopt::test

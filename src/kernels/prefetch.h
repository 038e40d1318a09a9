// Internal: software prefetch of the next chunk while a chunk's random bits are computed. A dithered or
// stochastically rounded step alternates compute that touches no memory (Philox words, levels, Box-Muller) with an
// update pass that streams the tensors; the hardware prefetchers only run ahead of demand loads, so the two add
// up. A ChunkPrefetch holds the next chunk's address ranges and issues their cache lines into L2 a few at a time
// from inside the compute loops (tick), spread over them (pace), so that the memory traffic of chunk c + 1
// overlaps the compute of chunk c and its update pass reads L2. Only a hint: results never depend on it.
// docs/benchmarks.md ("Prefetching the next chunk") has the measurements.
#pragma once

#include <algorithm>
#include <cstdint>

namespace signopt::kernels::detail {

/// Bytes per cache line (x86-64 and the Arm cores the kernels are built for).
constexpr int64_t kCacheLine = 64;

/// The cache lines of up to kMaxStreams address ranges, issued as prefetches into L2 round-robin across the
/// ranges (line r of every range before line r + 1 of any), paced over the calls to tick().
class ChunkPrefetch {
 public:
  static constexpr int kMaxStreams = 4;

  /// Adds the cache lines that hold [begin, begin + bytes) (the first one from its start, so that an unaligned range
  /// gets its last line too); ignored when null, empty or when kMaxStreams ranges are held.
  void add(const void* begin, int64_t bytes) {
    if (begin == nullptr || bytes <= 0 || streams_ == kMaxStreams) {
      return;
    }
    const int64_t skew = static_cast<int64_t>(reinterpret_cast<uintptr_t>(begin) % kCacheLine);
    base_[streams_] = static_cast<const char*>(begin) - skew;
    lines_[streams_] = (skew + bytes + kCacheLine - 1) / kCacheLine;
    total_ += lines_[streams_];
    ++streams_;
  }

  /// Lines not yet issued.
  int64_t remaining() const {
    return total_ - issued_;
  }

  /// Lines issued so far.
  int64_t issued() const {
    return issued_;
  }

  /// Spreads `lines` more lines (at most remaining()) evenly over the next `ticks` calls of tick(), all of them
  /// issued by the last of those calls; with ticks <= 0, issues them now.
  void pace(int64_t ticks, int64_t lines) {
    lines = std::max<int64_t>(0, std::min(lines, remaining()));
    end_ = issued_ + lines;
    goal_ = static_cast<uint64_t>(issued_) << 16;
    // Rounded up, so that `ticks` ticks reach end_; tick() never passes it.
    rate_ = ticks > 0 && lines > 0
        ? ((static_cast<uint64_t>(lines) << 16) + static_cast<uint64_t>(ticks) - 1) / static_cast<uint64_t>(ticks)
        : 0;
    if (ticks <= 0) {
      issue(lines);
    }
  }

  /// Issues the lines due by this call (none when nothing is paced).
  void tick() {
    if (rate_ == 0) {
      return;
    }
    goal_ += rate_;
    issue(std::min(static_cast<int64_t>(goal_ >> 16), end_) - issued_);
  }

  /// The address of the next line to issue, counted as issued (null when none remains): what tick() prefetches.
  const char* next_line() {
    if (issued_ >= total_) {
      return nullptr;
    }
    while (round_ >= lines_[stream_]) { // a range shorter than another ends early
      advance();
    }
    const char* line = base_[stream_] + round_ * kCacheLine;
    ++issued_;
    advance();
    return line;
  }

 private:
  void issue(int64_t count) {
    for (; count > 0 && issued_ < total_; --count) {
      __builtin_prefetch(next_line(), 0, 2); // 2: into L2 (prefetcht1 on x86-64)
    }
  }

  void advance() {
    if (++stream_ == streams_) {
      stream_ = 0;
      ++round_;
    }
  }

  const char* base_[kMaxStreams] = {};
  int64_t lines_[kMaxStreams] = {};
  int streams_ = 0;
  int64_t total_ = 0;
  int64_t issued_ = 0;
  int stream_ = 0; // where the next line comes from: line round_ of range stream_
  int64_t round_ = 0;
  int64_t end_ = 0; // where the paced lines end (issued_ after the last tick)
  uint64_t goal_ = 0; // issued lines due, 16.16 fixed point
  uint64_t rate_ = 0; // lines per tick, 16.16 fixed point
};

/// prefetch->pace(ticks, lines), for a loop whose prefetch may be null.
inline void pace(ChunkPrefetch* prefetch, int64_t ticks, int64_t lines) {
  if (prefetch != nullptr) {
    prefetch->pace(ticks, lines);
  }
}

/// prefetch->remaining(), 0 for a null prefetch.
inline int64_t remaining(const ChunkPrefetch* prefetch) {
  return prefetch == nullptr ? 0 : prefetch->remaining();
}

/// prefetch->tick(), for a loop whose prefetch may be null.
inline void tick(ChunkPrefetch* prefetch) {
  if (prefetch != nullptr) {
    prefetch->tick();
  }
}

} // namespace signopt::kernels::detail

// The console of a training run: the progress bar or lines, and messages the bar must not overwrite.
#include "progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace signopt::train::detail {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  return buf;
}

Progress::Progress(const std::string& mode, int64_t log_every) : log_every_(log_every) {
  bar_ = mode == "bar" || (mode == "auto" && ::isatty(STDERR_FILENO));
  lines_ = mode == "lines" || (mode == "auto" && !bar_);
}

void Progress::step(
    int64_t epoch,
    int64_t epochs,
    int64_t batch,
    int64_t batches,
    int64_t step,
    double loss,
    double accuracy,
    double img_per_s,
    double eta) {
  if (bar_) {
    const int width = 24;
    const int filled = static_cast<int>(width * (batch + 1) / std::max<int64_t>(1, batches));
    std::fprintf(
        stderr,
        "\repoch %lld/%lld [%s%s] %lld/%lld  loss %.4f  acc %5.1f%%  %.0f img/s  ETA %s   ",
        static_cast<long long>(epoch + 1),
        static_cast<long long>(epochs),
        std::string(filled, '#').c_str(),
        std::string(width - filled, '.').c_str(),
        static_cast<long long>(batch + 1),
        static_cast<long long>(batches),
        loss,
        accuracy,
        img_per_s,
        format_duration(eta).c_str());
    std::fflush(stderr);
    dirty_ = true;
  } else if (lines_ && step % log_every_ == 0) {
    std::printf(
        "  epoch %lld/%lld  step %lld  loss %.4f  acc %.1f%%  %.0f img/s  ETA %s\n",
        static_cast<long long>(epoch + 1),
        static_cast<long long>(epochs),
        static_cast<long long>(step),
        loss,
        accuracy,
        img_per_s,
        format_duration(eta).c_str());
    std::fflush(stdout);
  }
}

void Progress::message(const std::string& text) {
  if (dirty_) {
    std::fprintf(stderr, "\r\033[K");
    dirty_ = false;
  }
  if (bar_ || lines_) {
    std::printf("%s\n", text.c_str());
    std::fflush(stdout);
  }
}

} // namespace signopt::train::detail

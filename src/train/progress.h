// Internal: what a training run shows on the console while it trains: a progress bar or lines, and messages.
#pragma once

#include <cstdint>
#include <string>

namespace signopt::train::detail {

/// Seconds as "1h02m" or "3m07s"; "?" when not finite or negative.
std::string format_duration(double seconds);

/// The console of a run. `mode` is --progress: "bar" (stderr, redrawn), "lines" (stdout, every `log_every`
/// steps), "none", or "auto" (a bar on a terminal, lines otherwise).
class Progress {
 public:
  Progress(const std::string& mode, int64_t log_every);
  void step(
      int64_t epoch,
      int64_t epochs,
      int64_t batch,
      int64_t batches,
      int64_t step,
      double loss,
      double accuracy,
      double img_per_s,
      double eta);
  // A line that must not be overwritten by the bar.
  void message(const std::string& text);

 private:
  int64_t log_every_;
  bool bar_ = false, lines_ = false, dirty_ = false;
};

} // namespace signopt::train::detail

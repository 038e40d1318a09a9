// The stop requests of a training loop: the SIGINT/SIGTERM handler, request_stop() and request_stop_at_step().
#include <signopt/train/trainer.h>

#include "interrupts.h"

#include <atomic>
#include <csignal>
#include <cstdlib>

namespace signopt::train {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signals{0};
std::atomic<int64_t> g_stop_at{-1};

extern "C" void on_interrupt(int) {
  if (g_signals.fetch_add(1) > 0)
    std::_Exit(130); // second Ctrl-C: quit without waiting for the step boundary
  g_stop.store(true);
}

} // namespace

namespace detail {

bool stop_requested() {
  return g_stop.load();
}

int64_t stop_step() {
  return g_stop_at.load();
}

void clear_stop_requests() {
  g_stop.store(false);
  g_stop_at.store(-1);
}

} // namespace detail

void request_stop() {
  g_stop.store(true);
}

void request_stop_at_step(int64_t step) {
  g_stop_at.store(step);
}

void install_interrupt_handler() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
}

} // namespace signopt::train

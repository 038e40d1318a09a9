// The run-time instruction-set choice of the hand-vectorized kernel paths (signopt/kernels/isa.h).
#include "isa.h"

#include <algorithm>
#include <atomic>

namespace signopt::kernels::detail {
namespace {
std::atomic<int> g_cap{static_cast<int>(Isa::Avx512)};
} // namespace

Isa isa_supported() {
#ifdef SIGNOPT_X86_INTRINSICS
  static const Isa best = __builtin_cpu_supports("avx512f") ? Isa::Avx512
      : __builtin_cpu_supports("avx2")                      ? Isa::Avx2
                                                            : Isa::Scalar;
  return best;
#else
  return Isa::Scalar;
#endif
}

Isa isa() {
  return static_cast<Isa>(std::min(static_cast<int>(isa_supported()), g_cap.load(std::memory_order_relaxed)));
}

Isa set_isa_cap(Isa cap) {
  return static_cast<Isa>(g_cap.exchange(static_cast<int>(cap)));
}

} // namespace signopt::kernels::detail

// Fused CPU update kernels for the SGD phase, EF-SignSGD and Lion. Each step walks a tensor once (EF-SignSGD
// twice: its ||c||_1 must be known before the update) in chunks of kReductionChunk elements on the kernels'
// parallel loop, running the element rules of element_rules.h through the per-ISA chunk loops of
// fused_cpu_internal.h. Each rule performs exactly the operations of the reference torch-op
// composition, each rounded alike (no contraction), so the results are bit-identical to the reference
// path for any thread count and ISA. The sign-descent family is in fused_cpu_sign.cpp and
// fused_cpu_apply.cpp; the public entry points, which route CUDA tensors elsewhere, in dispatch.cpp.
#include "fused_cpu_internal.h"

#include <vector>

namespace signopt::kernels::cpu {

using detail::chunks_of;
using detail::elementwise_chunk;
using detail::for_each_chunk;
using detail::with_float_type;

void sgd_step(Dtype dtype, void* p, const void* g, void* v, int64_t n, const SgdStepArgs& args) {
  with_float_type(dtype, [&](auto zero) {
    using T = decltype(zero);
    const auto run = [&](auto rule) {
      for_each_chunk(n, [&](int64_t, int64_t o, int64_t len) {
        elementwise_chunk<decltype(rule), false>(rule, o, len, nullptr);
      });
    };
    T* pt = static_cast<T*>(p);
    const T* gt = static_cast<const T*>(g);
    T* vt = args.mu > 0 ? static_cast<T*>(v) : nullptr;
    if (args.mu > 0) {
      run(rules::sgd_rule<T, true>(pt, gt, vt, args));
    } else {
      run(rules::sgd_rule<T, false>(pt, gt, vt, args));
    }
  });
}

namespace {

template <typename T, bool kMomentum>
void ef_typed(T* p, const T* g, T* e, T* buf, int64_t n, const EfStepArgs& args) {
  rules::EfRules<T, kMomentum> r = rules::ef_rules<T, kMomentum>(p, g, e, kMomentum ? buf : nullptr, args, nullptr);
  std::vector<double> partial(static_cast<size_t>(chunks_of(n)));
  for_each_chunk(n, [&](int64_t c, int64_t o, int64_t len) {
    partial[c] = detail::statistic_chunk<rules::EfPass1Rule<T, kMomentum>, T, false>(r.pass1, o, len);
  });
  r.pass2.scale = static_cast<T>(detail::sum_in_order(partial) / static_cast<double>(std::max<int64_t>(n, 1)));
  for_each_chunk(n, [&](int64_t, int64_t o, int64_t len) {
    elementwise_chunk<rules::EfPass2Rule<T, kMomentum>, false>(r.pass2, o, len, nullptr);
  });
}

} // namespace

void ef_sign_sgd_step(Dtype dtype, void* p, const void* g, void* e, void* buf, int64_t n, const EfStepArgs& args) {
  with_float_type(dtype, [&](auto zero) {
    using T = decltype(zero);
    T* pt = static_cast<T*>(p);
    const T* gt = static_cast<const T*>(g);
    T* et = static_cast<T*>(e);
    if (args.momentum > 0) {
      ef_typed<T, true>(pt, gt, et, static_cast<T*>(buf), n, args);
    } else {
      ef_typed<T, false>(pt, gt, et, nullptr, n, args);
    }
  });
}

void lion_step(Dtype dtype, void* p, const void* g, void* m, int64_t n, const LionStepArgs& args) {
  with_float_type(dtype, [&](auto zero) {
    using T = decltype(zero);
    const rules::LionRule<T> rule =
        rules::lion_rule<T>(static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(m), args);
    for_each_chunk(n, [&](int64_t, int64_t o, int64_t len) {
      elementwise_chunk<rules::LionRule<T>, false>(rule, o, len, nullptr);
    });
  });
}

} // namespace signopt::kernels::cpu

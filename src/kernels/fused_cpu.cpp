// Fused CPU update kernels for the SGD phase, EF-SignSGD and Lion. Each step walks a tensor once (EF-SignSGD
// twice: its ||c||_1 must be known before the update) in chunks of kReductionChunk elements on
// at::parallel_for, running the element rules of element_rules.h through the per-ISA chunk loops of
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

void sgd_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& v, const SgdStepArgs& args) {
  with_float_type(p, [&](auto zero) {
    using T = decltype(zero);
    T* vp = args.mu > 0 ? v.data_ptr<T>() : nullptr;
    const auto run = [&](auto rule) {
      for_each_chunk(p.numel(), [&](int64_t, int64_t o, int64_t len) {
        elementwise_chunk<decltype(rule), false>(rule, o, len, nullptr);
      });
    };
    if (args.mu > 0) {
      run(rules::sgd_rule<T, true>(p.data_ptr<T>(), g.data_ptr<T>(), vp, args));
    } else {
      run(rules::sgd_rule<T, false>(p.data_ptr<T>(), g.data_ptr<T>(), vp, args));
    }
  });
}

namespace {

template <typename T, bool kMomentum>
void ef_typed(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& e, torch::Tensor& buf, const EfStepArgs& args) {
  const int64_t n = p.numel();
  rules::EfRules<T, kMomentum> r = rules::ef_rules<T, kMomentum>(
      p.data_ptr<T>(), g.data_ptr<T>(), e.data_ptr<T>(), kMomentum ? buf.data_ptr<T>() : nullptr, args, nullptr);
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

void ef_sign_sgd_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& e, torch::Tensor& buf, const EfStepArgs& args) {
  with_float_type(p, [&](auto zero) {
    using T = decltype(zero);
    if (args.momentum > 0) {
      ef_typed<T, true>(p, g, e, buf, args);
    } else {
      ef_typed<T, false>(p, g, e, buf, args);
    }
  });
}

void lion_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& m, const LionStepArgs& args) {
  with_float_type(p, [&](auto zero) {
    using T = decltype(zero);
    const rules::LionRule<T> rule = rules::lion_rule<T>(p.data_ptr<T>(), g.data_ptr<T>(), m.data_ptr<T>(), args);
    for_each_chunk(p.numel(), [&](int64_t, int64_t o, int64_t len) {
      elementwise_chunk<rules::LionRule<T>, false>(rule, o, len, nullptr);
    });
  });
}

} // namespace signopt::kernels::cpu

// The fused kernels' public entry points (signopt/kernels/fused.h): the one place that knows CPU from
// CUDA. Each checks what the kernels need, counts the call and hands the tensors to the CPU kernels
// (fused_cpu*.cpp, namespace cpu) or, in a build with SIGNOPT_WITH_CUDA, the CUDA kernels
// (fused_cuda_dispatch.h). Also the switches: fused on/off, the call counter, eligibility.
#include <signopt/kernels/bitpack.h>
#include <signopt/kernels/fused.h>
#include <signopt/kernels/reductions.h>

#include "fused_cpu_internal.h"
#include "tensor_memory.h"
#ifdef SIGNOPT_WITH_CUDA
#include "fused_cuda_dispatch.h"
#endif

#include <atomic>

namespace signopt::kernels {
namespace {

using detail::dtype_of;

std::atomic<bool> g_fused_enabled{true};
std::atomic<int64_t> g_fused_calls{0};

bool supported_device(const torch::Tensor& t) {
#ifdef SIGNOPT_WITH_CUDA
  return t.device().is_cpu() || t.device().is_cuda();
#else
  return t.device().is_cpu();
#endif
}

// The packed-words tensor of a packed exchange: a contiguous int64 CPU tensor with room for `bits` bits.
uint64_t* packed_target(const char* fn, const char* what, const torch::Tensor& t, int64_t bits) {
  TORCH_CHECK(
      t.defined() && t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == at::kLong,
      "signopt::kernels::",
      fn,
      ": ",
      what,
      " must be a contiguous int64 CPU tensor of packed words");
  TORCH_CHECK(
      t.numel() >= packed_words(bits),
      "signopt::kernels::",
      fn,
      ": ",
      what,
      " has ",
      t.numel(),
      " words but bit ",
      bits,
      " must fit (packed_words = ",
      packed_words(bits),
      ")");
  return reinterpret_cast<uint64_t*>(t.data_ptr<int64_t>());
}

// The parameter of a packed exchange: a contiguous float32/float64 CPU tensor (packed exchanges run on the CPU).
void check_packed_tensor(const char* fn, const torch::Tensor& p) {
  TORCH_CHECK(
      p.device().is_cpu() && p.is_contiguous() && (p.scalar_type() == at::kFloat || p.scalar_type() == at::kDouble),
      "signopt::kernels::",
      fn,
      ": the parameter must be a contiguous float32 or float64 CPU tensor");
}

// The memory of a state tensor that the rule uses (coefficient > 0), else null.
void* state_ptr(const torch::Tensor& t, double coefficient) {
  return coefficient > 0 ? t.data_ptr() : nullptr;
}

static_assert(detail::kChunk == kReductionChunk, "the fused kernels' chunks are the reductions' summation unit");

// A tensor of p's dtype and size, contiguous on the CPU.
bool matches_cpu(const torch::Tensor& t, const torch::Tensor& p) {
  return t.defined() && t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == p.scalar_type() &&
      t.numel() == p.numel();
}

} // namespace

void set_fused_enabled(bool enabled) {
  g_fused_enabled.store(enabled);
}

bool fused_enabled() {
  return g_fused_enabled.load();
}

int64_t fused_call_count() {
  return g_fused_calls.load();
}

bool fused_eligible(std::initializer_list<torch::Tensor> tensors) {
  if (!fused_enabled()) {
    return false;
  }
  c10::optional<at::ScalarType> dtype;
  c10::optional<c10::Device> device;
  for (const auto& t : tensors) {
    if (!t.defined()) {
      continue;
    }
    if (!supported_device(t) || !t.is_contiguous() || t.is_complex() ||
        (t.scalar_type() != at::kFloat && t.scalar_type() != at::kDouble)) {
      return false;
    }
    if ((dtype && *dtype != t.scalar_type()) || (device && *device != t.device())) {
      return false;
    }
    dtype = t.scalar_type();
    device = t.device();
  }
  return true;
}

namespace {

bool is_half(const torch::Tensor& t) {
  return t.defined() && half_type_of(t.scalar_type()).has_value();
}

// The 16-bit step's tensors: a contiguous parameter on a fused kernels' device (the CPU, or CUDA in a CUDA build),
// its gradient alike, the buffer (if used) of its dtype or float32, all on one device.
bool half_sign_tensors(const torch::Tensor& p, const torch::Tensor& g, const torch::Tensor& buf) {
  const auto like_p = [&](const torch::Tensor& t) {
    return t.defined() && t.device() == p.device() && t.is_contiguous() && t.scalar_type() == p.scalar_type() &&
        t.numel() == p.numel();
  };
  const bool buf_ok = !buf.defined() ||
      (buf.device() == p.device() && buf.is_contiguous() && buf.numel() == p.numel() &&
       (buf.scalar_type() == p.scalar_type() || buf.scalar_type() == at::kFloat));
  return is_half(p) && supported_device(p) && like_p(p) && like_p(g) && buf_ok;
}

// Checks a 16-bit step's tensors (`what`: the entry point) and says which dtype its momentum has.
bool check_half_tensors(
    const char* what,
    const torch::Tensor& p,
    const torch::Tensor& g,
    const torch::Tensor& buf,
    bool momentum) {
  TORCH_CHECK(
      half_sign_tensors(p, g, buf),
      "signopt::kernels::",
      what,
      ": a ",
      p.scalar_type(),
      " parameter on ",
      p.device(),
      " needs a contiguous gradient "
      "of its dtype and a momentum buffer of its dtype or float32, on its device, which the fused kernels support ",
      "(got gradient ",
      g.scalar_type(),
      " on ",
      g.device(),
      buf.defined() ? std::string(", buffer ") + c10::toString(buf.scalar_type()) + " on " + buf.device().str()
                    : std::string(),
      ")");
  TORCH_CHECK(
      !momentum || buf.defined(), "signopt::kernels::", what, ": a step with momentum needs the momentum buffer");
  return buf.defined() && buf.scalar_type() != at::kFloat;
}

double half_sign_descent_step(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    const SignStepArgs& args,
    double* dot_gg) {
  const bool half_momentum = check_half_tensors("sign_descent_step", p, g, buf, args.beta > 0);
  const HalfType type = *half_type_of(p.scalar_type());
#ifdef SIGNOPT_WITH_CUDA
  if (p.is_cuda()) {
    return detail::sign_descent_step_half_cuda(type, half_momentum, p, g, buf, args, dot_gg);
  }
#endif
  return cpu::sign_descent_step_half(
      type,
      half_momentum,
      static_cast<uint16_t*>(p.data_ptr()),
      static_cast<const uint16_t*>(g.data_ptr()),
      args.beta > 0 ? buf.data_ptr() : nullptr,
      p.numel(),
      args,
      dot_gg);
}

} // namespace

bool fused_sign_eligible(const torch::Tensor& p, const torch::Tensor& g, const torch::Tensor& buf) {
  if (is_half(p)) {
    return fused_enabled() && half_sign_tensors(p, g, buf);
  }
  return fused_eligible({p, g, buf});
}

bool fused_sgd_eligible(const torch::Tensor& p, const torch::Tensor& g, const torch::Tensor& v) {
  return fused_sign_eligible(p, g, v);
}

double sign_descent_step(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    const SignStepArgs& args,
    double* dot_gg) {
  ++g_fused_calls;
  if (is_half(p)) {
    return half_sign_descent_step(p, g, buf, args, dot_gg);
  }
#ifdef SIGNOPT_WITH_CUDA
  if (p.is_cuda()) {
    return detail::sign_descent_step_cuda(p, g, buf, args, dot_gg);
  }
#endif
  return cpu::sign_descent_step(
      dtype_of(p), p.data_ptr(), g.data_ptr(), state_ptr(buf, args.beta), p.numel(), args, dot_gg);
}

int64_t sign_descent_pack(
    const torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& buf,
    const SignStepArgs& args,
    torch::Tensor& sign_words,
    torch::Tensor& zero_words,
    int64_t bit_offset) {
  check_packed_tensor("sign_descent_pack", p);
  TORCH_CHECK(bit_offset >= 0, "signopt::kernels::sign_descent_pack: bit_offset must be >= 0, got ", bit_offset);
  TORCH_CHECK(
      matches_cpu(g, p),
      "signopt::kernels::sign_descent_pack: g must be a contiguous CPU tensor of p's dtype and size");
  TORCH_CHECK(
      args.beta <= 0 || matches_cpu(buf, p),
      "signopt::kernels::sign_descent_pack: with beta > 0, buf must be a contiguous CPU tensor of p's dtype and size");
  const int64_t end = bit_offset + p.numel();
  uint64_t* sign = packed_target("sign_descent_pack", "sign_words", sign_words, end);
  uint64_t* zero = packed_target("sign_descent_pack", "zero_words", zero_words, end);
  ++g_fused_calls;
  return cpu::sign_descent_pack(
      dtype_of(p), p.data_ptr(), g.data_ptr(), state_ptr(buf, args.beta), p.numel(), args, sign, zero, bit_offset);
}

void apply_packed_direction(
    torch::Tensor& p,
    double lr,
    double weight_decay,
    bool decoupled,
    const torch::Tensor& sign_words,
    const torch::Tensor& zero_words,
    int64_t bit_offset,
    const torch::Tensor& g,
    double* dot_gg) {
  check_packed_tensor("apply_packed_direction", p);
  TORCH_CHECK(bit_offset >= 0, "signopt::kernels::apply_packed_direction: bit_offset must be >= 0, got ", bit_offset);
  const int64_t end = bit_offset + p.numel();
  const uint64_t* sign = packed_target("apply_packed_direction", "sign_words", sign_words, end);
  const uint64_t* zero =
      zero_words.defined() ? packed_target("apply_packed_direction", "zero_words", zero_words, end) : nullptr;
  if (dot_gg != nullptr) {
    TORCH_CHECK(
        matches_cpu(g, p),
        "signopt::kernels::apply_packed_direction: with dot_gg, g must be a contiguous CPU tensor of p's dtype and "
        "size");
  }
  ++g_fused_calls;
  cpu::apply_packed_direction(
      dtype_of(p),
      p.data_ptr(),
      p.numel(),
      lr,
      weight_decay,
      decoupled,
      sign,
      zero,
      bit_offset,
      dot_gg != nullptr ? g.data_ptr() : nullptr,
      dot_gg);
}

void sgd_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& v, const SgdStepArgs& args) {
  ++g_fused_calls;
  if (is_half(p)) {
    const bool half_momentum = check_half_tensors("sgd_step", p, g, v, args.mu > 0);
    const HalfType type = *half_type_of(p.scalar_type());
#ifdef SIGNOPT_WITH_CUDA
    if (p.is_cuda()) {
      return detail::sgd_step_half_cuda(type, half_momentum, p, g, v, args);
    }
#endif
    return cpu::sgd_step_half(
        type,
        half_momentum,
        static_cast<uint16_t*>(p.data_ptr()),
        static_cast<const uint16_t*>(g.data_ptr()),
        args.mu > 0 ? v.data_ptr() : nullptr,
        p.numel(),
        args);
  }
#ifdef SIGNOPT_WITH_CUDA
  if (p.is_cuda()) {
    return detail::sgd_step_cuda(p, g, v, args);
  }
#endif
  cpu::sgd_step(dtype_of(p), p.data_ptr(), g.data_ptr(), state_ptr(v, args.mu), p.numel(), args);
}

void ef_sign_sgd_step(
    torch::Tensor& p,
    const torch::Tensor& g,
    torch::Tensor& e,
    torch::Tensor& buf,
    const EfStepArgs& args) {
  ++g_fused_calls;
#ifdef SIGNOPT_WITH_CUDA
  if (p.is_cuda()) {
    return detail::ef_sign_sgd_step_cuda(p, g, e, buf, args);
  }
#endif
  cpu::ef_sign_sgd_step(
      dtype_of(p), p.data_ptr(), g.data_ptr(), e.data_ptr(), state_ptr(buf, args.momentum), p.numel(), args);
}

void lion_step(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& m, const LionStepArgs& args) {
  ++g_fused_calls;
#ifdef SIGNOPT_WITH_CUDA
  if (p.is_cuda()) {
    return detail::lion_step_cuda(p, g, m, args);
  }
#endif
  cpu::lion_step(dtype_of(p), p.data_ptr(), g.data_ptr(), m.data_ptr(), p.numel(), args);
}

} // namespace signopt::kernels

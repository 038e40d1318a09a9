// Executors for cuda_cases::run_steps: the host model (always) and the CUDA kernels on device copies
// of the arrays (only where signopt was built with CUDA and a GPU is present).
#pragma once

#include "cases.h"
#include "host_model.h"

#include <signopt/kernels/fused_cuda.h>

#include <limits>
#include <vector>

namespace signopt::test::cuda_cases {

/// The 16 bits per element of a 16-bit array.
inline uint16_t* half_ptr(std::vector<unsigned char>& v) {
  return reinterpret_cast<uint16_t*>(v.data());
}

/// Runs the steps with the host model on x in place.
struct HostExec {
  Arrays& x;
  std::vector<double> ws;

  explicit HostExec(Arrays& arrays)
      : x(arrays),
        ws(static_cast<size_t>(kernels::host_model::workspace_doubles(arrays.n)),
           std::numeric_limits<double>::quiet_NaN()) {}

  double* scale_state() {
    return &x.base;
  }
  void sign(const kernels::cuda::SignStepArgs& a, bool calibrate) {
    void* m = a.beta > 0 ? x.a.data() : nullptr;
    if (x.half) {
      kernels::host_model::sign_descent_step_half(
          x.half_type, x.half_state, half_ptr(x.p), half_ptr(x.g), m, x.n, a, calibrate, ws.data());
    } else {
      kernels::host_model::sign_descent_step(x.dtype, x.p.data(), x.g.data(), m, x.n, a, calibrate, ws.data());
    }
    x.results = kernels::host_model::read_results(ws.data());
  }
  void sgd(const kernels::cuda::SgdStepArgs& a) {
    void* v = a.mu > 0 ? x.a.data() : nullptr;
    if (x.half) {
      kernels::host_model::sgd_step_half(x.half_type, x.half_state, half_ptr(x.p), half_ptr(x.g), v, x.n, a);
    } else {
      kernels::host_model::sgd_step(x.dtype, x.p.data(), x.g.data(), v, x.n, a);
    }
  }
  void ef(const kernels::cuda::EfStepArgs& a) {
    kernels::host_model::ef_sign_sgd_step(
        x.dtype, x.p.data(), x.g.data(), x.a.data(), a.momentum > 0 ? x.b.data() : nullptr, x.n, a, ws.data());
    x.results = kernels::host_model::read_results(ws.data());
  }
  void lion(const kernels::cuda::LionStepArgs& a) {
    kernels::host_model::lion_step(x.dtype, x.p.data(), x.g.data(), x.a.data(), x.n, a);
  }
};

#ifdef SIGNOPT_CUDA_EXECUTOR
/// Runs the steps with the CUDA kernels on device copies of x (legacy default stream); copy_back
/// brings the arrays home. Define SIGNOPT_CUDA_EXECUTOR where the CUDA kernels are linked.
struct DeviceExec {
  Arrays& x;
  void* p;
  void* g;
  void* a;
  void* b;
  double* ws;
  double* base; // the one-pass scale's stored base (DitherScaleFrom::Previous)

  explicit DeviceExec(Arrays& arrays) : x(arrays) {
    namespace cu = kernels::cuda;
    p = cu::device_alloc(x.bytes_of(0));
    g = cu::device_alloc(x.bytes_of(1));
    a = cu::device_alloc(x.bytes_of(2));
    b = cu::device_alloc(x.bytes_of(3));
    ws = static_cast<double*>(cu::device_alloc(sizeof(double) * static_cast<size_t>(cu::workspace_doubles(x.n))));
    base = static_cast<double*>(cu::device_alloc(sizeof(double)));
    cu::copy_to_device(base, &x.base, sizeof(double));
    cu::copy_to_device(p, x.p.data(), x.bytes_of(0));
    cu::copy_to_device(g, x.g.data(), x.bytes_of(1));
    cu::copy_to_device(a, x.a.data(), x.bytes_of(2));
    cu::copy_to_device(b, x.b.data(), x.bytes_of(3));
  }
  DeviceExec(const DeviceExec&) = delete;
  DeviceExec& operator=(const DeviceExec&) = delete;
  ~DeviceExec() {
    for (void* ptr : {p, g, a, b, static_cast<void*>(ws), static_cast<void*>(base)}) {
      try {
        kernels::cuda::device_free(ptr);
      } catch (...) {
        // a failed free after a failed kernel: the error was reported already
      }
    }
  }

  double* scale_state() {
    return base;
  }
  void sign(const kernels::cuda::SignStepArgs& args, bool calibrate) {
    void* m = args.beta > 0 ? a : nullptr;
    if (x.half) {
      kernels::cuda::sign_descent_step_half(
          x.half_type,
          x.half_state,
          static_cast<uint16_t*>(p),
          static_cast<const uint16_t*>(g),
          m,
          x.n,
          args,
          calibrate,
          ws,
          nullptr);
    } else {
      kernels::cuda::sign_descent_step(x.dtype, p, g, m, x.n, args, calibrate, ws, nullptr);
    }
    x.results = kernels::cuda::read_results(ws, nullptr);
  }
  void sgd(const kernels::cuda::SgdStepArgs& args) {
    void* v = args.mu > 0 ? a : nullptr;
    if (x.half) {
      kernels::cuda::sgd_step_half(
          x.half_type, x.half_state, static_cast<uint16_t*>(p), static_cast<const uint16_t*>(g), v, x.n, args, nullptr);
    } else {
      kernels::cuda::sgd_step(x.dtype, p, g, v, x.n, args, nullptr);
    }
  }
  void ef(const kernels::cuda::EfStepArgs& args) {
    kernels::cuda::ef_sign_sgd_step(x.dtype, p, g, a, args.momentum > 0 ? b : nullptr, x.n, args, ws, nullptr);
    x.results = kernels::cuda::read_results(ws, nullptr);
  }
  void lion(const kernels::cuda::LionStepArgs& args) {
    kernels::cuda::lion_step(x.dtype, p, g, a, x.n, args, nullptr);
  }
  /// Copies the device arrays back into x (synchronous).
  void copy_back() {
    kernels::cuda::copy_to_host(x.p.data(), p, x.bytes_of(0));
    kernels::cuda::copy_to_host(x.g.data(), g, x.bytes_of(1));
    kernels::cuda::copy_to_host(x.a.data(), a, x.bytes_of(2));
    kernels::cuda::copy_to_host(x.b.data(), b, x.bytes_of(3));
    kernels::cuda::copy_to_host(&x.base, base, sizeof(double));
  }
};
#endif

} // namespace signopt::test::cuda_cases

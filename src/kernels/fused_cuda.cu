// CUDA versions of the fused update kernels: one kernel per rule over raw device pointers, the same
// per-element operations (src/kernels/fused_rules.h) and Philox draws as the CPU kernels, and
// reductions in the CPU's exact summation order, so every result is bit-identical to the CPU.
//
// Layout. Elementwise kernels walk tiles of 1024 elements with 256-thread blocks (grid-stride); in
// a dithered step each thread first draws one Philox block (4 noise values) of its tile into shared
// memory, then the block updates the tile's elements coalesced. Reductions (dither statistics, the
// hybrid's <u, g> and ||g||^2, EF-SignSGD's ||c||_1) give a block one 4096-element chunk at a time:
// the block computes a tile's per-element terms into shared memory, then 8 threads per sum add them
// to the chunk's 8 lane accumulators in element order (chunk_sum8), the lanes are combined
// pairwise with warp shuffles, and one thread adds the chunk partials in chunk order. No atomics:
// results do not depend on the grid size or the device.
//
// Built with -fmad=false (no contraction, like -ffp-contract=off on the CPU); sqrt and division are
// IEEE-rounded (no fast math). No LibTorch headers here: src/kernels/fused_cuda_dispatch.cpp maps
// tensors to these functions.
#include <signopt/kernels/fused_cuda.h>

#include "fused_rules.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#ifndef SIGNOPT_CUDA_ARCH_STRING
#define SIGNOPT_CUDA_ARCH_STRING "(unknown)"
#endif

namespace signopt::kernels::cuda {
namespace {

using rules::kChunk;
using rules::kLanes;
using rules::kResultSlots;

constexpr int kThreads = 256;
constexpr int kTile = 4 * kThreads; // one Philox block (4 elements) per thread
constexpr int kBlocksPerSm = 8;
static_assert(kChunk % kTile == 0, "a chunk must hold whole tiles");
static_assert(kLanes * 2 <= 32, "both sums' lanes must sit in warp 0");

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError(); // clear a sticky launch error so later calls report their own
    throw std::runtime_error(
        std::string("signopt CUDA: ") + what + " failed: " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) +
        ")");
  }
}

int64_t g_grid_limit = 0; // set_grid_limit

// At most this many blocks: enough to fill every SM; more would only add scheduling.
int64_t max_blocks() {
  if (g_grid_limit > 0) {
    return g_grid_limit;
  }
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  int sms = 0;
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  return static_cast<int64_t>(std::max(sms, 1)) * kBlocksPerSm;
}

// Thread threadIdx.x draws elements [base + 4 t, base + 4 t + 4) of the tile into noise[4 t ...].
__device__ __forceinline__ void draw_tile_noise(float* noise, const DrawKey& key, int64_t base, NoiseKind kind) {
  float z[4];
  unit_noise4(key, static_cast<uint64_t>(base / 4) + threadIdx.x, kind, z);
  reinterpret_cast<float4*>(noise)[threadIdx.x] = make_float4(z[0], z[1], z[2], z[3]);
}

template <class Rule, bool kNoise>
__global__ void __launch_bounds__(kThreads) elementwise_kernel(Rule rule, int64_t n, DrawKey key, NoiseKind kind) {
  __shared__ __align__(16) float noise[kNoise ? kTile : 4];
  Rule r = rule;
  r.load_scalars();
  const int64_t tiles = (n + kTile - 1) / kTile;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t base = t * kTile;
    if constexpr (kNoise) {
      draw_tile_noise(noise, key, base, kind);
      __syncthreads();
    }
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int k = q * kThreads + static_cast<int>(threadIdx.x);
      if (base + k < n) {
        double unused0, unused1;
        r.apply(base + k, kNoise ? noise[k] : 0.0f, &unused0, &unused1);
      }
    }
    if constexpr (kNoise) {
      __syncthreads(); // the next tile's draw overwrites noise[]
    }
  }
}

// Per chunk c: partial0[c] (and partial1[c] when kTerms == 2) = the chunk's lane accumulators of
// the rule's terms, combined pairwise; the exact order of the CPU's chunk_sum8.
template <class Rule, bool kNoise, int kTerms, bool kMax>
__global__ void __launch_bounds__(kThreads)
    chunk_reduce_kernel(Rule rule, int64_t n, DrawKey key, NoiseKind kind, double* partial0, double* partial1) {
  __shared__ __align__(16) float noise[kNoise ? kTile : 4];
  __shared__ double terms[kTerms][kTile];
  Rule r = rule;
  r.load_scalars();
  const int tid = static_cast<int>(threadIdx.x);
  const int64_t chunks = rules::chunks_of(n);
  for (int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    const int64_t chunk_base = c * kChunk;
    const int64_t chunk_end = min(n, chunk_base + kChunk);
    double acc = 0.0; // threads [8 s, 8 s + 8): lanes 0..7 of sum s
    for (int64_t base = chunk_base; base < chunk_end; base += kTile) {
      const int len = static_cast<int>(min(static_cast<int64_t>(kTile), chunk_end - base));
      if constexpr (kNoise) {
        draw_tile_noise(noise, key, base, kind);
        __syncthreads();
      }
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const int k = q * kThreads + tid;
        if (k < len) {
          double t0 = 0.0, t1 = 0.0;
          r.apply(base + k, kNoise ? noise[k] : 0.0f, &t0, &t1);
          terms[0][k] = t0;
          if constexpr (kTerms == 2) {
            terms[kTerms - 1][k] = t1;
          }
        }
      }
      __syncthreads();
      if (tid < kLanes * kTerms) {
        // A tile starts at a multiple of 8 within its chunk, so element k belongs to lane k % 8.
        const double* column = terms[tid / kLanes];
        for (int k = tid % kLanes; k < len; k += kLanes) {
          acc = rules::combine<kMax>(acc, column[k]);
        }
      }
      __syncthreads(); // terms[] and noise[] are rewritten by the next tile
    }
    if (tid < 32) {
      // ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)): lane 0 of each group of 8 holds the
      // left operand at every level (IEEE addition is commutative, so the partner's copy agrees).
      double v = acc;
#pragma unroll
      for (int width = 1; width < kLanes; width <<= 1) {
        v = rules::combine<kMax>(v, __shfl_xor_sync(0xffffffffu, v, width));
      }
      if (tid == 0) {
        partial0[c] = v;
      }
      if (kTerms == 2 && tid == kLanes) {
        partial1[c] = v;
      }
    }
  }
}

// One block: the chunk partials are staged through shared memory (coalesced loads) and thread 0
// adds them in chunk order, as the CPU does; then the step's scalars go to the result slots.
template <rules::Finish kKind, bool kMax>
__global__ void __launch_bounds__(kThreads) finish_kernel(
    const double* partial0,
    const double* partial1,
    int64_t chunks,
    int64_t n,
    int stat,
    double alpha,
    double* results) {
  constexpr int kSums = kKind == rules::Finish::kCalibration ? 2 : 1;
  constexpr int kBatch = 8 * kThreads;
  __shared__ double stage[kSums][kBatch];
  double total0 = 0.0, total1 = 0.0;
  for (int64_t b = 0; b < chunks; b += kBatch) {
    const int len = static_cast<int>(min(static_cast<int64_t>(kBatch), chunks - b));
    for (int k = static_cast<int>(threadIdx.x); k < len; k += kThreads) {
      stage[0][k] = partial0[b + k];
      if constexpr (kSums == 2) {
        stage[kSums - 1][k] = partial1[b + k];
      }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int k = 0; k < len; ++k) {
        total0 = rules::combine<kMax>(total0, stage[0][k]);
        if constexpr (kSums == 2) {
          total1 = rules::combine<false>(total1, stage[kSums - 1][k]);
        }
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    rules::finish_results<kKind>(total0, total1, n, stat, alpha, results);
  }
}

// Runs the passes of rules::Steps as kernels on one stream.
struct DeviceBackend {
  cudaStream_t stream;
  int64_t blocks; // the grid-size cap

  template <class Rule, bool kNoise>
  void elementwise(const Rule& rule, int64_t n, const DrawKey& key, NoiseKind kind, const char* what) {
    const int64_t grid = std::min((n + kTile - 1) / kTile, blocks);
    if (grid == 0) {
      return;
    }
    elementwise_kernel<Rule, kNoise><<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(rule, n, key, kind);
    check(cudaGetLastError(), what);
  }

  template <class Rule, bool kNoise, int kTerms, bool kMax>
  void reduce(const Rule& rule, int64_t n, const DrawKey& key, NoiseKind kind, double* workspace, const char* what) {
    const int64_t chunks = rules::chunks_of(n);
    const int64_t grid = std::min(chunks, blocks);
    if (grid == 0) {
      return;
    }
    double* partial0 = workspace + kResultSlots;
    chunk_reduce_kernel<Rule, kNoise, kTerms, kMax>
        <<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(rule, n, key, kind, partial0, partial0 + chunks);
    check(cudaGetLastError(), what);
  }

  void copy_scalar(double* dst, const double* src, const char* what) {
    check(cudaMemcpyAsync(dst, src, sizeof(double), cudaMemcpyDeviceToDevice, stream), what);
  }

  template <rules::Finish kKind, bool kMax>
  void finish(int64_t n, int stat, double alpha, double* workspace, const char* what) {
    const int64_t chunks = rules::chunks_of(n);
    const double* partial0 = workspace + kResultSlots;
    finish_kernel<kKind, kMax>
        <<<1, kThreads, 0, stream>>>(partial0, partial0 + chunks, chunks, n, stat, alpha, workspace);
    check(cudaGetLastError(), what);
  }
};

using DeviceSteps = rules::Steps<DeviceBackend>;

DeviceBackend backend_on(void* stream) {
  return DeviceBackend{static_cast<cudaStream_t>(stream), max_blocks()};
}

cudaStream_t as_stream(void* stream) {
  return static_cast<cudaStream_t>(stream);
}

__global__ void probe_kernel(int* out) {
  *out = 42;
}

} // namespace

int64_t workspace_doubles(int64_t n) {
  return kResultSlots + 2 * rules::chunks_of(n);
}

void sign_descent_step(
    Dtype dtype,
    void* p,
    const void* g,
    void* m,
    int64_t n,
    const SignStepArgs& args,
    bool calibrate,
    double* workspace,
    void* stream) {
  DeviceBackend b = backend_on(stream);
  DeviceSteps::sign_descent(b, dtype, p, g, m, n, args, calibrate, workspace);
}

void sign_descent_step_half(
    HalfType type,
    bool half_momentum,
    uint16_t* p,
    const uint16_t* g,
    void* m,
    int64_t n,
    const SignStepArgs& args,
    bool calibrate,
    double* workspace,
    void* stream) {
  DeviceBackend b = backend_on(stream);
  DeviceSteps::sign_descent_half(b, type, half_momentum, p, g, m, n, args, calibrate, workspace);
}

void sgd_step_half(
    HalfType type,
    bool half_momentum,
    uint16_t* p,
    const uint16_t* g,
    void* v,
    int64_t n,
    const SgdStepArgs& args,
    void* stream) {
  DeviceBackend b = backend_on(stream);
  DeviceSteps::sgd_half(b, type, half_momentum, p, g, v, n, args);
}

void sgd_step(Dtype dtype, void* p, const void* g, void* v, int64_t n, const SgdStepArgs& args, void* stream) {
  DeviceBackend b = backend_on(stream);
  DeviceSteps::sgd(b, dtype, p, g, v, n, args);
}

void ef_sign_sgd_step(
    Dtype dtype,
    void* p,
    const void* g,
    void* e,
    void* buf,
    int64_t n,
    const EfStepArgs& args,
    double* workspace,
    void* stream) {
  DeviceBackend b = backend_on(stream);
  DeviceSteps::ef(b, dtype, p, g, e, buf, n, args, workspace);
}

void lion_step(Dtype dtype, void* p, const void* g, void* m, int64_t n, const LionStepArgs& args, void* stream) {
  DeviceBackend b = backend_on(stream);
  DeviceSteps::lion(b, dtype, p, g, m, n, args);
}

StepResults read_results(const double* workspace, void* stream) {
  rules::require_workspace(workspace, "read_results");
  double slots[3];
  check(
      cudaMemcpyAsync(slots, workspace, sizeof slots, cudaMemcpyDeviceToHost, as_stream(stream)),
      "read_results (cudaMemcpyAsync)");
  check(cudaStreamSynchronize(as_stream(stream)), "read_results (cudaStreamSynchronize)");
  StepResults r;
  r.scale = slots[rules::kSlotScale];
  r.dot = slots[rules::kSlotDot];
  r.gg = slots[rules::kSlotGg];
  return r;
}

bool device_available(std::string* reason) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (reason != nullptr) {
      *reason = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    }
    return false;
  }
  if (count == 0) {
    if (reason != nullptr) {
      *reason = "no CUDA device";
    }
    return false;
  }
  // A device may exist without an image of these kernels for its architecture, or with a driver
  // that cannot run them: launch one.
  int* probe = nullptr;
  int value = 0;
  cudaError_t e = cudaMalloc(&probe, sizeof(int));
  if (e == cudaSuccess) {
    probe_kernel<<<1, 1>>>(probe);
    e = cudaGetLastError();
    if (e == cudaSuccess) {
      e = cudaMemcpy(&value, probe, sizeof(int), cudaMemcpyDeviceToHost);
    }
    cudaFree(probe);
  }
  if (e != cudaSuccess || value != 42) {
    cudaGetLastError();
    if (reason != nullptr) {
      *reason = std::string("a test kernel did not run: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) +
          "); signopt's kernels were built for CUDA architectures " SIGNOPT_CUDA_ARCH_STRING;
    }
    return false;
  }
  return true;
}

std::string device_description() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
      std::to_string(prop.multiProcessorCount) + " SMs, " + std::to_string(prop.totalGlobalMem >> 30) + " GiB)";
}

void* device_alloc(size_t bytes) {
  void* ptr = nullptr;
  check(cudaMalloc(&ptr, bytes == 0 ? 1 : bytes), "cudaMalloc");
  return ptr;
}

void device_free(void* ptr) {
  check(cudaFree(ptr), "cudaFree");
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy (host to device)");
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy (device to host)");
}

void copy_on_device(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy (device to device)");
}

void set_grid_limit(int64_t blocks) {
  g_grid_limit = blocks;
}

void synchronize() {
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

double time_ms(void (*body)(void* context), void* context, int iterations, int warmup) {
  for (int i = 0; i < warmup; ++i) {
    body(context);
  }
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  check(cudaEventRecord(start, nullptr), "cudaEventRecord");
  for (int i = 0; i < iterations; ++i) {
    body(context);
  }
  check(cudaEventRecord(stop, nullptr), "cudaEventRecord");
  check(cudaEventSynchronize(stop), "cudaEventSynchronize");
  float ms = 0.0f;
  check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return static_cast<double>(ms) / std::max(iterations, 1);
}

} // namespace signopt::kernels::cuda

// Fused LIF forward and backward CUDA kernels, one launch each over all time steps.
// One thread per (batch, neuron) lane, lanes flattened as b*N + n so that a warp reads consecutive
// neurons (coalesced); the thread loops over time with the inputs of the next kAhead steps already in
// flight (a register ring), so that long sequences over few neurons are not bound by load latency.
// The math is csrc/lif_common.h's, compiled with --fmad=false (setup.py): no multiply-add is contracted,
// so spikes equal the reference's bit for bit in the same dtype. Parameter-gradient sums run over time
// per lane in registers and are written per lane; the launcher sums them over the batch (deterministic).
//
// Host entry points are extern "C" (snnkern/backends/cuda.py loads this library with ctypes): they take
// the LifArgs the launcher filled, launch on the stream passed in, never synchronise, and return nullptr
// or the CUDA error string.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <type_traits>

#include "lif_args.h"
#include "lif_common.h"
#include "static_switch.h"

SNNKERN_NAMESPACE_BEGIN

SNN_HD float to_float(__half h) { return __half2float(h); }
SNN_HD __half to_half(float f) { return __float2half_rn(f); }
SNN_HD float to_float(__nv_bfloat16 h) { return __bfloat162float(h); }
SNN_HD __nv_bfloat16 to_bfloat16(float f) { return __float2bfloat16_rn(f); }
template <> struct Storage<__half> : HalfStorage<__half, to_float, to_half, 0x7BFFu, 0x0400u> {};
template <> struct Storage<__nv_bfloat16> : HalfStorage<__nv_bfloat16, to_float, to_bfloat16, 0x7F7Fu, 0x0080u> {};

constexpr int kThreads = 256;  // threads per block, one lane each
constexpr int kAhead = 4;      // time steps whose loads are issued before the current step's math

template <typename P>
SNN_HD P* as_ptr(uintptr_t address) {
  return reinterpret_cast<P*>(address);
}

// Elements j = 0..count-1 of the strided sequence p[j * stride], each loaded kAhead steps before its use.
// Slot j % kAhead holds element j; call take() with a compile-time slot (from time_loop) so that the
// ring stays in registers.
template <typename S>
struct Ahead {
  const S* p;
  int64_t stride, count;
  S ring[kAhead];
  __device__ __forceinline__ Ahead(const S* p_, int64_t stride_, int64_t count_)
      : p(p_), stride(stride_), count(count_) {
#pragma unroll
    for (int d = 0; d < kAhead; ++d) ring[d] = d < count ? p[d * stride] : S{};
  }
  __device__ __forceinline__ S take(int slot, int64_t j) {
    const S value = ring[slot];
    if (j + kAhead < count) ring[slot] = p[(j + kAhead) * stride];
    return value;
  }
};

// This thread's lane b*N + n (valid: below B*N) and the beta and theta of its neuron.
template <typename A>
struct Lane {
  int64_t index, b = 0, n = 0;
  bool valid;
  A beta = A(0), theta = A(0);
  __device__ __forceinline__ explicit Lane(const LifArgs& a)
      : index(int64_t(blockIdx.x) * kThreads + threadIdx.x), valid(index < a.B * a.N) {
    if (!valid) return;
    b = index / a.N;
    n = index - b * a.N;
    beta = as_ptr<const A>(a.beta)[n * a.beta_sn];
    theta = as_ptr<const A>(a.theta)[n * a.theta_sn];
  }
};

// step(slot, j) for j = 0..count-1, slot = j % kAhead a constant of the unrolled inner loop.
template <typename F>
__device__ __forceinline__ void time_loop(int64_t count, F&& step) {
  for (int64_t j0 = 0; j0 < count; j0 += kAhead) {
#pragma unroll
    for (int slot = 0; slot < kAhead; ++slot) {
      if (j0 + slot < count) step(slot, j0 + slot);
    }
  }
}

// Forward: x, spikes, z [T, B, N] storage S; v0, v_out [B, N] compute A; beta, theta [N] or one value.
template <typename S, typename A, int RESET, bool DELAY, bool STORE_Z>
__global__ void __launch_bounds__(kThreads) lif_fwd_kernel(const LifArgs a) {
  using St = Storage<S>;
  const Lane<A> lane(a);
  if (!lane.valid) return;
  const int64_t b = lane.b, n = lane.n;
  A u = a.v0 ? as_ptr<const A>(a.v0)[lane.index] : A(0);
  A r = spike_of(u - lane.theta);  // delayed reset: the spike owed by the incoming state
  S* spikes = as_ptr<S>(a.spikes) + b * a.s_sb + n;
  S* zs = as_ptr<S>(a.z) + b * a.z_sb + n;
  Ahead<S> x(as_ptr<const S>(a.x) + b * a.x_sb + n, a.x_st, a.T);
  time_loop(a.T, [&](int slot, int64_t t) {
    A z, s;
    lif_fwd_step<RESET, DELAY>(St::template load<A>(x.take(slot, t)), lane.beta, lane.theta, u, r, z, s);
    spikes[t * a.s_st] = St::store(s);
    if (STORE_Z) zs[t * a.z_st] = St::store_z(z, s);
  });
  as_ptr<A>(a.v_out)[lane.index] = u;
}

// Backward (BPTT, the recurrence and its gradient are written above lif_bwd_step in lif_common.h): step
// j runs t = T-1-j, reading dL/ds[t] and z[t-1] (which rebuilds the state before step t; v0 at t = 0),
// both loaded ahead; z[t] is z[t-1] of the step before. slope: one value of type A on the device.
template <typename S, typename A, int RESET, bool DELAY, bool DETACH, int SG>
__global__ void __launch_bounds__(kThreads) lif_bwd_kernel(const LifArgs a, const A* slope) {
  using St = Storage<S>;
  const Lane<A> lane(a);
  if (!lane.valid) return;
  const int64_t b = lane.b, n = lane.n, T = a.T;
  const A beta = lane.beta, theta = lane.theta, k = *slope;
  const A u0 = a.v0 ? as_ptr<const A>(a.v0)[lane.index] : A(0);
  A gu = a.grad_state ? as_ptr<const A>(a.grad_state)[lane.index] : A(0), gbeta = A(0), gtheta = A(0);
  const S* zs = as_ptr<const S>(a.z) + b * a.z_sb + n;
  S* grad_x = as_ptr<S>(a.grad_x) + b * a.gx_sb + n;
  Ahead<S> gs(as_ptr<const S>(a.grad_spikes) + b * a.gs_sb + n + (T - 1) * a.gs_st, -a.gs_st, T);
  Ahead<S> zprev(zs + (T - 2) * a.z_st, -a.z_st, T - 1);
  A z = St::template load<A>(zs[(T - 1) * a.z_st]);
  time_loop(T, [&](int slot, int64_t j) {
    const int64_t t = T - 1 - j;
    const A g = St::template load<A>(gs.take(slot, j));
    const S zp_stored = zprev.take(slot, j);
    A zp = u0 - theta, u_prev = u0;
    if (t > 0) {
      zp = St::template load<A>(zp_stored);
      u_prev = state_from_z<RESET, DELAY>(zp, theta);
    }
    const A gx = lif_bwd_step<RESET, DELAY, DETACH, SG>(z, u_prev, zp, g, beta, theta, k, gu, gbeta, gtheta);
    grad_x[t * a.gx_st] = St::store(gx);
    z = zp;
  });
  if (a.grad_v0) as_ptr<A>(a.grad_v0)[lane.index] = gu;
  if (a.grad_beta) as_ptr<A>(a.grad_beta)[lane.index] = gbeta;
  if (a.grad_theta) as_ptr<A>(a.grad_theta)[lane.index] = gtheta;
}

SNNKERN_NAMESPACE_END

namespace {

using snnkern::LifArgs;

// Calls fn(S{}, A{}) with the storage type S and the compute type A of the dtype id.
template <typename Fn>
const char* dtype_switch(int dtype, Fn&& fn) {
  switch (dtype) {
    case snnkern::kFloat32: fn(float{}, float{}); return nullptr;
    case snnkern::kFloat64: fn(double{}, double{}); return nullptr;
    case snnkern::kFloat16: fn(__half{}, float{}); return nullptr;
    case snnkern::kBFloat16: fn(__nv_bfloat16{}, float{}); return nullptr;
    default: return "dtype id must be in 0..3";
  }
}

const char* error_string(cudaError_t error) { return error == cudaSuccess ? nullptr : cudaGetErrorString(error); }

// Checks the arguments against the kernels' range, selects `device`, and calls
// launch(grid, S{}, A{}, reset, delay) with the storage type S, the compute type A, and the reset mode and
// delay as std::integral_constant; returns the launch's error, if any.
template <typename Launch>
const char* launch_on(const LifArgs& a, int device, Launch&& launch) {
  if (a.T < 1 || a.B < 1 || a.N < 1) return "T, B and N must be positive";
  if (a.reset < 0 || a.reset > 2 || a.surrogate < 0 || a.surrogate > 3) return "reset or surrogate id out of range";
  if (const char* error = error_string(cudaSetDevice(device))) return error;
  const dim3 grid(unsigned((a.B * a.N + snnkern::kThreads - 1) / snnkern::kThreads));
  const char* error = dtype_switch(a.dtype, [&](auto s, auto c) {
    RESET_SWITCH(a.reset, kReset, [&] {
      BOOL_SWITCH(a.delay, kDelay, [&] {
        launch(grid, s, c, std::integral_constant<int, kReset>{}, std::integral_constant<bool, kDelay>{});
      });
    });
  });
  return error ? error : error_string(cudaGetLastError());
}

}  // namespace

extern "C" {

// Forward over all T on `stream` of `device`; a->z == 0 means no z is stored (no gradient needed).
const char* snnkern_lif_cuda_forward(const LifArgs* a, int device, cudaStream_t stream) {
  return launch_on(*a, device, [&](dim3 grid, auto s, auto c, auto reset, auto delay) {
    BOOL_SWITCH(a->z != 0, kStoreZ, [&] {
      snnkern::lif_fwd_kernel<decltype(s), decltype(c), decltype(reset)::value, decltype(delay)::value, kStoreZ>
          <<<grid, snnkern::kThreads, 0, stream>>>(*a);
    });
  });
}

// Backward over all T on `stream` of `device`; slope points to one value of the compute dtype on the
// device (a->slope is not read, so a slope tensor is never copied to the host).
const char* snnkern_lif_cuda_backward(const LifArgs* a, const void* slope, int device, cudaStream_t stream) {
  return launch_on(*a, device, [&](dim3 grid, auto s, auto c, auto reset, auto delay) {
    using A = decltype(c);
    BOOL_SWITCH(a->detach, kDetach, [&] {
      SURROGATE_SWITCH(a->surrogate, kSg, [&] {
        snnkern::lif_bwd_kernel<decltype(s), A, decltype(reset)::value, decltype(delay)::value, kDetach, kSg>
            <<<grid, snnkern::kThreads, 0, stream>>>(*a, static_cast<const A*>(slope));
      });
    });
  });
}

// nullptr if the CUDA runtime linked into this library sees a device, else why not.
const char* snnkern_cuda_probe() {
  int count = 0;
  if (const char* error = error_string(cudaGetDeviceCount(&count))) return error;
  return count > 0 ? nullptr : "the CUDA runtime sees no device";
}

// sizeof(LifArgs), then the offset of each field in declaration order, for the ctypes mirror in
// snnkern/backends/cuda.py to check itself against. Returns the number of values (writes at most capacity).
#define SNNKERN_LIF_ARGS_FIELDS(X)                                                                        \
  X(T) X(B) X(N) X(x) X(spikes) X(z) X(v0) X(v_out) X(beta) X(theta) X(grad_spikes) X(grad_state) X(grad_x) \
  X(grad_v0) X(grad_beta) X(grad_theta) X(x_st) X(x_sb) X(s_st) X(s_sb) X(z_st) X(z_sb) X(gs_st) X(gs_sb)    \
  X(gx_st) X(gx_sb) X(beta_sn) X(theta_sn) X(slope) X(reset) X(surrogate) X(dtype) X(delay) X(detach)      \
  X(threads)
int snnkern_lif_args_layout(int64_t* out, int capacity) {
  static_assert(std::is_standard_layout<LifArgs>::value, "LifArgs must stay a plain C struct");
  const int64_t values[] = {
      int64_t(sizeof(LifArgs)),
#define OFFSET(name) int64_t(offsetof(LifArgs, name)),
      SNNKERN_LIF_ARGS_FIELDS(OFFSET)
#undef OFFSET
  };
  const int count = int(sizeof(values) / sizeof(values[0]));
  for (int i = 0; i < count && i < capacity; ++i) out[i] = values[i];
  return count;
}

}  // extern "C"

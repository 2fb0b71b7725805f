// LIF math shared by the CPU (C++) and CUDA kernels: variant ids, surrogate derivatives, the
// NaN-propagating Heaviside, storage-dtype conversions. No torch headers: kernels take raw pointers.
//
// The id tables must match snnkern/_ids.py (and the Triton kernels, which import it).
#pragma once
#include <cstdint>
#include <cstring>
#include <cmath>

#ifdef __CUDACC__
#define SNN_HD __host__ __device__ __forceinline__
#else
#define SNN_HD inline
#endif

// The CPU kernels are compiled once per instruction set (csrc/lif_cpu_kernels.cpp, setup.py). Each copy of
// the kernel code lives in an inline namespace of its own, so the linker can never hand one instruction
// set's out-of-line copy of an inline function to another. The CUDA kernels use the baseline one.
#ifndef SNNKERN_CPU_ISA
#define SNNKERN_CPU_ISA baseline
#endif
#define SNNKERN_NAMESPACE_BEGIN namespace snnkern { inline namespace SNNKERN_CPU_ISA {
#define SNNKERN_NAMESPACE_END }}

SNNKERN_NAMESPACE_BEGIN

// Reset applied after a spike.
enum ResetMode : int { kResetSubtract = 0, kResetZero = 1, kResetNone = 2 };

// Surrogate derivatives sg(z) of the Heaviside step, z = membrane - threshold, k = slope.
// To add one: give it the next id here and in snnkern/_ids.py, a branch below, one in the
// reference (snnkern/surrogates.py) and one in the Triton kernel; the tests sweep the registry.
enum SurrogateId : int { kFastSigmoid = 0, kSigmoid = 1, kArctan = 2, kTriangle = 3 };

// Storage dtypes the kernels read and write (state and accumulators stay in float32 or float64).
enum DType : int { kFloat32 = 0, kFloat64 = 1, kFloat16 = 2, kBFloat16 = 3 };

template <typename To, typename From>
SNN_HD To bit_cast_(From v) {
  To out;
  memcpy(&out, &v, sizeof(To));
  return out;
}

// exp(x) for x <= 0. float: branch-free so that SIMD loops vectorize (std::exp is a library call);
// x = n ln2 + r with |r| <= ln2/2, degree-6 Taylor polynomial, relative error < 3e-7; x is clamped at -87
// (exp(-87) = 1.6e-38, the smallest normal float). double: std::exp.
SNN_HD double exp_nonpositive(double x) { return std::exp(x); }
SNN_HD float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const int32_t n = int32_t(x * 1.44269504088896341f - 0.5f);  // round to nearest (x <= 0)
  const float nf = float(n);
  const float r = (x - nf * 0.693145751953125f) - nf * 1.42860682030941723e-6f;  // ln2 split in two
  const float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
  return p * bit_cast_<float>(uint32_t(n + 127) << 23);
}

template <int SG, typename A>
SNN_HD A surrogate_grad(A z, A k) {
  if (SG == kFastSigmoid) {  // 1 / (1 + k|z|)^2   (snnTorch fast_sigmoid; peak 1)
    const A d = A(1) + k * std::fabs(z);
    return A(1) / (d * d);
  } else if (SG == kSigmoid) {  // k sig(kz) (1 - sig(kz)) = k e / (1 + e)^2, e = exp(-k|z|) <= 1
    const A e = exp_nonpositive(-k * std::fabs(z));
    const A d = A(1) + e;
    return k * e / (d * d);
  } else if (SG == kArctan) {  // (k / 2) / (1 + (pi/2 k z)^2)   (snnTorch / SpikingJelly ATan, alpha = k)
    const A a = A(1.5707963267948966) * k * z;
    return (k * A(0.5)) / (A(1) + a * a);
  } else {  // triangle: k max(0, 1 - k|z|)   (unit area, half-width 1/k)
    const A w = A(1) - k * std::fabs(z);
    return k * (w > A(0) ? w : A(0));
  }
}

// Heaviside with H(0) = 0 (snnTorch, Norse). A NaN or infinite membrane gives a NaN spike (z * 0), so a
// bad input is never hidden behind a finite value. Branch-free, so the SIMD loops vectorize.
template <typename A>
SNN_HD A spike_of(A z) {
  return A(z > A(0)) + z * A(0);
}

// Half-precision storage types, distinct so that templates dispatch on them.
struct f16 { uint16_t bits; };
struct bf16 { uint16_t bits; };

SNN_HD float to_float(f16 h) {
  const uint32_t sign = uint32_t(h.bits & 0x8000u) << 16;
  const uint32_t exp = (h.bits >> 10) & 0x1Fu, mant = h.bits & 0x3FFu;
  if (exp == 0x1Fu) return bit_cast_<float>(sign | 0x7F800000u | (mant << 13));  // inf, nan
  if (exp == 0u) {  // zero or subnormal: mant * 2^-24
    const float f = float(mant) * 5.9604644775390625e-8f;
    return sign ? -f : f;
  }
  return bit_cast_<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

// float -> float16, round to nearest even, overflow to inf.
SNN_HD f16 to_f16(float f) {
  uint32_t x = bit_cast_<uint32_t>(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  x &= 0x7FFFFFFFu;
  if (x >= 0x7F800000u) return f16{uint16_t(sign | (x > 0x7F800000u ? 0x7E00u : 0x7C00u))};
  if (x >= 0x477FF000u) return f16{uint16_t(sign | 0x7C00u)};  // >= 65520 rounds to inf
  if (x < 0x38800000u) {  // below 2^-14: subnormal, value = m * 2^-24 with m rounded to even
    const float scaled = bit_cast_<float>(x) * 16777216.0f;  // exact
    return f16{uint16_t(sign | uint16_t(std::nearbyint(scaled)))};
  }
  const uint32_t r = x + 0xC8000FFFu + ((x >> 13) & 1u);  // rebias exponent, round the 13 dropped bits
  return f16{uint16_t(sign | (r >> 13))};
}

SNN_HD float to_float(bf16 h) { return bit_cast_<float>(uint32_t(h.bits) << 16); }

SNN_HD bf16 to_bf16(float f) {  // round to nearest even; NaN stays a quiet NaN
  const uint32_t x = bit_cast_<uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return bf16{uint16_t((x >> 16) | 0x40u)};
  return bf16{uint16_t((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16)};
}

// Load and store in the compute type A of a storage element S.
template <typename S> struct Storage {
  template <typename A> SNN_HD static A load(S v) { return A(v); }
  template <typename A> SNN_HD static S store(A v) { return S(v); }
  // z = h - threshold kept for the backward; its sign is the spike, and rounding to S keeps the sign.
  template <typename A> SNN_HD static S store_z(A z, A) { return S(z); }
};

// H is any 16-bit type with these conversions (f16 and bf16 here; CUDA's __half and __nv_bfloat16 in
// lif_cuda.cu); the constants are bit patterns.
template <typename H, float (*ToFloat)(H), H (*FromFloat)(float), uint16_t kMaxFinite, uint16_t kMinNormal>
struct HalfStorage {
  template <typename A> SNN_HD static A load(H v) { return A(ToFloat(v)); }
  template <typename A> SNN_HD static H store(A v) { return FromFloat(float(v)); }
  // Saturate so a huge membrane never becomes inf (inf would turn gradients into NaN), and keep a
  // positive z positive when it underflows, so the backward sees the same spike as the forward.
  template <typename A> SNN_HD static H store_z(A z, A s) {
    const float maxf = ToFloat(bit_cast_<H>(kMaxFinite));
    const float zf = float(z) > maxf ? maxf : (float(z) < -maxf ? -maxf : float(z));
    const H out = FromFloat(zf);
    return (s > A(0) && !(ToFloat(out) > 0.0f)) ? bit_cast_<H>(kMinNormal) : out;
  }
};
template <> struct Storage<f16> : HalfStorage<f16, to_float, to_f16, 0x7BFFu, 0x0400u> {};
template <> struct Storage<bf16> : HalfStorage<bf16, to_float, to_bf16, 0x7F7Fu, 0x0080u> {};

// ---------------------------------------------------------------------------------------------
// The recurrence, one neuron and one time step. u is the state carried between steps: the post-reset
// membrane v (immediate reset) or the pre-reset membrane m (reset_delay). Operation order matches the
// reference (snnkern/reference.py) so that spikes agree bit for bit in the same dtype.
//
//   immediate:  h = beta*v + x;  s = H(h - theta);  v = h - theta*s | h*(1 - s) | h
//   delayed:    r = s[t-1] (H(v0 - theta) at t = 0)
//               m = (beta*m + x) - theta*r | beta*((1 - r)*m) + x | beta*m + x;  s = H(m - theta)
// The forward stores z = h - theta (m - theta) for the backward.
template <int RESET, bool DELAY, typename A>
SNN_HD void lif_fwd_step(A x, A beta, A theta, A& u, A& r, A& z, A& s) {
  A h;
  if (DELAY) {
    if (RESET == kResetSubtract) h = (beta * u + x) - theta * r;
    else if (RESET == kResetZero) h = beta * ((A(1) - r) * u) + x;
    else h = beta * u + x;
  } else {
    h = beta * u + x;
  }
  z = h - theta;
  s = spike_of(z);
  if (DELAY) {
    u = h;
    r = s;
  } else {
    u = RESET == kResetSubtract ? h - theta * s : (RESET == kResetZero ? h * (A(1) - s) : h);
  }
}

// The state after a step, rebuilt from its stored z.
template <int RESET, bool DELAY, typename A>
SNN_HD A state_from_z(A z, A theta) {
  const A h = z + theta;
  if (DELAY) return h;
  const A s = spike_of(z);
  return RESET == kResetSubtract ? h - theta * s : (RESET == kResetZero ? h * (A(1) - s) : h);
}

// Backward of one step (BPTT). In: z of this step, u_prev the state before it, zp = u_prev - theta
// (used by the delayed reset only), gs = dL/ds[t], gu = dL/du[t] from the future. Out: returns dL/dx[t],
// sets gu = dL/du[t-1], accumulates dL/dbeta and dL/dtheta. sg = sg(z), nd = 0 if detach_reset else 1.
//
//   immediate:  gh = gs*sg + gu*dv/dh,  dv/dh = 1 - theta*sg*nd | (1 - s) - h*sg*nd | 1
//               dtheta += -gs*sg + gu*dv/dtheta,  dv/dtheta = -s + theta*sg*nd | h*sg*nd | 0
//               dbeta += gh*v[t-1];  dL/dx = gh;  gu = beta*gh
//   delayed:    gm = gs*sg + gu;  r = H(zp), sgr = sg(zp)
//               dm/dm[t-1]  = beta - theta*sgr*nd | beta*(1 - r) - beta*m[t-1]*sgr*nd | beta
//               dm/dtheta   = -r + theta*sgr*nd   | beta*m[t-1]*sgr*nd               | 0
//               dm/dbeta    = m[t-1]              | (1 - r)*m[t-1]                   | m[t-1]
//               dtheta += -gs*sg + gm*dm/dtheta;  dbeta += gm*dm/dbeta;  dL/dx = gm;  gu = gm*dm/dm[t-1]
template <int RESET, bool DELAY, bool DETACH, int SG, typename A, typename G>
SNN_HD A lif_bwd_step(A z, A u_prev, A zp, A gs, A beta, A theta, A k, A& gu, G& gbeta, G& gtheta) {
  const A s = spike_of(z), sg = surrogate_grad<SG>(z, k);
  const A nd = DETACH ? A(0) : A(1);
  if (!DELAY) {
    A dvdh = A(1), dvdth = A(0);
    if (RESET == kResetSubtract) {
      dvdh = A(1) - theta * sg * nd;
      dvdth = -s + theta * sg * nd;
    } else if (RESET == kResetZero) {
      const A h = z + theta;
      dvdh = (A(1) - s) - h * sg * nd;
      dvdth = h * sg * nd;
    }
    const A gh = gs * sg + gu * dvdh;
    gtheta += G(-gs * sg + gu * dvdth);
    gbeta += G(gh * u_prev);
    gu = beta * gh;
    return gh;
  }
  const A gm = gs * sg + gu;
  A dm_du = beta, dm_dth = A(0), dm_db = u_prev;
  if (RESET == kResetSubtract) {
    const A sgr = surrogate_grad<SG>(zp, k);
    dm_du = beta - theta * sgr * nd;
    dm_dth = -spike_of(zp) + theta * sgr * nd;
  } else if (RESET == kResetZero) {
    const A r = spike_of(zp), sgr = surrogate_grad<SG>(zp, k);
    dm_du = beta * (A(1) - r) - beta * u_prev * sgr * nd;
    dm_dth = beta * u_prev * sgr * nd;
    dm_db = (A(1) - r) * u_prev;
  }
  gtheta += G(-gs * sg + gm * dm_dth);
  gbeta += G(gm * dm_db);
  gu = gm * dm_du;
  return gm;
}

SNNKERN_NAMESPACE_END

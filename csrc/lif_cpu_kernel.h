// Fused LIF forward and backward on the CPU: one pass over all time steps each.
// Work items are (batch row, block of kBlock neurons), spread over OpenMP threads; inside an item the
// loop runs over time, and over the block's contiguous neurons in a SIMD loop. State, per-neuron
// parameters and gradient accumulators live in small arrays on the stack.
//
// Memory traffic per neuron-step (storage dtype of E bytes): forward reads x, writes spikes and z
// (3E; 2E without grad); backward reads z (z[t-1] is kept from the step before), dL/ds, writes dL/dx (3E).
#pragma once
#include <algorithm>

#include "lif_args.h"
#include "lif_common.h"

namespace snnkern {

constexpr int64_t kBlock = 128;

template <typename P>
P* as_ptr(uintptr_t address) {
  return reinterpret_cast<P*>(address);
}

template <typename S, typename A, int RESET, bool DELAY, bool STORE_Z>
void lif_fwd_cpu(const LifArgs& a) {
  using St = Storage<S>;
  const S* x = as_ptr<const S>(a.x);
  S* spikes = as_ptr<S>(a.spikes);
  S* zs = as_ptr<S>(a.z);
  const A* v0 = as_ptr<const A>(a.v0);
  A* v_out = as_ptr<A>(a.v_out);
  const A* beta_p = as_ptr<const A>(a.beta);
  const A* theta_p = as_ptr<const A>(a.theta);
  const int64_t nblocks = (a.N + kBlock - 1) / kBlock;
  const int64_t items = a.B * nblocks;

#pragma omp parallel for schedule(static) num_threads(a.threads)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t b = item / nblocks, n0 = (item % nblocks) * kBlock;
    const int64_t len = std::min(kBlock, a.N - n0);
    A u[kBlock], r[kBlock], beta[kBlock], theta[kBlock];
    for (int64_t i = 0; i < len; ++i) {
      beta[i] = beta_p[(n0 + i) * a.beta_sn];
      theta[i] = theta_p[(n0 + i) * a.theta_sn];
      u[i] = v0 ? v0[b * a.N + n0 + i] : A(0);
      r[i] = spike_of(u[i] - theta[i]);
    }
    for (int64_t t = 0; t < a.T; ++t) {
      const S* xt = x + t * a.x_st + b * a.x_sb + n0;
      S* st = spikes + t * a.s_st + b * a.s_sb + n0;
      S* zt = zs + t * a.z_st + b * a.z_sb + n0;
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) {
        A z, s;
        lif_fwd_step<RESET, DELAY>(St::template load<A>(xt[i]), beta[i], theta[i], u[i], r[i], z, s);
        st[i] = St::store(s);
        if (STORE_Z) zt[i] = St::store_z(z, s);
      }
    }
    for (int64_t i = 0; i < len; ++i) v_out[b * a.N + n0 + i] = u[i];
  }
}

template <typename S, typename A, typename G, int RESET, bool DELAY, bool DETACH, int SG>
void lif_bwd_cpu(const LifArgs& a) {
  using St = Storage<S>;
  const S* zs = as_ptr<const S>(a.z);
  const S* grad_spikes = as_ptr<const S>(a.grad_spikes);
  S* grad_x = as_ptr<S>(a.grad_x);
  const A* v0 = as_ptr<const A>(a.v0);
  const A* grad_state = as_ptr<const A>(a.grad_state);
  A* grad_v0 = as_ptr<A>(a.grad_v0);
  A* grad_beta = as_ptr<A>(a.grad_beta);
  A* grad_theta = as_ptr<A>(a.grad_theta);
  const A* beta_p = as_ptr<const A>(a.beta);
  const A* theta_p = as_ptr<const A>(a.theta);
  const A k = A(a.slope);
  const int64_t nblocks = (a.N + kBlock - 1) / kBlock;
  const int64_t items = a.B * nblocks;

#pragma omp parallel for schedule(static) num_threads(a.threads)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t b = item / nblocks, n0 = (item % nblocks) * kBlock;
    const int64_t len = std::min(kBlock, a.N - n0);
    const int64_t bn = b * a.N + n0;
    A gu[kBlock], z[kBlock], beta[kBlock], theta[kBlock];
    G gbeta[kBlock], gtheta[kBlock];
    const S* z_last = zs + (a.T - 1) * a.z_st + b * a.z_sb + n0;
    for (int64_t i = 0; i < len; ++i) {
      beta[i] = beta_p[(n0 + i) * a.beta_sn];
      theta[i] = theta_p[(n0 + i) * a.theta_sn];
      gu[i] = grad_state ? grad_state[bn + i] : A(0);
      z[i] = St::template load<A>(z_last[i]);
      gbeta[i] = G(0);
      gtheta[i] = G(0);
    }
    for (int64_t t = a.T - 1; t >= 0; --t) {
      const S* gst = grad_spikes + t * a.gs_st + b * a.gs_sb + n0;
      S* gxt = grad_x + t * a.gx_st + b * a.gx_sb + n0;
      const S* zprev = t > 0 ? zs + (t - 1) * a.z_st + b * a.z_sb + n0 : z_last;  // read when t > 0
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) {
        A zp, u_prev;
        if (t > 0) {
          zp = St::template load<A>(zprev[i]);
          u_prev = state_from_z<RESET, DELAY>(zp, theta[i]);
        } else {
          u_prev = v0 ? v0[bn + i] : A(0);
          zp = u_prev - theta[i];
        }
        const A gs = grad_spikes ? St::template load<A>(gst[i]) : A(0);
        const A gx = lif_bwd_step<RESET, DELAY, DETACH, SG>(z[i], u_prev, zp, gs, beta[i], theta[i], k,
                                                             gu[i], gbeta[i], gtheta[i]);
        gxt[i] = St::store(gx);
        z[i] = zp;
      }
    }
    for (int64_t i = 0; i < len; ++i) {
      if (grad_v0) grad_v0[bn + i] = gu[i];
      if (grad_beta) grad_beta[bn + i] = A(gbeta[i]);
      if (grad_theta) grad_theta[bn + i] = A(gtheta[i]);
    }
  }
}

}  // namespace snnkern

// Fused LIF forward and backward on the CPU: one pass over all time steps each.
// Work items are chunks of kBlock contiguous (batch, neuron) lanes, spread over OpenMP threads; inside an
// item the loop runs over time, and over the chunk's lanes in a SIMD loop, so every time step streams
// kBlock contiguous elements of each array. When the batch rows of every array are contiguous (the usual
// [T, B, N] layout) lanes run across rows; otherwise a chunk stays within one row. State, parameters
// and gradient accumulators of a chunk live in arrays on the stack.
//
// Memory traffic per neuron-step (storage dtype of E bytes): forward reads x, writes spikes and z
// (3E; 2E without grad); backward reads z (z[t-1] is kept from the step before), dL/ds, writes dL/dx (3E).
// Parameter-gradient sums run over time in the compute dtype per lane; the launcher sums lanes over the
// batch with torch (a fixed order: deterministic).
#pragma once
#include <algorithm>

#include "lif_args.h"
#include "lif_common.h"

SNNKERN_NAMESPACE_BEGIN

constexpr int64_t kBlock = 1024;
// Below this many neuron-steps a call runs on the calling thread: waking OpenMP threads costs more than
// the work, and on a busy machine a sleeping thread can hold the call for a whole scheduler slice.
constexpr int64_t kParallelWork = int64_t(1) << 16;

inline int threads_for(const LifArgs& a) { return a.T * a.B * a.N < kParallelWork ? 1 : a.threads; }

template <typename P>
P* as_ptr(uintptr_t address) {
  return reinterpret_cast<P*>(address);
}

// The chunking of the B x N lanes: `rows` rows of `row_len` lanes (one row of B*N lanes when every
// array's batch stride is N), each cut into chunks of kBlock.
struct Chunks {
  int64_t rows, row_len, per_row;
  Chunks(const LifArgs& a, bool rows_contiguous)
      : rows(rows_contiguous ? 1 : a.B), row_len(rows_contiguous ? a.B * a.N : a.N),
        per_row((row_len + kBlock - 1) / kBlock) {}
  int64_t count() const { return rows * per_row; }
  // row, first lane within the row, number of lanes, and the flat lane index b*N + n of the first lane
  void get(int64_t item, int64_t& row, int64_t& lane0, int64_t& len, int64_t& flat0) const {
    row = item / per_row;
    lane0 = (item % per_row) * kBlock;
    len = std::min(kBlock, row_len - lane0);
    flat0 = row * row_len + lane0;
  }
};

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
  const Chunks chunks(a, a.x_sb == a.N && a.s_sb == a.N && (!STORE_Z || a.z_sb == a.N));

#pragma omp parallel for schedule(static) num_threads(threads_for(a))
  for (int64_t item = 0; item < chunks.count(); ++item) {
    int64_t b, n0, len, flat0;
    chunks.get(item, b, n0, len, flat0);
    A u[kBlock], r[kBlock], beta[kBlock], theta[kBlock];
    for (int64_t i = 0; i < len; ++i) {
      const int64_t n = (flat0 + i) % a.N;
      beta[i] = beta_p[n * a.beta_sn];
      theta[i] = theta_p[n * a.theta_sn];
      u[i] = v0 ? v0[flat0 + i] : A(0);
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
    for (int64_t i = 0; i < len; ++i) v_out[flat0 + i] = u[i];
  }
}

// Backward of the chunk's lanes at one time step t > 0 (FIRST = false: the previous state is rebuilt
// from z[t-1]) or t = 0 (FIRST = true: it is v0). z holds z[t] on entry and z[t-1] on exit.
template <bool FIRST, typename S, typename A, int RESET, bool DELAY, bool DETACH, int SG>
inline void bwd_lanes(int64_t len, const S* zprev, const A* v0, const S* gst, S* gxt, const A* beta,
                      const A* theta, A k, A* z, A* gu, A* gbeta, A* gtheta) {
  using St = Storage<S>;
#pragma omp simd
  for (int64_t i = 0; i < len; ++i) {
    A zp, u_prev;
    if (FIRST) {
      u_prev = v0 ? v0[i] : A(0);
      zp = u_prev - theta[i];
    } else {
      zp = St::template load<A>(zprev[i]);
      u_prev = state_from_z<RESET, DELAY>(zp, theta[i]);
    }
    const A gx = lif_bwd_step<RESET, DELAY, DETACH, SG>(z[i], u_prev, zp, St::template load<A>(gst[i]), beta[i],
                                                         theta[i], k, gu[i], gbeta[i], gtheta[i]);
    gxt[i] = St::store(gx);
    z[i] = zp;
  }
}

template <typename S, typename A, int RESET, bool DELAY, bool DETACH, int SG>
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
  const Chunks chunks(a, a.z_sb == a.N && a.gx_sb == a.N && a.gs_sb == a.N);

#pragma omp parallel for schedule(static) num_threads(threads_for(a))
  for (int64_t item = 0; item < chunks.count(); ++item) {
    int64_t b, n0, len, bn;
    chunks.get(item, b, n0, len, bn);
    A gu[kBlock], z[kBlock], beta[kBlock], theta[kBlock], gbeta[kBlock], gtheta[kBlock];
    const S* z_last = zs + (a.T - 1) * a.z_st + b * a.z_sb + n0;
    for (int64_t i = 0; i < len; ++i) {
      const int64_t n = (bn + i) % a.N;
      beta[i] = beta_p[n * a.beta_sn];
      theta[i] = theta_p[n * a.theta_sn];
      gu[i] = grad_state ? grad_state[bn + i] : A(0);
      z[i] = St::template load<A>(z_last[i]);
      gbeta[i] = A(0);
      gtheta[i] = A(0);
    }
    for (int64_t t = a.T - 1; t >= 0; --t) {
      const S* gst = grad_spikes + t * a.gs_st + b * a.gs_sb + n0;
      S* gxt = grad_x + t * a.gx_st + b * a.gx_sb + n0;
      if (t > 0) {
        const S* zprev = zs + (t - 1) * a.z_st + b * a.z_sb + n0;
        bwd_lanes<false, S, A, RESET, DELAY, DETACH, SG>(len, zprev, nullptr, gst, gxt, beta, theta, k, z, gu,
                                                        gbeta, gtheta);
      } else {
        bwd_lanes<true, S, A, RESET, DELAY, DETACH, SG>(len, nullptr, v0 ? v0 + bn : nullptr, gst, gxt, beta,
                                                       theta, k, z, gu, gbeta, gtheta);
      }
    }
    for (int64_t i = 0; i < len; ++i) {
      if (grad_v0) grad_v0[bn + i] = gu[i];
      if (grad_beta) grad_beta[bn + i] = gbeta[i];
      if (grad_theta) grad_theta[bn + i] = gtheta[i];
    }
  }
}

SNNKERN_NAMESPACE_END

// Arguments of one LIF forward or backward call, filled by the Python launcher
// (snnkern/backends/cpu.py, snnkern/backends/cuda.py). Pointers are data_ptr() addresses; strides are
// in elements; the neuron axis has stride 1 everywhere.
#pragma once
#include <cstdint>

namespace snnkern {

struct LifArgs {
  // sizes
  int64_t T = 0, B = 0, N = 0;
  // forward: x, spikes and z are [T, B, N] in the storage dtype; v0 and v_out [B, N] contiguous in the
  // compute dtype (float32, or float64 for float64 storage); beta and theta [N] or one value (stride 0)
  uintptr_t x = 0, spikes = 0, z = 0, v0 = 0, v_out = 0, beta = 0, theta = 0;
  // backward: grad_spikes and grad_x [T, B, N] storage dtype; grad_state, grad_v0 [B, N] compute dtype;
  // grad_beta, grad_theta [B, N] compute dtype, per (batch, neuron) sums over time
  uintptr_t grad_spikes = 0, grad_state = 0, grad_x = 0, grad_v0 = 0, grad_beta = 0, grad_theta = 0;
  // strides over time (_st) and batch (_sb)
  int64_t x_st = 0, x_sb = 0, s_st = 0, s_sb = 0, z_st = 0, z_sb = 0;
  int64_t gs_st = 0, gs_sb = 0, gx_st = 0, gx_sb = 0;
  int64_t beta_sn = 0, theta_sn = 0;  // 0: one shared value, 1: per neuron
  // variant
  double slope = 1.0;
  int reset = 0, surrogate = 0, dtype = 0;
  bool delay = false, detach = false;
  int threads = 1;
};

}  // namespace snnkern

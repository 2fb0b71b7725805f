"""CPU backend: launchers for the fused C++ kernels of csrc/lif_cpu.cpp (OpenMP threads, SIMD over neurons).

Each launcher validates nothing the public API already checked: it allocates, fills the argument
struct and calls the kernel. Bytes per neuron-step: forward reads x and writes spikes and z (3 elements),
backward reads z and dL/ds and writes dL/dx (3 elements).
"""
import torch

from .._ids import DTYPES
from . import build_note
from .buffers import backward_buffers, forward_buffers

try:
    from .. import _cpu
except ImportError as error:
    _cpu = None
    _REASON = f"the C++ extension snnkern._cpu is not built ({build_note('cpu') or error})"
else:
    _REASON = None

DEVICE_TYPES = ("cpu",)


def status():
    return _REASON


def instruction_set():
    """Instruction set of the kernels in use: "avx2" where this build has it and the CPU runs it, else
    "baseline" (SNNKERN_CPU_ISA=baseline forces it); None without the C++ extension."""
    return _cpu.isa() if _cpu is not None else None


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the kernel, so the large
    outputs of every call stop page-faulting (on a 2-core EPYC, T=128, B=32, N=1024 forward+backward: about
    3x faster in a busy process). Process-wide, for every library: the process's memory no longer shrinks.
    Returns False where it does not apply (not glibc, or no C++ extension)."""
    return bool(_cpu is not None and _cpu.keep_freed_memory())


def _ptr(t):
    return t.data_ptr() if t is not None else 0


def _args(x_like, beta, theta, v0, slope, slope_tensor, reset, delay, detach=False, surrogate=0):
    T, B, N = x_like.shape
    a = _cpu.LifArgs()
    a.T, a.B, a.N = T, B, N
    a.beta, a.beta_sn = beta.data_ptr(), int(beta.dim() > 0)
    a.theta, a.theta_sn = theta.data_ptr(), int(theta.dim() > 0)
    a.v0 = _ptr(v0)
    a.slope = float(slope_tensor) if slope_tensor is not None else slope
    a.reset, a.delay, a.detach, a.surrogate = reset, delay, detach, surrogate
    a.dtype = DTYPES[x_like.dtype]
    a.threads = torch.get_num_threads()
    return a


def forward(x, beta, theta, v0, slope, slope_tensor, reset, delay, store_z):
    T, B, N = x.shape
    beta, theta, v0, spikes, z, state = forward_buffers(x, beta, theta, v0, store_z)
    a = _args(x, beta, theta, v0, slope, slope_tensor, reset, delay)
    a.x, a.x_st, a.x_sb = x.data_ptr(), x.stride(0), x.stride(1)
    a.spikes, a.s_st, a.s_sb = spikes.data_ptr(), spikes.stride(0), spikes.stride(1)
    a.z, a.z_st, a.z_sb = (z.data_ptr(), B * N, N) if store_z else (0, 0, 0)
    a.v_out = state.data_ptr()
    _cpu.lif_forward(a)
    return spikes, state, z


def backward(grad_spikes, grad_state, z, v0, beta, theta, slope, slope_tensor, reset, delay, detach,
             surrogate, need_v0, need_beta, need_theta):
    beta, theta, v0, _, grad_spikes, grad_x, grad_v0, grad_beta, grad_theta = backward_buffers(
        grad_spikes, z, beta, theta, v0, slope, slope_tensor, need_v0, need_beta, need_theta)
    a = _args(z, beta, theta, v0, slope, slope_tensor, reset, delay, detach, surrogate)
    a.z, a.z_st, a.z_sb = z.data_ptr(), z.stride(0), z.stride(1)
    a.grad_spikes, a.gs_st, a.gs_sb = grad_spikes.data_ptr(), grad_spikes.stride(0), grad_spikes.stride(1)
    a.grad_state = _ptr(grad_state)
    a.grad_x, a.gx_st, a.gx_sb = grad_x.data_ptr(), grad_x.stride(0), grad_x.stride(1)
    a.grad_v0 = grad_v0.data_ptr() if need_v0 else 0
    a.grad_beta = grad_beta.data_ptr() if need_beta else 0
    a.grad_theta = grad_theta.data_ptr() if need_theta else 0
    _cpu.lif_backward(a)
    return grad_x, grad_v0, grad_beta, grad_theta

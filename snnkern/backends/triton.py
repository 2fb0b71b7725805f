"""triton backend: fused LIF forward and backward Triton kernels (one launch each over all T), and their
launchers. CUDA tensors; CPU tensors too under the Triton interpreter (TRITON_INTERPRET=1, for tests).

Lanes are the B*N (batch, neuron) pairs, flattened; a program owns BLOCK of them and loops over time,
loading the next step's inputs before the current step's math. The math is that of csrc/lif_common.h
in the same operation order; kernels are launched with enable_fp_fusion=False so that no multiply-add
is contracted into an FMA and spikes equal the reference's bit for bit in the same dtype.

Compile-time (tl.constexpr): the variant (RESET, DELAY, DETACH, SG), which optional arrays exist, the
storage layout (FLAT, ALIGN) and BLOCK. Runtime: T, B, N, strides, beta, threshold and the slope, so a
new size or slope never recompiles (the layout flags take two values each; BLOCK two per dtype).

The kernels are in snnkern/backends/_triton_kernels.py, imported on first use: `import snnkern` never
imports triton.
"""
from __future__ import annotations

import contextlib
import functools
import os

import torch

from .buffers import backward_buffers, forward_buffers

def _interpreting():
    return os.environ.get("TRITON_INTERPRET") == "1"


def __getattr__(name):  # DEVICE_TYPES follows TRITON_INTERPRET at the time of the call
    if name == "DEVICE_TYPES":
        return ("cuda", "cpu") if _interpreting() else ("cuda",)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _import_error():
    try:
        import triton  # noqa: F401
    except ImportError as error:
        return str(error)
    return None


def status():
    if _import_error() is not None:
        return f"triton is not installed ({_import_error()})"
    if _interpreting():
        return _interpreter_error()
    if not torch.cuda.is_available():
        return "no CUDA device (TRITON_INTERPRET=1 runs the Triton kernels on CPU tensors, slowly)"
    return None


@functools.cache
def _interpreter_error():
    """Why Triton's interpreter cannot run the kernels here, else None: a probe kernel loops over a runtime
    count, as the kernels do (Triton 3.6's interpreter fails on that with numpy >= 2.4)."""
    import numpy
    import triton

    count = torch.zeros(16)
    try:
        _kernels()._interpreter_probe[(1,)](count, 3)
        if torch.equal(count, torch.full((16,), 3.0)):
            return None
        error = f"counted to {count.tolist()} instead of 3"
    except Exception as failure:  # the interpreter's own failure, whatever its type
        error = f"{type(failure).__name__}: {failure}"
    return (f"Triton {triton.__version__}'s interpreter cannot run the kernels with numpy {numpy.__version__} "
            f"({error}); Triton 3.6's interpreter needs numpy < 2.4, Triton 3.9's runs with numpy 2.4")


@functools.cache
def _kernels():
    """The kernel module, imported (and its kernels built, interpreted if TRITON_INTERPRET=1) on first use."""
    from . import _triton_kernels

    return _triton_kernels


# ----------------------------------------------------------------------------------------- launchers
def _layout(*arrays):
    """FLAT and ALIGN of the [T, B, N] arrays a kernel streams: FLAT when every array's batch rows are
    contiguous; ALIGN = 16 when also B*N and every time stride are multiples of 16, else 1."""
    _, B, N = arrays[0].shape
    flat = all(a.stride(1) == N for a in arrays)
    return flat, 16 if flat and B * N % 16 == 0 and all(a.stride(0) % 16 == 0 for a in arrays) else 1


def _launch(kernel, x_like, flat, align, *args, **meta):
    """Launches kernel over the B*N lanes of the [T, B, N] x_like. A thread holds 16 bytes of each array per
    step (one vector load when ALIGN = 16); a program has 4 warps, or 1 when there are few lanes (more
    programs in flight)."""
    import triton
    import triton.language as tl

    _, B, N = x_like.shape
    warps = 4 if B * N >= 1 << 16 else 1
    block = 32 * warps * (16 // x_like.element_size())
    if _interpreting():  # the interpreter's cost is per operation: few, large programs
        block = 256
    acc = tl.float64 if x_like.dtype == torch.float64 else tl.float32
    with torch.cuda.device(x_like.device) if x_like.is_cuda else contextlib.nullcontext():
        kernel[(triton.cdiv(B * N, block),)](*args, ACC=acc, FLAT=flat, ALIGN=align, BLOCK=block, num_warps=warps,
                                            enable_fp_fusion=False, **meta)


def _z_limits(dtype):
    """(largest finite, smallest normal) of half-precision z storage, (0, 0) when z is not saturated."""
    if dtype in (torch.float16, torch.bfloat16):
        info = torch.finfo(dtype)
        return float(info.max), float(info.tiny)
    return 0.0, 0.0


# Forward bytes per neuron-step (storage dtype of E bytes): reads x, writes spikes and z (3E; 2E without
# store_z). Per neuron: beta, theta, v0 read and the state written once.
def forward(x, beta, theta, v0, slope, slope_tensor, reset, delay, store_z):
    T, B, N = x.shape
    beta, theta, v0, spikes, z, state = forward_buffers(x, beta, theta, v0, store_z)
    z_max, z_tiny = _z_limits(x.dtype)
    z_or_spikes = z if store_z else spikes  # without z, spikes stands in for its pointer
    flat, align = _layout(x, spikes, z_or_spikes)
    _launch(_kernels()._lif_fwd_kernel, x, flat, align,
            x, spikes, z_or_spikes, v0 if v0 is not None else state, state, beta, theta, T, B, N,
            x.stride(0) // align, x.stride(1), spikes.stride(0) // align, spikes.stride(1), B * N // align, N,
            int(beta.dim() > 0), int(theta.dim() > 0),
            RESET=reset, DELAY=delay, STORE_Z=store_z, HAS_V0=v0 is not None, Z_MAX=z_max, Z_TINY=z_tiny)
    return spikes, state, z


# Backward bytes per neuron-step (storage dtype of E bytes): reads z and dL/ds, writes dL/dx (3E).
# Per neuron: v0 and dL/dstate read, dL/dv0 and the per-lane dL/dbeta, dL/dtheta sums written once.
def backward(grad_spikes, grad_state, z, v0, beta, theta, slope, slope_tensor, reset, delay, detach,
             surrogate, need_v0, need_beta, need_theta):
    T, B, N = z.shape
    beta, theta, v0, k, grad_spikes, grad_x, grad_v0, grad_beta, grad_theta = backward_buffers(
        grad_spikes, z, beta, theta, v0, slope, slope_tensor, need_v0, need_beta, need_theta)
    any_state = v0 if v0 is not None else grad_x  # a valid pointer for arrays the variant does not touch
    flat, align = _layout(z, grad_spikes, grad_x)
    _launch(_kernels()._lif_bwd_kernel, z, flat, align,
            z, grad_spikes, grad_x, any_state, grad_state if grad_state is not None else any_state,
            grad_v0 if need_v0 else any_state, grad_beta if need_beta else any_state,
            grad_theta if need_theta else any_state, beta, theta, k, T, B, N,
            z.stride(0) // align, z.stride(1), grad_spikes.stride(0) // align, grad_spikes.stride(1),
            grad_x.stride(0) // align, grad_x.stride(1), int(beta.dim() > 0), int(theta.dim() > 0),
            RESET=reset, DELAY=delay, DETACH=detach, SG=surrogate, HAS_V0=v0 is not None,
            HAS_GSTATE=grad_state is not None, NEED_V0=need_v0, NEED_BETA=need_beta, NEED_THETA=need_theta)
    return grad_x, grad_v0, grad_beta, grad_theta

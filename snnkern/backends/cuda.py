"""cuda backend: launchers for the CUDA kernels of csrc/lif_cuda.cu, built by setup.py into the plain
shared library snnkern/_cuda_kernels.so (no torch, no pybind11) and loaded with ctypes on first use.

Each launcher allocates, fills a LifArgs mirror and calls the library on torch's current stream; the
library returns an error string or NULL, never synchronising the host, so the launches can be captured
in a CUDA graph. The slope reaches the backward as a device pointer, so a slope tensor is never read on
the host.
"""
import ctypes
import functools
from pathlib import Path

import torch

from .._ids import DTYPES
from . import build_note
from .buffers import backward_buffers, forward_buffers

DEVICE_TYPES = ("cuda",)
LIBRARY = Path(__file__).resolve().parent.parent / "_cuda_kernels.so"


class LifArgs(ctypes.Structure):
    """Mirror of snnkern::LifArgs (csrc/lif_args.h), field by field; checked against the library's
    snnkern_lif_args_layout when it is loaded."""

    _fields_ = [(name, ctypes.c_int64) for name in ("T", "B", "N")] + [
        (name, ctypes.c_uint64) for name in ("x", "spikes", "z", "v0", "v_out", "beta", "theta", "grad_spikes",
                                             "grad_state", "grad_x", "grad_v0", "grad_beta", "grad_theta")] + [
        (name, ctypes.c_int64) for name in ("x_st", "x_sb", "s_st", "s_sb", "z_st", "z_sb", "gs_st", "gs_sb",
                                            "gx_st", "gx_sb", "beta_sn", "theta_sn")] + [
        ("slope", ctypes.c_double), ("reset", ctypes.c_int), ("surrogate", ctypes.c_int), ("dtype", ctypes.c_int),
        ("delay", ctypes.c_bool), ("detach", ctypes.c_bool), ("threads", ctypes.c_int)]


def mirror_layout():
    """sizeof and field offsets of the ctypes mirror, in the order snnkern_lif_args_layout reports them."""
    return [ctypes.sizeof(LifArgs)] + [getattr(LifArgs, name).offset for name, _ in LifArgs._fields_]


def library_layout(lib):
    out = (ctypes.c_int64 * 64)()
    count = lib.snnkern_lif_args_layout(out, len(out))
    return list(out[:count])


@functools.cache
def load():
    """(library, None), or (None, why it cannot be used)."""
    if not LIBRARY.exists():
        note = build_note("cuda")
        return None, f"the CUDA library {LIBRARY.name} is not built ({note or 'reinstall with nvcc available'})"
    try:
        lib = ctypes.CDLL(str(LIBRARY))
    except OSError as error:
        return None, f"cannot load {LIBRARY.name}: {error}"
    lib.snnkern_lif_args_layout.argtypes = [ctypes.POINTER(ctypes.c_int64), ctypes.c_int]
    lib.snnkern_lif_args_layout.restype = ctypes.c_int
    lib.snnkern_cuda_probe.argtypes = []
    lib.snnkern_cuda_probe.restype = ctypes.c_char_p
    lib.snnkern_lif_cuda_forward.argtypes = [ctypes.POINTER(LifArgs), ctypes.c_int, ctypes.c_void_p]
    lib.snnkern_lif_cuda_forward.restype = ctypes.c_char_p
    lib.snnkern_lif_cuda_backward.argtypes = [ctypes.POINTER(LifArgs), ctypes.c_void_p, ctypes.c_int,
                                              ctypes.c_void_p]
    lib.snnkern_lif_cuda_backward.restype = ctypes.c_char_p
    if library_layout(lib) != mirror_layout():
        return None, f"{LIBRARY.name} was built from another LifArgs layout than this snnkern's; rebuild it"
    return lib, None


@functools.cache
def status():
    lib, reason = load()
    if reason is not None:
        return reason
    if not torch.cuda.is_available():
        return "no CUDA device"
    error = lib.snnkern_cuda_probe()
    if error:
        return f"the CUDA runtime in {LIBRARY.name} cannot use this machine's driver or device: {error.decode()}"
    return None


def _ptr(t, needed=True):
    return t.data_ptr() if t is not None and needed else 0


def _strided(t, ptr, strides):
    """LifArgs fields of a [T, B, N] tensor: its address and its time and batch strides."""
    return {ptr: t.data_ptr(), strides + "_st": t.stride(0), strides + "_sb": t.stride(1)}


def _args(x_like, beta, theta, v0, reset, delay, detach=False, surrogate=0, **fields):
    T, B, N = x_like.shape
    return LifArgs(T=T, B=B, N=N, beta=beta.data_ptr(), beta_sn=int(beta.dim() > 0), theta=theta.data_ptr(),
                   theta_sn=int(theta.dim() > 0), v0=_ptr(v0), reset=reset, delay=delay, detach=detach,
                   surrogate=surrogate, dtype=DTYPES[x_like.dtype], threads=1, **fields)


def _launch(entry, device, *pointers):
    """Calls the library's entry point on torch's current stream of `device`; raises its error. `device` is
    made current around the call, so that the library's cudaSetDevice leaves torch's current device as it
    was (the library's runtime and torch's share the driver's current context)."""
    with torch.cuda.device(device):
        error = getattr(load()[0], entry)(*pointers, device.index, torch.cuda.current_stream(device).cuda_stream)
    if error:
        raise RuntimeError(f"snnkern {entry} failed: {error.decode()}")


# Forward bytes per neuron-step (storage dtype of E bytes): reads x, writes spikes and z (3E; 2E without
# store_z). Per neuron: beta, theta, v0 read and the state written once.
def forward(x, beta, theta, v0, slope, slope_tensor, reset, delay, store_z):
    beta, theta, v0, spikes, z, state = forward_buffers(x, beta, theta, v0, store_z)
    a = _args(x, beta, theta, v0, reset, delay, v_out=state.data_ptr(), **_strided(x, "x", "x"),
              **_strided(spikes, "spikes", "s"), **(_strided(z, "z", "z") if store_z else {}))
    _launch("snnkern_lif_cuda_forward", x.device, ctypes.byref(a))
    return spikes, state, z


# Backward bytes per neuron-step (storage dtype of E bytes): reads z and dL/ds, writes dL/dx (3E).
# Per neuron: v0 and dL/dstate read, dL/dv0 and the per-lane dL/dbeta, dL/dtheta sums written once.
def backward(grad_spikes, grad_state, z, v0, beta, theta, slope, slope_tensor, reset, delay, detach,
             surrogate, need_v0, need_beta, need_theta):
    beta, theta, v0, k, grad_spikes, grad_x, grad_v0, grad_beta, grad_theta = backward_buffers(
        grad_spikes, z, beta, theta, v0, slope, slope_tensor, need_v0, need_beta, need_theta)
    a = _args(z, beta, theta, v0, reset, delay, detach, surrogate, grad_state=_ptr(grad_state),
              grad_v0=_ptr(grad_v0, need_v0), grad_beta=_ptr(grad_beta, need_beta),
              grad_theta=_ptr(grad_theta, need_theta), **_strided(z, "z", "z"),
              **_strided(grad_spikes, "grad_spikes", "gs"), **_strided(grad_x, "grad_x", "gx"))
    _launch("snnkern_lif_cuda_backward", z.device, ctypes.byref(a), k.data_ptr())
    return grad_x, grad_v0, grad_beta, grad_theta

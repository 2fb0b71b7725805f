"""Allocation shared by the kernel launchers: inputs made contiguous, outputs of the right shapes."""
import torch

from .._ids import compute_dtype


def forward_buffers(x, beta, theta, v0, store_z):
    """The forward's inputs made contiguous and its outputs allocated:
    beta, theta, v0, spikes (like x), z ([T, B, N] dense, or empty without store_z), state [B, N]."""
    T, B, N = x.shape
    return (beta.contiguous(), theta.contiguous(), v0.contiguous() if v0 is not None else None,
            torch.empty_like(x), x.new_empty((T, B, N) if store_z else (0,)),
            x.new_empty((B, N), dtype=compute_dtype(x.dtype)))


def backward_buffers(grad_spikes, z, beta, theta, v0, slope, slope_tensor, need_v0, need_beta, need_theta):
    """The backward's inputs made contiguous and its outputs allocated: beta,
    theta, v0, the slope as a 0-dim tensor on z's device (never read on the host), dL/ds (zeros when only
    the final state is used), grad_x (like z), grad_v0, grad_beta, grad_theta ([B, N], or empty if not needed)."""
    T, B, N = z.shape
    cdt = compute_dtype(z.dtype)
    k = slope_tensor.to(cdt) if slope_tensor is not None else torch.full((), slope, dtype=cdt, device=z.device)
    grads = (z.new_empty((B, N) if need else (0,), dtype=cdt) for need in (need_v0, need_beta, need_theta))
    return (beta.contiguous(), theta.contiguous(), v0.contiguous() if v0 is not None else None, k,
            grad_spikes if grad_spikes is not None else torch.zeros_like(z), torch.empty_like(z), *grads)

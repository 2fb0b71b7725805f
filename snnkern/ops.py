"""The fused LIF as `torch.library` custom ops with fake implementations and registered autograd, so that
`torch.compile(fullgraph=True)` traces through it and each backend plugs in by name.

snnkern::lif_fwd(x[T,B,N], beta, theta, v0?, slope, slope_tensor?, ...) -> (spikes[T,B,N], state[B,N], z)
snnkern::lif_bwd(grad_spikes?, grad_state?, z, v0?, beta, theta, ...) -> (grad_x, grad_v0, grad_beta, grad_theta)

x has a unit stride along N; beta and theta are 0-dim or [N] in the compute dtype; z = h - threshold is
stored in x's dtype only when a gradient is needed (store_z), else it is empty. grad_beta and grad_theta
are per-(batch, neuron) sums over time, [B, N]; the autograd glue sums them over the batch.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from . import backends
from ._ids import compute_dtype


def _empty(like: Tensor) -> Tensor:
    return like.new_empty((0,))


@torch.library.custom_op("snnkern::lif_fwd", mutates_args=())
def lif_fwd(x: Tensor, beta: Tensor, theta: Tensor, v0: Optional[Tensor], slope: float,
            slope_tensor: Optional[Tensor], reset: int, delay: bool, detach: bool, surrogate: int,
            store_z: bool, backend: str) -> Tuple[Tensor, Tensor, Tensor]:
    return backends.get(backend).forward(x, beta, theta, v0, slope, slope_tensor, reset, delay, store_z)


@lif_fwd.register_fake
def _(x, beta, theta, v0, slope, slope_tensor, reset, delay, detach, surrogate, store_z, backend):
    T, B, N = x.shape
    z = x.new_empty((T, B, N)) if store_z else _empty(x)
    return torch.empty_like(x), x.new_empty((B, N), dtype=compute_dtype(x.dtype)), z


@torch.library.custom_op("snnkern::lif_bwd", mutates_args=())
def lif_bwd(grad_spikes: Optional[Tensor], grad_state: Optional[Tensor], z: Tensor, v0: Optional[Tensor],
            beta: Tensor, theta: Tensor, slope: float, slope_tensor: Optional[Tensor], reset: int, delay: bool,
            detach: bool, surrogate: int, need_v0: bool, need_beta: bool, need_theta: bool,
            backend: str) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    return backends.get(backend).backward(grad_spikes, grad_state, z, v0, beta, theta, slope, slope_tensor,
                                          reset, delay, detach, surrogate, need_v0, need_beta, need_theta)


@lif_bwd.register_fake
def _(grad_spikes, grad_state, z, v0, beta, theta, slope, slope_tensor, reset, delay, detach, surrogate,
      need_v0, need_beta, need_theta, backend):
    T, B, N = z.shape
    state = z.new_empty((B, N), dtype=compute_dtype(z.dtype))
    return (z.new_empty((T, B, N)), state if need_v0 else _empty(state),
            state.clone() if need_beta else _empty(state), state.clone() if need_theta else _empty(state))


def _setup_context(ctx, inputs, output):
    x, beta, theta, v0, slope, slope_tensor, reset, delay, detach, surrogate, store_z, backend = inputs
    ctx.mark_non_differentiable(output[2])
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(output[2], v0, beta, theta, slope_tensor)
    ctx.variant = (slope, reset, delay, detach, surrogate)
    ctx.backend = backend


def _param_grad(partial: Tensor, param: Tensor) -> Tensor:
    return partial.sum(0) if param.dim() else partial.sum()


def _backward(ctx, grad_spikes, grad_state, _grad_z):
    if torch.is_grad_enabled() and not torch.compiler.is_compiling():
        raise RuntimeError("the fused LIF backends have no double backward (create_graph=True); use "
                           "backend='torch' for higher-order gradients")
    z, v0, beta, theta, slope_tensor = ctx.saved_tensors
    slope, reset, delay, detach, surrogate = ctx.variant
    if grad_spikes is not None and grad_spikes.stride(-1) != 1:
        grad_spikes = grad_spikes.contiguous()
    if grad_state is not None:
        grad_state = grad_state.contiguous()
    _, need_beta, need_theta, need_v0 = ctx.needs_input_grad[:4]
    grad_x, grad_v0, grad_beta, grad_theta = lif_bwd(
        grad_spikes, grad_state, z, v0, beta, theta, slope, slope_tensor, reset, delay, detach, surrogate,
        need_v0 and v0 is not None, need_beta, need_theta, ctx.backend)
    return (grad_x,
            _param_grad(grad_beta, beta) if need_beta else None,
            _param_grad(grad_theta, theta) if need_theta else None,
            grad_v0 if need_v0 and v0 is not None else None,
            None, None, None, None, None, None, None, None)


lif_fwd.register_autograd(_backward, setup_context=_setup_context)

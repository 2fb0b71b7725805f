"""The pure-PyTorch LIF: the specification every fast backend is tested against.

Any dtype and device; half-precision inputs are computed in float32 (as the kernels do) and the spikes
returned in the input dtype. Gradients come from autograd with the surrogate of `surrogates.py`.
"""
import torch

from ._ids import compute_dtype
from ._validate import LifCall, validate
from .surrogates import spike


def lif_ref(x, beta=0.9, threshold=1.0, v0=None, *, reset="subtract", reset_delay=False, detach_reset=False,
            surrogate="fast_sigmoid", slope=25.0, time_dim=0):
    """Reference LIF; same signature and semantics as `snnkern.lif` (see its docstring)."""
    call = validate(x, beta, threshold, v0, reset, reset_delay, detach_reset, surrogate, slope, time_dim)
    spikes, state, _ = lif_ref_trace(call)
    return spikes.movedim(0, time_dim) if time_dim else spikes, state


def lif_ref_trace(call: LifCall):
    """Runs a validated call; returns spikes [T, B, ...], the last state and the membranes h [T, B, ...]
    (before the spike and reset) in the compute dtype, the latter for tests and analysis."""
    x = call.x.to(compute_dtype(call.x.dtype))
    beta, theta, k = call.beta, call.theta, call.slope
    u = torch.zeros_like(x[0]) if call.v0 is None else call.v0
    r = spike(u - theta, k, call.surrogate)  # delayed reset: spike owed by the incoming state
    spikes, membranes = [], []
    for x_t in x:
        if call.reset_delay:
            r = r.detach() if call.detach_reset else r
            if call.reset == "subtract":
                h = beta * u + x_t - theta * r
            elif call.reset == "zero":
                h = beta * ((1 - r) * u) + x_t
            else:
                h = beta * u + x_t
        else:
            h = beta * u + x_t
        s = spike(h - theta, k, call.surrogate)
        if call.reset_delay:
            u, r = h, s
        else:
            s_reset = s.detach() if call.detach_reset else s
            if call.reset == "subtract":
                u = h - theta * s_reset
            elif call.reset == "zero":
                u = h * (1 - s_reset)
            else:
                u = h
        spikes.append(s)
        membranes.append(h)
    return torch.stack(spikes).to(call.x.dtype), u, torch.stack(membranes)

"""`snnkern.lif`: the LIF neuron over a whole time sequence, dispatched to a fused backend."""
import torch

from . import backends
from ._ids import RESETS, SURROGATES
from ._validate import validate
from .ops import lif_fwd
from .reference import lif_ref_trace


def lif(x, beta=0.9, threshold=1.0, v0=None, *, reset="subtract", reset_delay=False, detach_reset=False,
        surrogate="fast_sigmoid", slope=25.0, time_dim=0, backend="auto"):
    """Leaky integrate-and-fire neurons over a sequence, with surrogate gradients.

    | argument     | shape / values                                                                  |
    |--------------|---------------------------------------------------------------------------------|
    | x            | [T, B, *features] input current (time_dim=0), or [B, T, *features] (time_dim=1) |
    | beta         | decay: float in [0, 1], or tensor 0-dim / broadcastable to features (clamped)    |
    | threshold    | float > 0, or tensor 0-dim / broadcastable to features                           |
    | v0           | None (zeros) or [B, *features]: the state a previous call returned               |
    | reset        | "subtract" | "zero" | "none"                                                      |
    | reset_delay  | False: reset at once (SpikingJelly, snnTorch reset_delay=False);                 |
    |              | True: snnTorch `Leaky` default, reset subtracted at the next step                |
    | detach_reset | True: no gradient through the reset                                             |
    | surrogate    | "fast_sigmoid" | "sigmoid" | "arctan" | "triangle" (snnkern.surrogates)           |
    | slope        | float > 0 or 0-dim tensor on x's device (changing it never recompiles)          |
    | backend      | "auto" | "cpu" | "triton" | "cuda" | "torch" (the reference)                       |

    Returns (spikes, state): spikes like x (same layout and dtype), state [B, *features] in float32
    (float64 for float64 x); passing it as v0 continues the sequence exactly.

    Equations (t = 0..T-1, H(z) = 1 if z > 0 else 0):
      immediate:  h = beta*v[t-1] + x[t];  s[t] = H(h - threshold);  v[t] = h - threshold*s | h*(1-s) | h
                  with v[-1] = v0; the state is v.
      reset_delay: m[t] = beta*m[t-1] + x[t] - threshold*s[t-1]  ("zero": beta*(1-s[t-1])*m[t-1] + x[t]),
                  s[t] = H(m[t] - threshold), m[-1] = v0, s[-1] = H(v0 - threshold); the state is m.
    """
    call = validate(x, beta, threshold, v0, reset, reset_delay, detach_reset, surrogate, slope, time_dim, backend)
    name = backends.resolve(backend, call.x.device)
    if name == "torch":
        spikes, state, _ = lif_ref_trace(call)
        return spikes.movedim(0, time_dim) if time_dim else spikes, state

    xt = call.x  # time-major view [T, B, *features]
    features = xt.shape[2:]
    x3 = xt.reshape(xt.shape[0], xt.shape[1], -1)  # a view whenever the features are mergeable
    if x3.stride(2) != 1:
        x3 = x3.contiguous()
    n = x3.shape[2]
    beta = call.beta.expand(features).reshape(n) if call.beta.dim() else call.beta
    theta = call.theta.expand(features).reshape(n) if call.theta.dim() else call.theta
    v0 = call.v0.reshape(call.v0.shape[0], n) if call.v0 is not None else None
    slope_tensor = call.slope if torch.is_tensor(call.slope) else None
    slope_value = 0.0 if slope_tensor is not None else call.slope
    store_z = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x3, beta, theta, v0))
    spikes, state, _ = lif_fwd(x3, beta, theta, v0, slope_value, slope_tensor, RESETS[reset], reset_delay,
                               detach_reset, SURROGATES[surrogate], store_z, name)
    spikes = spikes.unflatten(2, features)
    return spikes.movedim(0, time_dim) if time_dim else spikes, state.view(state.shape[0], *features)

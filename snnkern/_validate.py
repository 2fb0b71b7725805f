"""Argument checks for `lif` and `lif_ref`: every error names the argument.

Checks read Python values and tensor metadata only, never tensor data (which would synchronise with a
GPU and break torch.compile graphs): a slope, beta or threshold given as a tensor is not checked for its
values. Debug mode (`snnkern.set_debug(True)` or SNNKERN_DEBUG=1) also checks values: NaN or inf in x,
v0, beta and threshold, and a slope tensor that is not > 0.
"""
import math
import os
from dataclasses import dataclass
from numbers import Real
from typing import Optional, Union

import torch

from ._ids import DTYPES, RESETS, SURROGATES, compute_dtype

BACKENDS = ("auto", "cpu", "triton", "cuda", "torch")
_debug = os.environ.get("SNNKERN_DEBUG", "") not in ("", "0")


def set_debug(enabled: bool) -> None:
    """Turn debug checks on or off: NaN or inf in x, v0, beta or threshold and a slope tensor <= 0 then
    raise ValueError (each check reads the tensor: a device sync on a GPU)."""
    global _debug
    _debug = bool(enabled)


def debug_enabled() -> bool:
    return _debug


@dataclass
class LifCall:
    """A validated call: x time-major [T, B, *features]; beta, theta in the compute dtype, each 0-dim or
    of a shape that broadcasts to the features (beta clamped to [0, 1]); v0 None or [B, *features]."""

    x: torch.Tensor
    beta: torch.Tensor
    theta: torch.Tensor
    v0: Optional[torch.Tensor]
    slope: Union[float, torch.Tensor]
    reset: str
    reset_delay: bool
    detach_reset: bool
    surrogate: str
    time_dim: int


def _check_tensor(name, t, x, allowed_dtypes):
    if t.device != x.device:
        raise ValueError(f"{name} is on {t.device} but x is on {x.device}; put both on one device")
    if t.dtype not in allowed_dtypes:
        names = " or ".join(str(d).replace("torch.", "") for d in allowed_dtypes)
        raise TypeError(f"{name} has dtype {t.dtype}; with x of dtype {x.dtype} it must be {names}")


def _param(name, value, x, features, valid, rule):
    """A float or tensor parameter (beta, threshold) as a tensor of the compute dtype; a float must
    pass valid(value), described by rule."""
    cdt = compute_dtype(x.dtype)
    if isinstance(value, Real) and not isinstance(value, bool):
        value = float(value)
        if not (math.isfinite(value) and valid(value)):
            raise ValueError(f"{name} must be {rule}, got {value}")
        return torch.full((), value, dtype=cdt, device=x.device)
    if not torch.is_tensor(value):
        raise TypeError(f"{name} must be a float or a tensor, got {type(value).__name__}")
    _check_tensor(name, value, x, {x.dtype, cdt})
    try:
        ok = torch.broadcast_shapes(value.shape, features) == features
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} of shape {tuple(value.shape)} must be 0-dim or broadcast to the feature shape "
            f"{tuple(features)} (one value per neuron)"
        )
    return value.to(cdt)


def check_options(reset, reset_delay, detach_reset, surrogate, time_dim, backend="auto") -> None:
    """The choices shared by `lif` and `nn.LIF`."""
    for name, value, choices in (("reset", reset, RESETS), ("surrogate", surrogate, SURROGATES),
                                 ("backend", backend, BACKENDS)):
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    if isinstance(time_dim, bool) or time_dim not in (0, 1):
        raise ValueError(f"time_dim must be 0 ([T, B, ...]) or 1 ([B, T, ...]), got {time_dim!r}")
    for name, flag in (("reset_delay", reset_delay), ("detach_reset", detach_reset)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {flag!r}")


def check_slope(slope) -> float:
    """A slope given as a number: finite and > 0."""
    if not isinstance(slope, Real) or isinstance(slope, bool) or not (math.isfinite(slope) and slope > 0):
        raise ValueError(f"slope must be a finite number > 0, got {slope!r}")
    return float(slope)


def validate(x, beta, threshold, v0, reset, reset_delay, detach_reset, surrogate, slope, time_dim,
             backend="auto") -> LifCall:
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in DTYPES or x.layout != torch.strided:
        raise TypeError(f"x must be a dense float16, bfloat16, float32 or float64 tensor, got {x.dtype}, {x.layout}")
    check_options(reset, reset_delay, detach_reset, surrogate, time_dim, backend)
    if x.dim() < 3:
        layout = "[T, B, *features]" if time_dim == 0 else "[B, T, *features]"
        raise ValueError(f"x must have at least 3 dimensions {layout}, got shape {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0 or x[0, 0].numel() == 0:
        raise ValueError(f"x must not be empty, got shape {tuple(x.shape)}")

    if torch.is_tensor(slope):
        if slope.dim() != 0 or not slope.is_floating_point():
            raise ValueError(f"slope must be a float or a 0-dim float tensor, got shape {tuple(slope.shape)}, "
                             f"dtype {slope.dtype}")
        if slope.device != x.device:
            raise ValueError(f"slope is on {slope.device} but x is on {x.device}")
    elif isinstance(slope, Real) and not isinstance(slope, bool):
        slope = check_slope(slope)
    else:
        raise TypeError(f"slope must be a float or a 0-dim tensor, got {type(slope).__name__}")

    x = x.movedim(time_dim, 0) if time_dim else x
    batch, features = x.shape[1], x.shape[2:]
    beta_is_tensor = torch.is_tensor(beta)
    beta = _param("beta", beta, x, features, lambda b: 0 <= b <= 1, "in [0, 1]")
    if beta_is_tensor:
        beta = beta.clamp(0.0, 1.0)  # as snnTorch: a learnable decay stays a decay
    theta = _param("threshold", threshold, x, features, lambda t: t > 0, "finite and > 0")
    if v0 is not None:
        if not torch.is_tensor(v0):
            raise TypeError(f"v0 must be a tensor or None, got {type(v0).__name__}")
        _check_tensor("v0", v0, x, {x.dtype, compute_dtype(x.dtype)})
        if v0.shape != (batch, *features):
            raise ValueError(f"v0 must have shape [B, *features] = {(batch, *features)}, got {tuple(v0.shape)}")
        v0 = v0.to(compute_dtype(x.dtype))
    if _debug:  # values, not only metadata: each check reads the tensor (a device sync on a GPU)
        for name, t in (("x", x), ("v0", v0), ("beta", beta), ("threshold", theta)):
            if t is not None and not bool(torch.isfinite(t).all()):
                raise ValueError(f"{name} contains NaN or inf (snnkern debug mode is on)")
        if torch.is_tensor(slope) and not bool(slope > 0):
            raise ValueError(f"slope must be > 0, got {float(slope)} (snnkern debug mode is on)")
    return LifCall(x, beta, theta, v0, slope, reset, reset_delay, detach_reset, surrogate, time_dim)

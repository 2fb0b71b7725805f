"""Surrogate gradients: the forward is the Heaviside step H(z) (H(0) = 0), the backward uses sg(z).

z = membrane - threshold, k = slope (a runtime value: schedules change it every update).

| name           | sg(z)                                   | peak    | area |
|----------------|-----------------------------------------|---------|------|
| fast_sigmoid   | 1 / (1 + k|z|)^2  (the paper's; snnTorch)| 1       | 2/k  |
| sigmoid        | k sig(kz) (1 - sig(kz))                 | k/4     | 1    |
| arctan         | (k/2) / (1 + (pi/2 k z)^2)  (snnTorch, SpikingJelly ATan with alpha = k) | k/2 | 1 |
| triangle       | k max(0, 1 - k|z|)                      | k       | 1    |
"""
import math

import torch

from ._ids import SURROGATES


def surrogate_grad(name: str, z: torch.Tensor, k) -> torch.Tensor:
    """sg(z) for the surrogate `name` with slope k (float or tensor). Finite for any finite z."""
    if name == "fast_sigmoid":
        return 1.0 / (1.0 + k * z.abs()) ** 2
    if name == "sigmoid":
        e = torch.exp(-k * z.abs())  # e <= 1: no overflow for any z
        return k * e / (1.0 + e) ** 2
    if name == "arctan":
        return (k / 2) / (1.0 + (math.pi / 2 * k * z) ** 2)
    if name == "triangle":
        return k * torch.clamp(1.0 - k * z.abs(), min=0.0)
    raise ValueError(f"surrogate must be one of {sorted(SURROGATES)}, got {name!r}")


def heaviside(z: torch.Tensor) -> torch.Tensor:
    """H(z) = 1 where z > 0, 0 where z <= 0, NaN where z is NaN or infinite (never a silent finite value)."""
    return (z > 0).to(z.dtype) + z * 0


class SpikeFunction(torch.autograd.Function):
    """Heaviside forward, surrogate-gradient backward."""

    @staticmethod
    def forward(ctx, z, slope, name):
        ctx.save_for_backward(z, slope if torch.is_tensor(slope) else None)
        ctx.slope, ctx.name = slope, name
        return heaviside(z)

    @staticmethod
    def backward(ctx, grad):
        z, slope = ctx.saved_tensors
        k = slope if slope is not None else ctx.slope
        return grad * surrogate_grad(ctx.name, z, k), None, None


def spike(z: torch.Tensor, slope, name: str = "fast_sigmoid") -> torch.Tensor:
    """Spikes H(z) with the surrogate gradient sg(z) of `name` at slope `slope`."""
    return SpikeFunction.apply(z, slope, name)

"""Counter-based random numbers, one independent stream per environment lane.

Lane ``i`` of an environment seeded ``s`` draws from the stream of seed ``s + i`` (gymnasium's
``SyncVectorEnv`` convention), so a lane behaves the same whatever the number of lanes, and a vector
env equals ``N`` single envs seeded ``s, s + 1, ...``. Each stream is SplitMix64 (Steele et al.,
2014): draw ``c = 1, 2, ...`` of seed ``s`` is ``mix(key + c * GOLDEN)`` with ``key = mix(s)``.
It is computed with batched ``int64`` torch ops (multiplication wraps modulo 2^64 on CPU and CUDA), so a step costs
a few tensor ops for all lanes; per-lane ``torch.Generator`` objects would need a Python loop over
lanes, and one shared generator would make a lane's draws depend on the other lanes.

Each 64-bit draw gives two 24-bit uniforms (float32 resolution). ``uniform`` returns float64 so
that callers can run transcendental functions in float64 and round; ``normal`` (the per-step
observation noise, where speed matters) runs in float32. Torch's CPU kernels treat every element
of a tensor the same way, so a lane's numbers do not depend on the batch size (tested bit for bit).
"""

import math

import torch

def _signed(value: int) -> int:
    """An unsigned 64-bit constant as the int64 torch stores."""
    return value - (1 << 64) if value >= 1 << 63 else value


GOLDEN = _signed(0x9E3779B97F4A7C15)
_M1 = _signed(0xBF58476D1CE4E5B9)
_M2 = _signed(0x94D049BB133111EB)
_U24 = 2.0**-24


def _shr(z: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 values (torch's ``>>`` is arithmetic)."""
    return (z >> bits).bitwise_and_((1 << (64 - bits)) - 1)


def _mix_(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64 finaliser, in place: a bijection of int64 values with full avalanche."""
    z.bitwise_xor_(_shr(z, 30)).mul_(_M1)
    z.bitwise_xor_(_shr(z, 27)).mul_(_M2)
    return z.bitwise_xor_(_shr(z, 31))


def lane_keys(seed: int, lanes: torch.Tensor) -> torch.Tensor:
    """Stream keys ``[n]`` int64 for seeds ``seed + lanes``."""
    return _mix_(lanes.to(torch.int64) + seed)


def draw_bits(keys: torch.Tensor, counters: torch.Tensor, count: int) -> torch.Tensor:
    """Draws ``counters + 1 .. counters + count`` of each stream: int64 ``[count, n]``."""
    steps = torch.arange(1, count + 1, dtype=torch.int64, device=keys.device)
    return _mix_((counters + steps[:, None]).mul_(GOLDEN).add_(keys))


def uniform(keys: torch.Tensor, counters: torch.Tensor, count: int) -> torch.Tensor:
    """``2 * count`` uniforms in (0, 1) per stream from ``count`` draws: float64 ``[2 * count, n]``."""
    bits = draw_bits(keys, counters, count)
    halves = torch.cat([_shr(bits, 40), _shr(bits, 16) & 0xFFFFFF])
    return (halves.to(torch.float64) + 0.5) * _U24


def high_uniform(bits: torch.Tensor) -> torch.Tensor:
    """Float32 uniforms in (0, 1] from the high 24 bits of int64 draws (never 0: log-safe).

    The arithmetic shift gives -2^23 .. 2^23 - 1; the offset is added as an integer, because in
    float32 -2^23 + (2^23 + 0.5) rounds to 0.
    """
    return ((bits >> 40) + 2**23).float().add_(0.5).mul_(_U24)


def normal(keys: torch.Tensor, counters: torch.Tensor, count: int, scale: torch.Tensor) -> torch.Tensor:
    """``2 * count`` normals per stream (Box-Muller) from ``count`` draws, row i scaled by ``scale[i]``
    (float32 ``[2 * count]``): float32 ``[2 * count, n]``.

    Unlike ``uniform`` this runs in float32 for speed: draw c gives the radius from its high 24 bits
    and the angle from its low 24 bits, rows c (cosine) and count + c (sine).
    """
    bits = draw_bits(keys, counters, count)
    radius = torch.log_(high_uniform(bits)).mul_(-2.0).sqrt_()
    angle = (bits & 0xFFFFFF).float().add_(0.5).mul_(2.0 * math.pi * _U24)
    out = torch.empty(2 * count, keys.shape[0], device=keys.device)
    torch.mul(torch.cos(angle), radius, out=out[:count])
    torch.mul(angle.sin_(), radius, out=out[count:])
    return out.mul_(scale[:, None])

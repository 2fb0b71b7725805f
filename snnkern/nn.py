"""`snnkern.nn.LIF`: a layer of LIF neurons with learnable per-neuron decay and threshold.

State policy. By default the module keeps no state: `forward(x, state)` and `step(x_t, state)` take the
state and return the new one, so the caller decides what to carry and whether to cut the graph
(`state.detach()` for truncated BPTT). With `stateful=True` the module remembers the last state, detached,
and the next call continues from it: gradients never cross calls, so no autograd graph is ever kept alive
by the module and two forward/backward passes in a row always work. Call `reset_state()` at sequence or
episode boundaries.
"""
import math
from numbers import Integral, Real
from typing import Optional, Sequence, Tuple, Union

import torch

from ._validate import check_options, check_slope
from .functional import lif


def _shape(num_neurons) -> Tuple[int, ...]:
    def positive_int(n):
        return isinstance(n, Integral) and not isinstance(n, bool) and n > 0

    if positive_int(num_neurons):
        return (int(num_neurons),)
    if isinstance(num_neurons, (tuple, list, torch.Size)) and num_neurons and all(map(positive_int, num_neurons)):
        return tuple(int(n) for n in num_neurons)
    raise ValueError(f"num_neurons must be a positive int or a shape of positive ints, got {num_neurons!r}")


class LIF(torch.nn.Module):
    """LIF neurons over `num_neurons` features (an int, or a shape such as (C, H, W)).

    beta, threshold: None for the paper's initialisation, uniform in [0, 1) per neuron; a float; or a
    tensor of one value per neuron. learn_beta / learn_threshold make them per-neuron parameters.
    The other options are those of `snnkern.lif`; `slope` is kept as a buffer, changed by `set_slope`.
    """

    def __init__(self, num_neurons: Union[int, Sequence[int]], beta=None, threshold=None, *,
                 learn_beta: bool = True, learn_threshold: bool = True, reset: str = "subtract",
                 reset_delay: bool = False, detach_reset: bool = False, surrogate: str = "fast_sigmoid",
                 slope: float = 25.0, time_dim: int = 0, backend: str = "auto", stateful: bool = False):
        super().__init__()
        check_options(reset, reset_delay, detach_reset, surrogate, time_dim, backend)
        if not isinstance(stateful, bool):
            raise TypeError(f"stateful must be a bool, got {stateful!r}")
        self.shape = _shape(num_neurons)
        self.beta = self._parameter("beta", beta, learn_beta, lambda b: 0 <= b <= 1, "in [0, 1]")
        self.threshold = self._parameter("threshold", threshold, learn_threshold, lambda t: t > 0, "> 0")
        self.register_buffer("slope", torch.tensor(check_slope(slope)))
        self.options = dict(reset=reset, reset_delay=reset_delay, detach_reset=detach_reset,
                            surrogate=surrogate, backend=backend)
        self.time_dim = time_dim
        self.stateful = stateful
        self.register_buffer("_state", None, persistent=False)  # follows .to() / .double() with the module

    def _parameter(self, name, value, learn, valid, rule):
        if value is None:
            value = torch.rand(self.shape)
        elif isinstance(value, Real) and not isinstance(value, bool):
            if not (math.isfinite(value) and valid(value)):
                raise ValueError(f"{name} must be {rule}, got {value}")
            if not learn:
                return float(value)
            value = torch.full(self.shape, float(value))
        elif not torch.is_tensor(value):
            raise TypeError(f"{name} must be None, a float or a tensor, got {type(value).__name__}")
        try:
            value = value.detach().clone().float().expand(self.shape).contiguous()
        except RuntimeError as error:
            raise ValueError(f"{name} of shape {tuple(value.shape)} must broadcast to {self.shape}") from error
        if learn:
            return torch.nn.Parameter(value)
        self.register_buffer(name, value)
        return value

    def forward(self, x: torch.Tensor, state: Optional[torch.Tensor] = None):
        """x [T, B, *shape] (or [B, T, *shape] with time_dim=1) -> (spikes like x, state [B, *shape])."""
        if torch.is_tensor(x) and tuple(x.shape[2:]) != self.shape:
            raise ValueError(f"x must have feature shape {self.shape} after its two leading dims, "
                             f"got shape {tuple(x.shape)}")
        if state is None and self.stateful:
            state = self._state
            batch = x.shape[1 - self.time_dim]
            if state is not None and state.shape[0] != batch:
                raise ValueError(f"the stored state has batch {state.shape[0]} but x has {batch}; "
                                 "call reset_state() before a new batch")
        spikes, new_state = lif(x, self.beta, self.threshold, state, slope=self.slope, time_dim=self.time_dim,
                                **self.options)
        if self.stateful:
            self._state = new_state.detach()
        return spikes, new_state

    def step(self, x_t: torch.Tensor, state: Optional[torch.Tensor] = None):
        """One time step for control loops: x_t [B, *shape] -> (spikes [B, *shape], state)."""
        if not torch.is_tensor(x_t) or x_t.dim() != len(self.shape) + 1:
            raise ValueError(f"x_t must be a tensor of shape [B, *{self.shape}], got "
                             f"{tuple(x_t.shape) if torch.is_tensor(x_t) else type(x_t).__name__}")
        spikes, state = self.forward(x_t.unsqueeze(self.time_dim), state)
        return spikes.squeeze(self.time_dim), state

    def reset_state(self) -> None:
        """Forget the stored state (stateful=True); the next call starts from zeros."""
        self._state = None

    def extra_repr(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.shape}, slope={float(self.slope):g}, {opts}, stateful={self.stateful}"


def set_slope(module: torch.nn.Module, k: float) -> int:
    """Set the surrogate slope of every `LIF` inside `module` (in place: no recompilation). Returns how
    many layers were set."""
    try:
        k = check_slope(k)
    except ValueError as error:
        raise ValueError(f"k: {error}") from None
    layers = [m for m in module.modules() if isinstance(m, LIF)]
    for layer in layers:
        layer.slope.fill_(k)
    return len(layers)

"""Surrogate-slope schedules. Each holds the current slope `k` and moves it with
`update(step, eval_return=None) -> k`; every value is clamped to [k_min, k_max]. Apply it with
`snnkern.set_slope(model, schedule.update(step, ...))`. `state_dict()` / `load_state_dict()` make a
schedule part of a checkpoint.

| schedule  | k                                                                                     |
|-----------|---------------------------------------------------------------------------------------|
| Fixed     | constant                                                                              |
| Interval  | raised in `intervals` equal steps from k_min to k_max over `total_steps`              |
| Linear    | from k_min to k_max linearly over `total_steps`                                       |
| Adaptive  | the paper's rule from evaluation returns: k = k_min + (k_max - k_min) * mean over the |
|           | last `window` evaluations of (0.5 r + 0.5 dr), r = (R - lo) / (hi - lo); k_start until |
|           | the first evaluation                                                                  |
"""
import math
from numbers import Integral, Real
from typing import Optional, Tuple


def _positive(name, value):
    if not (isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _count(name, value, minimum):
    if not (isinstance(value, Integral) and not isinstance(value, bool) and value >= minimum):
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class SlopeSchedule:
    """Base class: clamping and (de)serialisation of the schedule's plain attributes."""

    def __init__(self, k_min: float, k_max: float, k: float):
        self.k_min = _positive("k_min", k_min)
        self.k_max = _positive("k_max", k_max)
        if self.k_max < self.k_min:
            raise ValueError(f"k_max ({k_max}) must be >= k_min ({k_min})")
        self.k = self.clamp(_positive("k", k))

    def clamp(self, k: float) -> float:
        return min(max(k, self.k_min), self.k_max)

    def update(self, step: int, eval_return: Optional[float] = None) -> float:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {key: list(v) if isinstance(v, list) else v for key, v in vars(self).items()}

    def load_state_dict(self, state: dict) -> None:
        unknown = set(state) - set(vars(self))
        if unknown:
            raise KeyError(f"unknown keys for {type(self).__name__}: {sorted(unknown)}")
        for key, value in state.items():
            setattr(self, key, list(value) if isinstance(value, list) else value)

    def __repr__(self):
        return f"{type(self).__name__}(k={self.k:g}, k_min={self.k_min:g}, k_max={self.k_max:g})"


class Fixed(SlopeSchedule):
    def __init__(self, k: float = 25.0):
        super().__init__(k, k, k)

    def update(self, step: int, eval_return: Optional[float] = None) -> float:
        return self.k


class _Progress(SlopeSchedule):
    """k_min -> k_max over total_steps, shaped by _fraction."""

    def __init__(self, total_steps: int, k_min: float = 1.0, k_max: float = 100.0):
        super().__init__(k_min, k_max, k_min)
        self.total_steps = _count("total_steps", total_steps, 1)

    def update(self, step: int, eval_return: Optional[float] = None) -> float:
        step = min(_count("step", step, 0), self.total_steps)
        self.k = self.clamp(self.k_min + (self.k_max - self.k_min) * self._fraction(step))
        return self.k

    def _fraction(self, step: int) -> float:
        """Progress in [0, 1] at `step` (<= total_steps)."""
        raise NotImplementedError


class Linear(_Progress):
    def _fraction(self, step: int) -> float:
        return step / self.total_steps


class Interval(_Progress):
    def __init__(self, total_steps: int, k_min: float = 1.0, k_max: float = 100.0, intervals: int = 10):
        super().__init__(total_steps, k_min, k_max)
        self.intervals = _count("intervals", intervals, 1)

    def _fraction(self, step: int) -> float:
        return (step * self.intervals // self.total_steps) / self.intervals  # integers: no rounding slip


class Adaptive(SlopeSchedule):
    """The paper's adaptive slope: steeper while the evaluation return is high or rising."""

    def __init__(self, k_start: float = 2.0, k_min: float = 1.0, k_max: float = 100.0, window: int = 10,
                 return_range: Tuple[float, float] = (0.0, 400.0)):
        super().__init__(k_min, k_max, k_start)
        self.window = _count("window", window, 1)
        try:
            low, high = (float(v) for v in return_range)
        except (TypeError, ValueError):
            low = high = math.nan
        if not (math.isfinite(low) and math.isfinite(high) and high > low):
            raise ValueError(f"return_range must be (low, high) with high > low, got {return_range!r}")
        self.return_range = (low, high)
        self.scores = []  # 0.5 r + 0.5 dr of the last `window` evaluations
        self.last_return = None  # r of the last evaluation

    def update(self, step: int, eval_return: Optional[float] = None) -> float:
        if eval_return is None:
            return self.k
        eval_return = float(eval_return)  # a 0-dim tensor too
        if not math.isfinite(eval_return):
            raise ValueError(f"eval_return must be finite, got {eval_return}")
        low, high = self.return_range
        r = (eval_return - low) / (high - low)
        dr = 0.0 if self.last_return is None else r - self.last_return
        self.last_return = r
        self.scores = (self.scores + [0.5 * r + 0.5 * dr])[-self.window:]
        self.k = self.clamp(self.k_min + (self.k_max - self.k_min) * sum(self.scores) / len(self.scores))
        return self.k

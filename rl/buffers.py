"""Replay buffers: transitions for the guide's TD3, whole episodes cut into windows for the spiking actor."""
from collections import deque
from typing import Dict, Optional

import torch

from .models import ACTION_SIZE, OBS_SIZE, PRIVILEGED_OBS_SIZE


class TransitionBuffer:
    """A ring of (privileged obs, action, reward, next privileged obs, terminated), sampled uniformly."""

    def __init__(self, capacity: int, obs_size: int = PRIVILEGED_OBS_SIZE, action_size: int = ACTION_SIZE):
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.data = {"obs": torch.zeros(capacity, obs_size), "action": torch.zeros(capacity, action_size),
                     "reward": torch.zeros(capacity), "next_obs": torch.zeros(capacity, obs_size),
                     "terminated": torch.zeros(capacity, dtype=torch.bool)}

    def add(self, **batch: torch.Tensor) -> None:
        """Rows of a batch of transitions (one per sub-env), every field of `data` given."""
        n = len(batch["reward"])
        rows = torch.arange(self.pos, self.pos + n) % self.capacity
        for name, value in batch.items():
            self.data[name][rows] = value.to(device="cpu", dtype=self.data[name].dtype)
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, generator: Optional[torch.Generator] = None) -> Dict[str, torch.Tensor]:
        rows = torch.randint(self.size, (batch_size,), generator=generator)
        return {name: value[rows] for name, value in self.data.items()}

    def state_dict(self) -> dict:
        return {"size": self.size, "pos": self.pos, "data": {k: v[: self.size].clone() for k, v in self.data.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.size, self.pos = state["size"], state["pos"]
        for name, value in state["data"].items():
            self.data[name][: self.size] = value


class SequenceBuffer:
    """Whole episodes (guide and spiking-actor steps alike, with who acted), stored back to back in flat
    tensors: an episode of L steps takes L + 1 rows, the last holding its true final observation.

    Windows are index ranges, never copies: window k of an episode covers steps [k*stride, k*stride +
    window) and its loss region is the steps from `warmup` on, so with stride = window - warmup every
    step from `warmup` on is in exactly one loss region. Steps past the episode's end are padding,
    masked out. `sample` returns time-major tensors of window + 1 rows (the extra row is the next
    observation of the last step). When full, the oldest episodes are dropped.
    """

    FIELDS = {"obs": OBS_SIZE, "privileged_obs": PRIVILEGED_OBS_SIZE, "action": ACTION_SIZE,
              "guide_action": ACTION_SIZE, "reward": 0, "guide_acted": 0}

    def __init__(self, capacity: int, window: int = 100, warmup: int = 50):
        if not 0 <= warmup < window:
            raise ValueError(f"warmup must be in [0, window), got warmup={warmup}, window={window}")
        self.capacity, self.window, self.warmup, self.stride = capacity, window, warmup, window - warmup
        self.data = {name: torch.zeros((capacity, size) if size else (capacity,),
                                       dtype=torch.bool if name == "guide_acted" else torch.float32)
                     for name, size in self.FIELDS.items()}
        self.episodes = deque()  # (first row, steps L, terminated)
        self.pos = 0
        self._windows = None

    @property
    def transitions(self) -> int:
        return sum(length for _, length, _ in self.episodes)

    def add_episode(self, obs, privileged_obs, action, reward, guide_acted, terminated: bool,
                    guide_action=None) -> None:
        """obs [L+1, 18] and privileged_obs [L+1, 146] (the last row: the final observation), action
        [L, 4] (the action taken), reward [L], guide_acted [L] bool, guide_action [L, 4] (what the guide
        would do at each step, whoever acted; zeros without a guide); terminated: ended by a crash."""
        length = len(reward)
        guide_action = torch.zeros_like(action) if guide_action is None else guide_action
        if not (len(obs) == len(privileged_obs) == length + 1
                and len(action) == len(guide_acted) == len(guide_action) == length):
            raise ValueError("an episode needs L + 1 observations and L actions, rewards and guide flags")
        if length + 1 > self.capacity:
            raise ValueError(f"an episode of {length} steps does not fit a buffer of {self.capacity} rows")
        if self.pos + length + 1 > self.capacity:
            self.pos = 0
        start, end = self.pos, self.pos + length + 1
        while self.episodes and self._overlaps(self.episodes[0], start, end):
            self.episodes.popleft()
        rows = slice(start, end)
        self.data["obs"][rows] = obs
        self.data["privileged_obs"][rows] = privileged_obs
        for name, value in (("action", action), ("guide_action", guide_action), ("reward", reward),
                            ("guide_acted", guide_acted)):
            self.data[name][start:end - 1] = value
        self.episodes.append((start, length, bool(terminated)))
        self.pos = end
        self._windows = None

    @staticmethod
    def _overlaps(episode, start, end) -> bool:
        first, length, _ = episode
        return first < end and start < first + length + 1

    def windows(self) -> torch.Tensor:
        """[num_windows, 3] int64: first row of the window, row of the episode's final observation,
        whether the episode terminated."""
        if self._windows is None:
            rows = []
            for first, length, terminated in self.episodes:
                for k in range(0, max(length - self.warmup, 0), self.stride):
                    rows.append((first + k, first + length, int(terminated)))
            self._windows = torch.tensor(rows, dtype=torch.int64).reshape(-1, 3)
        return self._windows

    def sample(self, batch_size: int, generator: Optional[torch.Generator] = None) -> Dict[str, torch.Tensor]:
        """A batch of windows, time-major: obs [W+1, B, 18], privileged_obs [W+1, B, 146], action and
        guide_action [W, B, 4], reward [W, B], guide_acted [W, B], terminated [W, B] (the step ended the episode by a crash),
        valid [W, B] (a real step) and loss_mask [W, B] (valid and past the warm-up)."""
        windows = self.windows()
        if len(windows) == 0:
            raise ValueError("no window to sample: add episodes longer than the warm-up first")
        chosen = windows[torch.randint(len(windows), (batch_size,), generator=generator)]
        first, final, terminated = chosen.T
        rows = first[None] + torch.arange(self.window + 1)[:, None]  # [W+1, B]
        valid = rows[:-1] < final[None]
        rows = torch.minimum(rows, final[None])
        batch = {name: value[rows if name.endswith("obs") else rows[:-1]] for name, value in self.data.items()}
        batch["valid"] = valid
        batch["terminated"] = valid & (rows[:-1] == final[None] - 1) & terminated.bool()[None]
        batch["loss_mask"] = valid & (torch.arange(self.window) >= self.warmup)[:, None]
        return batch

    def state_dict(self) -> dict:
        used = max((first + length + 1 for first, length, _ in self.episodes), default=0)
        return {"pos": self.pos, "episodes": list(self.episodes),
                "data": {name: value[:used].clone() for name, value in self.data.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.pos, self.episodes, self._windows = state["pos"], deque(state["episodes"]), None
        for name, value in state["data"].items():
            self.data[name][: len(value)] = value

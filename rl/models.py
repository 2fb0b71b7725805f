"""Networks of the drone recipe: the spiking actor, the twin critics and the guide (DESIGN.md section 6)."""
from typing import Optional, Tuple

import torch
from torch import nn

from snnkern.nn import LIF

OBS_SIZE, PRIVILEGED_OBS_SIZE, ACTION_SIZE = 18, 146, 4
State = Optional[Tuple[torch.Tensor, torch.Tensor]]


class SpikingActor(nn.Module):
    """18 -> Linear 256 -> LIF -> Linear 128 -> LIF -> Linear 4 -> tanh.

    The LIF layers have snnTorch `Leaky` semantics by default (reset subtracted at the next step,
    detached), per-neuron learnable beta and threshold initialised uniformly in [0, 1) as in the paper,
    and the fast-sigmoid surrogate whose slope the schedule sets. One LIF step per control step.
    """

    def __init__(self, hidden: Tuple[int, int] = (256, 128), slope: float = 2.0, reset_delay: bool = True,
                 detach_reset: bool = True, backend: str = "auto"):
        super().__init__()
        lif = dict(reset_delay=reset_delay, detach_reset=detach_reset, surrogate="fast_sigmoid", slope=slope,
                   backend=backend)
        self.fc1, self.lif1 = nn.Linear(OBS_SIZE, hidden[0]), LIF(hidden[0], **lif)
        self.fc2, self.lif2 = nn.Linear(hidden[0], hidden[1]), LIF(hidden[1], **lif)
        self.out = nn.Linear(hidden[1], ACTION_SIZE)

    def forward(self, obs: torch.Tensor, state: State = None, record: bool = False):
        """obs [T, B, 18] -> (actions [T, B, 4], state); with record=True also the spikes of both layers."""
        v1, v2 = state if state is not None else (None, None)
        s1, v1 = self.lif1(self.fc1(obs), v1)
        s2, v2 = self.lif2(self.fc2(s1), v2)
        actions = torch.tanh(self.out(s2))
        return (actions, (v1, v2), (s1, s2)) if record else (actions, (v1, v2))

    def step(self, obs: torch.Tensor, state: State = None, record: bool = False):
        """One control step: obs [B, 18] -> (action [B, 4], state), state None at an episode start."""
        out = self.forward(obs.unsqueeze(0), state, record)
        return (out[0].squeeze(0), *out[1:])


def mlp(sizes, activation, output_activation=None) -> nn.Sequential:
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        last = i == len(sizes) - 2
        if not last or output_activation is not None:
            layers.append((output_activation if last else activation)())
    return nn.Sequential(*layers)


class Guide(nn.Module):
    """The privileged, non-spiking guide: 146 -> 64 -> 64 -> 4, tanh on every layer."""

    def __init__(self, hidden: Tuple[int, int] = (64, 64)):
        super().__init__()
        self.net = mlp((PRIVILEGED_OBS_SIZE, *hidden, ACTION_SIZE), nn.Tanh, nn.Tanh)

    def forward(self, privileged_obs: torch.Tensor) -> torch.Tensor:
        return self.net(privileged_obs)


class TwinCritic(nn.Module):
    """Two Q networks on (146 privileged obs, action), 256-128 ReLU."""

    def __init__(self, hidden: Tuple[int, int] = (256, 128)):
        super().__init__()
        sizes = (PRIVILEGED_OBS_SIZE + ACTION_SIZE, *hidden, 1)
        self.q1, self.q2 = mlp(sizes, nn.ReLU), mlp(sizes, nn.ReLU)

    def forward(self, privileged_obs: torch.Tensor, action: torch.Tensor):
        x = torch.cat([privileged_obs, action], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)

    def q1_only(self, privileged_obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.q1(torch.cat([privileged_obs, action], dim=-1)).squeeze(-1)

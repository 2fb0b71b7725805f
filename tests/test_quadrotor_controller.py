"""The classical hover controller (rl.controllers): the environment is flyable."""

import math

import pytest
import torch

from rl.controllers import HoverController, reference_returns
from rl.envs.vector import QuadrotorVectorEnv
from test_quadrotor_physics import _one_torch_thread  # noqa: F401 (autouse fixture)


def _recoverable(state: torch.Tensor) -> torch.Tensor:
    """Starts tilted at most 30 deg that, at their initial velocity, stay in the box for 0.5 s.

    Faster exits cannot be stopped: the motors lag by 72 ms and tilting the thrust takes as long.
    """
    x, y = state[:, 4], state[:, 5]
    tilt = torch.acos((1 - 2 * (x * x + y * y)).clamp(-1.0, 1.0))
    margin = 0.6 - state[:, 0:3].abs()
    outward = (state[:, 7:10] * state[:, 0:3].sign()).clamp(min=1e-9)
    time_to_wall = (margin / outward).min(dim=1).values
    return (tilt <= math.radians(30)) & (time_to_wall >= 0.5)


def test_hover_controller_holds_recoverable_starts_for_the_whole_episode():
    env = QuadrotorVectorEnv(1024)  # default observation noise
    obs, info = env.reset_tensors(seed=0)
    eligible = _recoverable(env.state)
    controller = HoverController()
    first_episode = torch.ones(1024, dtype=torch.bool)
    crashed = torch.zeros(1024, dtype=torch.bool)
    late_error = torch.zeros(1024)
    for step in range(1, 501):
        obs, _, terminated, truncated, info = env.step_tensors(controller(obs, info["privileged_obs"]))
        crashed |= terminated & first_episode
        position = torch.where((terminated | truncated)[:, None], info["final_privileged_obs"][:, :3], env.state[:, :3])
        if step > 200:  # 2 s to fly in from up to 0.87 m away, then hold
            late_error = torch.where(first_episode, late_error.maximum(position.norm(dim=1)), late_error)
        if step == 500:
            survivors = first_episode & ~terminated
            assert truncated[survivors].all() and not terminated[truncated].any()
            assert (info["episode_length"][survivors] == 500).all()
        first_episode &= ~(terminated | truncated)
    assert eligible.sum() > 150
    assert not crashed[eligible].any()
    assert late_error[eligible].max() < 0.1


def test_reference_returns():
    returns = reference_returns(num_episodes=20, seed=0)
    assert returns.shape == (20,) and torch.isfinite(returns).all()
    assert torch.equal(returns, reference_returns(num_episodes=20, seed=0))
    assert returns.max() <= 500.0
    assert returns.mean() > 200.0


def test_controller_rejects_bad_input():
    controller = HoverController()
    with pytest.raises(ValueError, match="obs"):
        controller(torch.zeros(2, 17), torch.zeros(2, 146))
    with pytest.raises(ValueError, match="privileged_obs"):
        controller(torch.zeros(2, 18), torch.zeros(2, 18))

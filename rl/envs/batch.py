"""The batched quadrotor simulator behind both gymnasium envs: lanes, episodes, noise and autoreset."""

import secrets

import torch

from rl.envs import rng
from rl.envs.quadrotor import (
    ACTION_SIZE,
    CRAZYFLIE,
    INITIAL_STATE_UNIFORMS,
    MOTORS,
    OBS_SIZE,
    POSITION,
    STATE_SIZE,
    QuadrotorParams,
    RewardCoefficients,
    _rk4,
    motor_command,
    observe,
    reward_terms,
    sample_initial_state,
)

HISTORY_LENGTH = 32
PRIVILEGED_OBS_SIZE = OBS_SIZE + HISTORY_LENGTH * ACTION_SIZE
POSITION_LIMIT = 0.6
DTYPE = torch.float32
OBS_NOISE_STD = (0.05,) * 3 + (0.001,) * 9 + (0.1,) * 3 + (0.2,) * 3
"""Std of the Gaussian noise on each of the 18 observation values (m, -, m/s, rad/s)."""


class QuadrotorBatch:
    """``num_envs`` independent drone episodes stepped together as torch tensors.

    See ``QuadrotorVectorEnv`` for the specification; this class holds the mechanics. Lane ``i`` draws
    its initial states and observation noise from its own stream (``rl.envs.rng``, seed + i), always in
    the same order: at reset 9 draws for the initial state then 9 for the noise of the first
    observation; at each step 9 for the observation noise, and if the lane's episode ended, the reset
    draws. With ``autoreset=False`` an ended lane keeps being simulated until ``reset``.
    """

    def __init__(
        self,
        num_envs: int,
        *,
        device: torch.device | str = "cpu",
        params: QuadrotorParams = CRAZYFLIE,
        dt: float = 0.01,
        max_episode_steps: int = 500,
        obs_noise: bool = True,
        curriculum_stage: int = 0,
        autoreset: bool = True,
    ):
        if not (isinstance(num_envs, int) and num_envs >= 1):
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        if not (isinstance(max_episode_steps, int) and max_episode_steps >= 1):
            raise ValueError(f"max_episode_steps must be a positive int, got {max_episode_steps!r}")
        if not dt > 0:
            raise ValueError(f"dt must be positive, got {dt!r}")
        if not isinstance(params, QuadrotorParams):
            raise ValueError(f"params must be a QuadrotorParams, got {type(params).__name__}")
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.params = params
        self.dt = dt
        self.max_episode_steps = max_episode_steps
        self.obs_noise = bool(obs_noise)
        self.autoreset = autoreset
        self.reward_coefficients = RewardCoefficients.for_stage(curriculum_stage)
        self._noise_std = torch.tensor(OBS_NOISE_STD, dtype=DTYPE, device=self.device)
        self._keys = None
        self._privileged_buffers = None

    def set_curriculum_stage(self, stage: int) -> None:
        """Use the reward coefficients of curriculum stage 0..6 from the next step on."""
        self.reward_coefficients = RewardCoefficients.for_stage(stage)

    @property
    def state(self) -> torch.Tensor:
        """True states ``[num_envs, 17]``: a live view (column-major memory) that each step updates in
        place; clone it to keep it. Do not modify."""
        self._check_reset()
        return self._state.T

    @property
    def privileged_obs(self) -> torch.Tensor:
        """The current privileged observations ``[num_envs, 146]`` (a new tensor)."""
        self._check_reset()
        out = torch.empty(self.num_envs, PRIVILEGED_OBS_SIZE, dtype=DTYPE, device=self.device)
        return self._fill_privileged(out, observe(self.state))

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Start new episodes in every lane; ``seed`` re-keys lane i to seed + i, ``None`` continues
        the lanes' streams (or picks a random seed on the first reset). Returns obs ``[n, 18]`` and
        ``{"privileged_obs": [n, 146]}``."""
        if seed is not None:
            if not (isinstance(seed, int) and 0 <= seed <= 2**62 - self.num_envs):
                raise ValueError(f"seed must be an int in [0, 2**62 - num_envs], got {seed!r}")
            lanes = torch.arange(self.num_envs, dtype=torch.int64, device=self.device)
            self._keys = rng.lane_keys(seed, lanes)
            self._draws = torch.zeros_like(self._keys)
        elif self._keys is None:
            return self.reset(secrets.randbelow(2**62 - self.num_envs))
        n, dev = self.num_envs, self.device
        self._state = torch.empty(STATE_SIZE, n, dtype=DTYPE, device=dev)
        self._work = torch.empty(4, STATE_SIZE, n, dtype=DTYPE, device=dev)
        self._history = torch.empty(n, HISTORY_LENGTH, ACTION_SIZE, dtype=DTYPE, device=dev)
        self._head = 0
        self._steps = torch.zeros(n, dtype=torch.int64, device=dev)
        self._returns = torch.zeros(n, dtype=DTYPE, device=dev)
        if self._privileged_buffers is None:
            self._privileged_buffers = [
                torch.empty(n, PRIVILEGED_OBS_SIZE, dtype=DTYPE, device=dev) for _ in range(3)
            ]
        privileged = self._next_privileged_buffer()
        obs, privileged[:] = self._reset_lanes(torch.arange(n, device=dev))
        return obs, {"privileged_obs": privileged}

    def step(self, actions: torch.Tensor):
        """Advance every lane by one control step; see ``QuadrotorVectorEnv.step_tensors``."""
        self._check_reset()
        actions = self._check_actions(actions)
        u_cmd = motor_command(actions).T.contiguous()
        _rk4(self._state, u_cmd, self.params, self.dt, work=self._work, out=self._state)
        self._steps += 1
        state = self._state.T
        terms = reward_terms(state, actions, self.reward_coefficients, self.params)
        reward = terms["survival"] + terms["position"] + terms["velocity"] + terms["orientation"] + terms["action"]
        self._returns += reward
        out_of_box = (self._state[POSITION].abs() > POSITION_LIMIT).any(0)
        # the sum of the 17 values is not finite if one is (or on float32 overflow, past any real flight)
        terminated = out_of_box | ~torch.isfinite(self._state.sum(0))
        truncated = (self._steps >= self.max_episode_steps) & ~terminated
        self._history[:, self._head] = actions
        self._head = (self._head + 1) % HISTORY_LENGTH
        true_obs = observe(state)
        obs = self._add_noise(true_obs)
        privileged = self._next_privileged_buffer()
        self._fill_privileged(privileged, true_obs)
        final_privileged = self._privileged_buffers[2]
        info = {
            "privileged_obs": privileged,
            "final_obs": obs.clone(),
            "final_privileged_obs": final_privileged,
            "episode_length": self._steps.clone(),
            "episode_return": self._returns.clone(),
            **{f"reward_{name}": value for name, value in terms.items()},
        }
        done = terminated | truncated
        if bool(done.any()):
            lanes = done.nonzero()[:, 0]
            final_privileged[lanes] = privileged[lanes]
            if self.autoreset:
                obs[lanes], privileged[lanes] = self._reset_lanes(lanes)
        return obs, reward, terminated, truncated, info

    def _next_privileged_buffer(self) -> torch.Tensor:
        """Alternate between buffers 0 and 1, so the previous step's privileged obs stays intact."""
        self._privileged_buffers[:2] = self._privileged_buffers[1::-1]
        return self._privileged_buffers[0]

    def _fill_privileged(self, out: torch.Tensor, true_obs: torch.Tensor) -> torch.Tensor:
        """Write ``true_obs`` ``[n, 18]`` and the action history, oldest first, into ``out`` ``[n, 146]``."""
        out[:, :OBS_SIZE] = true_obs
        history = out[:, OBS_SIZE:].view(self.num_envs, HISTORY_LENGTH, ACTION_SIZE)
        oldest = self._head
        history[:, : HISTORY_LENGTH - oldest] = self._history[:, oldest:]
        history[:, HISTORY_LENGTH - oldest :] = self._history[:, :oldest]
        return out

    def _reset_lanes(self, lanes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """New episodes in ``lanes``: returns their noisy obs ``[k, 18]`` and privileged obs ``[k, 146]``."""
        uniforms = rng.uniform(self._keys[lanes], self._draws[lanes], INITIAL_STATE_UNIFORMS // 2)
        self._draws[lanes] += INITIAL_STATE_UNIFORMS // 2
        state = sample_initial_state(uniforms, DTYPE)
        self._state[:, lanes] = state.T
        self._steps[lanes] = 0
        self._returns[lanes] = 0.0
        fill = state[:, MOTORS] * 2.0 - 1.0
        self._history[lanes] = fill[:, None].expand(-1, HISTORY_LENGTH, -1)
        true_obs = observe(state)
        return self._add_noise(true_obs, lanes), torch.cat([true_obs, fill.repeat(1, HISTORY_LENGTH)], dim=1)

    def _add_noise(self, true_obs: torch.Tensor, lanes: torch.Tensor | None = None) -> torch.Tensor:
        """``true_obs`` ``[k, 18]`` plus the next Gaussian noise of ``lanes`` (all lanes when None)."""
        if not self.obs_noise:
            return true_obs.clone()
        keys, draws = (self._keys, self._draws) if lanes is None else (self._keys[lanes], self._draws[lanes])
        noise = rng.normal(keys, draws, OBS_SIZE // 2, self._noise_std)
        if lanes is None:
            self._draws += OBS_SIZE // 2
        else:
            self._draws[lanes] += OBS_SIZE // 2
        return torch.add(true_obs, noise.T)

    def _check_reset(self) -> None:
        if self._keys is None:
            raise ValueError("the environment must be reset before it is stepped or read")

    def _check_actions(self, actions: torch.Tensor) -> torch.Tensor:
        if not isinstance(actions, torch.Tensor):
            raise ValueError(f"actions must be a torch.Tensor, got {type(actions).__name__}")
        if actions.shape != (self.num_envs, ACTION_SIZE):
            raise ValueError(f"actions must have shape ({self.num_envs}, {ACTION_SIZE}), got {tuple(actions.shape)}")
        actions = actions.to(device=self.device, dtype=DTYPE)
        if not bool(torch.isfinite(actions).all()):
            raise ValueError("actions must be finite (got NaN or Inf)")
        return actions.clamp(-1.0, 1.0)

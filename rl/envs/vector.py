"""Gymnasium interfaces of the batched quadrotor: ``QuadrotorVectorEnv`` (native) and ``QuadrotorEnv``."""

from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from rl.envs.batch import QuadrotorBatch
from rl.envs.quadrotor import ACTION_SIZE, CRAZYFLIE, OBS_SIZE, POSITION, QuadrotorParams, RewardCoefficients

SINGLE_ACTION_SPACE = gymnasium.spaces.Box(-1.0, 1.0, (ACTION_SIZE,), np.float32)
SINGLE_OBSERVATION_SPACE = gymnasium.spaces.Box(-np.inf, np.inf, (OBS_SIZE,), np.float32)
RENDER_MODES = ["rgb_array"]
RENDER_FPS = 100


class _DroneView:
    """What both gymnasium envs share: the batched core, the reward curriculum, and the rendering of
    lane 0 with its trail (kept only when ``render_mode`` is set)."""

    def _setup(self, num_envs: int, autoreset: bool, render_mode: str | None, **batch_kwargs) -> None:
        self.batch = QuadrotorBatch(num_envs, autoreset=autoreset, **batch_kwargs)
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode must be None or one of {RENDER_MODES}, got {render_mode!r}")
        self.render_mode = render_mode
        self._trail = []

    @property
    def reward_coefficients(self) -> RewardCoefficients:
        return self.batch.reward_coefficients

    @reward_coefficients.setter
    def reward_coefficients(self, value: RewardCoefficients) -> None:
        if not isinstance(value, RewardCoefficients):
            raise ValueError(f"reward_coefficients must be a RewardCoefficients, got {type(value).__name__}")
        self.batch.reward_coefficients = value

    def set_curriculum_stage(self, stage: int) -> None:
        """Use the reward coefficients of curriculum stage 0..6 from the next step on."""
        self.batch.set_curriculum_stage(stage)

    def _record_trail(self, new_episode: bool) -> None:
        """Append lane 0's position; a new episode starts a new trail."""
        if self.render_mode:
            if new_episode:
                self._trail = []
            self._trail.append(self.batch.state[0, POSITION].tolist())

    def _frame(self):
        from rl.envs.render import render_drone

        return render_drone(self.batch.state[0].tolist(), self._trail)


class QuadrotorVectorEnv(_DroneView, gymnasium.vector.VectorEnv):
    """Crazyflie 2.1 position control at 100 Hz: many drones simulated together as torch tensors.

    ## Description

    Each drone must fly to and hover at the origin. The model is the Crazyflie 2.1 of the "Learning to
    Fly in Seconds" simulator (``rl.envs.quadrotor``): a rigid body (27 g) with four rotors whose
    thrust is quadratic in a motor state that follows the command with a 72 ms lag, integrated with
    RK4 at dt = 0.01 s. World frame: z up, gravity 9.81 m/s^2 along -z. Body frame: x forward, z
    along the thrust. Every step advances all ``num_envs`` drones on ``device`` (CPU or GPU).

    ## Action Space

    ``Box(-1, 1, (num_envs, 4), float32)``; values outside are clipped, NaN or Inf raise ValueError.

    | Num | Action                                   | Min | Max |
    |-----|------------------------------------------|-----|-----|
    | 0-3 | command of rotor i, u_cmd = (a + 1) / 2  | -1  | 1   |

    Rotors at body (x, y) = (+,-), (-,-), (-,+), (+,+) 28 mm; hover is a = 0.3199 on all four.

    ## Observation Space

    ``Box(-inf, inf, (num_envs, 18), float32)``, Gaussian noise added when ``obs_noise`` (std column).

    | Num   | Observation                                  | Unit  | Noise std |
    |-------|----------------------------------------------|-------|-----------|
    | 0-2   | position (the error to the target, origin)    | m     | 0.05      |
    | 3-11  | rotation matrix body to world, row-major      | -     | 0.001     |
    | 12-14 | linear velocity, world frame                  | m/s   | 0.1       |
    | 15-17 | angular velocity, body frame                  | rad/s | 0.2       |

    The privileged observation ``[num_envs, 146]`` (in ``info["privileged_obs"]``, for critics and
    guides) is the same 18 values without noise followed by the last 32 actions (32 x 4, oldest first,
    clipped); at the start of an episode the history holds the initial motor state as 2u - 1.

    ## Rewards

    r = C_s - C_p |p|^2 - C_v |v|^2 - C_q (1 - q_w^2) - C_a |a - 0.3199|^2 on the state after the step
    and the clipped action. 1 - q_w^2 = sin^2(angle / 2) of the rotation from level. Perfect hover
    earns C_s = 1 per step (at most 500 per episode); inside the box the penalties are bounded
    except the velocity term. The coefficients follow a 7-stage curriculum: stage 0 (C_p 1.0, C_v 0.01,
    C_q 0.25, C_a 0.14, C_s 1.0) to stage 6 (3.5, 0.10, 0.25, 0.50, 1.0), linearly
    (``set_curriculum_stage`` or ``reward_coefficients``). The signed terms are in ``info`` as
    ``reward_survival``, ``reward_position``, ``reward_velocity``, ``reward_orientation``,
    ``reward_action``; they sum to the reward. A classical controller (``rl.controllers``) returns about
    307 per episode at stage 0 with noise (``reference_returns()``, 20 episodes), 406 without.

    ## Starting State

    10% of episodes start at hover at the origin (level, at rest). The others: position U[-0.5, 0.5] m
    per axis, attitude a uniformly random rotation of angle <= 90 deg, velocity U[-1, 1] m/s, angular
    velocity U[-1, 1] rad/s. Motor state U[0, 1] in all episodes.

    ## Episode End

    - Termination: any |position| > 0.6 m, or a non-finite state.
    - Truncation: the step count reaches ``max_episode_steps`` (500 = 5 s) without termination.

    Never both. Autoreset is ``SAME_STEP``: the observation returned for an ended lane is the first of
    its next episode; its final observation is in ``info["final_obs"]`` (numpy API: rows valid where
    ``info["_final_obs"]``), with ``final_privileged_obs``, ``episode_length`` and ``episode_return``.

    ## Arguments

    | Argument            | Default     | Meaning                                                   |
    |---------------------|-------------|-----------------------------------------------------------|
    | `num_envs`          | 1           | number of drones (lanes)                                  |
    | `device`            | "cpu"       | torch device of the simulation                            |
    | `obs_noise`         | True        | add the observation noise above                           |
    | `curriculum_stage`  | 0           | initial reward-curriculum stage, 0..6                     |
    | `max_episode_steps` | 500         | truncation length                                         |
    | `params`            | `CRAZYFLIE` | ``QuadrotorParams`` of the platform                       |
    | `render_mode`       | None        | "rgb_array": ``render()`` draws lane 0 and its trail      |

    ``reset(seed=s)`` makes everything deterministic: lane i draws from the stream of seed s + i, so it
    equals a ``QuadrotorEnv`` reset with seed s + i (gymnasium's ``SyncVectorEnv`` convention), whatever
    ``num_envs`` is. ``reset()`` without a seed continues the streams.

    >>> import gymnasium, rl
    >>> envs = gymnasium.make_vec("snnkern/Quadrotor-v0", num_envs=3)
    >>> obs, info = envs.reset(seed=0)
    >>> obs.shape, info["privileged_obs"].shape
    ((3, 18), (3, 146))
    >>> obs, reward, terminated, truncated, info = envs.step(np.zeros((3, 4), np.float32))
    >>> reward.shape, terminated.dtype, sorted(k for k in info if k.startswith("reward_"))[:2]
    ((3,), dtype('bool'), ['reward_action', 'reward_orientation'])

    ## Torch API (for trainers; no numpy conversion)

    ``reset_tensors(seed=None) -> (obs [n, 18], {"privileged_obs": [n, 146]})`` and
    ``step_tensors(actions [n, 4]) -> (obs [n, 18], reward [n], terminated [n] bool, truncated [n]
    bool, info)`` on ``device``. ``info`` holds ``privileged_obs`` (of the returned obs, so after
    autoreset), ``final_obs`` ``[n, 18]`` and ``final_privileged_obs`` ``[n, 146]`` (rows of lanes that
    ended this step hold their final observation; other rows are unspecified), ``episode_length``
    (int64) and ``episode_return`` ``[n]`` (valid where a lane ended), and the five ``reward_*`` terms.
    ``privileged_obs`` and ``final_privileged_obs`` are buffers the env reuses (a fresh 38 MB tensor per
    step at 65536 lanes costs more than the physics): ``privileged_obs`` stays valid until the
    second-next call, long enough to store it with the next transition; ``final_privileged_obs`` until
    the next call. Clone what you keep longer; never modify them. All other tensors are new.
    ``privileged_obs`` (property) gives a fresh copy of the current one, ``state`` the true states
    ``[n, 17]`` (layout in ``rl.envs.quadrotor``).

    ## Version History

    * v0: initial version.
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": RENDER_FPS, "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        *,
        device: torch.device | str = "cpu",
        obs_noise: bool = True,
        curriculum_stage: int = 0,
        max_episode_steps: int = 500,
        params: QuadrotorParams = CRAZYFLIE,
        render_mode: str | None = None,
    ):
        self._setup(
            num_envs,
            True,
            render_mode,
            device=device,
            params=params,
            max_episode_steps=max_episode_steps,
            obs_noise=obs_noise,
            curriculum_stage=curriculum_stage,
        )
        self.num_envs = num_envs
        self.single_action_space = SINGLE_ACTION_SPACE
        self.single_observation_space = SINGLE_OBSERVATION_SPACE
        self.action_space = batch_space(SINGLE_ACTION_SPACE, num_envs)
        self.observation_space = batch_space(SINGLE_OBSERVATION_SPACE, num_envs)

    @property
    def device(self) -> torch.device:
        return self.batch.device

    @property
    def state(self) -> torch.Tensor:
        """True states ``[num_envs, 17]``: a live, read-only view (clone it to keep it)."""
        return self.batch.state

    @property
    def privileged_obs(self) -> torch.Tensor:
        """A new tensor with the current privileged observations ``[num_envs, 146]``."""
        return self.batch.privileged_obs

    def reset_tensors(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Reset every lane; see the class docstring ("Torch API")."""
        obs, info = self.batch.reset(seed)
        self._record_trail(new_episode=True)
        return obs, info

    def step_tensors(self, actions: torch.Tensor):
        """Step every lane with ``actions`` ``[n, 4]``; see the class docstring ("Torch API")."""
        obs, reward, terminated, truncated, info = self.batch.step(actions)
        self._record_trail(new_episode=bool(terminated[0] or truncated[0]))
        return obs, reward, terminated, truncated, info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset every lane; returns obs ``[n, 18]`` and ``{"privileged_obs": [n, 146]}`` as numpy."""
        super().reset(seed=seed)
        _check_options(options)
        obs, info = self.reset_tensors(seed)
        return _numpy(obs), _numpy(info)

    def step(self, actions: np.ndarray):
        """Step every lane; numpy version of ``step_tensors`` with the ``_final_obs`` mask added."""
        obs, reward, terminated, truncated, info = self.step_tensors(_action_tensor(actions, (self.num_envs, ACTION_SIZE)))
        info = _numpy(info)
        info["_final_obs"] = _numpy(terminated | truncated)
        return _numpy(obs), _numpy(reward), _numpy(terminated), _numpy(truncated), info

    def render(self):
        """An RGB frame (numpy ``[H, W, 3]`` uint8) of lane 0 and its trail, in a 1-tuple."""
        return None if self.render_mode is None else (self._frame(),)


class QuadrotorEnv(_DroneView, gymnasium.Env):
    """One Crazyflie drone: the specification of ``QuadrotorVectorEnv`` for a single lane, without
    autoreset (call ``reset`` after an episode ends). Observation ``(18,)``, action ``(4,)``; ``info``
    holds ``privileged_obs`` ``(146,)``, the five ``reward_*`` terms, ``episode_length`` and
    ``episode_return``. ``reset(seed=s)`` reproduces lane i of a vector env seeded s - i.

    >>> import gymnasium, rl
    >>> env = gymnasium.make("snnkern/Quadrotor-v0", obs_noise=False)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, obs.dtype, info["privileged_obs"].shape
    ((18,), dtype('float32'), (146,))
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": RENDER_FPS}

    def __init__(self, *, render_mode: str | None = None, **kwargs):
        """Keyword arguments: those of ``QuadrotorVectorEnv`` except ``num_envs``."""
        self._setup(1, False, render_mode, **kwargs)
        self.action_space = SINGLE_ACTION_SPACE
        self.observation_space = SINGLE_OBSERVATION_SPACE

    @property
    def state(self) -> torch.Tensor:
        """The true state ``[17]``: a live, read-only view (clone it to keep it)."""
        return self.batch.state[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        _check_options(options)
        obs, info = self.batch.reset(seed)
        self._record_trail(new_episode=True)
        return _numpy(obs[0]), {"privileged_obs": _numpy(info["privileged_obs"][0])}

    def step(self, action: np.ndarray):
        obs, reward, terminated, truncated, info = self.batch.step(_action_tensor(action, (ACTION_SIZE,))[None])
        self._record_trail(new_episode=False)
        info = {key: value[0] for key, value in info.items() if not key.startswith("final_")}
        return _numpy(obs[0]), float(reward[0]), bool(terminated[0]), bool(truncated[0]), _numpy(info)

    def render(self):
        """An RGB frame (numpy ``[H, W, 3]`` uint8) of the drone and its trail."""
        return None if self.render_mode is None else self._frame()


def _check_options(options: dict[str, Any] | None) -> None:
    if options:
        raise ValueError(f"options: this environment takes none, got {sorted(options)}")


def _action_tensor(actions, shape: tuple[int, ...]) -> torch.Tensor:
    array = np.asarray(actions, dtype=np.float32)
    if array.shape != shape:
        raise ValueError(f"actions must have shape {shape}, got {array.shape}")
    return torch.from_numpy(array)


def _numpy(value):
    """Tensors (also inside dicts) as new numpy arrays; 0-d tensors as numpy scalars."""
    if isinstance(value, dict):
        return {key: _numpy(item) for key, item in value.items()}
    array = value.detach().cpu().numpy().copy()
    return array[()] if array.ndim == 0 else array

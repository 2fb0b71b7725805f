"""A classical hover controller for ``snnkern/Quadrotor-v0``: a flyability check and a reference return."""

from dataclasses import dataclass

import torch

from rl.envs.batch import HISTORY_LENGTH
from rl.envs.quadrotor import ACTION_SIZE, CRAZYFLIE, OBS_SIZE, QuadrotorParams


@dataclass(frozen=True)
class HoverGains:
    """Gains of ``HoverController`` (accelerations per unit error)."""

    position: float = 8.0
    """1/s^2: desired acceleration per metre of position error"""
    velocity: float = 5.0
    """1/s: desired acceleration per m/s of velocity"""
    attitude: float = 400.0
    """1/s^2: roll and pitch angular acceleration per unit attitude error (sin of the angle)"""
    rate: float = 30.0
    """1/s: roll and pitch angular acceleration per rad/s of body rate"""
    yaw_attitude: float = 4.0
    """1/s^2: as ``attitude`` about body z (yaw torque is weak: a strong yaw loop saturates motors)"""
    yaw_rate: float = 2.0
    """1/s: as ``rate`` about body z"""
    max_acceleration: float = 15.0
    """m/s^2: bound on the horizontal part of the desired acceleration (limits the tilt)"""


class HoverController:
    """Cascaded geometric controller (Lee, Leok and McClamroch, 2010) with motor-lag inversion.

    ``controller(obs [n, 18], privileged_obs [n, 146]) -> actions [n, 4]``, batched, any device,
    stateless. ``obs`` is what a policy sees (noisy by default); ``privileged_obs`` only lends its
    action history.

    1. Position: a = -k_p p - k_v v (horizontal part bounded), thrust vector F = m (a + g z).
    2. Attitude: rotate body z onto F with zero yaw: angular acceleration -k_R e_R - k_w omega with
       e_R = vee(R_d^T R - R^T R_d) / 2; torques J alpha + omega x J omega.
    3. Mixing: collective thrust F . (R z) and the torques through the inverse of
       ``params.wrench_matrix``; where a rotor leaves the motors' range all four are shifted together
       (keeping the torques), then the thrust curve is inverted into desired motor states u_d.
    4. Lag inversion: the motor state u is rebuilt from the 32-action history (at an episode's start
       the history holds the initial motor state, so it is exact, later within (1 - g)^31 = 1%), and
       u_cmd = u + (u_d - u) / g reaches u_d in one step, g being the one-step RK4 response of the lag.

    Tested (tests/test_quadrotor_controller.py) with the default observation noise: from every seeded
    start tilted at most 30 deg that would not reach the wall within 0.5 s at its initial velocity it
    never crashes and stays within 0.1 m of the target from 2 s on. Faster exits cannot be stopped in
    time, and a random initial motor state (U[0, 1] per rotor) can flip the drone before the motors
    answer, so about 4% of all starts tilted at most 30 deg still crash.
    """

    def __init__(self, params: QuadrotorParams = CRAZYFLIE, gains: HoverGains = HoverGains(), dt: float = 0.01):
        self.params = params
        self.gains = gains
        self._mixer = torch.linalg.inv(torch.tensor(params.wrench_matrix(), dtype=torch.float64))
        h = dt / params.motor_time_constant
        self._lag_gain = h - h * h / 2 + h**3 / 6 - h**4 / 24
        decay = (1.0 - self._lag_gain) ** torch.arange(HISTORY_LENGTH - 1, -1, -1, dtype=torch.float64)
        self._history_weights = torch.cat([decay[:1], self._lag_gain * decay[1:]])

    def __call__(self, obs: torch.Tensor, privileged_obs: torch.Tensor) -> torch.Tensor:
        for name, value, size in (("obs", obs, OBS_SIZE), ("privileged_obs", privileged_obs, None)):
            size = size or OBS_SIZE + HISTORY_LENGTH * ACTION_SIZE
            if not (isinstance(value, torch.Tensor) and value.ndim == 2 and value.shape[1] == size):
                raise ValueError(f"{name} must be a tensor of shape [n, {size}], got {getattr(value, 'shape', value)!r}")
        p, g = self.params, self.gains
        x = obs.to(torch.float64)
        position, rotation, velocity, omega = x[:, 0:3], x[:, 3:12].reshape(-1, 3, 3), x[:, 12:15], x[:, 15:18]

        accel = -g.position * position - g.velocity * velocity
        horizontal = accel[:, :2].norm(dim=1, keepdim=True)
        accel[:, :2] *= torch.clamp(g.max_acceleration / horizontal.clamp_min(1e-9), max=1.0)
        accel[:, 2] = (accel[:, 2] + p.gravity).clamp_min(0.2 * p.gravity)
        force = accel * p.mass
        collective = (force * rotation[:, :, 2]).sum(1).clamp_min(0.0)

        z_des = force / force.norm(dim=1, keepdim=True)
        heading = torch.zeros_like(z_des)
        heading[:, 0] = 1.0
        y_des = torch.linalg.cross(z_des, heading, dim=1)
        y_des = y_des / y_des.norm(dim=1, keepdim=True)
        x_des = torch.linalg.cross(y_des, z_des, dim=1)
        r_des = torch.stack([x_des, y_des, z_des], dim=2)
        skew = r_des.transpose(1, 2) @ rotation - rotation.transpose(1, 2) @ r_des
        e_rot = 0.5 * torch.stack([skew[:, 2, 1], skew[:, 0, 2], skew[:, 1, 0]], dim=1)

        dev = obs.device
        inertia = torch.tensor(p.inertia, dtype=torch.float64, device=dev)
        attitude_gain = torch.tensor([g.attitude, g.attitude, g.yaw_attitude], dtype=torch.float64, device=dev)
        rate_gain = torch.tensor([g.rate, g.rate, g.yaw_rate], dtype=torch.float64, device=dev)
        alpha = -attitude_gain * e_rot - rate_gain * omega
        torque = inertia * alpha + torch.linalg.cross(omega, inertia * omega, dim=1)
        thrust = torch.cat([collective[:, None], torque], dim=1) @ self._mixer.to(dev).T

        c0, c1, c2 = p.thrust_coefficients
        low, high = c0 - c1 * c1 / (4.0 * c2), p.thrust(1.0)  # the thrust curve's range on [0, 1]
        thrust = thrust - (thrust.amin(1, keepdim=True) - low).clamp(max=0.0)  # keep the torques:
        thrust = thrust - (thrust.amax(1, keepdim=True) - high).clamp(min=0.0)  # shift all rotors
        thrust = thrust.clamp(low, high)
        u_des = (-c1 + torch.sqrt((c1 * c1 - 4.0 * c2 * (c0 - thrust)).clamp_min(0.0))) / (2.0 * c2)

        history = privileged_obs[:, OBS_SIZE:].to(torch.float64).reshape(-1, HISTORY_LENGTH, ACTION_SIZE)
        u = torch.einsum("nhm,h->nm", (history + 1.0) * 0.5, self._history_weights.to(dev))
        u_cmd = u + (u_des - u) / self._lag_gain
        return (2.0 * u_cmd - 1.0).clamp(-1.0, 1.0).to(obs.dtype)


def reference_returns(
    num_episodes: int = 20, seed: int = 0, curriculum_stage: int = 0, obs_noise: bool = True
) -> torch.Tensor:
    """Returns ``[num_episodes]`` of ``HoverController`` on ``snnkern/Quadrotor-v0``: one episode per
    lane of a vector env seeded ``seed``, so the episodes' starts are those a trainer seeded ``seed``
    sees first. A non-learned reference for learning curves."""
    from rl.envs.vector import QuadrotorVectorEnv

    env = QuadrotorVectorEnv(num_envs=num_episodes, obs_noise=obs_noise, curriculum_stage=curriculum_stage)
    controller = HoverController(env.batch.params)
    obs, info = env.reset_tensors(seed=seed)
    returns = torch.full((num_episodes,), float("nan"))
    while returns.isnan().any():
        obs, _, terminated, truncated, info = env.step_tensors(controller(obs, info["privileged_obs"]))
        first_end = (terminated | truncated) & returns.isnan()
        returns[first_end] = info["episode_return"][first_end]
    return returns

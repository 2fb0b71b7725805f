"""Quadrotor physics, observation, reward and initial states as pure batched torch functions.

State layout (17 values per drone, world frame z up, SI units):

====== ======================================== =====
index  quantity                                 unit
====== ======================================== =====
0-2    position p (target at the origin)        m
3-6    attitude quaternion w, x, y, z (body to world, Hamilton)
7-9    linear velocity v, world frame           m/s
10-12  angular velocity omega, body frame       rad/s
13-16  motor state u, normalised, in [0, 1]
====== ======================================== =====

Every function takes ``state`` as ``[n, 17]`` and reads it through ``state.T``. A tensor whose memory
is column-major (``x.T`` of a contiguous ``[17, n]`` tensor, as the batched env and ``dynamics_step``
return) makes every quantity a contiguous row, which is what keeps the batched env fast; a row-major
``[n, 17]`` tensor gives the same numbers, more slowly.
"""

import functools
import math
from dataclasses import dataclass, fields
from typing import NamedTuple

import torch

STATE_SIZE = 17
OBS_SIZE = 18
ACTION_SIZE = 4
POSITION, QUATERNION, VELOCITY, ANGULAR_VELOCITY, MOTORS = (
    slice(0, 3),
    slice(3, 7),
    slice(7, 10),
    slice(10, 13),
    slice(13, 17),
)


@dataclass(frozen=True)
class QuadrotorParams:
    """Physical constants of a quadrotor with first-order motors; the defaults are the Crazyflie 2.1 of
    the "Learning to Fly in Seconds" simulator (DESIGN.md section 5)."""

    mass: float = 0.027
    """kg"""
    gravity: float = 9.81
    """m/s^2, pointing along -z of the world frame"""
    inertia: tuple[float, float, float] = (1.029e-5, 1.105e-5, 2.005e-5)
    """kg m^2, diagonal of the body-frame inertia tensor"""
    rotor_positions: tuple[tuple[float, float], ...] = (
        (0.028, -0.028),
        (-0.028, -0.028),
        (-0.028, 0.028),
        (0.028, 0.028),
    )
    """m, body (x, y) of rotors 0..3; every rotor thrusts along body +z"""
    rotor_yaw_directions: tuple[float, ...] = (-1.0, 1.0, -1.0, 1.0)
    """sign of each rotor's reaction torque about body z"""
    yaw_torque_constant: float = 4.665e-3
    """m, reaction torque per newton of thrust"""
    thrust_coefficients: tuple[float, float, float] = (0.0213, -0.0112, 0.1201)
    """N, thrust per rotor f(u) = c0 + c1 u + c2 u^2"""
    motor_time_constant: float = 0.072
    """s, du/dt = (u_cmd - u) / motor_time_constant"""

    def __post_init__(self):
        for name in ("mass", "gravity", "motor_time_constant", "yaw_torque_constant"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if len(self.inertia) != 3 or min(self.inertia) <= 0:
            raise ValueError(f"inertia must be 3 positive values, got {self.inertia}")
        if len(self.rotor_positions) != ACTION_SIZE or len(self.rotor_yaw_directions) != ACTION_SIZE:
            raise ValueError(
                f"rotor_positions and rotor_yaw_directions must describe {ACTION_SIZE} rotors, got "
                f"{len(self.rotor_positions)} and {len(self.rotor_yaw_directions)}"
            )
        if not self.thrust(0.0) <= self.mass * self.gravity / ACTION_SIZE <= self.thrust(1.0):
            raise ValueError("thrust_coefficients cannot hover the mass with u in [0, 1]")

    def thrust(self, u: float) -> float:
        """Thrust of one rotor at motor state ``u``, in newtons."""
        c0, c1, c2 = self.thrust_coefficients
        return c0 + c1 * u + c2 * u * u

    @property
    def hover_motor_state(self) -> float:
        """Exact motor state whose four thrusts carry the weight (root of 4 f(u) = m g).

        For the Crazyflie it is 0.65996: DESIGN's rounded 0.667 would accelerate the drone up by
        0.155 m/s^2.
        """
        c0, c1, c2 = self.thrust_coefficients
        c0 -= self.mass * self.gravity / ACTION_SIZE
        return (-c1 + math.sqrt(c1 * c1 - 4.0 * c2 * c0)) / (2.0 * c2)

    @property
    def hover_action(self) -> float:
        """The action in [-1, 1] that commands ``hover_motor_state``: 0.31992 for the Crazyflie."""
        return 2.0 * self.hover_motor_state - 1.0

    def wrench_matrix(self) -> list[list[float]]:
        """Rows (total thrust, torque x, y, z) per newton of each rotor's thrust, body frame."""
        xs, ys = zip(*self.rotor_positions)
        k = self.yaw_torque_constant
        return [[1.0] * ACTION_SIZE, list(ys), [-x for x in xs], [k * d for d in self.rotor_yaw_directions]]


CRAZYFLIE = QuadrotorParams()


class _Constants(NamedTuple):
    """Tensors (dtype and device of the state) for ``_derivative``: python scalars would cost a
    dtype conversion per op."""

    thrust: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # c0, c1, c2
    rotor_effect: torch.Tensor  # [4 rotors, 4, 1]: (vertical acc, angular acc x, y, z) per newton
    gyroscopic: torch.Tensor  # [3, 1]: (J_y - J_z) / J_x, (J_z - J_x) / J_y, (J_x - J_y) / J_z
    gravity: torch.Tensor
    inverse_time_constant: torch.Tensor
    half: torch.Tensor
    one: torch.Tensor
    two: torch.Tensor


@functools.lru_cache(maxsize=64)
def _constants(params: QuadrotorParams, dtype: torch.dtype, device: torch.device) -> _Constants:
    def scalar(value: float) -> torch.Tensor:
        return torch.tensor(value, dtype=dtype, device=device)

    jx, jy, jz = params.inertia
    scale = torch.tensor([1.0 / params.mass, 1.0 / jx, 1.0 / jy, 1.0 / jz], dtype=torch.float64)
    effect = torch.tensor(params.wrench_matrix(), dtype=torch.float64) * scale[:, None]
    gyroscopic = [(jy - jz) / jx, (jz - jx) / jy, (jx - jy) / jz]
    return _Constants(
        thrust=tuple(scalar(c) for c in params.thrust_coefficients),
        rotor_effect=effect.T[:, :, None].to(dtype=dtype, device=device),
        gyroscopic=torch.tensor(gyroscopic, dtype=dtype, device=device)[:, None],
        gravity=scalar(params.gravity),
        inverse_time_constant=scalar(1.0 / params.motor_time_constant),
        half=scalar(0.5),
        one=scalar(1.0),
        two=scalar(2.0),
    )


def _derivative(s: torch.Tensor, u_cmd: torch.Tensor, k: _Constants, out: torch.Tensor) -> torch.Tensor:
    """Write into ``out`` ``[17, n]`` the time derivative of the state ``s`` ``[17, n]`` under motor
    commands ``u_cmd`` ``[4, n]``.

    Equations (L2F ``operations_generic.h``), with thrusts T_i = f(u_i):
      dp/dt = v
      dq/dt = 1/2 q (x) (0, omega)
      dv/dt = R(q) (0, 0, sum T_i) / m - (0, 0, g)
      domega/dt = J^-1 (tau - omega x J omega),  tau = sum r_i x (0, 0, T_i) + k dir_i T_i z
      du/dt = (u_cmd - u) / tau_m
    Sums are written out term by term (no matmul or reduction), so every lane's result is
    bit-identical whatever the batch size.
    """
    c0, c1, c2 = k.thrust
    qw, qx, qy, qz = s[QUATERNION]
    qv, omega, u = s[4:7], s[ANGULAR_VELOCITY], s[MOTORS]

    thrust = (u * c2 + c1) * u + c0
    effect = k.rotor_effect[0] * thrust[0]
    for i in range(1, ACTION_SIZE):
        effect = effect + k.rotor_effect[i] * thrust[i]

    omega_1, omega_2 = omega.roll(-1, 0), omega.roll(-2, 0)  # (y, z, x), (z, x, y)
    spin = qv * omega
    cross = qv.roll(-1, 0) * omega_2 - qv.roll(-2, 0) * omega_1  # qv x omega
    out[POSITION] = s[VELOCITY]
    torch.mul(spin[0] + spin[1] + spin[2], -k.half, out=out[3])
    torch.mul(qw * omega + cross, k.half, out=out[4:7])
    body_z = torch.stack([qx * qz + qw * qy, qy * qz - qw * qx, -(qx * qx + qy * qy)]) * k.two
    body_z[2] += k.one
    torch.mul(body_z, effect[0], out=out[VELOCITY])
    out[9] -= k.gravity
    torch.add(effect[1:], k.gyroscopic * (omega_1 * omega_2), out=out[ANGULAR_VELOCITY])
    torch.mul(u_cmd - u, k.inverse_time_constant, out=out[MOTORS])
    return out


def _rk4(
    s: torch.Tensor,
    u_cmd: torch.Tensor,
    params: QuadrotorParams,
    dt: float,
    work: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """One RK4 step of ``s`` ``[17, n]``, quaternion renormalised, motor state clamped.

    ``work`` is ``[4, 17, n]`` scratch (allocated when None): a caller stepping many times passes the
    same one, since fresh multi-megabyte buffers cost a page fault per 4 KiB on first touch. The result
    goes to ``out`` (which may be ``s`` itself), else to ``work[3]``.
    """
    k = _constants(params, s.dtype, s.device)
    if work is None:
        work = torch.empty((4, *s.shape), dtype=s.dtype, device=s.device)
    k1, k2, k3, stage = work
    _derivative(s, u_cmd, k, k1)
    _derivative(torch.add(s, k1, alpha=dt / 2, out=stage), u_cmd, k, k2)
    _derivative(torch.add(s, k2, alpha=dt / 2, out=stage), u_cmd, k, k3)
    k2.add_(k3)
    k4 = _derivative(torch.add(s, k3, alpha=dt, out=stage), u_cmd, k, k3)
    out = stage if out is None else out
    nxt = torch.add(s, k1.add_(k2, alpha=2.0).add_(k4), alpha=dt / 6, out=out)  # dt/6 (k1 + 2 k2 + 2 k3 + k4)
    q = nxt[QUATERNION]
    square = q * q
    q /= torch.sqrt(square[0] + square[1] + square[2] + square[3])
    nxt[MOTORS].clamp_(0.0, 1.0)
    return nxt


def motor_command(action: torch.Tensor) -> torch.Tensor:
    """Motor command u_cmd in [0, 1] of an action, clipped to [-1, 1] first."""
    return (action.clamp(-1.0, 1.0) + 1.0) * 0.5


def dynamics_step(
    state: torch.Tensor, action: torch.Tensor, params: QuadrotorParams = CRAZYFLIE, dt: float = 0.01
) -> torch.Tensor:
    """Advance drones by ``dt`` seconds with one RK4 step (zero-order hold on the action).

    Args:
        state: ``[n, 17]`` states (layout in the module docstring), any float dtype and device.
        action: ``[n, 4]`` actions in [-1, 1] (clipped), commanding u_cmd = (a + 1) / 2.
        params: the platform.
        dt: step length in seconds.

    Returns:
        ``[n, 17]`` next states, quaternion renormalised and motor state clamped to [0, 1], in
        column-major memory (a transposed view of a contiguous ``[17, n]`` tensor).
    """
    if not (isinstance(state, torch.Tensor) and state.ndim == 2 and state.shape[1] == STATE_SIZE):
        raise ValueError(f"state must be a tensor of shape [n, {STATE_SIZE}], got {getattr(state, 'shape', state)!r}")
    if not state.is_floating_point():
        raise ValueError(f"state must be a floating-point tensor, got {state.dtype}")
    if not (isinstance(action, torch.Tensor) and action.shape == (state.shape[0], ACTION_SIZE)):
        raise ValueError(
            f"action must be a tensor of shape [{state.shape[0]}, {ACTION_SIZE}], got {getattr(action, 'shape', action)!r}"
        )
    if not dt > 0:
        raise ValueError(f"dt must be positive, got {dt}")
    u_cmd = motor_command(action.to(state.dtype)).T.contiguous()
    return _rk4(state.T.contiguous(), u_cmd, params, dt).T


def rotation_matrix(state: torch.Tensor) -> torch.Tensor:
    """Body-to-world rotation matrices of ``[n, 17]`` states, row-major flattened: ``[n, 9]``."""
    qw, qx, qy, qz = state.T[QUATERNION]
    xx, yy, zz = qx * qx, qy * qy, qz * qz
    xy, xz, yz = qx * qy, qx * qz, qy * qz
    wx, wy, wz = qw * qx, qw * qy, qw * qz
    entries = [
        1.0 - (yy + zz) * 2.0, (xy - wz) * 2.0, (xz + wy) * 2.0,
        (xy + wz) * 2.0, 1.0 - (xx + zz) * 2.0, (yz - wx) * 2.0,
        (xz - wy) * 2.0, (yz + wx) * 2.0, 1.0 - (xx + yy) * 2.0,
    ]  # fmt: skip
    return torch.stack(entries, dim=1)


def observe(state: torch.Tensor) -> torch.Tensor:
    """Noise-free observations ``[n, 18]``: position, rotation matrix (row-major), velocity (world),
    angular velocity (body)."""
    return torch.cat([state[:, POSITION], rotation_matrix(state), state[:, VELOCITY], state[:, ANGULAR_VELOCITY]], dim=1)


@dataclass(frozen=True)
class RewardCoefficients:
    """Weights of r = C_s - C_p |p|^2 - C_v |v|^2 - C_q (1 - q_w^2) - C_a |a - a_hover|^2."""

    position: float
    velocity: float
    orientation: float
    action: float
    survival: float

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"reward coefficient {f.name} must be finite and >= 0, got {value}")

    @classmethod
    def for_stage(cls, stage: int) -> "RewardCoefficients":
        """Curriculum stage 0..6: linear from ``CURRICULUM_START`` (0) to ``CURRICULUM_END`` (6)."""
        if not (isinstance(stage, int) and 0 <= stage < CURRICULUM_STAGES):
            raise ValueError(f"stage must be an int in [0, {CURRICULUM_STAGES - 1}], got {stage!r}")
        w = stage / (CURRICULUM_STAGES - 1)
        return cls(
            **{
                f.name: (1 - w) * getattr(CURRICULUM_START, f.name) + w * getattr(CURRICULUM_END, f.name)
                for f in fields(cls)
            }
        )


CURRICULUM_STAGES = 7
CURRICULUM_START = RewardCoefficients(position=1.0, velocity=0.01, orientation=0.25, action=0.14, survival=1.0)
CURRICULUM_END = RewardCoefficients(position=3.5, velocity=0.10, orientation=0.25, action=0.50, survival=1.0)


def reward_terms(
    state: torch.Tensor, action: torch.Tensor, coefficients: RewardCoefficients, params: QuadrotorParams = CRAZYFLIE
) -> dict[str, torch.Tensor]:
    """Signed reward contributions ``[n]`` each; they sum to the reward.

    ``survival`` = C_s, ``position`` = -C_p |p|^2, ``velocity`` = -C_v |v|^2,
    ``orientation`` = -C_q (1 - q_w^2), ``action`` = -C_a |a - a_hover|^2. The orientation error
    1 - q_w^2 = sin^2(angle / 2) of the rotation from level (yaw included) is 0 when level and 1 when
    upside down. ``a_hover`` is ``params.hover_action`` (exact hover, 0.31992), so hovering costs nothing.
    ``state`` is the state after the step, ``action`` ``[n, 4]`` the action taken (clipped to [-1, 1]).
    """
    s = state.T
    p, v, qw = s[POSITION], s[VELOCITY], s[3]
    da = (action.clamp(-1.0, 1.0) - params.hover_action).T
    return {
        "survival": torch.full_like(qw, coefficients.survival),
        "position": ((p[0] * p[0] + p[1] * p[1]) + p[2] * p[2]) * -coefficients.position,
        "velocity": ((v[0] * v[0] + v[1] * v[1]) + v[2] * v[2]) * -coefficients.velocity,
        "orientation": (1.0 - qw * qw) * -coefficients.orientation,
        "action": (((da[0] * da[0] + da[1] * da[1]) + da[2] * da[2]) + da[3] * da[3]) * -coefficients.action,
    }


INITIAL_STATE_UNIFORMS = 18
"""Uniforms that ``sample_initial_state`` consumes per drone (17 used, one spare to fill 9 draws)."""
GUIDANCE_PROBABILITY = 0.1
MAX_INITIAL_ANGLE = math.pi / 2


def _haar_angle(y: torch.Tensor) -> torch.Tensor:
    """Rotation angle with density ∝ 1 - cos(angle) (uniform rotations) on [0, 90 deg], by inverse CDF.

    Solves angle - sin(angle) = y (pi/2 - 1) for ``y`` in (0, 1) with Newton's method from
    (6 y (pi/2 - 1))^(1/3), which starts at or left of the root of this convex function.
    """
    target = y * (MAX_INITIAL_ANGLE - 1.0)
    angle = torch.clamp((6.0 * target) ** (1.0 / 3.0), max=MAX_INITIAL_ANGLE)
    for _ in range(8):
        angle = angle - (angle - torch.sin(angle) - target) / (1.0 - torch.cos(angle))
    return angle.clamp(0.0, MAX_INITIAL_ANGLE)


def sample_initial_state(uniforms: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Initial states ``[n, 17]`` from ``[18, n]`` float64 uniforms in (0, 1) (DESIGN section 5).

    With probability 0.1 a "guidance" start: at the origin, level, at rest. Otherwise position
    U[-0.5, 0.5] m per axis, attitude a uniformly random rotation (Haar measure) of angle <= 90 deg,
    velocity U[-1, 1] m/s, angular velocity U[-1, 1] rad/s. Motor state U[0, 1] always. The number of
    uniforms is fixed (no rejection sampling), so a lane's random stream advances the same way on
    every reset. Computed in float64 and rounded to ``dtype``.
    """
    if not (uniforms.ndim == 2 and uniforms.shape[0] == INITIAL_STATE_UNIFORMS):
        raise ValueError(f"uniforms must have shape [{INITIAL_STATE_UNIFORMS}, n], got {tuple(uniforms.shape)}")
    u = uniforms.to(torch.float64)
    moving = (u[0] >= GUIDANCE_PROBABILITY).to(torch.float64)
    cos_polar = u[4] * 2.0 - 1.0
    sin_polar = torch.sqrt(1.0 - cos_polar * cos_polar)
    azimuth = u[5] * (2.0 * math.pi)
    half = _haar_angle(u[6]) * moving * 0.5
    axis = torch.stack([sin_polar * torch.cos(azimuth), sin_polar * torch.sin(azimuth), cos_polar])
    state = torch.cat(
        [
            (u[1:4] - 0.5) * moving,
            torch.cos(half)[None],
            axis * torch.sin(half),
            (u[7:13] * 2.0 - 1.0) * moving,
            u[13:17],
        ]
    )
    return state.T.to(dtype)

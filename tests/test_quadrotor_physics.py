"""Quadrotor physics, reward and initial states (rl.envs.quadrotor), and the lanes' random streams."""

import math

import numpy as np
import pytest
import torch

from rl.envs import rng
from rl.envs.quadrotor import (
    CRAZYFLIE,
    CURRICULUM_END,
    CURRICULUM_START,
    GUIDANCE_PROBABILITY,
    QuadrotorParams,
    RewardCoefficients,
    dynamics_step,
    reward_terms,
    sample_initial_state,
)

DT = 0.01


@pytest.fixture(autouse=True)
def _one_torch_thread():  # OpenMP threads stall whenever another process holds one of the 2 cores
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def hover_state(n: int = 1, dtype=torch.float32, motor: float = CRAZYFLIE.hover_motor_state) -> torch.Tensor:
    state = torch.zeros(n, 17, dtype=dtype)
    state[:, 3] = 1.0
    state[:, 13:] = motor
    return state


def hover_action(n: int = 1, dtype=torch.float32, value: float = CRAZYFLIE.hover_action) -> torch.Tensor:
    return torch.full((n, 4), value, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hover_equilibrium(dtype):
    nxt = dynamics_step(hover_state(dtype=dtype), hover_action(dtype=dtype))
    vertical_acceleration = nxt[0, 9].item() / DT
    angular_acceleration = nxt[0, 10:13] / DT
    assert abs(vertical_acceleration) < 1e-3
    assert torch.equal(angular_acceleration, torch.zeros(3, dtype=dtype))
    assert torch.equal(nxt[0, 13:], hover_state(dtype=dtype)[0, 13:])


def test_design_rounded_hover_value_is_not_an_equilibrium():
    # why params.hover_motor_state is solved from the thrust curve instead of DESIGN's 0.667
    assert CRAZYFLIE.hover_motor_state == pytest.approx(0.65996, abs=1e-5)
    nxt = dynamics_step(hover_state(motor=0.667), hover_action(value=2 * 0.667 - 1))
    assert nxt[0, 9].item() / DT > 0.1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_constant_yaw_rate_integrates_to_one_radian(dtype):
    state = hover_state(dtype=dtype)
    state[0, 12] = 1.0  # body yaw rate, rad/s; equal rotors give zero torque
    for _ in range(100):
        state = dynamics_step(state, hover_action(dtype=dtype))
    w, x, y, z = state[0, 3:7].tolist()
    assert abs(x) < 1e-6 and abs(y) < 1e-6
    assert 2.0 * math.atan2(z, w) == pytest.approx(1.0, abs=1e-4)
    assert state[0, 12].item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("roll", [0.3, 1.0, 2.5])
def test_tilted_thrust_acceleration(roll):
    state = hover_state(dtype=torch.float64)
    state[0, 3:7] = torch.tensor([math.cos(roll / 2), math.sin(roll / 2), 0.0, 0.0])
    nxt = dynamics_step(state, hover_action(dtype=torch.float64))
    g = CRAZYFLIE.gravity
    assert nxt[0, 7:10].tolist() == pytest.approx([0.0, -g * math.sin(roll) * DT, g * (math.cos(roll) - 1) * DT])
    assert nxt[0, 0:3].tolist() == pytest.approx([0.0, -g * math.sin(roll) * DT**2 / 2, g * (math.cos(roll) - 1) * DT**2 / 2])


def test_torque_and_thrust_directions():
    state = hover_state()
    # rotors 2 and 3 sit at body y = +0.028: pushing them harder rolls about +x, tilting thrust to -y
    roll = state
    for _ in range(10):
        roll = dynamics_step(roll, torch.tensor([[0.0, 0.0, 1.0, 1.0]]))
    assert roll[0, 10] > 1.0 and roll[0, 8] < 0.0 and roll[0, 4] > 0.0
    # rotors 1 and 3 have yaw direction +1: pushing them harder yaws about +z
    yaw = dynamics_step(state, torch.tensor([[0.0, 1.0, 0.0, 1.0]]))
    assert yaw[0, 12] > 0.0 and abs(yaw[0, 10]) < 1e-6 and abs(yaw[0, 11]) < 1e-6


def _reference_derivative(x: np.ndarray, u_cmd: np.ndarray, p: QuadrotorParams = CRAZYFLIE) -> np.ndarray:
    """Textbook rigid-body equations for one drone, written independently of rl.envs.quadrotor."""
    q, v, omega, u = x[3:7], x[7:10], x[10:13], x[13:17]
    w, qx, qy, qz = q
    rotation = np.array(
        [
            [1 - 2 * (qy**2 + qz**2), 2 * (qx * qy - w * qz), 2 * (qx * qz + w * qy)],
            [2 * (qx * qy + w * qz), 1 - 2 * (qx**2 + qz**2), 2 * (qy * qz - w * qx)],
            [2 * (qx * qz - w * qy), 2 * (qy * qz + w * qx), 1 - 2 * (qx**2 + qy**2)],
        ]
    )
    thrusts = [p.thrust(ui) for ui in u]
    force = np.array([0.0, 0.0, sum(thrusts)])
    torque = sum(np.cross([rx, ry, 0.0], [0.0, 0.0, t]) for (rx, ry), t in zip(p.rotor_positions, thrusts))
    torque = torque + np.array([0.0, 0.0, sum(d * p.yaw_torque_constant * t for d, t in zip(p.rotor_yaw_directions, thrusts))])
    inertia = np.diag(p.inertia)
    a, b = q, np.array([0.0, *omega])  # Hamilton product q (x) (0, omega)
    product = np.array(
        [
            a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
            a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2],
            a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1],
            a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0],
        ]
    )
    return np.concatenate(
        [
            v,
            0.5 * product,
            rotation @ force / p.mass - np.array([0.0, 0.0, p.gravity]),
            np.linalg.solve(inertia, torque - np.cross(omega, inertia @ omega)),
            (u_cmd - u) / p.motor_time_constant,
        ]
    )


def test_dynamics_step_matches_reference_rk4():
    generator = torch.Generator().manual_seed(3)
    state = sample_initial_state(torch.rand(18, 20, dtype=torch.float64, generator=generator), torch.float64)
    state[:, 10:13] *= 20.0  # fast spins exercise the gyroscopic term
    action = torch.rand(20, 4, dtype=torch.float64, generator=generator) * 2 - 1
    result = dynamics_step(state, action).numpy()
    for x, a, got in zip(state.numpy(), action.numpy(), result):
        u_cmd = (a + 1) / 2
        k1 = _reference_derivative(x, u_cmd)
        k2 = _reference_derivative(x + DT / 2 * k1, u_cmd)
        k3 = _reference_derivative(x + DT / 2 * k2, u_cmd)
        k4 = _reference_derivative(x + DT * k3, u_cmd)
        expected = x + DT / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        expected[3:7] /= np.linalg.norm(expected[3:7])
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_motor_lag_and_clamp():
    state = hover_state(motor=0.5)
    up = dynamics_step(state, hover_action(value=1.0))
    h = DT / CRAZYFLIE.motor_time_constant
    expected = 0.5 + 0.5 * (h - h * h / 2 + h**3 / 6 - h**4 / 24)  # RK4 on du/dt = (1 - u) / tau
    assert up[0, 13:].tolist() == pytest.approx([expected] * 4, abs=1e-6)
    clipped = dynamics_step(state, hover_action(value=5.0))
    assert torch.equal(clipped, up)
    state[:, 13:] = 1.0
    assert dynamics_step(state, hover_action(value=1.0))[0, 13:].max() <= 1.0


def test_bang_bang_robustness():
    """4096 drones, each motor randomly at -1 or +1 every step for 10^4 steps (100 s), no resets."""
    generator = torch.Generator().manual_seed(0)
    state = sample_initial_state(torch.rand(18, 4096, dtype=torch.float64, generator=generator))
    worst_norm_error = 0.0
    for step in range(10_000):
        action = torch.randint(0, 2, (4096, 4), generator=generator).float() * 2.0 - 1.0
        state = dynamics_step(state, action)
        if step % 100 == 99:
            assert torch.isfinite(state).all(), f"non-finite state at step {step}"
            norm_error = (state[:, 3:7].norm(dim=1) - 1.0).abs().max().item()
            worst_norm_error = max(worst_norm_error, norm_error)
    assert worst_norm_error < 1e-5
    assert state[:, 10:13].abs().max() > 100.0  # the drones really tumbled


def test_dynamics_step_layout_and_batch_independence():
    generator = torch.Generator().manual_seed(1)
    state = sample_initial_state(torch.rand(18, 33, dtype=torch.float64, generator=generator))
    action = torch.rand(33, 4, generator=generator) * 2 - 1
    batched = dynamics_step(state, action)
    row_major = dynamics_step(state.contiguous(), action)
    singles = torch.cat([dynamics_step(state[i : i + 1], action[i : i + 1]) for i in range(33)])
    assert torch.equal(batched, row_major)
    assert torch.equal(batched, singles)


def test_dynamics_step_rejects_bad_input():
    with pytest.raises(ValueError, match="state"):
        dynamics_step(torch.zeros(2, 16), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="action"):
        dynamics_step(hover_state(2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="dt"):
        dynamics_step(hover_state(), hover_action(), dt=0.0)
    with pytest.raises(ValueError, match="mass"):
        QuadrotorParams(mass=-1.0)
    with pytest.raises(ValueError, match="rotor"):
        QuadrotorParams(rotor_yaw_directions=(1.0, -1.0))


def test_reward_at_perfect_hover_is_survival():
    terms = reward_terms(hover_state(), hover_action(), CURRICULUM_START)
    assert sum(terms.values()).item() == CURRICULUM_START.survival
    assert all(terms[name].item() == 0.0 for name in ("position", "velocity", "orientation", "action"))


def test_reward_term_signs():
    state = hover_state()
    state[0, 0:3] = torch.tensor([0.1, -0.2, 0.3])
    state[0, 3:7] = torch.tensor([math.cos(0.2), math.sin(0.2), 0.0, 0.0])  # 0.4 rad roll
    state[0, 7:10] = torch.tensor([0.5, 0.0, -0.5])
    action = torch.tensor([[1.0, -1.0, 0.0, 0.5]])
    terms = reward_terms(state, action, CURRICULUM_END)
    assert terms["survival"].item() == CURRICULUM_END.survival > 0
    for name in ("position", "velocity", "orientation", "action"):
        assert terms[name].item() < 0.0, name
    assert terms["position"].item() == pytest.approx(-3.5 * 0.14)
    assert terms["velocity"].item() == pytest.approx(-0.1 * 0.5)
    assert terms["orientation"].item() == pytest.approx(-0.25 * math.sin(0.2) ** 2)
    a_hover = CRAZYFLIE.hover_action
    expected_action = -0.5 * ((1 - a_hover) ** 2 + (1 + a_hover) ** 2 + a_hover**2 + (0.5 - a_hover) ** 2)
    assert terms["action"].item() == pytest.approx(expected_action, rel=1e-6)


def test_curriculum_stages():
    assert RewardCoefficients.for_stage(0) == CURRICULUM_START
    assert RewardCoefficients.for_stage(6) == CURRICULUM_END
    middle = RewardCoefficients.for_stage(3)
    assert middle.position == pytest.approx(2.25) and middle.action == pytest.approx(0.32)
    for stage in (-1, 7, 2.0):
        with pytest.raises(ValueError, match="stage"):
            RewardCoefficients.for_stage(stage)
    with pytest.raises(ValueError, match="velocity"):
        RewardCoefficients(position=1, velocity=-1, orientation=0, action=0, survival=1)


def test_initial_state_distribution():
    uniforms = torch.rand(18, 200_000, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    state = sample_initial_state(uniforms, torch.float64)
    guidance = (state[:, 0:3] == 0).all(1)
    assert guidance.double().mean().item() == pytest.approx(GUIDANCE_PROBABILITY, abs=0.005)
    assert (state[guidance, 3] == 1).all() and (state[guidance, 7:13] == 0).all()
    moving = state[~guidance]
    assert moving[:, 0:3].abs().max() <= 0.5 and moving[:, 7:13].abs().max() <= 1.0
    assert 0.0 <= state[:, 13:].min() and state[:, 13:].max() <= 1.0
    assert (state[:, 3:7].norm(dim=1) - 1).abs().max() < 1e-12
    angle = 2 * torch.acos(moving[:, 3].clamp(max=1.0))
    assert angle.max() <= math.pi / 2 + 1e-9
    # uniform rotations: P(angle <= t | angle <= 90 deg) = (t - sin t) / (pi/2 - 1)
    for t in (math.pi / 8, math.pi / 4, 3 * math.pi / 8):
        expected = (t - math.sin(t)) / (math.pi / 2 - 1)
        assert (angle <= t).double().mean().item() == pytest.approx(expected, abs=0.005)
    axis = moving[:, 4:7] / moving[:, 4:7].norm(dim=1, keepdim=True)
    assert axis.mean(0).abs().max() < 0.01


def _reference_splitmix64(seed: int, count: int) -> list[int]:
    """Steele, Lea and Flood (2014), with Python integers."""
    mask = (1 << 64) - 1

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    return [mix((seed + k * 0x9E3779B97F4A7C15) & mask) for k in range(1, count + 1)]


def test_rng_is_splitmix64_per_lane():
    seed, lanes = 12345, torch.arange(4)
    keys = rng.lane_keys(seed, lanes)
    bits = rng.draw_bits(keys, torch.zeros(4, dtype=torch.int64), 5)
    for lane in range(4):
        key = _reference_splitmix64(seed + lane - 0x9E3779B97F4A7C15, 1)[0]  # mix(seed + lane)
        assert keys[lane].item() % (1 << 64) == key
        assert [b % (1 << 64) for b in bits[:, lane].tolist()] == _reference_splitmix64(key, 5)
    later = rng.draw_bits(keys, torch.full((4,), 3, dtype=torch.int64), 2)
    assert torch.equal(later, bits[3:5])


def test_rng_high_uniform_extremes_are_log_safe():
    extremes = torch.tensor([-(2**63), -(2**63) + 2**40 - 1, 0, 2**63 - 1])
    u = rng.high_uniform(extremes)
    assert u.dtype == torch.float32
    assert (u > 0).all() and (u <= 1).all() and torch.isfinite(torch.log(u)).all()
    assert u[0].item() == 0.5 * 2**-24 and u[3].item() == 1.0


def test_rng_distributions():
    keys = rng.lane_keys(7, torch.arange(1000))
    counters = torch.zeros(1000, dtype=torch.int64)
    u = rng.uniform(keys, counters, 50)
    assert 0.0 < u.min() and u.max() < 1.0
    assert u.mean().item() == pytest.approx(0.5, abs=0.003)
    z = rng.normal(keys, counters, 50, torch.ones(100))
    assert z.dtype == torch.float32 and z.shape == (100, 1000)
    assert z.mean().item() == pytest.approx(0.0, abs=0.01)
    assert z.std().item() == pytest.approx(1.0, abs=0.01)
    assert (z.abs() > 3).double().mean().item() == pytest.approx(0.0027, abs=0.0007)

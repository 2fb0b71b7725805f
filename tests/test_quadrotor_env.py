"""The gymnasium envs of the quadrotor: API, episodes, autoreset, seeding, observations, rendering."""

import doctest
import subprocess
import sys
import warnings

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import rl
from rl.envs import vector
from rl.envs.batch import OBS_NOISE_STD
from rl.envs.quadrotor import CRAZYFLIE, CURRICULUM_END, CURRICULUM_START, observe
from rl.envs.vector import QuadrotorEnv, QuadrotorVectorEnv
from test_quadrotor_physics import _one_torch_thread  # noqa: F401 (autouse fixture)

ENV_ID = rl.envs.QUADROTOR_ID
CHECK_ENV_ALLOWED_WARNINGS = (
    "A Box observation space minimum value is -infinity",  # unbounded velocities: no finite bound is true
    "A Box observation space maximum value is infinity",
)


def test_check_env_passes_with_known_warnings_only():
    env = gymnasium.make(ENV_ID)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    unexpected = [str(w.message) for w in caught if not any(a in str(w.message) for a in CHECK_ENV_ALLOWED_WARNINGS)]
    assert unexpected == []


def test_registration_and_spaces():
    envs = gymnasium.make_vec(ENV_ID, num_envs=5)
    assert isinstance(envs, QuadrotorVectorEnv)
    assert envs.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    assert envs.num_envs == 5
    assert envs.single_action_space == gymnasium.spaces.Box(-1.0, 1.0, (4,), np.float32)
    assert envs.action_space.shape == (5, 4) and envs.observation_space.shape == (5, 18)
    assert envs.single_observation_space.shape == (18,)
    assert isinstance(gymnasium.make(ENV_ID).unwrapped, QuadrotorEnv)


def test_doctests():
    assert doctest.testmod(vector).failed == 0


def test_import_rl_is_light():
    code = "import sys, rl; print(any(m.startswith('matplotlib') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_forced_crash_terminates_and_reports_the_real_final_obs():
    envs = QuadrotorVectorEnv(16, obs_noise=False)
    envs.reset(seed=0)
    motors_off = np.full((16, 4), -1.0, np.float32)
    ended = np.zeros(16, bool)
    for step in range(1, 100):
        obs, _, terminated, truncated, info = envs.step(motors_off)
        assert not truncated.any()
        newly = terminated & ~ended
        for i in np.flatnonzero(newly):
            assert info["_final_obs"][i]
            final = info["final_obs"][i]
            assert np.abs(final[:3]).max() > 0.6  # outside the box ...
            assert np.abs(obs[i, :3]).max() <= 0.5  # ... while the returned obs starts a new episode
            assert info["episode_length"][i] == step
        ended |= terminated
        if ended.all():
            break
    assert ended.all()


def test_episode_lengths_and_returns_are_counted_exactly():
    envs = QuadrotorVectorEnv(32, obs_noise=False, max_episode_steps=7)
    envs.reset_tensors(seed=1)
    generator = torch.Generator().manual_seed(1)
    length = torch.zeros(32, dtype=torch.int64)
    total = torch.zeros(32)
    finished = 0
    for _ in range(60):
        _, reward, terminated, truncated, info = envs.step_tensors(torch.rand(32, 4, generator=generator) * 2 - 1)
        length += 1
        total += reward
        done = terminated | truncated
        assert not (terminated & truncated).any()
        assert torch.equal(truncated, (length == 7) & ~terminated)
        assert torch.equal(info["episode_length"][done], length[done])
        assert torch.equal(info["episode_return"][done], total[done])
        finished += int(done.sum())
        length[done], total[done] = 0, 0.0
    assert finished >= 32 * 8


def _rollout(envs, seed: int, steps: int):
    """Seeded rollout with actions that crash some lanes, so autoresets are part of the trajectory."""
    obs, info = envs.reset_tensors(seed=seed)
    generator = torch.Generator().manual_seed(seed)
    record = [obs, info["privileged_obs"].clone()]
    for _ in range(steps):
        actions = torch.where(torch.rand(envs.num_envs, 1, generator=generator) < 0.5, -1.0, CRAZYFLIE.hover_action)
        obs, reward, terminated, truncated, info = envs.step_tensors(actions.expand(-1, 4))
        record += [obs, reward, terminated, truncated, info["privileged_obs"].clone(), envs.state.clone()]
    return record


def test_seeded_resets_are_bit_identical_and_lanes_differ():
    first = _rollout(QuadrotorVectorEnv(8), seed=3, steps=150)
    second = _rollout(QuadrotorVectorEnv(8), seed=3, steps=150)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    again = QuadrotorVectorEnv(8)
    again.reset_tensors(seed=4)
    assert all(torch.equal(a, b) for a, b in zip(first, _rollout(again, seed=3, steps=150)))
    other = _rollout(QuadrotorVectorEnv(8), seed=4, steps=150)
    assert not torch.equal(first[0], other[0])
    obs = first[0]
    assert all(not torch.equal(obs[i], obs[j]) for i in range(8) for j in range(i))


def test_lane_does_not_depend_on_num_envs():
    wide, narrow = QuadrotorVectorEnv(64), QuadrotorVectorEnv(3)
    obs_wide, _ = wide.reset_tensors(seed=9)
    obs_narrow, _ = narrow.reset_tensors(seed=9)
    assert torch.equal(obs_wide[:3], obs_narrow)
    generator = torch.Generator().manual_seed(9)
    for _ in range(150):
        actions = torch.where(torch.rand(64, 1, generator=generator) < 0.5, -1.0, CRAZYFLIE.hover_action)
        a = wide.step_tensors(actions.expand(-1, 4))
        b = narrow.step_tensors(actions[:3].expand(-1, 4))
        for x, y in zip(a[:4], b[:4]):
            assert torch.equal(x[:3], y)
        assert torch.equal(a[4]["privileged_obs"][:3], b[4]["privileged_obs"])
        assert torch.equal(wide.state[:3], narrow.state)


def test_vector_env_equals_single_envs():
    """Native vector env vs gymnasium's SyncVectorEnv of QuadrotorEnv, noise on, with autoresets."""
    native = gymnasium.make_vec(ENV_ID, num_envs=4)
    singles = gymnasium.make_vec(
        ENV_ID, num_envs=4, vectorization_mode="sync", vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}
    )
    obs_native, _ = native.reset(seed=11)
    obs_singles, _ = singles.reset(seed=11)
    np.testing.assert_array_equal(obs_native, obs_singles)
    rng = np.random.default_rng(11)
    episodes = 0
    for _ in range(250):
        actions = rng.choice([-1.0, 1.0, CRAZYFLIE.hover_action], size=(4, 4), p=[0.1, 0.1, 0.8]).astype(np.float32)
        a, b = native.step(actions), singles.step(actions)
        for x, y in zip(a[:4], b[:4]):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a[4]["privileged_obs"], b[4]["privileged_obs"])
        ended = a[2] | a[3]
        for i in range(4):
            # SyncVectorEnv moves an ended sub-env's step info to final_info (its info is the reset's)
            step_info = b[4]["final_info"] if ended[i] else b[4]
            assert a[4]["reward_position"][i] == step_info["reward_position"][i]
        for i in np.flatnonzero(ended):
            np.testing.assert_array_equal(a[4]["final_obs"][i], b[4]["final_obs"][i])
            assert a[4]["episode_length"][i] == b[4]["final_info"]["episode_length"][i]
            episodes += 1
    assert episodes >= 4


def test_privileged_obs_layout():
    envs = QuadrotorVectorEnv(6)
    obs, info = envs.reset_tensors(seed=5)
    privileged = info["privileged_obs"]
    motors = envs.state[:, 13:]
    assert torch.equal(privileged[:, :18], observe(envs.state))
    assert torch.equal(privileged[:, 18:].reshape(6, 32, 4), (motors * 2 - 1)[:, None].expand(-1, 32, -1))
    assert not torch.equal(obs, privileged[:, :18])  # noise only on the actor's observation
    history = (motors * 2 - 1)[:, None].repeat(1, 32, 1)
    ended = 0
    for step in range(80):
        actions = torch.full((6, 4), 0.1 * (step % 7) - 0.2)
        actions[0] = 3.0  # clipped to 1
        obs, _, terminated, truncated, info = envs.step_tensors(actions)
        history = torch.cat([history[:, 1:], actions.clamp(-1, 1)[:, None]], dim=1)
        done = terminated | truncated
        history[done] = (envs.state[done, None, 13:] * 2 - 1).expand(-1, 32, -1)
        ended += int(done.sum())
        assert torch.equal(info["privileged_obs"][:, 18:], history.reshape(6, 128))
        assert torch.equal(info["privileged_obs"][:, :18], observe(envs.state))
    assert ended > 0
    assert torch.equal(envs.privileged_obs, info["privileged_obs"])


def test_final_privileged_obs_of_ended_lanes():
    envs = QuadrotorVectorEnv(16, obs_noise=False)
    envs.reset_tensors(seed=6)
    previous = envs.privileged_obs
    for _ in range(100):
        actions = torch.full((16, 4), -1.0)
        obs, _, terminated, _, info = envs.step_tensors(actions)
        if terminated.any():
            final = info["final_privileged_obs"][terminated]
            assert torch.equal(final[:, :18], info["final_obs"][terminated])
            assert torch.equal(final[:, 18:-4], previous[terminated, 22:])
            assert (final[:, -4:] == -1.0).all()
            assert torch.equal(info["privileged_obs"][terminated, :18], obs[terminated])
            return
        previous = info["privileged_obs"].clone()
    raise AssertionError("no lane crashed")


def test_observation_noise_statistics():
    envs = QuadrotorVectorEnv(4096)
    obs, info = envs.reset_tensors(seed=7)
    noise = obs - info["privileged_obs"][:, :18]
    assert noise.mean(0).abs().max() < 0.01
    np.testing.assert_allclose(noise.std(0).numpy(), OBS_NOISE_STD, rtol=0.05)
    quiet = QuadrotorVectorEnv(8, obs_noise=False)
    obs, info = quiet.reset_tensors(seed=7)
    assert torch.equal(obs, info["privileged_obs"][:, :18])


def test_reward_terms_in_info_and_curriculum():
    envs = QuadrotorVectorEnv(8, obs_noise=False)
    envs.reset_tensors(seed=8)
    actions = torch.full((8, 4), 0.9)
    _, reward, _, _, info = envs.step_tensors(actions)
    terms = [info[f"reward_{name}"] for name in ("survival", "position", "velocity", "orientation", "action")]
    torch.testing.assert_close(sum(terms), reward)
    assert (terms[0] == CURRICULUM_START.survival).all() and all((t <= 0).all() for t in terms[1:])
    torch.testing.assert_close(info["reward_action"], -CURRICULUM_START.action * 4 * (0.9 - CRAZYFLIE.hover_action) ** 2 * torch.ones(8))
    envs.set_curriculum_stage(6)
    assert envs.reward_coefficients == CURRICULUM_END
    _, _, _, _, info = envs.step_tensors(actions)
    torch.testing.assert_close(info["reward_action"], -CURRICULUM_END.action * 4 * (0.9 - CRAZYFLIE.hover_action) ** 2 * torch.ones(8))
    envs.reward_coefficients = CURRICULUM_START
    assert envs.reward_coefficients == CURRICULUM_START


def test_bang_bang_env_stays_finite():
    envs = QuadrotorVectorEnv(512)
    envs.reset_tensors(seed=10)
    generator = torch.Generator().manual_seed(10)
    for _ in range(500):
        actions = torch.randint(0, 2, (512, 4), generator=generator).float() * 2 - 1
        obs, reward, terminated, truncated, info = envs.step_tensors(actions)
        for value in (obs, reward, info["privileged_obs"], info["final_obs"], envs.state):
            assert torch.isfinite(value).all()
    assert ((envs.state[:, 3:7].norm(dim=1) - 1).abs() < 1e-5).all()


def test_invalid_arguments_raise_value_errors():
    envs = QuadrotorVectorEnv(2)
    with pytest.raises(ValueError, match="reset"):
        envs.step_tensors(torch.zeros(2, 4))
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="actions"):
        envs.step(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="actions"):
        envs.step_tensors(torch.full((2, 4), float("nan")))
    with pytest.raises(ValueError, match="actions"):
        envs.step_tensors(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="stage"):
        envs.set_curriculum_stage(7)
    with pytest.raises(ValueError, match="reward_coefficients"):
        envs.reward_coefficients = (1, 2, 3)
    with pytest.raises(ValueError, match="seed"):
        envs.reset(seed=2**62)
    with pytest.raises(ValueError, match="options"):
        envs.reset(options={"low": 0})
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="num_envs"):
            QuadrotorVectorEnv(bad)
    with pytest.raises(ValueError, match="max_episode_steps"):
        QuadrotorVectorEnv(2, max_episode_steps=0)
    with pytest.raises(ValueError, match="render_mode"):
        QuadrotorEnv(render_mode="human")
    with pytest.raises(ValueError, match="actions"):
        env = QuadrotorEnv()
        env.reset(seed=0)
        env.step(np.zeros(3, np.float32))


def test_render_rgb_array_and_trajectory_png(tmp_path):
    from rl.envs.render import plot_trajectory

    env = gymnasium.make(ENV_ID, render_mode="rgb_array")
    env.reset(seed=0)
    states = [env.unwrapped.state.numpy().copy()]
    for _ in range(20):
        env.step(np.full(4, CRAZYFLIE.hover_action, np.float32))
        states.append(env.unwrapped.state.numpy().copy())
    frame = env.render()
    assert frame.shape == (400, 400, 3) and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 20  # a drawing, not a blank canvas
    envs = QuadrotorVectorEnv(3, render_mode="rgb_array")
    envs.reset(seed=0)
    (vector_frame,) = envs.render()
    assert vector_frame.shape == (400, 400, 3)
    path = plot_trajectory(np.stack(states), tmp_path / "trajectory.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    cpu, gpu = QuadrotorVectorEnv(256), QuadrotorVectorEnv(256, device="cuda")
    a = _rollout(cpu, seed=12, steps=20)
    b = _rollout(gpu, seed=12, steps=20)
    for x, y in zip(a, b):
        torch.testing.assert_close(y.cpu(), x, rtol=1e-4, atol=1e-4)

"""The RL machinery on cheap, analytic cases: TD3's treatment of truncation and termination, the
sequence buffer, rollouts that never store reset rows, the warm-up mask and the actor's Q gradient."""
import copy

import pytest
import torch
from torch import nn

from rl.buffers import SequenceBuffer, TransitionBuffer
from rl.controllers import HoverController
from rl.envs.batch import POSITION_LIMIT, QuadrotorBatch
from rl.envs.quadrotor import RewardCoefficients, reward_terms
from rl.models import Guide, SpikingActor, TwinCritic
from rl.rollout import run_episodes
from rl.td3 import TD3, TD3Config
from rl.train import make_args, reward_from_obs, sequence_update


class LinearTwin(nn.Module):
    """Two linear Q functions: with one-hot features they are tables, so TD converges exactly and fast."""

    def __init__(self, obs_size):
        super().__init__()
        self.q1, self.q2 = nn.Linear(obs_size + 1, 1), nn.Linear(obs_size + 1, 1)

    def forward(self, obs, action):
        x = torch.cat([obs, action], -1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)

    def q1_only(self, obs, action):
        return self.q1(torch.cat([obs, action], -1)).squeeze(-1)


def _fit_q(time_feature: bool, terminate_at_limit: bool, gamma: float, limit: int, updates: int = 4000):
    """Critic of a constant policy on a chain of `limit` steps with reward 1 per step, time-limited at its
    end (terminated there if terminate_at_limit); observation: one-hot time, or nothing (a constant)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    td3 = TD3(nn.Linear(1, 1), LinearTwin(limit + 1), TD3Config(gamma=gamma, critic_lr=0.01, tau=0.2, policy_noise=0.0))
    t = torch.arange(limit)
    features = torch.eye(limit + 1) if time_feature else torch.zeros(limit + 1, limit + 1)
    buffer = TransitionBuffer(limit, obs_size=limit + 1, action_size=1)
    buffer.add(obs=features[t], action=torch.zeros(limit, 1), reward=torch.ones(limit), next_obs=features[t + 1],
               terminated=(t == limit - 1) & terminate_at_limit)
    for _ in range(updates):
        batch = buffer.sample(64, g)
        loss, _ = td3.critic_loss(batch["obs"], batch["action"], batch["reward"], batch["next_obs"],
                                  torch.zeros(64, 1), batch["terminated"], generator=g)
        td3.update_critic(loss)
        td3.soft_update()
    with torch.no_grad():
        return td3.critic.q1_only(features[t], torch.zeros(limit, 1))


def test_truncation_bootstraps_to_the_infinite_horizon_value():
    q = _fit_q(time_feature=False, terminate_at_limit=False, gamma=0.9, limit=20)
    assert torch.allclose(q, torch.full_like(q, 1 / (1 - 0.9)), atol=0.5)
    wrong = _fit_q(time_feature=False, terminate_at_limit=True, gamma=0.9, limit=20)  # time-outs as crashes
    assert (wrong < 1 / (1 - 0.9) - 2).all()


def test_termination_gives_the_steps_left():
    q = _fit_q(time_feature=True, terminate_at_limit=True, gamma=1.0, limit=20)
    assert torch.allclose(q, 20.0 - torch.arange(20), atol=0.5)  # undiscounted: Q(t) = steps left


def _episode(length, terminated, offset=0.0):
    rows = torch.arange(length + 1, dtype=torch.float32)[:, None] + offset
    return dict(obs=rows.expand(-1, 18).clone(), privileged_obs=rows.expand(-1, 146).clone(),
                action=rows[:-1].expand(-1, 4).clone(), reward=rows[:-1, 0].clone(),
                guide_acted=torch.arange(length) < 10, terminated=terminated)


def test_sequence_buffer_windows_masks_and_final_rows():
    buffer = SequenceBuffer(capacity=1000, window=10, warmup=5)
    buffer.add_episode(**_episode(23, terminated=True))
    buffer.add_episode(**_episode(12, terminated=False, offset=1000.0))
    assert buffer.transitions == 35
    windows = buffer.windows()
    assert windows[:, 0].tolist() == [0, 5, 10, 15, 24, 29]  # each step from the warm-up on in one loss region
    batch = buffer.sample(64, torch.Generator().manual_seed(0))
    for b in range(64):
        obs = batch["obs"][:, b, 0]
        first = obs[0].item()
        episode_end = 23 if first < 1000 else 1012
        steps = int(batch["valid"][:, b].sum())
        assert steps == min(10, episode_end - first)
        assert torch.equal(obs[: steps + 1], first + torch.arange(steps + 1.0))
        # past the episode's end: its final observation again, never the next episode's
        assert (obs[steps:] == first + steps).all() and (steps == 10 or first + steps == episode_end)
        assert batch["terminated"][:, b].sum() == int(first < 1000 and first + 10 >= 23)
        assert torch.equal(batch["loss_mask"][:, b], batch["valid"][:, b] & (torch.arange(10) >= 5))


def test_sequence_buffer_drops_oldest_when_full():
    buffer = SequenceBuffer(capacity=60, window=10, warmup=5)
    for i in range(4):
        buffer.add_episode(**_episode(20, terminated=False, offset=100.0 * i))
    # 21 rows each: episodes 2 and 3 overwrote 0 and 1 (oldest first)
    assert [e[0] for e in buffer.episodes] == [0, 21] and buffer.transitions == 40
    assert buffer.data["obs"][0, 0].item() == 200.0 and buffer.data["obs"][21, 0].item() == 300.0


def test_rollout_stores_no_reset_row_and_the_true_final_observation():
    """Sub-env 0: motors off, it falls out of the box; sub-env 1: the hover controller flies to the limit."""
    env = QuadrotorBatch(2, obs_noise=False, autoreset=False, max_episode_steps=150)
    controller = HoverController()
    motors_off = type("MotorsOff", (), {"step": staticmethod(lambda obs, state=None, record=False: (
        torch.full((len(obs), 4), -1.0), state))})()
    episodes = run_episodes(env, seed=3, actor=motors_off, guide=lambda priv: controller(priv[:, :18], priv),
                            roll_in=torch.tensor([0, 150]))
    crashed, survivor = episodes.split()
    length = len(crashed["reward"])
    assert episodes.terminated.tolist() == [True, False] and length < 150 == len(survivor["reward"])
    assert crashed["obs"].shape[0] == length + 1 and survivor["obs"].shape[0] == 151
    assert crashed["obs"][-1, :3].abs().max() > POSITION_LIMIT  # the crash itself, not a new start
    # replay the same seed step by step: the stored final row is the observation of the crashing step
    obs, info = env.reset(seed=3)
    for t in range(length):
        action = torch.stack([torch.full((4,), -1.0), controller(obs, info["privileged_obs"])[1]])
        torch.testing.assert_close(action, episodes.action[t], rtol=0, atol=0)
        obs, _, terminated, _, info = env.step(action)
    assert terminated[0] and torch.equal(crashed["obs"][-1], obs[0])


def test_buffer_reward_rescoring_matches_the_environment():
    env = QuadrotorBatch(64, obs_noise=False, curriculum_stage=4)
    env.reset(seed=1)
    action = torch.rand(64, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1
    _, reward, _, _, info = env.step(action)
    rescored = reward_from_obs(info["privileged_obs"], action, RewardCoefficients.for_stage(4))
    torch.testing.assert_close(rescored, reward, rtol=1e-5, atol=1e-5)
    final = sum(reward_terms(env.state, action, RewardCoefficients.for_stage(6)).values())
    torch.testing.assert_close(reward_from_obs(info["privileged_obs"], action, RewardCoefficients.for_stage(6)),
                               final, rtol=1e-5, atol=1e-5)


def _window_batch(window=20, warmup=10, batch=3):
    buffer = SequenceBuffer(capacity=2000, window=window, warmup=warmup)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        length = 40
        buffer.add_episode(obs=torch.randn(length + 1, 18, generator=g),
                           privileged_obs=torch.randn(length + 1, 146, generator=g),
                           action=torch.rand(length, 4, generator=g) * 2 - 1, reward=torch.rand(length, generator=g),
                           guide_acted=torch.ones(length, dtype=torch.bool), terminated=False)
    return buffer.sample(batch, g)


def test_warmup_mask_removes_the_first_steps_from_the_actor_loss():
    torch.manual_seed(0)
    td3 = TD3(SpikingActor(hidden=(16, 8)), TwinCritic())
    batch = _window_batch()
    policy = torch.zeros(20, 3, 4, requires_grad=True)
    loss, _ = td3.actor_loss(batch["privileged_obs"][:-1], torch.tanh(policy), batch["action"], bc_weight=0.2,
                             alpha=2.0, mask=batch["loss_mask"])
    (grad,) = torch.autograd.grad(loss, policy)
    assert grad[:10].abs().sum() == 0 and (grad[10:].abs().sum((1, 2)) > 0).all()


def test_actor_loss_leaves_the_critic_alone():
    """The actor loss's backward computes no critic gradients (wasted work) and the critic stays trainable."""
    torch.manual_seed(0)
    td3 = TD3(SpikingActor(hidden=(16, 8)), TwinCritic())
    batch = _window_batch()
    policy = torch.zeros(20, 3, 4, requires_grad=True)
    loss, _ = td3.actor_loss(batch["privileged_obs"][:-1], torch.tanh(policy), batch["action"], alpha=2.0)
    loss.backward()
    assert policy.grad.abs().sum() > 0
    assert all(p.grad is None and p.requires_grad for p in td3.critic.parameters())


def test_actor_gradient_flows_from_the_q_term():
    """Guards against the Q term evaluated at replay actions (only BC would then train the actor)."""
    torch.manual_seed(0)
    args = make_args("tiny", bc_weight=0.0, out="unused")
    args.td3.policy_delay = 1
    td3 = TD3(SpikingActor(hidden=(16, 8), slope=5.0), TwinCritic(), args.td3)
    batch = _window_batch(window=args.window, warmup=args.warmup)
    before = copy.deepcopy(td3.actor.state_dict())
    stats = sequence_update(td3, batch, args, 0.0, RewardCoefficients.for_stage(0), torch.Generator().manual_seed(1))
    assert stats["bc_term"] == 0.0 and stats["q_term"] != 0.0
    changed = [name for name, value in td3.actor.state_dict().items() if not torch.equal(value, before[name])]
    assert {"fc1.weight", "fc2.weight", "out.weight", "lif1.beta", "lif2.threshold"} <= set(changed)


def test_guide_and_actor_shapes():
    actor, guide = SpikingActor(), Guide()
    action, state = actor.step(torch.randn(5, 18))
    assert action.shape == (5, 4) and state[0].shape == (5, 256) and state[1].shape == (5, 128)
    assert guide(torch.randn(5, 146)).abs().max() <= 1
    assert sum(p.numel() for p in guide.parameters()) == 146 * 64 + 64 + 64 * 64 + 64 + 64 * 4 + 4


@pytest.mark.parametrize("name, value", [("method", "ppo"), ("slope_schedule", "cosine"), ("slope", 0.0),
                                         ("device", "tpu")])
def test_bad_arguments(name, value):
    with pytest.raises(ValueError, match=name):
        make_args("tiny", **{name: value})


def test_default_run_folders_of_presets_differ():
    """A paper run started after `make drone` must not land in (and be refused by) the quick run's folder."""
    assert make_args("quick").out == "runs/guided-adaptive-seed0"
    assert make_args("paper", method="bc", seed=3).out == "runs/paper-bc-adaptive-seed3"
    assert make_args("quick", out="elsewhere").out == "elsewhere"

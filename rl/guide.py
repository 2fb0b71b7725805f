"""Stage (a) of the recipe: train the privileged guide with TD3 until it hovers.

The guide (146 -> 64 -> 64 -> 4 tanh) sees the noise-free state and the last 32 actions; it is trained on
transitions from the batched environment (same-step autoreset, the true final observation as next
observation of a truncated step) and evaluated every `eval_every` updates on 20 episodes. Training stops
once at least `success_rate` of them survive the full episode.
"""
import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from .buffers import TransitionBuffer
from .envs.batch import QuadrotorBatch
from .models import Guide, TwinCritic
from .rollout import returns_of, run_episodes
from .td3 import TD3, TD3Config


@dataclass
class GuideConfig:
    num_envs: int = 32
    """sub-envs stepped together while collecting"""
    max_updates: int = 60_000
    """give up after this many gradient steps"""
    random_steps: int = 2_000
    """vector steps with uniform random actions before learning starts"""
    updates_per_step: int = 2
    """gradient steps per vector step (so per num_envs transitions)"""
    batch_size: int = 256
    buffer_size: int = 1_000_000
    explore_std: float = 0.1
    eval_every: int = 2_000
    eval_episodes: int = 20
    success_rate: float = 0.9
    """fraction of evaluation episodes that must survive all steps"""
    lr: float = 1e-3
    tau: float = 0.005
    gamma: float = 0.99
    max_steps: int = 500
    """episode length"""
    smoothness: float = 1.0
    """weight of the temporal smoothness term |pi(s) - pi(s')|^2 in the actor loss (CAPS, Mysore et al.
    2021), beside the Q term normalised by mean|Q|. Without it TD3 finds a hover that chatters with the
    action history, which a spiking actor that sees only the 18-value state cannot imitate"""


def train_guide(config: GuideConfig, seed: int, log: Optional[Callable[[str, float, int], None]] = None,
                progress: Optional[Callable[[int, dict], None]] = None, device="cpu") -> tuple:
    """Returns (guide, critic, report): the guide, its twin critic (Q of the guide's policy, a warm start
    for the spiking actor's critic) and the last evaluation with whether it hovers."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    td3 = TD3(Guide().to(device), TwinCritic().to(device),
              TD3Config(gamma=config.gamma, tau=config.tau, actor_lr=config.lr, critic_lr=config.lr))
    env = QuadrotorBatch(config.num_envs, device=device, obs_noise=False, max_episode_steps=config.max_steps)
    eval_env = QuadrotorBatch(config.eval_episodes, device=device, obs_noise=False, autoreset=False,
                              max_episode_steps=config.max_steps)
    buffer = TransitionBuffer(config.buffer_size)
    _, info = env.reset(seed=seed)
    obs = info["privileged_obs"].clone()
    updates, step, report = 0, 0, {"survived": 0.0}
    started, env_seconds = time.perf_counter(), 0.0
    while updates < config.max_updates:
        with torch.no_grad():
            if step < config.random_steps:
                action = (torch.rand(config.num_envs, 4, generator=generator) * 2 - 1).to(device)
            else:
                noise = torch.randn(config.num_envs, 4, generator=generator).to(device) * config.explore_std
                action = (td3.actor(obs) + noise).clamp(-1, 1)
        stepped = time.perf_counter()
        _, reward, terminated, truncated, info = env.step(action)
        env_seconds += time.perf_counter() - stepped
        done = terminated | truncated
        next_obs = torch.where(done[:, None], info["final_privileged_obs"], info["privileged_obs"])
        buffer.add(obs=obs, action=action, reward=reward, next_obs=next_obs, terminated=terminated)
        obs = info["privileged_obs"].clone()
        step += 1
        if step < config.random_steps:
            continue
        for _ in range(config.updates_per_step):
            batch = {k: v.to(device) for k, v in buffer.sample(config.batch_size, generator).items()}
            with torch.no_grad():
                next_action = td3.actor_target(batch["next_obs"])
            critic_loss, stats = td3.critic_loss(batch["obs"], batch["action"], batch["reward"], batch["next_obs"],
                                                 next_action, batch["terminated"], generator=generator)
            td3.update_critic(critic_loss)
            if td3.actor_due():
                action = td3.actor(batch["obs"])
                actor_loss, _ = td3.actor_loss(batch["obs"], action, alpha=1.0 if config.smoothness else None)
                if config.smoothness:
                    change = action - td3.actor(batch["next_obs"])
                    actor_loss = actor_loss + config.smoothness * (change ** 2).sum(-1).mean()
                td3.update_actor(actor_loss)
            updates += 1
            if updates % config.eval_every == 0:
                episodes = run_episodes(eval_env, seed=10**9 + updates, guide=td3.actor)
                env_seconds += episodes.env_seconds
                report = {"return": returns_of(episodes).mean().item(),
                          "survived": (~episodes.terminated).float().mean().item(),
                          "steps": episodes.length.float().mean().item(), "updates": updates,
                          "critic_loss": critic_loss.item(), "q": stats["q1"].item(),
                          "env_share": env_seconds / (time.perf_counter() - started)}
                if log:
                    for key in ("return", "survived", "steps", "critic_loss", "q", "env_share"):
                        log(f"guide/{key}", report[key], updates)
                if progress:
                    progress(updates, report)
                if report["survived"] >= config.success_rate:
                    return td3.actor, td3.critic, dict(report, hovers=True)
    return td3.actor, td3.critic, dict(report, hovers=False)

"""TD3 (Fujimoto et al. 2018) and its TD3+BC actor loss (Fujimoto & Gu 2021), independent of how actions
are produced: the trainers compute actions with an ANN on transitions or with the spiking actor on
sequences and pass them in. Bootstraps only through truncation: `terminated` zeroes the target's future,
a time-limit truncation stores the true final observation as next observation and bootstraps from it.
"""
import copy
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn


@dataclass
class TD3Config:
    gamma: float = 0.99
    """discount"""
    tau: float = 0.01
    """soft target update rate"""
    policy_noise: float = 0.2
    """std of the target policy smoothing noise"""
    noise_clip: float = 0.5
    """clip of the target policy smoothing noise"""
    policy_delay: int = 2
    """critic updates per actor (and target) update"""
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3


def masked_mean(x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    if mask is None:
        return x.mean()
    mask = mask.to(x.dtype)
    while mask.dim() < x.dim():
        mask = mask.unsqueeze(-1)
    return (x * mask).sum() / (mask.sum() * (x.numel() // mask.numel())).clamp(min=1)


class TD3:
    """Actor, twin critic, their target copies and optimizers."""

    def __init__(self, actor: nn.Module, critic: nn.Module, config: TD3Config = TD3Config()):
        self.config = config
        self.actor, self.critic = actor, critic
        self.actor_target, self.critic_target = copy.deepcopy(actor), copy.deepcopy(critic)
        for target in (self.actor_target, self.critic_target):
            target.requires_grad_(False)
        self.actor_optimizer = torch.optim.Adam(actor.parameters(), lr=config.actor_lr)
        self.critic_optimizer = torch.optim.Adam(critic.parameters(), lr=config.critic_lr)
        self.critic_updates = 0

    def smoothed(self, target_action: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Target policy smoothing: clipped Gaussian noise, then the action bounds [-1, 1]."""
        noise = torch.randn(target_action.shape, generator=generator).to(target_action.device)
        noise = (noise * self.config.policy_noise).clamp(-self.config.noise_clip, self.config.noise_clip)
        return (target_action + noise).clamp(-1.0, 1.0)

    def critic_loss(self, obs, action, reward, next_obs, next_target_action, terminated, mask=None,
                    generator=None):
        """Twin-critic TD loss with target y = r + gamma (1 - terminated) min_j Q'_j(s', smoothed a')."""
        with torch.no_grad():
            q1_next, q2_next = self.critic_target(next_obs, self.smoothed(next_target_action, generator))
            target = reward + self.config.gamma * (1.0 - terminated.float()) * torch.min(q1_next, q2_next)
        q1, q2 = self.critic(obs, action)
        loss = masked_mean((q1 - target) ** 2 + (q2 - target) ** 2, mask)
        return loss, {"q1": masked_mean(q1.detach(), mask), "target": masked_mean(target, mask)}

    def actor_loss(self, obs, policy_action, bc_action=None, bc_weight=0.0, alpha=None, mask=None):
        """-Q1(s, pi(s)), normalised by alpha / mean|Q| when alpha is set (TD3+BC), plus
        bc_weight * |pi(s) - a|^2, both over the steps of mask. The loss's graph holds no critic weights:
        its backward computes gradients for the actor only."""
        self.critic.requires_grad_(False)
        try:
            q = self.critic.q1_only(obs, policy_action)
        finally:
            self.critic.requires_grad_(True)
        q_term = -masked_mean(q, mask)
        if alpha is not None:
            q_term = q_term * alpha / masked_mean(q.abs(), mask).detach().clamp(min=1e-6)
        bc_term = torch.zeros((), device=q.device)
        if bc_action is not None and bc_weight > 0:
            bc_term = masked_mean(((policy_action - bc_action) ** 2).sum(-1), mask)
        return q_term + bc_weight * bc_term, {"q_term": q_term.detach(), "bc_term": bc_term.detach()}

    def step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def actor_due(self) -> bool:
        """Whether the delayed actor (and target) update is due after the last critic update."""
        return self.critic_updates % self.config.policy_delay == 0

    def update_critic(self, loss: torch.Tensor) -> None:
        self.step(self.critic_optimizer, loss)
        self.critic_updates += 1

    def update_actor(self, loss: torch.Tensor) -> None:
        self.step(self.actor_optimizer, loss)
        self.soft_update()

    @torch.no_grad()
    def soft_update(self) -> None:
        tau = self.config.tau
        for net, target in ((self.actor, self.actor_target), (self.critic, self.critic_target)):
            for p, tp in zip(net.parameters(), target.parameters()):
                tp.lerp_(p, tau)
            for b, tb in zip(net.buffers(), target.buffers()):
                tb.copy_(b)

    def state_dict(self) -> dict:
        return {name: getattr(self, name).state_dict() for name in (
            "actor", "critic", "actor_target", "critic_target", "actor_optimizer", "critic_optimizer")} | {
            "critic_updates": self.critic_updates}

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            if name == "critic_updates":
                self.critic_updates = value
            else:
                getattr(self, name).load_state_dict(value)

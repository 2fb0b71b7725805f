"""Reinforcement learning with spiking controllers; importing ``rl`` registers its gymnasium envs."""

from rl import envs  # noqa: F401  (registers snnkern/Quadrotor-v0)

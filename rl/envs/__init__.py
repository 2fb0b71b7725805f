"""Environments; importing this package registers ``snnkern/Quadrotor-v0`` with gymnasium."""

from gymnasium.envs.registration import register, registry

QUADROTOR_ID = "snnkern/Quadrotor-v0"

if QUADROTOR_ID not in registry:
    register(
        id=QUADROTOR_ID,
        entry_point="rl.envs.vector:QuadrotorEnv",
        vector_entry_point="rl.envs.vector:QuadrotorVectorEnv",
    )

"""Episode collection and evaluation with the guide and the spiking actor in the batched environment.

`run_episodes` plays one episode per sub-env from a seeded reset (no autoreset, so nothing of a next
episode is ever recorded): the guide acts for the first `roll_in[i]` steps of sub-env i, the spiking actor
afterwards, and the actor runs on every observation from step 0, so its state is warm at the hand-over
(jump-start). Either policy may be absent: roll_in 0 lets the actor fly alone from a zero state,
roll_in >= the episode length lets the guide fly alone.
"""
import time
from dataclasses import dataclass
from typing import List, Optional

import torch

from .envs.batch import QuadrotorBatch
from .envs.quadrotor import CURRICULUM_END, CURRICULUM_START, reward_terms

# Loihi energy figures (Davies et al. 2018) as the paper uses them, in pJ
SYNAPTIC_SPIKE_PJ, WITHIN_TILE_PJ, NEURON_UPDATE_PJ = 23.6, 1.7, 81.0


@dataclass
class Episodes:
    """Time-major records of one episode per sub-env; rows past an episode's end are garbage."""

    obs: torch.Tensor             # [T+1, n, 18] noisy actor observations; row L_i is the final one
    privileged_obs: torch.Tensor  # [T+1, n, 146]
    action: torch.Tensor          # [T, n, 4] the action taken
    guide_action: torch.Tensor    # [T, n, 4] the guide's action at every step, whoever acted (0: no guide)
    reward: torch.Tensor          # [T, n] under the env's coefficients
    guide_acted: torch.Tensor     # [T, n] bool
    length: torch.Tensor          # [n] steps L_i
    terminated: torch.Tensor      # [n] bool: ended by a crash (else by the time limit)
    returns: dict                 # name -> [n] returns under extra coefficient sets
    env_seconds: float            # host time spent in env.step (on a GPU: launch time only)
    spikes: Optional[list] = None  # per LIF layer, [n] total spikes during actor steps (record=True)
    actor_steps: Optional[torch.Tensor] = None  # [n] steps the actor acted (record=True)
    states: Optional[torch.Tensor] = None  # [T+1, n, 17] true states (record=True)

    def split(self) -> List[dict]:
        """Per sub-env episode records, ready for SequenceBuffer.add_episode."""
        out = []
        for i, length in enumerate(self.length.tolist()):
            out.append(dict(obs=self.obs[: length + 1, i], privileged_obs=self.privileged_obs[: length + 1, i],
                            action=self.action[:length, i], guide_action=self.guide_action[:length, i],
                            reward=self.reward[:length, i],
                            guide_acted=self.guide_acted[:length, i], terminated=bool(self.terminated[i])))
        return out


@torch.no_grad()
def run_episodes(env: QuadrotorBatch, seed: int, actor=None, guide=None, roll_in=None, explore_std: float = 0.0,
                 generator: Optional[torch.Generator] = None, record: bool = False,
                 extra_coefficients: Optional[dict] = None) -> Episodes:
    """One episode per sub-env of `env` (built with autoreset=False). roll_in: [n] int steps the guide
    acts (None: the guide throughout if there is one, else the actor). explore_std: Gaussian noise on the
    actor's actions. extra_coefficients: name -> RewardCoefficients whose returns are also computed."""
    n, horizon, device = env.num_envs, env.max_episode_steps, env.device
    if roll_in is None:
        roll_in = torch.full((n,), horizon if guide is not None else 0)
    roll_in = roll_in.to(device)
    if actor is None and bool((roll_in < horizon).any()):
        raise ValueError("roll_in shorter than the episode needs an actor")
    if guide is None and bool((roll_in > 0).any()):
        raise ValueError("a positive roll_in needs a guide")
    extra_coefficients = extra_coefficients or {}
    obs, info = env.reset(seed=seed)
    records = {"obs": [obs], "privileged_obs": [info["privileged_obs"].clone()], "action": [], "guide_action": [],
               "reward": [], "guide_acted": []}
    returns = {name: torch.zeros(n, device=device) for name in extra_coefficients}
    alive = torch.ones(n, dtype=torch.bool, device=device)
    length = torch.zeros(n, dtype=torch.int64, device=device)
    terminated = torch.zeros(n, dtype=torch.bool, device=device)
    spikes = None
    actor_steps = torch.zeros(n, device=device)
    states = [env.state.clone()] if record else None
    state = None
    privileged = info["privileged_obs"]
    env_seconds = 0.0
    for t in range(horizon):
        guide_acts = roll_in > t
        guide_action = guide(privileged) if guide is not None else torch.zeros(n, 4, device=device)
        action = guide_action if guide is not None else None
        if actor is not None:
            out = actor.step(obs, state, record=record)
            actor_action, state = out[0], out[1]
            if explore_std > 0:
                noise = torch.randn(actor_action.shape, generator=generator).to(device) * explore_std
                actor_action = (actor_action + noise).clamp(-1.0, 1.0)
            action = actor_action if action is None else torch.where(guide_acts[:, None], action, actor_action)
            if record:
                counted = alive & ~guide_acts
                layer_spikes = [torch.where(counted, s.reshape(n, -1).sum(1), 0.0) for s in out[2]]
                spikes = layer_spikes if spikes is None else [a + b for a, b in zip(spikes, layer_spikes)]
                actor_steps += counted
        # an ended sub-env is simulated on (no autoreset) but ignored: keep its action finite
        stepped = time.perf_counter()
        obs, reward, term, trunc, info = env.step(torch.where(alive[:, None], action, 0.0))
        env_seconds += time.perf_counter() - stepped
        privileged = info["privileged_obs"]
        if record:
            states.append(env.state.clone())
        for name, coefficients in extra_coefficients.items():
            returns[name] += torch.where(alive, sum(reward_terms(env.state, action, coefficients, env.params).values()), 0.0)
        records["obs"].append(obs)
        records["privileged_obs"].append(privileged.clone())
        records["action"].append(action)
        records["guide_action"].append(guide_action)
        records["reward"].append(reward)
        records["guide_acted"].append(guide_acts)
        ended = alive & (term | trunc)
        length[ended] = t + 1
        terminated |= ended & term
        alive &= ~ended
        if not bool(alive.any()):
            break
    stacked = {name: torch.stack(value) for name, value in records.items()}
    return Episodes(**stacked, length=length, terminated=terminated, returns=returns, env_seconds=env_seconds,
                    spikes=spikes, actor_steps=actor_steps if record else None,
                    states=torch.stack(states) if record else None)


def returns_of(episodes: Episodes) -> torch.Tensor:
    """Undiscounted return of each sub-env's episode under the env's coefficients."""
    steps = torch.arange(len(episodes.reward), device=episodes.reward.device)[:, None] < episodes.length[None]
    return torch.where(steps, episodes.reward, 0.0).sum(0)


def energy_per_inference(layer_sizes, sparsity: float) -> float:
    """The paper's Loihi estimate (supplement S4), in nJ, for layers (inputs, hidden1, hidden2, outputs):
    E = N1 (Pu + Nin Pw) + [Ps (1 - AS) N1 + N2 (Pu + N1 Pw)] + [Ps (1 - AS) N2 + Nout N2 Pw]."""
    n_in, n1, n2, n_out = layer_sizes
    pjoule = (n1 * (NEURON_UPDATE_PJ + n_in * WITHIN_TILE_PJ)
              + SYNAPTIC_SPIKE_PJ * (1 - sparsity) * n1 + n2 * (NEURON_UPDATE_PJ + n1 * WITHIN_TILE_PJ)
              + SYNAPTIC_SPIKE_PJ * (1 - sparsity) * n2 + n_out * n2 * WITHIN_TILE_PJ)
    return pjoule / 1000.0


def evaluate(actor, guide, episodes: int = 20, warmup: int = 50, seed: int = 10**9, obs_noise: bool = True,
             stage: int = 0, max_steps: int = 500, device="cpu") -> dict:
    """The paper's test: `episodes` episodes, the guide acting for the first `warmup` steps, then the
    actor; and the actor alone from a zero state. Returns under the current curriculum stage, the start
    and the final coefficients, survival steps, spike sparsity, synaptic operations and energy."""
    env = QuadrotorBatch(episodes, device=device, obs_noise=obs_noise, curriculum_stage=stage, autoreset=False,
                         max_episode_steps=max_steps)
    coefficients = {"start": CURRICULUM_START, "final": CURRICULUM_END}
    report, runs = {}, {}
    for name, roll_in in (("guided", warmup), ("alone", 0)):
        run = runs[name] = run_episodes(env, seed, actor, guide if roll_in else None, torch.full((episodes,), roll_in),
                                        record=True, extra_coefficients=coefficients)
        current = returns_of(run)
        report[name] = {
            "return": current.mean().item(), "return_std": current.std().item(),
            "return_start": run.returns["start"].mean().item(), "return_final": run.returns["final"].mean().item(),
            "return_final_std": run.returns["final"].std().item(),
            "steps": run.length.float().mean().item(), "survived": (~run.terminated).float().mean().item(),
        }
    run = runs["guided"]
    sizes = [actor.fc1.in_features, actor.fc1.out_features, actor.fc2.out_features, actor.out.out_features]
    steps = run.actor_steps.sum().clamp(min=1)
    rates = [float(s.sum() / steps / n) for s, n in zip(run.spikes, sizes[1:3])]
    sparsity = 1 - sum(r * n for r, n in zip(rates, sizes[1:3])) / sum(sizes[1:3])
    report["spike_rate"] = rates
    report["sparsity"] = sparsity
    report["synops_per_step"] = rates[0] * sizes[1] * sizes[2] + rates[1] * sizes[2] * sizes[3]
    report["energy_nj"] = energy_per_inference(sizes, sparsity)
    report["env_seconds"] = sum(r.env_seconds for r in runs.values())
    returns = returns_of(run)
    median = int((returns - returns.median()).abs().argmin())
    report["flight"] = run.states[: int(run.length[median]) + 1, median].cpu()  # [L+1, 17], median episode
    return report

"""`python -m bench training`: throughput of the drone recipe's spiking-actor update with snnkern against
the same actor built from snnTorch `Leaky` layers (the paper's library), side by side in one process,
and the environment's steps per second.

The actor update is the recipe's (rl.train.sequence_update with policy_delay 1): the target SNN over a
window of W + 1 steps, the twin critics on the steps after the warm-up, then BPTT of the actor through
the whole window with -alpha/mean|Q| Q1(s, pi(s)) + lambda_BC |pi(s) - a|^2, and both Adam steps. "actor
only" times just the actor's part (forward over the window, Q1, backward, Adam step), where the neuron
implementation makes the difference; the critics cost the same for both.
"""
import argparse
import datetime
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from bench.env_speed import measure_env_speed
from bench.kernels import RESULTS, machine_info, machine_slug
from rl.buffers import SequenceBuffer
from rl.envs.quadrotor import RewardCoefficients
from rl.models import ACTION_SIZE, OBS_SIZE, SpikingActor, TwinCritic
from rl.td3 import TD3
from rl.train import make_args, sequence_update


class SnnTorchActor(nn.Module):
    """The spiking actor written the snnTorch way: a loop over time, one `Leaky` call per layer and step,
    learnable per-neuron beta and threshold, fast-sigmoid surrogate (same semantics as rl.models)."""

    def __init__(self, hidden=(256, 128), slope=2.0):
        super().__init__()
        import snntorch
        from snntorch import surrogate

        def leaky(n):
            return snntorch.Leaky(beta=torch.rand(n), threshold=torch.rand(n), learn_beta=True, learn_threshold=True,
                                  spike_grad=surrogate.fast_sigmoid(slope=slope))

        self.fc1, self.lif1 = nn.Linear(OBS_SIZE, hidden[0]), leaky(hidden[0])
        self.fc2, self.lif2 = nn.Linear(hidden[0], hidden[1]), leaky(hidden[1])
        self.out = nn.Linear(hidden[1], ACTION_SIZE)

    def forward(self, obs, state=None):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        actions = []
        for x_t in obs:
            s1, mem1 = self.lif1(self.fc1(x_t), mem1)
            s2, mem2 = self.lif2(self.fc2(s1), mem2)
            actions.append(torch.tanh(self.out(s2)))
        return torch.stack(actions), (mem1, mem2)


def _batch(args, batch_size, seed=0):
    g = torch.Generator().manual_seed(seed)
    buffer = SequenceBuffer(capacity=40 * (args.max_steps + 1), window=args.window, warmup=args.warmup)
    for _ in range(40):
        length = args.max_steps
        buffer.add_episode(obs=torch.randn(length + 1, OBS_SIZE, generator=g),
                           privileged_obs=torch.randn(length + 1, 146, generator=g),
                           action=torch.rand(length, 4, generator=g) * 2 - 1, reward=torch.rand(length, generator=g),
                           guide_acted=torch.rand(length, generator=g) < 0.5, terminated=False)
    return buffer.sample(batch_size, g)


def _time(fn, seconds: float, min_runs: int = 3) -> float:
    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure_updates(batch_size: int, seconds: float) -> list:
    """Updates per second of the full update and of the actor part, for snnkern and snnTorch."""
    args = make_args("quick", out="unused")
    args.td3.policy_delay = 1
    batch = _batch(args, batch_size)
    coefficients = RewardCoefficients.for_stage(0)
    rows = []
    for library, make_actor in (("snnkern", lambda: SpikingActor(slope=2.0)), ("snnTorch", SnnTorchActor)):
        torch.manual_seed(0)
        td3 = TD3(make_actor(), TwinCritic(), args.td3)
        generator = torch.Generator().manual_seed(0)
        full = _time(lambda: sequence_update(td3, batch, args, 0.2, coefficients, generator), seconds)
        lo = args.warmup
        mask = batch["loss_mask"][lo:]

        def actor_only():
            policy, _ = td3.actor(batch["obs"][:-1])
            loss, _ = td3.actor_loss(batch["privileged_obs"][lo:-1], policy[lo:], batch["action"][lo:], 0.2,
                                     args.alpha, mask)
            td3.step(td3.actor_optimizer, loss)

        actor = _time(actor_only, seconds)
        rows.append({"library": library, "batch_windows": batch_size, "window": args.window,
                     "full_update_s": full, "full_updates_per_s": 1 / full,
                     "actor_update_s": actor, "actor_updates_per_s": 1 / actor})
    return rows


def markdown(result: dict) -> str:
    lines = [f"# Drone recipe training throughput, {result['date']}", "",
             f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, torch "
             f"{result['machine']['torch']}, {result['threads']} torch threads; {result['note']}. "
             f"Command: `{result['command']}`", "",
             "| library | windows x steps | full update | updates/s | actor update | actor updates/s |",
             "|---|---|---|---|---|---|"]
    for r in result["updates"]:
        lines.append(f"| {r['library']} | {r['batch_windows']} x {r['window']} | {r['full_update_s'] * 1e3:.0f} ms | "
                     f"{r['full_updates_per_s']:.2f} | {r['actor_update_s'] * 1e3:.0f} ms | {r['actor_updates_per_s']:.2f} |")
    ours, theirs = result["updates"]
    lines += ["", f"snnkern / snnTorch: {theirs['full_update_s'] / ours['full_update_s']:.1f}x full update, "
                  f"{theirs['actor_update_s'] / ours['actor_update_s']:.1f}x actor update.", "",
              "| environment batch | steps/s | steps per CPU-second |", "|---|---|---|"]
    for r in result["env"]:
        lines.append(f"| {r['batch']} | {r['steps_per_second']:,.0f} | {r['steps_per_cpu_second']:,.0f} |")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=int, default=64, help="windows per update (the quick preset's)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timing budget per measurement")
    parser.add_argument("--env-batches", type=int, nargs="+", default=[1, 1024, 65536])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, help="results folder (default bench/results/<machine>-<date>)")


def run(args: argparse.Namespace, argv) -> Path:
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine_info(torch.device("cpu"))
    date = datetime.date.today().isoformat()
    out = args.out or RESULTS / f"{machine_slug(info)}-{date}"
    out.mkdir(parents=True, exist_ok=True)
    result = {"date": date, "machine": info, "threads": torch.get_num_threads(),
              "command": "python -m bench " + " ".join(argv), "note": args.note,
              "updates": measure_updates(args.batch, args.seconds),
              "env": measure_env_speed(tuple(args.env_batches))}
    (out / "training.json").write_text(json.dumps(result, indent=2))
    text = markdown(result)
    (out / "training.md").write_text(text)
    print(text)
    return out

"""The drone recipe, top to bottom: a guide trained with TD3 on privileged inputs, then a spiking actor
trained by jump-started TD3+BC on sequences (DESIGN.md section 6), or one of the baselines with the same
code: BC and TD3+BC offline on guide rollouts, TD3 online on sequences without a guide.

A run folder holds config.json (the resolved Args), checkpoint.pt (written atomically after every
evaluation: models, optimizers, buffer, schedules and random generators, so `--resume` continues exactly),
metrics.jsonl, TensorBoard logs (tb/), and at the end learning_curve.png, flight.png and final_eval.json.
"""
import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

import snnkern
from snnkern import schedules

from .buffers import SequenceBuffer
from .envs.batch import QuadrotorBatch
from .envs.quadrotor import CRAZYFLIE, CURRICULUM_STAGES, RewardCoefficients
from .guide import GuideConfig, train_guide
from .models import Guide, SpikingActor, TwinCritic
from .rollout import evaluate, run_episodes
from .td3 import TD3, TD3Config

METHODS = ("guided", "bc", "td3bc", "td3")
SLOPE_SCHEDULES = ("fixed", "interval", "adaptive")


@dataclass
class Args:
    """Hyperparameters of a run; a preset fills them, the command line overrides a few."""

    preset: str = "quick"
    """quick | paper | tiny"""
    method: str = "guided"
    """guided (jump-started TD3+BC, the paper's method) | bc | td3bc | td3"""
    slope_schedule: str = "adaptive"
    """fixed | interval | adaptive"""
    slope: float = 2.0
    """the fixed slope, or the adaptive schedule's start"""
    seed: int = 0
    device: str = "cpu"
    out: str = ""
    """run folder (default runs/<method>-<schedule>-seed<seed>, prefixed with the preset unless quick)"""
    threads: int = 0
    """torch CPU threads (0: torch's default)"""
    # --- algorithm -------------------------------------------------------------------------------
    iterations: int = 60
    """collection + training cycles ("epochs")"""
    num_envs: int = 16
    """episodes collected per iteration"""
    utd: float = 0.015
    """gradient steps (critic updates) per environment step; offline methods count num_envs * max_steps
    environment steps per iteration"""
    batch_size: int = 64
    """windows per gradient step"""
    buffer_size: int = 400_000
    """transitions kept (rows)"""
    window: int = 100
    warmup: int = 50
    """steps at the start of a window (and of an evaluation episode) that only warm the SNN state up"""
    explore_std: float = 0.1
    """Gaussian noise on the spiking actor's actions while collecting"""
    alpha: float = 2.0
    """TD3+BC normalisation: the Q term is -alpha / mean|Q| * Q"""
    bc_weight: float = 0.2
    """lambda_BC at the start"""
    bc_decay: float = 0.99
    """lambda_BC is multiplied by this after every iteration"""
    bc_target: str = "guide"
    """BC toward: "guide", the guide's action at every step, also where the SNN flew (the guide labels the
    SNN's own states, as in DAgger); "buffer", the stored action, whoever took it (the paper's term)"""
    roll_in_start: int = 450
    """steps the guide flies at the start of training"""
    roll_in_fraction: float = 0.8
    """fraction of training over which the roll-in shrinks to the warm-up"""
    critic_from_guide: bool = True
    """start the critics from the guide's (Q of the guide's policy on the same privileged inputs)"""
    curriculum: bool = True
    """raise the reward coefficients in six steps over training"""
    eval_every: int = 5
    """iterations between evaluations (and checkpoints)"""
    eval_episodes: int = 20
    offline_episodes: int = 480
    """guide episodes of the BC / TD3+BC dataset"""
    max_steps: int = 500
    """episode length"""
    td3: TD3Config = field(default_factory=lambda: TD3Config(policy_delay=1))
    """the actor is updated with every critic step, as in the authors' code"""
    guide: GuideConfig = field(default_factory=GuideConfig)


PRESETS = {
    "quick": {},
    "paper": dict(iterations=1000, num_envs=9, utd=0.05, batch_size=350, buffer_size=2_000_000,
                  eval_every=10, offline_episodes=4000, roll_in_fraction=0.85,
                  guide=GuideConfig(max_updates=200_000)),
    "tiny": dict(iterations=4, num_envs=3, utd=0.01, batch_size=4, buffer_size=20_000, eval_every=2,
                 eval_episodes=2, offline_episodes=3, max_steps=120, window=20, warmup=10, roll_in_start=100,
                 guide=GuideConfig(num_envs=4, max_updates=6, random_steps=3, updates_per_step=1, batch_size=16,
                                   eval_every=3, eval_episodes=2, max_steps=120)),
}


def make_args(preset: str = "quick", **overrides) -> Args:
    """The Args of a preset with overrides (None values ignored); checks every choice."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    args = dataclasses.replace(Args(preset=preset), **values)
    if args.method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {args.method!r}")
    if args.bc_target not in ("guide", "buffer"):
        raise ValueError(f"bc_target must be guide or buffer, got {args.bc_target!r}")
    if args.slope_schedule not in SLOPE_SCHEDULES:
        raise ValueError(f"slope_schedule must be one of {SLOPE_SCHEDULES}, got {args.slope_schedule!r}")
    if not (math.isfinite(args.slope) and args.slope > 0):
        raise ValueError(f"slope must be > 0, got {args.slope}")
    if not (isinstance(args.threads, int) and args.threads >= 0):
        raise ValueError(f"threads must be an int >= 0 (0: torch's default), got {args.threads!r}")
    if args.device not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu or cuda, got {args.device!r}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda requested but torch sees no CUDA device")
    if not args.out:
        prefix = "" if preset == "quick" else f"{preset}-"  # a paper run never collides with a quick one
        args.out = f"runs/{prefix}{args.method}-{args.slope_schedule}-seed{args.seed}"
    return args


def make_slope_schedule(args: Args) -> schedules.SlopeSchedule:
    if args.slope_schedule == "fixed":
        return schedules.Fixed(args.slope)
    if args.slope_schedule == "interval":
        return schedules.Interval(total_steps=args.iterations, k_min=1.0, k_max=100.0)
    return schedules.Adaptive(k_start=args.slope, k_min=1.0, k_max=100.0, return_range=(0.0, 400.0))


def roll_in_length(args: Args, iteration: int) -> int:
    """Steps the guide flies before the hand-over: roll_in_start shrinking linearly to the warm-up
    over the first roll_in_fraction of training (guided); the warm-up (baselines' evaluation only)."""
    if args.method != "guided":
        return 0
    progress = min(iteration / max(args.roll_in_fraction * args.iterations, 1), 1.0)
    return round(args.roll_in_start + (args.warmup - args.roll_in_start) * progress)


def curriculum_stage(args: Args, iteration: int) -> int:
    return min(CURRICULUM_STAGES - 1, iteration * CURRICULUM_STAGES // args.iterations) if args.curriculum else 0


def reward_from_obs(next_privileged_obs: torch.Tensor, action: torch.Tensor, c: RewardCoefficients) -> torch.Tensor:
    """The environment's reward recomputed from the stored observation after the step and the action, so
    that the whole buffer is scored with the current curriculum coefficients. The orientation error
    1 - q_w^2 equals (3 - trace R) / 4 for the rotation matrix R of the observation."""
    p, v = next_privileged_obs[..., 0:3], next_privileged_obs[..., 12:15]
    trace = next_privileged_obs[..., 3] + next_privileged_obs[..., 7] + next_privileged_obs[..., 11]
    da = action.clamp(-1, 1) - CRAZYFLIE.hover_action
    return (c.survival - c.position * (p * p).sum(-1) - c.velocity * (v * v).sum(-1)
            - c.orientation * (3.0 - trace) / 4.0 - c.action * (da * da).sum(-1))


def guide_path(args: Args) -> Path:
    """Guides are cached by seed and guide configuration and reused across runs."""
    key = hashlib.sha256(json.dumps(dataclasses.asdict(args.guide), sort_keys=True).encode()).hexdigest()[:10]
    return Path(args.out).parent / "guides" / f"guide-seed{args.seed}-{key}.pt"


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temporary file, fsync, then rename: a crash leaves the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_text_atomic(text: str, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def sequence_update(td3: TD3, batch: dict, args: Args, bc_weight: float, coefficients: RewardCoefficients,
                    generator: torch.Generator) -> dict:
    """One gradient step on a batch of windows: the critics on the steps after the warm-up (the target
    SNN's actions for the next observations, rewards rescored with the current coefficients), then, when
    the delayed update is due, the actor with BPTT through the whole window and the loss on the steps
    after the warm-up: -alpha/mean|Q| Q1(s, pi(s)) + bc_weight |pi(s) - a|^2 (guided, td3bc), -Q1 (td3),
    or the BC term alone (bc). Q is evaluated at the actor's output, never at the stored action."""
    lo = args.warmup
    obs, priv, mask, action = batch["obs"], batch["privileged_obs"], batch["loss_mask"][lo:], batch["action"][lo:]
    bc_action = batch["guide_action"][lo:] if args.bc_target == "guide" else action
    if args.method == "bc":
        policy, _ = td3.actor(obs[:-1])
        loss = (((policy[lo:] - bc_action) ** 2).sum(-1) * mask).sum() / mask.sum().clamp(min=1)
        td3.update_actor(loss)
        return {"actor_loss": loss.item()}
    with torch.no_grad():
        target_actions, _ = td3.actor_target(obs)
    reward = reward_from_obs(priv[lo + 1:], action, coefficients)
    critic_loss, critic_stats = td3.critic_loss(priv[lo:-1], action, reward, priv[lo + 1:], target_actions[lo + 1:],
                                                batch["terminated"][lo:], mask, generator)
    td3.update_critic(critic_loss)
    stats = {"critic_loss": critic_loss.item(), "q": critic_stats["q1"].item()}
    if td3.actor_due():
        policy, _ = td3.actor(obs[:-1])
        alpha = None if args.method == "td3" else args.alpha
        actor_loss, terms = td3.actor_loss(priv[lo:-1], policy[lo:], bc_action, bc_weight, alpha, mask)
        td3.update_actor(actor_loss)
        stats.update(actor_loss=actor_loss.item(), q_term=terms["q_term"].item(), bc_term=terms["bc_term"].item())
    return stats


def load_or_train_guide(args: Args, writer, show_progress: bool):
    """Stage (a): the cached guide of this seed and configuration, or a new one trained with TD3.
    Returns (guide, the state_dict of the guide's twin critic)."""
    path = guide_path(args)
    if path.exists():
        saved = torch.load(path, weights_only=True, map_location=args.device)
        guide = Guide().to(args.device)
        guide.load_state_dict(saved["state_dict"])
        return guide.requires_grad_(False), saved["critic"]
    from tqdm import tqdm
    bar = tqdm(total=args.guide.max_updates, desc="guide (TD3)", unit="upd", disable=not show_progress)

    def progress(updates, report):
        bar.update(updates - bar.n)
        bar.set_postfix(ret=f"{report['return']:.0f}", survived=f"{report['survived']:.0%}")

    trained, critic, report = train_guide(args.guide, args.seed, log=writer.add_scalar, progress=progress,
                                          device=args.device)
    bar.close()
    if not report["hovers"]:
        print(f"warning: the guide did not reach {args.guide.success_rate:.0%} survival in "
              f"{args.guide.max_updates} updates (last evaluation: {report}); continuing with it")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomic({"state_dict": trained.state_dict(), "critic": critic.state_dict(), "report": report,
                 "config": dataclasses.asdict(args.guide)}, path)
    return trained.requires_grad_(False), critic.state_dict()


def collect_seed(args: Args, iteration: int) -> int:
    """Environment seed of an iteration's collection: distinct lanes for every iteration and run."""
    return (args.seed * 100_003 + iteration) * args.num_envs


def eval_seed(args: Args) -> int:
    """The same evaluation episodes at every evaluation of a run (a fair learning curve)."""
    return 10**12 + args.seed * 1_000


def train(args: Args, resume: bool = False, show_progress: bool = True) -> dict:
    """Run (or resume) the recipe in args.out; returns the final evaluation."""
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    out = Path(args.out)
    checkpoint_path = out / "checkpoint.pt"
    if resume and not checkpoint_path.exists():
        raise FileNotFoundError(f"--resume: no checkpoint in {out}")
    if not resume and checkpoint_path.exists():
        raise FileExistsError(f"{out} already holds a run: pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoint = torch.load(checkpoint_path, weights_only=False, map_location="cpu") if resume else None
    if checkpoint is not None:
        args = checkpoint["args"]
    write_text_atomic(json.dumps(dataclasses.asdict(args), indent=2), out / "config.json")
    writer = SummaryWriter(out / "tb", purge_step=checkpoint["iteration"] if checkpoint else None)
    if checkpoint is None:
        writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(
            f"|{k}|{v}|" for k, v in dataclasses.asdict(args).items()))

    # ---- stage (a): the guide
    guide, guide_critic = load_or_train_guide(args, writer, show_progress)

    # ---- the spiking actor, its critics, the replay buffer, the schedules
    torch.manual_seed(args.seed)
    actor = SpikingActor(slope=args.slope).to(args.device)
    td3 = TD3(actor, TwinCritic().to(args.device), args.td3)
    buffer = SequenceBuffer(args.buffer_size, args.window, args.warmup)
    slope_schedule = make_slope_schedule(args)
    collect_generator = torch.Generator().manual_seed(args.seed + 1)
    sample_generator = torch.Generator().manual_seed(args.seed + 2)
    run = {"iteration": 0, "bc_weight": args.bc_weight if args.method != "td3" else 0.0, "env_steps": 0,
           "updates": 0, "update_credit": 0.0, "elapsed": 0.0, "eval_seconds": 0.0, "env_seconds": 0.0,
           "metrics": []}
    online = args.method in ("guided", "td3")
    env = QuadrotorBatch(args.num_envs, device=args.device, autoreset=False, max_episode_steps=args.max_steps)

    if args.critic_from_guide and args.method != "td3":  # TD3 learns without any help of the guide
        td3.critic.load_state_dict(guide_critic)
        td3.critic_target.load_state_dict(guide_critic)
    if checkpoint is not None:
        td3.load_state_dict(checkpoint["td3"])
        buffer.load_state_dict(checkpoint["buffer"])
        slope_schedule.load_state_dict(checkpoint["slope_schedule"])
        collect_generator.set_state(checkpoint["generators"][0])
        sample_generator.set_state(checkpoint["generators"][1])
        torch.set_rng_state(checkpoint["torch_rng"])
        run = checkpoint["run"]
    elif not online:  # BC / TD3+BC: a fixed dataset of guide episodes
        offline_env = QuadrotorBatch(args.offline_episodes, device=args.device, autoreset=False,
                                     max_episode_steps=args.max_steps)
        for episode in run_episodes(offline_env, seed=collect_seed(args, 0), guide=guide).split():
            buffer.add_episode(**episode)
        run["env_steps"] = buffer.transitions

    bar = tqdm(range(run["iteration"], args.iterations), initial=run["iteration"], total=args.iterations,
               desc=f"{args.method} SNN", unit="it", disable=not show_progress)
    stats = {}
    for iteration in bar:
        started = time.perf_counter()
        stage = curriculum_stage(args, iteration)
        coefficients = RewardCoefficients.for_stage(stage)
        env.set_curriculum_stage(stage)
        roll_in = roll_in_length(args, iteration)
        k = slope_schedule.update(iteration)
        snnkern.set_slope(td3.actor, k)
        snnkern.set_slope(td3.actor_target, k)

        # ALGO LOGIC: collection (jump-start: the guide flies the first roll_in steps, the SNN warms up)
        if online:
            episodes = run_episodes(env, collect_seed(args, iteration), actor, guide if roll_in else None,
                                    torch.full((args.num_envs,), roll_in), args.explore_std, collect_generator)
            for episode in episodes.split():
                buffer.add_episode(**episode)
            collected_steps = int(episodes.length.sum())
            run["env_steps"] += collected_steps
            run["env_seconds"] += episodes.env_seconds
        collected = time.perf_counter()

        # ALGO LOGIC: gradient steps on windows; losses on the steps after the warm-up
        run["update_credit"] += args.utd * (collected_steps if online else args.num_envs * args.max_steps)
        updates = int(run["update_credit"])
        run["update_credit"] -= updates
        for _ in range(updates):
            batch = {k: v.to(args.device) for k, v in buffer.sample(args.batch_size, sample_generator).items()}
            stats.update(sequence_update(td3, batch, args, run["bc_weight"], coefficients, sample_generator))
        run["updates"] += updates
        run["bc_weight"] *= args.bc_decay
        run["iteration"] = iteration + 1
        finished = time.perf_counter()
        run["elapsed"] += finished - started
        for name, value in {**{f"losses/{k_}": v for k_, v in stats.items()}, "schedule/slope": k,
                            "schedule/bc_weight": run["bc_weight"], "schedule/roll_in": roll_in,
                            "schedule/curriculum_stage": stage,
                            "perf/env_steps_per_s": collected_steps / max(collected - started, 1e-9) if online else 0.0,
                            "perf/updates_per_s": updates / max(finished - collected, 1e-9)}.items():
            writer.add_scalar(name, value, iteration + 1)

        # evaluation, slope schedule, checkpoint
        if (iteration + 1) % args.eval_every == 0 or iteration + 1 == args.iterations:
            report = evaluate(td3.actor, guide, args.eval_episodes, args.warmup, eval_seed(args),
                              stage=stage, max_steps=args.max_steps, device=args.device)
            run["eval_seconds"] += time.perf_counter() - finished
            run["env_seconds"] += report["env_seconds"]
            slope_schedule.update(iteration + 1, eval_return=report["guided"]["return"])
            record = {"iteration": iteration + 1, "env_steps": run["env_steps"], "updates": run["updates"],
                      "seconds": round(run["elapsed"], 1), "slope": k, "bc_weight": run["bc_weight"],
                      "env_share": run["env_seconds"] / (run["elapsed"] + run["eval_seconds"]),
                      "roll_in": roll_in, "stage": stage, **stats,
                      **{f"{mode}_{key}": value for mode in ("guided", "alone") for key, value in report[mode].items()},
                      "spike_rate": report["spike_rate"], "sparsity": report["sparsity"],
                      "synops_per_step": report["synops_per_step"], "energy_nj": report["energy_nj"]}
            run["metrics"].append(record)
            for name in ("guided_return", "guided_return_start", "guided_return_final", "guided_steps",
                         "alone_return", "alone_steps", "sparsity"):
                writer.add_scalar(f"charts/{name}", record[name], iteration + 1)
            writer.add_scalar("perf/env_share", record["env_share"], iteration + 1)
            for layer, rate in enumerate(report["spike_rate"], 1):
                writer.add_scalar(f"spikes/layer{layer}_rate", rate, iteration + 1)
            writer.flush()
            bar.set_postfix(ret=f"{record['guided_return']:.0f}", k=f"{k:.1f}", h=roll_in)
            save_atomic({"args": args, "iteration": iteration + 1, "td3": td3.state_dict(),
                         "buffer": buffer.state_dict(), "slope_schedule": slope_schedule.state_dict(),
                         "generators": (collect_generator.get_state(), sample_generator.get_state()),
                         "torch_rng": torch.get_rng_state(), "run": run, "guide": guide.state_dict(),
                         "flight": report["flight"]}, checkpoint_path)
            write_text_atomic("".join(json.dumps(m) + "\n" for m in run["metrics"]), out / "metrics.jsonl")
    bar.close()
    writer.close()
    final = run["metrics"][-1]
    write_text_atomic(json.dumps(final, indent=2), out / "final_eval.json")
    from .plots import plot_run
    plot_run(out)
    return final

"""`snnkern-drone`: train, evaluate and plot spiking quadrotor controllers.

  snnkern-drone train --preset quick|paper [--method guided|bc|td3bc|td3]
                      [--slope-schedule fixed|interval|adaptive] [--slope K] [--seed N]
                      [--device cpu|cuda] [--out DIR] [--resume]
  snnkern-drone eval CHECKPOINT [--episodes 20]
  snnkern-drone plot RUN_DIR
  snnkern-drone sweep [--preset quick] [--method guided] [--schedules fixed:2 fixed:50 fixed:100 interval adaptive]
                      [--seeds 0 1 2] [--out runs/sweep] [--ray]
"""
import argparse
import json
import sys
from pathlib import Path

from snnkern.cli import positive_int


def _train(a) -> int:
    from .train import make_args, train

    if a.resume:
        if a.out is None:
            raise ValueError("--resume needs --out RUN_DIR (the folder of the run to continue)")
        given = [f"--{name.replace('_', '-')}" for name in ("method", "slope_schedule", "slope", "seed")
                 if getattr(a, name) is not None]
        if given:
            raise ValueError(f"--resume continues the run with the configuration it was started with; drop "
                             f"{', '.join(given)}")
    args = make_args(a.preset, method=a.method, slope_schedule=a.slope_schedule, slope=a.slope, seed=a.seed,
                     device=a.device, out=a.out, threads=a.threads)
    final = train(args, resume=a.resume)
    print(f"run folder: {args.out}")
    print(json.dumps({k: final[k] for k in ("guided_return_start", "guided_return", "guided_return_std",
                                             "guided_return_final", "guided_steps", "guided_survived",
                                             "alone_return", "sparsity", "energy_nj")}, indent=2))
    return 0


def _eval(a) -> int:
    import torch

    from .models import Guide, SpikingActor
    from .rollout import evaluate

    if not Path(a.checkpoint).is_file():
        raise ValueError(f"{a.checkpoint} is not a checkpoint file (a run folder holds checkpoint.pt)")
    checkpoint = torch.load(a.checkpoint, weights_only=False, map_location="cpu")
    args = checkpoint["args"]
    actor, guide = SpikingActor(), Guide()
    actor.load_state_dict(checkpoint["td3"]["actor"])
    guide.load_state_dict(checkpoint["guide"])
    report = evaluate(actor, guide, a.episodes, args.warmup, seed=a.seed, max_steps=args.max_steps)
    report.pop("flight")
    print(json.dumps(report, indent=2))
    return 0


def _plot(a) -> int:
    from .plots import plot_run

    for path in plot_run(Path(a.run_dir)):
        print(path)
    return 0


def _sweep(a) -> int:
    from .sweep import sweep

    sweep(a.preset, a.method, a.schedules, a.seeds, a.out, use_ray=a.ray, threads=a.threads)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="snnkern-drone", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a spiking controller (the guide first, cached per seed)")
    train.add_argument("--preset", default="quick", choices=("quick", "paper", "tiny"),
                       help="quick: about 20 min on 2 CPU cores; paper: the paper's sizes (hours); tiny: a smoke test")
    train.add_argument("--method", choices=("guided", "bc", "td3bc", "td3"),
                       help="guided: jump-started TD3+BC (default); bc, td3bc: offline on guide episodes; "
                            "td3: online without a guide")
    train.add_argument("--slope-schedule", choices=("fixed", "interval", "adaptive"),
                       help="surrogate slope over training (default adaptive)")
    train.add_argument("--slope", type=float, help="fixed slope, or the adaptive schedule's start (default 2)")
    train.add_argument("--seed", type=int, help="default 0")
    train.add_argument("--device", choices=("cpu", "cuda"), help="default cpu")
    train.add_argument("--out", help="run folder (default runs/<method>-<schedule>-seed<seed>, for the paper and "
                                     "tiny presets runs/<preset>-...); the guide is cached in guides/ next to it")
    train.add_argument("--threads", type=positive_int, help="torch CPU threads (default: torch's)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train.set_defaults(run=_train)
    ev = sub.add_parser("eval", help="evaluate a checkpoint as the paper does")
    ev.add_argument("checkpoint")
    ev.add_argument("--episodes", type=positive_int, default=20)
    ev.add_argument("--seed", type=int, default=2**40, help="seed of the evaluation episodes")
    ev.set_defaults(run=_eval)
    plot = sub.add_parser("plot", help="learning curve and flight PNGs of a run folder")
    plot.add_argument("run_dir")
    plot.set_defaults(run=_plot)
    sw = sub.add_parser("sweep", help="several slope schedules x seeds, and the bar plot of the paper's Fig. 3")
    sw.add_argument("--preset", default="quick", choices=("quick", "paper", "tiny"))
    sw.add_argument("--method", default="guided", choices=("guided", "bc", "td3bc", "td3"))
    sw.add_argument("--schedules", nargs="+", default=["fixed:2", "fixed:50", "fixed:100", "interval", "adaptive"],
                    help="fixed:K, interval or adaptive[:K start]")
    sw.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    sw.add_argument("--out", default="runs/sweep")
    sw.add_argument("--threads", type=positive_int, help="torch CPU threads per run (and CPUs per Ray trial)")
    sw.add_argument("--ray", action="store_true", help="spread the runs over a Ray cluster with Ray Tune")
    sw.set_defaults(run=_sweep)
    a = parser.parse_args(argv)
    import snnkern
    snnkern.keep_freed_memory()  # this process trains for minutes: reuse freed memory, no page faults
    try:
        return a.run(a)
    except (ValueError, FileExistsError, FileNotFoundError) as error:  # the user's input: no traceback
        parser.error(str(error))


if __name__ == "__main__":
    sys.exit(main())

"""`snnkern-drone sweep`: the drone recipe for several surrogate-slope schedules x seeds, and the paper's
third figure: best evaluation return and environment steps to a return of 100, per schedule, as bars with
the spread over seeds.

Runs go one after another in this process by default; a finished run (final_eval.json present) is kept,
an interrupted one resumed. With `--ray` they are spread over a Ray cluster with Ray Tune (the cluster
`ray.init` finds: a local one, or RAY_ADDRESS), each run in its own folder of the sweep.
"""
import json
import statistics
from pathlib import Path
from typing import List, Optional, Sequence

from .train import make_args, train

EWM_SPAN = 30
"""span of the exponential moving average applied before looking for the first return of 100 (as the
authors' figure script does)"""


def parse_schedule(text: str) -> dict:
    """"fixed:K" | "interval" | "adaptive" | "adaptive:K" (start) -> make_args overrides."""
    name, _, slope = text.partition(":")
    if name not in ("fixed", "interval", "adaptive") or (name == "interval" and slope):
        raise ValueError(f"schedule must be fixed:K, interval or adaptive[:K], got {text!r}")
    if name == "fixed" and not slope:
        raise ValueError(f"a fixed schedule needs its slope, e.g. fixed:2, got {text!r}")
    return {"slope_schedule": name, **({"slope": float(slope)} if slope else {})}


def run_dir(out: Path, schedule: str, seed: int) -> Path:
    return Path(out) / f"{schedule.replace(':', '-k')}-seed{seed}"


def run_one(preset: str, method: str, schedule: str, seed: int, out: str, threads: Optional[int] = None,
            show_progress: bool = True) -> dict:
    """One run of the sweep (resumed if interrupted, kept if finished); returns its final evaluation."""
    folder = run_dir(Path(out), schedule, seed)
    if (folder / "final_eval.json").exists():
        return json.loads((folder / "final_eval.json").read_text())
    args = make_args(preset, method=method, seed=seed, out=str(folder), threads=threads, **parse_schedule(schedule))
    return train(args, resume=(folder / "checkpoint.pt").exists(), show_progress=show_progress)


def run_with_ray(preset: str, method: str, schedules: Sequence[str], seeds: Sequence[int], out: str,
                 threads: Optional[int]) -> None:
    try:
        from ray import tune
    except ImportError as error:
        raise SystemExit(f"--ray needs Ray Tune: pip install 'ray[tune]' ({error})") from error
    out = str(Path(out).resolve())

    def trainable(config):
        final = run_one(preset, method, config["schedule"], config["seed"], out, threads, show_progress=False)
        return {"guided_return": final["guided_return"]}

    resources = tune.with_resources(trainable, {"cpu": threads or 1})
    space = {"schedule": tune.grid_search(list(schedules)), "seed": tune.grid_search(list(seeds))}
    tune.Tuner(resources, param_space=space,
               run_config=tune.RunConfig(name="snnkern-sweep", storage_path=str(Path(out) / "ray"))).fit()


def ewm(values: List[float], span: int = EWM_SPAN) -> List[float]:
    alpha, out = 2 / (span + 1), []
    for value in values:
        out.append(value if not out else alpha * value + (1 - alpha) * out[-1])
    return out


def summarize(out, schedules: Sequence[str], seeds: Sequence[int]) -> dict:
    """Per schedule: best return (mean and std over seeds of each run's best evaluation return) and the
    environment steps at which the smoothed seed-mean return first exceeds 100 (None: never)."""
    summary = {}
    for schedule in schedules:
        curves = []
        for seed in seeds:
            path = run_dir(Path(out), schedule, seed) / "metrics.jsonl"
            curves.append([json.loads(line) for line in path.read_text().splitlines() if line.strip()])
        best = [max(m["guided_return"] for m in curve) for curve in curves]
        length = min(len(curve) for curve in curves)
        mean_curve = ewm([statistics.mean(curve[i]["guided_return"] for curve in curves) for i in range(length)])
        steps = [statistics.mean(curve[i]["env_steps"] for curve in curves) for i in range(length)]
        reached = next((s for s, r in zip(steps, mean_curve) if r > 100), None)
        summary[schedule] = {"best_return": statistics.mean(best),
                             "best_return_std": statistics.stdev(best) if len(best) > 1 else 0.0,
                             "steps_to_100": reached, "seeds": list(seeds)}
    return summary


def plot_summary(summary: dict, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(summary)
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    left, right = fig.add_subplot(121), fig.add_subplot(122)
    left.bar(names, [summary[n]["best_return"] for n in names], yerr=[summary[n]["best_return_std"] for n in names],
             capsize=4, color="tab:blue")
    left.set_ylabel("best evaluation return (mean over seeds)")
    steps = [summary[n]["steps_to_100"] for n in names]
    right.bar(names, [s or 0 for s in steps], color=["tab:orange" if s else "lightgray" for s in steps])
    for i, s in enumerate(steps):
        if s is None:
            right.text(i, 0, "never", ha="center", va="bottom")
    right.set_ylabel("environment steps to a return of 100")
    for ax in (left, right):
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def sweep(preset: str, method: str, schedules: Sequence[str], seeds: Sequence[int], out: str, use_ray: bool = False,
          threads: Optional[int] = None) -> dict:
    for schedule in schedules:
        parse_schedule(schedule)  # every name checked before hours of training start
    if use_ray:
        run_with_ray(preset, method, schedules, seeds, out, threads)
    else:
        for schedule in schedules:
            for seed in seeds:
                run_one(preset, method, schedule, seed, out, threads)
    summary = summarize(out, schedules, seeds)
    (Path(out) / "sweep.json").write_text(json.dumps(summary, indent=2))
    lines = ["| schedule | best return | steps to 100 |", "|---|---|---|"]
    for name, s in summary.items():
        reached = "never" if s["steps_to_100"] is None else f"{s['steps_to_100']:,.0f}"
        lines.append(f"| {name} | {s['best_return']:.0f} ± {s['best_return_std']:.0f} | {reached} |")
    (Path(out) / "sweep.md").write_text("\n".join(lines) + "\n")
    plot_summary(summary, Path(out) / "sweep.png")
    print("\n".join(lines))
    return summary

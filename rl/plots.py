"""Pictures of a run folder: the learning curve and a 3D plot of an evaluation flight."""
import json
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .envs.render import plot_trajectory


def read_metrics(run_dir: Path) -> list:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has no metrics.jsonl: is it a run folder?")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_learning_curve(metrics: list, path: Path, title: str = "") -> Path:
    """Evaluation return against environment steps (guided test, final coefficients, SNN alone), with
    survival steps and the surrogate slope below."""
    steps = [m["env_steps"] for m in metrics]
    fig = Figure(figsize=(9, 7), dpi=100)
    FigureCanvasAgg(fig)
    top, bottom = fig.add_subplot(211), fig.add_subplot(212)
    for key, label in (("guided_return", "guide warm-up, then SNN (current coefficients)"),
                       ("guided_return_start", "same, start coefficients"),
                       ("guided_return_final", "same, final coefficients"),
                       ("alone_return", "SNN alone from a zero state")):
        top.plot(steps, [m[key] for m in metrics], marker="o", markersize=3, label=label)
    top.fill_between(steps, [m["guided_return"] - m["guided_return_std"] for m in metrics],
                     [m["guided_return"] + m["guided_return_std"] for m in metrics], alpha=0.2)
    top.set_ylabel("mean evaluation return")
    top.set_title(title)
    top.legend(fontsize=8)
    top.grid(alpha=0.3)
    bottom.plot(steps, [m["guided_steps"] for m in metrics], color="tab:green", label="survival steps (guided)")
    bottom.set_ylabel("steps")
    bottom.set_xlabel("environment steps")
    slope = bottom.twinx()
    slope.plot(steps, [m["slope"] for m in metrics], color="tab:red", label="surrogate slope k")
    slope.set_ylabel("slope k")
    bottom.legend(loc="lower left", fontsize=8)
    slope.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def plot_run(run_dir) -> list:
    """learning_curve.png and flight.png in the run folder; returns their paths."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    title = f"{config['method']} / {config['slope_schedule']} slope / seed {config['seed']}"
    paths = [plot_learning_curve(metrics, run_dir / "learning_curve.png", title)]
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=False, map_location="cpu")
    last = metrics[-1]
    paths.append(plot_trajectory(checkpoint["flight"].numpy(), run_dir / "flight.png",
                                 title=f"evaluation flight with the median return (guide for the first 50 steps), "
                                       f"iteration {last['iteration']}, mean return {last['guided_return']:.0f}"))
    return paths

"""Surrogate-slope gradient analysis (DESIGN.md §7; the paper's Fig. 1).

For one model and identical weights, the gradient is computed at several surrogate slopes k; per parameter
(layer) it reports the mean |gradient| and the cosine similarity to the gradient at a steep reference slope,
which stands in for the true gradient, both averaged over random draws of inputs and targets. Shallow
slopes carry larger gradients into the early layers, but in a direction that agrees less with the reference.

    model = paper_network()                                       # 4 x (Linear 64 + LIF 64) + linear readout
    result = slope_gradient_analysis(model, gaussian_batches(63, 64), draws=100)
    print(format_slope_analysis(result)); plot_slope_analysis(result, "slopes.png")

Any model with `snnkern.nn.LIF` layers works: the slope of every LIF in a copy of it is set with
`snnkern.set_slope`.
"""
import copy
from typing import Callable, Dict, Optional, Sequence

import torch
import torch.nn.functional as F

from .nn import LIF, set_slope

PAPER_SLOPES = (1, 10, 25, 50, 100)


class SpikingMLP(torch.nn.Module):
    """The paper's analysis network: x [B, inputs] is presented for `steps` time steps to `depth` layers of
    (Linear `width` + LIF `width`) and a linear readout, whose outputs are summed over the steps.

    The LIF layers are the paper's neuron (snnTorch `Leaky` defaults: delayed, detached subtract reset;
    fast-sigmoid surrogate; per-neuron learnable decay and threshold initialised U[0, 1))."""

    def __init__(self, inputs: int = 63, width: int = 64, depth: int = 4, outputs: int = 64, steps: int = 2,
                 slope: float = 25.0):
        super().__init__()
        self.steps = steps
        sizes = [inputs] + [width] * depth
        self.linears = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.lifs = torch.nn.ModuleList(LIF(width, reset_delay=True, detach_reset=True, slope=slope)
                                        for _ in range(depth))
        self.readout = torch.nn.Linear(width, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(0).expand(self.steps, *x.shape)  # [steps, B, inputs]: the same input at every step
        for linear, lif in zip(self.linears, self.lifs):
            h, _ = lif(linear(h))
        return self.readout(h).sum(0)


def paper_network(seed: Optional[int] = 0, **sizes) -> SpikingMLP:
    """`SpikingMLP` with the paper's sizes (63 -> 4 x 64 LIF -> 64, 2 steps), its weights drawn from `seed`."""
    if seed is not None:
        torch.manual_seed(seed)
    return SpikingMLP(**sizes)


def gaussian_batches(inputs: int, outputs: int, batch_size: int = 1) -> Callable:
    """make_batch(generator) -> (x [batch_size, inputs], target [batch_size, outputs]), both N(0, 1)."""
    def make_batch(generator: torch.Generator):
        return (torch.randn(batch_size, inputs, generator=generator),
                torch.randn(batch_size, outputs, generator=generator))
    return make_batch


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two flattened gradients; 0 where either is zero (the paper's convention)."""
    a, b = a.flatten().double(), b.flatten().double()
    norms = a.norm() * b.norm()
    return float(a @ b / norms) if norms > 0 else 0.0


def slope_gradient_analysis(model: torch.nn.Module, make_batch: Callable[[torch.Generator], tuple],
                            loss_fn: Callable = F.mse_loss, slopes: Sequence[float] = PAPER_SLOPES,
                            reference: float = 100, draws: int = 100, parameters: Optional[Sequence[str]] = None,
                            seed: int = 0) -> Dict:
    """Per parameter and slope: mean |gradient| and cosine similarity to the gradient at slope `reference`.

    model       any module containing `snnkern.nn.LIF` layers; it is copied once per slope (identical weights)
    make_batch  make_batch(generator) -> (inputs, targets), called once per draw; every slope sees the same draw
    loss_fn     loss_fn(model(inputs), targets) -> scalar
    parameters  names (as in model.named_parameters()) to analyse; default: every weight matrix (dim >= 2)
    draws       the measures are averaged over this many draws

    Returns {"slopes", "reference", "draws", "parameters": [names], "grad_magnitude": {name: [per slope]},
    "cosine": {name: [per slope]}}; the reference slope is added to `slopes` if missing.
    """
    slopes = sorted({float(k) for k in slopes} | {float(reference)})
    named = dict(model.named_parameters())
    names = list(parameters) if parameters is not None else [n for n, p in named.items()
                                                             if p.requires_grad and p.dim() >= 2]
    missing = [n for n in names if n not in named]
    if missing or not names:
        raise ValueError(f"parameters must name parameters of the model, got {missing or names!r}; "
                         f"it has {list(named)}")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws!r}")
    models = []
    for k in slopes:
        copy_k = copy.deepcopy(model)
        if set_slope(copy_k, k) == 0:
            raise ValueError("the model contains no snnkern.nn.LIF layer: the slope has nothing to change")
        models.append(copy_k)

    generator = torch.Generator().manual_seed(seed)
    magnitude = torch.zeros(len(slopes), len(names), dtype=torch.float64)
    cosine = torch.zeros_like(magnitude)
    for _ in range(draws):
        inputs, targets = make_batch(generator)
        grads = []
        for copy_k in models:
            for lif in (m for m in copy_k.modules() if isinstance(m, LIF)):
                lif.reset_state()  # stateful layers start every draw from zeros
            params = dict(copy_k.named_parameters())
            loss = loss_fn(copy_k(inputs), targets)
            found = torch.autograd.grad(loss, [params[n] for n in names], allow_unused=True)
            grads.append([torch.zeros_like(params[n]) if g is None else g for n, g in zip(names, found)])
        ref = grads[slopes.index(float(reference))]
        for i, per_slope in enumerate(grads):
            for j, g in enumerate(per_slope):
                magnitude[i, j] += g.abs().mean().double()
                cosine[i, j] += _cosine(g, ref[j])
    magnitude /= draws
    cosine /= draws
    return {"slopes": slopes, "reference": float(reference), "draws": draws, "parameters": names,
            "grad_magnitude": {n: magnitude[:, j].tolist() for j, n in enumerate(names)},
            "cosine": {n: cosine[:, j].tolist() for j, n in enumerate(names)}}


def format_slope_analysis(result: Dict) -> str:
    """Two text tables (cosine similarity, mean |grad|): one row per parameter, one column per slope."""
    head = " | ".join(f"k={k:g}" for k in result["slopes"])
    lines = []
    for key, title, fmt in (("cosine", f"cosine similarity to k={result['reference']:g}", "{:.3f}"),
                            ("grad_magnitude", "mean |gradient|", "{:.2e}")):
        lines += [f"{title} (mean over {result['draws']} draws)", f"| layer | parameter | {head} |",
                  "|---|---|" + "---|" * len(result["slopes"])]
        for j, name in enumerate(result["parameters"]):
            lines.append(f"| {j} | {name} | " + " | ".join(fmt.format(v) for v in result[key][name]) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_slope_analysis(result: Dict, path) -> None:
    """PNG with both panels against the layer index: cosine similarity to the reference slope, and mean
    |gradient| (log scale); one line per slope."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = list(range(len(result["parameters"])))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    colors = plt.cm.viridis([i / max(1, len(result["slopes"]) - 1) for i in range(len(result["slopes"]))])
    for i, (k, color) in enumerate(zip(result["slopes"], colors)):
        left.plot(layers, [result["cosine"][n][i] for n in result["parameters"]], "o-", color=color, label=f"k={k:g}")
        right.plot(layers, [result["grad_magnitude"][n][i] for n in result["parameters"]], "o-", color=color,
                   label=f"k={k:g}")
    lowest = min(min(v) for v in result["cosine"].values())
    left.set(xlabel="layer (0 = first, last = readout)", ylabel=f"cosine similarity to k={result['reference']:g}",
             ylim=(min(-0.05, lowest - 0.05), 1.05), title="gradient alignment")
    right.set(xlabel="layer (0 = first, last = readout)", ylabel="mean |gradient|", yscale="log",
              title="gradient magnitude")
    for ax in (left, right):
        ax.set_xticks(layers)
        ax.grid(True, alpha=0.3)
    right.legend(fontsize=8)
    fig.suptitle(f"Surrogate slope vs gradient ({result['draws']} draws)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

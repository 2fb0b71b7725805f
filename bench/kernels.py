"""`python -m bench kernels`: LIF forward, backward and forward+backward, ours beside the reference and the peer
libraries, over a grid of T x B*N and dtypes, in one process; results in bench/results/<machine>-<date>/.

Timing: median (and 20/80 % quantiles) of many runs after warm-up; time.perf_counter on the CPU, CUDA events
on a GPU with the L2 cache flushed before each run. Bandwidth: the bytes a fused LIF must move (DESIGN.md §4,
z = h - threshold stored for the backward) over the median time, against a large tensor copy timed in the
same run:

    forward   reads x, writes s and z      3 elements per neuron-step (12 B fp32, 6 B bf16)
    backward  reads z and dL/ds, writes dL/dx   3 elements            (12 B fp32, 6 B bf16)
    fwd+bwd   6 elements                                               (24 B fp32, 12 B bf16)

Peers get the same byte count (effective bandwidth: what the op must move, not what a library moves).
Memory: bytes of tensors saved for the backward and still held when the forward returns
(torch.autograd.graph.saved_tensors_hooks; unique storages, the input itself excluded) and, on a GPU, the peak
allocation of one forward+backward above what existed before it.
"""
import contextlib
import datetime
import importlib.metadata
import json
import math
import os
import platform
import re
import shlex
import signal
import statistics
import time
import weakref
from pathlib import Path

import torch

import snnkern
from bench.peers import implementations

ELEMENTS_PER_STEP = {"fwd": 3, "bwd": 3, "fwdbwd": 6}
MODE_TITLES = {"fwdbwd": "forward+backward", "fwd": "forward (training: stores z)", "bwd": "backward"}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
SHORT = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
RESULTS = Path(__file__).resolve().parent / "results"


# ---- machine and copy bandwidth ----------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict:
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "snnkern": snnkern.__version__,
            "platform": platform.platform(), "device": str(device),
            "backends": snnkern.info()["backends"], "cpu_instruction_set": snnkern.info()["cpu_instruction_set"],
            "peers": {}}
    for package in ("snntorch", "spikingjelly", "norse", "triton"):
        try:
            info["peers"][package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info["peers"][package] = "not installed"
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    cuda=torch.version.cuda, l2_cache_mib=getattr(props, "L2_cache_size", 0) / 2**20)
    return info


def machine_slug(info: dict) -> str:
    name = info.get("gpu") or f"{info['cpu']} {info['cores']}c"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def copy_bandwidth(device, nbytes=2**28, **timing) -> float:
    """GB/s of dst.copy_(src) for a float32 tensor of `nbytes` (read + write counted)."""
    src = torch.randn(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    times = measure(lambda: dst.copy_(src), device, **timing)
    return 2 * nbytes / statistics.median(times) / 1e9


# ---- timing ------------------------------------------------------------------------------------------

_L2_FLUSH = {}


def measure(fn, device, budget=1.0, min_runs=5, max_runs=100, max_call=float("inf")):
    """Seconds per call of fn: warm-up (at least one call, up to budget/4), then as many runs as fit the budget,
    within [min_runs, max_runs]; only the first call's time if it took over max_call seconds.
    CUDA: events around each call, L2 flushed before each."""
    start = time.perf_counter()
    fn()
    _sync(device)
    first = time.perf_counter() - start
    if first > max_call:
        return [first]
    while time.perf_counter() - start < budget / 4 and first < budget / 20:
        fn()
        _sync(device)
    runs = int(min(max_runs, max(min_runs, budget / max(first, 1e-6))))
    if device.type != "cuda":
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return times
    if device not in _L2_FLUSH:
        _L2_FLUSH[device] = torch.empty(2**28, dtype=torch.int8, device=device)
    flush = _L2_FLUSH[device]
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(runs)]
    for begin, end in events:
        flush.zero_()
        begin.record()
        fn()
        end.record()
    torch.cuda.synchronize(device)
    return [begin.elapsed_time(end) / 1e3 for begin, end in events]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def memory(run, x, grad, device) -> dict:
    """Bytes saved for the backward by one forward (unique storages other than x's) and, on CUDA, the peak
    allocation of one forward+backward above what was allocated before it (on the CPU no backward is run)."""
    saved = []  # weak references: a tensor whose graph branch is dropped during the forward is not retained

    def pack(t):
        saved.append(weakref.ref(t))
        return t

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        spikes = run(x)
    alive = [t for t in (ref() for ref in saved) if t is not None]
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in alive}
    storages.pop(x.untyped_storage().data_ptr(), None)
    del alive
    result = {"saved_bytes": sum(storages.values())}
    if device.type == "cuda":
        torch.autograd.grad(spikes, x, grad.to(spikes.dtype))
        torch.cuda.synchronize(device)
        result["peak_bytes"] = torch.cuda.max_memory_allocated(device) - before
    return result


def mode_fn(mode, run, x, grad):
    """The call timed for `mode`: forward with grad enabled; backward of one kept forward; or both."""
    if mode == "fwd":
        return lambda: run(x)
    if mode == "bwd":
        spikes = run(x)
        g = grad.to(spikes.dtype)
        return lambda: torch.autograd.grad(spikes, x, g, retain_graph=True)
    return lambda: torch.autograd.grad(run(x), x, grad)


# ---- the sweep ---------------------------------------------------------------------------------------

def inputs(T, B, N, dtype, device, seed=0):
    """x ~ N(0.3, 0.7^2) (about a fifth of the neurons spike per step at decay 0.9) and dL/ds ~ N(0, 1)."""
    g = torch.Generator(device=device).manual_seed(seed)
    x = (torch.randn(T, B, N, generator=g, device=device) * 0.7 + 0.3).to(dtype).requires_grad_()
    grad = torch.randn(T, B, N, generator=g, device=device).to(dtype)
    return x, grad


def _is_oom(error):
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


def _blocked(impl, device, deadline):
    """(status, reason) before running an impl: ("unavailable", why), ("skipped", why) or (None, None)."""
    try:
        reason = impl.unavailable(device)
    except Exception as error:  # noqa: BLE001  (a peer that cannot even say why it cannot run)
        reason = f"{type(error).__name__}: {str(error)[:200]}"
    if reason is not None:
        return "unavailable", reason
    if time.perf_counter() > deadline:
        return "skipped", "time limit (--deadline) reached"
    return None, None


def _failure(error, device):
    if device.type == "cuda":
        with contextlib.suppress(Exception):  # after a sticky CUDA error this raises too
            torch.cuda.empty_cache()
    if _is_oom(error):
        return "oom", "out of memory"
    return "failed", f"{type(error).__name__}: {str(error)[:200]}"


def sweep(impls, cells, modes, device, timing, deadline, log, rows):
    """Appends to rows one row per (cell, impl, mode): median and quantiles, or a status (unavailable,
    skipped, oom, failed) with its reason."""
    too_slow = {}  # (impl, B*N, dtype) -> the T at which a call took over max_call: larger T are skipped
    for T, B, N, dtype in cells:
        x, grad = inputs(T, B, N, dtype, device)
        for impl in impls:
            base = dict(T=T, B=B, N=N, dtype=SHORT[dtype], impl=impl.name, library=impl.library)
            status, reason = _blocked(impl, device, deadline)
            slow_at = too_slow.get((impl.name, B * N, dtype))
            if status is None and slow_at is not None:
                status, reason = "skipped", (f"a call took over {timing['max_call']:g} s (--max-call)"
                                              f" at T={slow_at}")
            mem = {}
            if status is None:
                try:
                    run = impl.build(device, dtype)
                    mem = memory(run, x, grad, device)
                except Exception as error:  # noqa: BLE001  (a peer failing on a cell is a result)
                    status, reason = _failure(error, device)
            for mode in modes:
                row = dict(base, mode=mode, **mem)
                if status is None:
                    try:
                        times = measure(mode_fn(mode, run, x, grad), device, **timing)
                        if len(times) == 1 and times[0] > timing["max_call"]:
                            too_slow[(impl.name, B * N, dtype)] = T
                        q = statistics.quantiles(times, n=5) if len(times) > 1 else [times[0]] * 4
                        row.update(median_s=statistics.median(times), q20_s=q[0], q80_s=q[3], runs=len(times))
                    except Exception as error:  # noqa: BLE001
                        row["status"], row["reason"] = _failure(error, device)
                else:
                    row["status"], row["reason"] = status, reason
                rows.append(row)
                log(row)
        del x, grad


def _per_impl(impls, base, device, deadline, log, measure_one, rows):
    """Appends to rows one row per implementation: base + measure_one(impl) (a dict), or a status with its
    reason."""
    for impl in impls:
        row = dict(base, impl=impl.name, library=impl.library)
        status, reason = _blocked(impl, device, deadline)
        if status is None:
            try:
                row.update(measure_one(impl))
            except Exception as error:  # noqa: BLE001
                status, reason = _failure(error, device)
        if status is not None:
            row["status"], row["reason"] = status, reason
        rows.append(row)
        log(row)


def open_neuromorphic(impls, shape, dtype, device, timing, deadline, log, rows):
    """Linear(N, N) + LIF on x [T, B, N], forward+backward to the Linear's parameters (the Open Neuromorphic
    benchmark shape)."""
    B, T, N = shape
    g = torch.Generator(device=device).manual_seed(1)
    x = torch.randn(T, B, N, generator=g, device=device).to(dtype)
    grad = torch.randn(T, B, N, generator=g, device=device).to(dtype)

    def one(impl):
        torch.manual_seed(0)
        linear = torch.nn.Linear(N, N, device=device, dtype=dtype)
        run = impl.build(device, dtype)
        params = list(linear.parameters())

        def step():
            spikes = run(linear(x))
            return torch.autograd.grad(spikes, params, grad.to(spikes.dtype))

        times = measure(step, device, **timing)
        return dict(median_s=statistics.median(times), runs=len(times))

    base = dict(T=T, B=B, N=N, dtype=SHORT[dtype], mode="linear+lif")
    _per_impl(impls, base, device, deadline, log, one, rows)


def retained(impls, T, B, N, device, deadline, log, rows):
    """Memory kept for the backward by one call at a long T (fp32): saved bytes against the input's size."""
    x, grad = inputs(T, B, N, torch.float32, device)
    base = dict(T=T, B=B, N=N, dtype="fp32", input_bytes=x.nbytes)
    _per_impl(impls, base, device, deadline, log,
              lambda impl: memory(impl.build(device, torch.float32), x, grad, device), rows)


def add_bandwidth(rows, copy_gbps):
    """GB/s by the byte count above, and its fraction of the copy bandwidth, for every timed LIF row."""
    itemsize = {"fp32": 4, "bf16": 2, "fp16": 2}
    for row in rows:
        if "median_s" in row and row["mode"] in ELEMENTS_PER_STEP:
            size = itemsize[row["dtype"]]
            nbytes = ELEMENTS_PER_STEP[row["mode"]] * size * row["T"] * row["B"] * row["N"]
            row["gbps"] = nbytes / row["median_s"] / 1e9
            row["copy_fraction"] = row["gbps"] / copy_gbps


def ratios(rows):
    """For every timed row of ours: {other impl: other time / our time} in the same cell and mode."""
    key = lambda r: (r["T"], r["B"], r["N"], r["dtype"], r["mode"])  # noqa: E731
    timed = [r for r in rows if "median_s" in r]
    out = []
    for ours in (r for r in timed if r["library"] == "ours"):
        others = {r["impl"]: r["median_s"] / ours["median_s"] for r in timed
                  if key(r) == key(ours) and r["library"] != "ours"}
        out.append(dict(ours, vs=others))
    return out


# ---- targets of the issues ---------------------------------------------------------------------------

def _target_peers(T, B, N, dtype, device):
    """The (peer, speed-up) targets the issues set for a cell (dtype: short name), or None."""
    if device.type == "cpu" and (T, B, N, dtype) == (128, 32, 1024, "fp32"):
        return [("spikingjelly", 10.0), ("snntorch", 50.0)]  # issue 2
    if device.type == "cuda" and T >= 128 and B * N >= 2**20:
        return [("spikingjelly-triton", 1.5), ("snntorch", 30.0)]  # issue 5, with >= 80 % of copy bandwidth
    return None


def targets(rows, device):
    """The issues' numeric targets, checked on the rows that exist: (target, cell, ours, measured, ok)."""
    checks = []
    for r in ratios(rows):
        wanted = _target_peers(r["T"], r["B"], r["N"], r["dtype"], device) if r["mode"] == "fwdbwd" else None
        if wanted is None:
            continue
        cell = f"T={r['T']} B={r['B']} N={r['N']} {r['dtype']}"
        if device.type == "cuda":
            checks.append((">= 80 % of copy bandwidth", cell, r["impl"], f"{100 * r['copy_fraction']:.0f} %",
                           r["copy_fraction"] >= 0.8))
        for peer, factor in wanted:
            for name, ratio in r["vs"].items():
                if name.startswith(peer):
                    checks.append((f">= {factor:g}x faster than {name}", cell, r["impl"], f"{ratio:.1f}x",
                                   ratio >= factor))
    return checks


# ---- report ------------------------------------------------------------------------------------------

def fmt_time(s):
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def fmt_bytes(n):
    return "—" if n is None else f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def _shape(r):
    """ "T | B×N" table cells, with the power of two when B*N is one."""
    bn = r["B"] * r["N"]
    power = f" = 2^{bn.bit_length() - 1}" if bn & (bn - 1) == 0 else ""
    return f"{r['T']} | {r['B']}×{r['N']}{power}"


def _cell_time(r):
    if "median_s" in r:
        return fmt_time(r["median_s"])
    return {"oom": "OOM", "skipped": "skipped"}.get(r.get("status"), "failed¹")


def markdown(result) -> str:
    rows, info, device = result["rows"], result["machine"], result["machine"]["device"]
    gpu = device.startswith("cuda")
    lines = [f"# LIF kernel benchmark: {result['slug']}, {result['date']}", "",
             f"Command: `{result['command']}`", ""]
    if result.get("note"):
        lines += [f"**Note:** {result['note']}", ""]
    if result.get("stopped"):
        lines += [f"**Stopped early:** {result['stopped']}", ""]
    lines += [
        f"Machine: {info.get('gpu', info['cpu'])}" + (f" (host CPU {info['cpu']})" if gpu else "")
        + f", {info['cores']} cores, torch {info['torch']} ({info['torch_threads']} threads), snnkern "
        f"{info['snnkern']}; peers: " + ", ".join(f"{k} {v}" for k, v in info["peers"].items())
        + f". Load average at start / end: {result['load'][0]} / {result['load'][1]}.", "",
        f"Copy bandwidth (torch `copy_` of a 256 MiB fp32 tensor, read + write counted): "
        f"**{result['copy_gbps']:.1f} GB/s**.", "",
        "Byte count (DESIGN.md §4, z = h − θ stored for the backward): forward reads x, writes s and z; "
        "backward reads z and dL/ds, writes dL/dx: 12 B per neuron-step each in fp32, 24 B for "
        "forward+backward (half in bf16). Every implementation is charged the same bytes (effective GB/s). "
        "Times: median of many runs after warm-up ("
        + ("CUDA events, L2 flushed before each run" if gpu else "time.perf_counter") + "); "
        "[q20, q80] quantiles. `saved` = bytes of tensors saved for the backward, input excluded"
        + ("; `peak` = peak CUDA allocation of one forward+backward above what existed before." if gpu else "."),
        ""]
    checks = targets(rows, torch.device(device))
    if checks:
        lines += ["## Targets", "", "| target | cell | ours | measured | met |", "|---|---|---|---|---|"]
        lines += [f"| {t} | {c} | {o} | {m} | {'yes' if ok else '**no**'} |" for t, c, o, m, ok in checks]
        lines.append("")
    ratio_rows = ratios(rows)
    if ratio_rows:
        peers = list(dict.fromkeys(name for r in ratio_rows for name in r["vs"]))
        lines += ["## Speed-up of ours over each other implementation (their time / ours)", "",
                  "| mode | T | B×N | dtype | ours | GB/s | % copy | " + " | ".join(peers) + " |",
                  "|---|---|---|---|---|---|---|" + "---|" * len(peers)]
        order = lambda r: (r["mode"] != "fwdbwd", r["mode"], r["dtype"], r["B"] * r["N"], r["T"])  # noqa: E731
        for r in sorted(ratio_rows, key=order):
            cells = [f"{r['vs'][p]:.1f}x" if p in r["vs"] else "—" for p in peers]
            lines.append(f"| {r['mode']} | {_shape(r)} | {r['dtype']} | {r['impl']} | {r['gbps']:.1f} | "
                         f"{100 * r['copy_fraction']:.0f} | " + " | ".join(cells) + " |")
        lines.append("")
    for mode in [m for m in ELEMENTS_PER_STEP if any(r["mode"] == m for r in rows)]:
        lines += [f"## {MODE_TITLES[mode]}", "",
                  "| T | B×N | dtype | implementation | median | [q20, q80] | runs | GB/s | % copy | saved |"
                  + (" peak |" if gpu else ""),
                  "|---|---|---|---|---|---|---|---|---|---|" + ("---|" if gpu else "")]
        for r in rows:
            if r["mode"] != mode or r.get("status") == "unavailable":
                continue
            timed = "median_s" in r
            lines.append(
                f"| {_shape(r)} | {r['dtype']} | {r['impl']} | {_cell_time(r)} | "
                + (f"[{fmt_time(r['q20_s'])}, {fmt_time(r['q80_s'])}] | {r['runs']} | {r['gbps']:.2f} | "
                   f"{100 * r['copy_fraction']:.1f} | " if timed else "| | | | ")
                + f"{fmt_bytes(r.get('saved_bytes'))} |" + (f" {fmt_bytes(r.get('peak_bytes'))} |" if gpu else ""))
        lines.append("")
    if result["retained"]:
        r0 = result["retained"][0]
        lines += [f"## Memory retained for the backward at T={r0['T']}, B={r0['B']}, N={r0['N']} fp32", "",
                  f"Input x: {fmt_bytes(r0['input_bytes'])}. Target (issue 2): at most one input-sized tensor per "
                  "call plus per-neuron state.", "",
                  "| implementation | saved for backward | saved / input |" + (" peak fwd+bwd |" if gpu else ""),
                  "|---|---|---|" + ("---|" if gpu else "")]
        for r in result["retained"]:
            if r.get("status") == "unavailable":
                continue
            if "saved_bytes" not in r:
                lines.append(f"| {r['impl']} | {_cell_time(r)} | |" + (" |" if gpu else ""))
                continue
            lines.append(f"| {r['impl']} | {fmt_bytes(r['saved_bytes'])} | {r['saved_bytes'] / r['input_bytes']:.2f} |"
                         + (f" {fmt_bytes(r.get('peak_bytes'))} |" if gpu else ""))
        lines.append("")
    if result["open_neuromorphic"]:
        on = result["open_neuromorphic"]
        ours = min((r["median_s"] for r in on if r["library"] == "ours" and "median_s" in r), default=None)
        r0 = on[0]
        lines += [f"## Open Neuromorphic shape: Linear({r0['N']}, {r0['N']}) + LIF, B={r0['B']}, T={r0['T']}, "
                  f"N={r0['N']}, {r0['dtype']}, forward+backward to the weights", ""]
        if r0["N"] != 16384:
            lines += [f"N = {r0['N']} instead of the benchmark's 16384: the Linear's matmul dominates, and a 16384² "
                      "one takes minutes per run on a few CPU cores; `bench/gpu_check.sh` runs N=16384.", ""]
        lines += ["| implementation | median | runs | time / ours |", "|---|---|---|---|"]
        for r in on:
            if r.get("status") == "unavailable":
                continue
            ratio = f"{r['median_s'] / ours:.2f}" if ours and "median_s" in r else "—"
            lines.append(f"| {r['impl']} | {_cell_time(r)} | {r.get('runs', '')} | {ratio} |")
        lines.append("")
    lines += ["## Notes", ""]
    unavailable = {r["impl"]: r["reason"] for r in rows + result["retained"] if r.get("status") == "unavailable"}
    lines += [f"- `{name}`: {note}" for name, note in result["notes"].items() if name not in unavailable]
    lines += [f"- `{name}` not run: {reason}" for name, reason in unavailable.items()]
    everything = rows + result["retained"] + result["open_neuromorphic"]
    skipped = dict.fromkeys(f"{r['impl']} ({r['reason']})" for r in everything if r.get("status") == "skipped")
    if skipped:
        lines.append("- skipped: " + "; ".join(skipped))
    failed = [r for r in everything if r.get("status") == "failed"]
    if failed:
        lines.append("- ¹ failures (full text in results.json): " + "; ".join(
            f"{r['impl']} T={r['T']} N={r['N']} {r['dtype']}: {r['reason'][:120]}" for r in failed[:6]))
    lines += ["- Inputs x ~ N(0.3, 0.7²), upstream gradient ~ N(0, 1); decay 0.9, threshold 1, subtract reset; "
              "ours with the fast-sigmoid surrogate (slope 25), immediate reset, reset not detached.", ""]
    return "\n".join(lines)


def plot(rows, path):
    """Forward+backward time vs T (log-log), one panel per B*N, one line per implementation (fp32 solid,
    bf16 dashed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter
    timed = [r for r in rows if r["mode"] == "fwdbwd" and "median_s" in r]
    sizes = sorted({r["B"] * r["N"] for r in timed})
    if not sizes:
        return None
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.5 * len(sizes), 4), squeeze=False, sharey=True)
    names = list(dict.fromkeys(r["impl"] for r in timed))
    colors = {name: f"C{i}" for i, name in enumerate(names)}
    for ax, size in zip(axes[0], sizes):
        for name in names:
            for dtype, style in (("fp32", "-"), ("bf16", "--"), ("fp16", ":")):
                pts = sorted((r["T"], r["median_s"]) for r in timed
                             if r["impl"] == name and r["B"] * r["N"] == size and r["dtype"] == dtype)
                if pts:
                    ax.plot(*zip(*pts), style, marker="o", color=colors[name], label=f"{name} {dtype}")
        ax.set(xscale="log", yscale="log", xlabel="T (time steps)", title=f"B×N = 2^{math.log2(size):.0f}")
        ax.set_xticks(sorted({r["T"] for r in timed}))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("forward+backward time (s)")
    fig.tight_layout()
    legend = {label: handle for ax in axes[0] for handle, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(legend.values(), legend.keys(), fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


# ---- command -----------------------------------------------------------------------------------------

def _ints(text):
    """"16,128" or "2**12,2**15" -> [ints]."""
    def one(v):
        base, _, power = v.strip().partition("**")
        return int(base) ** int(power) if power else int(base)
    return [one(v) for v in text.split(",")]


def add_arguments(parser):
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--T", type=_ints, help="time steps (default 16,128,1024)")
    parser.add_argument("--BN", type=_ints, help="B*N per cell (default cpu 2**12,2**15,2**18; cuda 2**16,2**20,2**22)")
    parser.add_argument("--B", type=int, default=32, help="batch size; N = BN / B")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="comma-separated: float32,bfloat16,float16")
    parser.add_argument("--modes", default="fwd,bwd,fwdbwd", help="comma-separated: fwd,bwd,fwdbwd")
    parser.add_argument("--impls", default="", help="comma-separated substrings: run only matching implementations")
    parser.add_argument("--max-elements", type=int, help="skip cells with T*B*N above this (default cpu 2**25)")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of timed runs per measurement")
    parser.add_argument("--min-runs", type=int, default=5)
    parser.add_argument("--max-runs", type=int, default=200)
    parser.add_argument("--max-call", type=float, default=10.0,
                        help="a call slower than this many seconds is timed once, and larger T of that "
                        "implementation, B*N and dtype are skipped")
    parser.add_argument("--retained-T", type=int, default=4096, help="T of the retained-memory measurement (0: off)")
    parser.add_argument("--on-shape", type=_ints, help="B,T,N of the Open Neuromorphic shape (default cpu 16,500,4096; "
                        "cuda 16,500,16384); 0: off")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (our CPU kernel uses as many)")
    parser.add_argument("--deadline", type=float, default=float("inf"), help="seconds after which the rest is skipped")
    parser.add_argument("--quick", action="store_true", help="smoke size: small grid, fp32, short budget")
    parser.add_argument("--note", default="", help="a line for the report, e.g. the load the machine was under")
    parser.add_argument("--out", help="output folder (default bench/results/<machine>-<date>)")


def run(args, argv) -> Path:
    started = time.perf_counter()
    deadline = started + args.deadline
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = device.type == "cuda"
    if args.quick:
        args.T = args.T or [16, 128]
        args.BN = args.BN or [2**12, 2**15]
        args.dtypes, args.budget, args.min_runs = "float32", min(args.budget, 0.2), 3
        args.retained_T = min(args.retained_T, 256)
        args.on_shape = args.on_shape or [4, 50, 512]
    T_list = args.T or [16, 128, 1024]
    bn_list = args.BN or ([2**16, 2**20, 2**22] if gpu else [2**12, 2**15, 2**18])
    max_elements = args.max_elements or (2**33 if gpu else 2**25)
    dtypes = [DTYPES[d] for d in args.dtypes.split(",")]
    modes = args.modes.split(",")
    if not set(modes) <= set(ELEMENTS_PER_STEP):
        raise SystemExit(f"--modes must be among {list(ELEMENTS_PER_STEP)}, got {args.modes!r}")
    impls = [i for i in implementations(device)
             if not args.impls or any(s in i.name for s in args.impls.split(","))]
    cells = [(T, args.B, bn // args.B, dtype) for dtype in dtypes for bn in bn_list for T in T_list
             if bn % args.B == 0 and T * bn <= max_elements]
    cells.sort(key=lambda c: _target_peers(*c[:3], SHORT[c[3]], device) is None)  # --deadline cuts the tail
    timing = dict(budget=args.budget, min_runs=args.min_runs, max_runs=args.max_runs, max_call=args.max_call)

    info = machine_info(device)
    slug = machine_slug(info)
    date = datetime.date.today().isoformat()
    out = Path(args.out) if args.out else RESULTS / f"{slug}-{date}"
    out.mkdir(parents=True, exist_ok=True)
    load_start = " ".join(f"{v:.2f}" for v in os.getloadavg())

    def log(row):
        what = (fmt_time(row["median_s"]) if "median_s" in row
                else row.get("status") or fmt_bytes(row.get("saved_bytes")))
        print(f"  {row.get('mode', 'retained'):10s} T={row['T']:<5d} N={row['N']:<7d} {row['dtype']} "
              f"{row['impl']:22s} {what}", flush=True)

    print(f"{slug}: {len(cells)} cells x {len(impls)} implementations x {modes}; out {out}", flush=True)
    copy_gbps = copy_bandwidth(device, **timing)
    print(f"copy bandwidth {copy_gbps:.1f} GB/s", flush=True)
    on_shape = args.on_shape or ([16, 500, 16384] if gpu else [16, 500, 4096])
    on_rows, kept, rows, stopped = [], [], [], None
    previous = signal.signal(signal.SIGTERM, _interrupt)  # how timeout(1) stops bench/gpu_check.sh's stage
    try:  # the two single shapes first: the grid is what --deadline cuts short
        if on_shape != [0]:
            open_neuromorphic(impls, on_shape, torch.float32, device, dict(timing, min_runs=3), deadline, log, on_rows)
        if args.retained_T:
            retained(impls, args.retained_T, args.B, 1024, device, deadline, log, kept)
        sweep(impls, cells, modes, device, timing, deadline, log, rows)
    except KeyboardInterrupt:
        stopped = "interrupted (SIGTERM or Ctrl-C); the results hold what was measured before"
        print(stopped, flush=True)
    finally:  # written whatever stopped the measurements
        signal.signal(signal.SIGTERM, previous)
        add_bandwidth(rows, copy_gbps)
        result = dict(
            slug=slug, date=date, command="python -m bench " + shlex.join(argv), note=args.note, machine=info,
            load=[load_start, " ".join(f"{v:.2f}" for v in os.getloadavg())], copy_gbps=copy_gbps, rows=rows,
            retained=kept, open_neuromorphic=on_rows, notes={i.name: i.note for i in impls}, stopped=stopped,
            seconds=time.perf_counter() - started)
        write_results(result, out)
    return out


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def write_results(result, out: Path) -> None:
    """results.json, machine.json, results.md, time_vs_T.png and summary.txt in out; the summary printed."""
    (out / "results.json").write_text(json.dumps(result, indent=1, default=str))
    (out / "machine.json").write_text(json.dumps(result["machine"], indent=1))
    (out / "results.md").write_text(markdown(result))
    plot(result["rows"], out / "time_vs_T.png")
    (out / "summary.txt").write_text(summary(result) + "\n")
    print(summary(result), flush=True)
    print(f"wrote {out}/results.md, results.json, machine.json, summary.txt, time_vs_T.png", flush=True)


def summary(result) -> str:
    """The short table printed last: targets, then ours vs each peer at fwd+bwd."""
    lines = [f"copy bandwidth {result['copy_gbps']:.1f} GB/s"]
    if result.get("stopped"):
        lines.insert(0, f"STOPPED EARLY: {result['stopped']}")
    for t, cell, ours, measured, ok in targets(result["rows"], torch.device(result["machine"]["device"])):
        lines.append(f"{'PASS' if ok else 'FAIL'}  {t:40s} {cell:28s} {ours:16s} {measured}")
    for r in ratios(result["rows"]):
        if r["mode"] == "fwdbwd":
            vs = "  ".join(f"{k} {v:.1f}x" for k, v in r["vs"].items())
            lines.append(f"T={r['T']:<5d} BN=2^{math.log2(r['B'] * r['N']):<3.0f}{r['dtype']} {r['impl']:16s} "
                         f"{fmt_time(r['median_s']):>10s} {100 * r['copy_fraction']:3.0f}% copy  {vs}")
    return "\n".join(lines)

"""The implementations the kernel benchmark times: ours, the reference, and the peer libraries.

Each one is an `Impl`: `unavailable(device)` says why it cannot run (None if it can) and `build(device, dtype)`
returns `run(x) -> spikes` for a time-major input x [T, B, N]. The benchmark times `run` (forward), the
autograd backward of its spikes (backward), and both. Every implementation runs the same neuron as closely as
its library allows: decay 0.9 per step, threshold 1, reset by subtraction; the notes say what differs.
"""
import importlib
from dataclasses import dataclass
from typing import Callable, Optional

import torch

import snnkern
from snnkern import backends

BETA, THRESHOLD, SLOPE = 0.9, 1.0, 25.0


@dataclass(frozen=True)
class Impl:
    name: str     # row label, e.g. "snnkern-cpu", "snntorch-loop"
    library: str  # "ours", "reference" or the peer library; ratios are taken between "ours" and the others
    note: str     # semantics and differences, for the table notes
    build: Callable[[torch.device, torch.dtype], Callable[[torch.Tensor], torch.Tensor]]
    unavailable: Callable[[torch.device], Optional[str]]


def _missing(module: str) -> Optional[str]:
    try:
        importlib.import_module(module)
    except ImportError as error:
        return f"{module} not installed ({error}); `pip install -e .[bench]` or bench/wheels/README.md"
    return None


# ---- ours and the reference ------------------------------------------------------------------------

def _ours(backend: str) -> Impl:
    def build(device, dtype):
        return lambda x: snnkern.lif(x, BETA, THRESHOLD, slope=SLOPE, backend=backend)[0]

    def unavailable(device):
        if backend == "torch":
            return None
        reason = backends.status(backend)
        if reason is None and backend == "triton" and device.type == "cpu":
            reason = "Triton on CPU tensors is its interpreter (TRITON_INTERPRET=1): correct, not fast; not timed"
        if reason is None and device.type not in backends.get(backend).DEVICE_TYPES:
            reason = f"runs on {'/'.join(backends.get(backend).DEVICE_TYPES)}, not {device.type}"
        return reason

    library = "reference" if backend == "torch" else "ours"
    note = ("pure-PyTorch reference of snnkern (the specification), autograd through a Python loop over T"
            if backend == "torch" else f"snnkern.lif(backend={backend!r}): fused forward and backward kernels")
    return Impl(f"snnkern-{backend}", library, note, build, unavailable)


# ---- snnTorch ---------------------------------------------------------------------------------------

def _snntorch_build(device, dtype):
    import snntorch
    layer = snntorch.Leaky(beta=BETA, threshold=THRESHOLD,
                           spike_grad=snntorch.surrogate.fast_sigmoid(slope=SLOPE)).to(device, dtype)

    def run(x):
        mem, spikes = layer.init_leaky(), []
        for x_t in x:
            spk, mem = layer(x_t, mem)
            spikes.append(spk)
        return torch.stack(spikes)

    return run


SNNTORCH = Impl(
    "snntorch-loop", "snntorch",
    "snntorch.Leaky(beta=0.9, fast_sigmoid slope 25) called once per step in a Python loop; its defaults: "
    "reset_delay=True, reset detached (= ours with reset_delay=True, detach_reset=True)",
    _snntorch_build, lambda device: _missing("snntorch"))


# ---- SpikingJelly -----------------------------------------------------------------------------------
# spikingjelly 2.0 picks its multi-step LIF implementation per device: on the CPU always the Torch reference
# (a Python loop over T inside its custom op); on CUDA "cuda" (native extension, only when built from source
# with SJ_BUILD_NATIVE_CUDA=1), then "triton", then "torch", unless SJ_LIF_CUDA_IMPLEMENTATION names one.
# We force each provider by setting the request on its selection object, which is what that variable does.

def _sj_select(device, provider: Optional[str]) -> Optional[str]:
    """Make spikingjelly's LIF use `provider` on `device`; None if it will, else why not."""
    from spikingjelly._ops import lif as sj_lif
    if device.type != "cuda":
        return None if provider is None else f"spikingjelly has no {provider} implementation on {device.type}"
    selection = sj_lif._selection
    selection._requested = provider
    selection._selections.clear()
    selection._compiled_selections.clear()
    try:
        chosen = selection.diagnostics(device)
    except Exception as error:  # noqa: BLE001  (its selection failing is the reason)
        return f"{type(error).__name__}: {error}"
    if chosen["implementation"] != provider:
        return f"spikingjelly selected {chosen['implementation']}: {chosen['unavailable']}"
    return None


def _spikingjelly(provider: Optional[str]) -> Impl:
    def build(device, dtype):
        from spikingjelly.activation_based import functional, neuron, surrogate
        reason = _sj_select(device, provider)
        if reason is not None:
            raise RuntimeError(reason)
        tau = 1.0 / (1.0 - BETA)
        if dtype != torch.float32:
            # LIFNode keeps its state in x's dtype, and a half-precision state sends spikingjelly to its Torch
            # reference; its fused kernels want a float32 state, which the functional op LIFNode calls takes
            sigmoid = surrogate.Sigmoid()
            return lambda x: functional.lif_multi_step(
                x, torch.zeros(x.shape[1:], device=x.device), tau, False, THRESHOLD, None, sigmoid, False)[0]
        node = neuron.LIFNode(tau=tau, decay_input=False, v_threshold=THRESHOLD, v_reset=None, step_mode="m")

        def run(x):
            node.reset()  # forget the state of the previous call (and its graph)
            return node(x)

        return run

    def unavailable(device):
        return _missing("spikingjelly.activation_based.neuron") or _sj_select(device, provider)

    label = provider or "torch"
    where = (f"implementation {label!r} forced" if provider else
             "on the CPU spikingjelly 2.0 always runs its Torch reference, a Python loop over T in its custom op")
    note = (f"spikingjelly LIFNode(tau=10, decay_input=False, v_reset=None, step_mode='m'), {where}; its default "
            "Sigmoid surrogate (alpha 4), reset not detached (= ours but for the surrogate); bf16: the op "
            "LIFNode calls, functional.lif_multi_step, with a float32 state")
    return Impl(f"spikingjelly-{label}", "spikingjelly", note, build, unavailable)


# ---- Norse ------------------------------------------------------------------------------------------

def _norse_build(device, dtype):
    import norse.torch as norse
    cell = norse.LIFCell().to(device)  # parameters live in a pytree, not in buffers: they stay float32

    def run(x):
        state, spikes = None, []
        for x_t in x:
            z, state = cell(x_t, state)
            spikes.append(z)
        return torch.stack(spikes)

    return run


NORSE = Impl(
    "norse-lif", "norse",
    "norse.torch.LIFCell() stepped over T in Python (the LIF sequence module gives the same spikes and "
    "gradients, but its backward grows with T^2: each step's gradient is a full-size tensor added into x's): "
    "current-based LIF with a second state (synaptic current), dt=1 ms, tau_mem 10 ms (decay 0.9), reset to "
    "zero, SuperSpike surrogate; its float32 parameters make it compute and return float32 for bf16 x",
    _norse_build, lambda device: _missing("norse.torch"))


def implementations(device: torch.device):
    """Every implementation the benchmark knows for `device`, in table order: ours, reference, peers."""
    ours = [_ours(name) for name in backends.KERNEL_BACKENDS]
    sj = [_spikingjelly(p) for p in ("triton", "cuda", "torch")] if device.type == "cuda" else [_spikingjelly(None)]
    return [*ours, _ours("torch"), SNNTORCH, *sj, NORSE]

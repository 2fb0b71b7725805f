"""Backend registry. Each backend module exposes DEVICE_TYPES, status() -> None if usable else the reason,
and the launchers forward(...) / backward(...) called by the custom ops in snnkern/ops.py.
"torch" is the reference (snnkern/reference.py) and runs through autograd instead of the ops.
"""
from pathlib import Path
from types import ModuleType
from typing import Optional

import torch

KERNEL_BACKENDS = ("cpu", "triton", "cuda")
_BUILD_LOG = Path(__file__).resolve().parent.parent / "_build_log.txt"


def build_note(component: str) -> Optional[str]:
    """What setup.py recorded about building `component` ("cpu" or "cuda"), if anything."""
    if not _BUILD_LOG.exists():
        return None
    for line in _BUILD_LOG.read_text().splitlines():
        if line.startswith(component + ":"):
            return line.split(":", 1)[1].strip()
    return None


def get(name: str) -> ModuleType:
    if name not in _MODULES:
        raise ValueError(f"backend must be one of {('auto', *KERNEL_BACKENDS, 'torch')}, got {name!r}")
    return _MODULES[name]


def status(name: str) -> Optional[str]:
    """None if the backend can run here, else why not."""
    return None if name == "torch" else get(name).status()


def resolve(name: str, device: torch.device) -> str:
    """The backend that runs a call: `name` checked against the device, or for "auto" the fastest one
    available for the device (reference where no kernel applies)."""
    if name == "torch":
        return name
    if name == "auto":
        for candidate in ("cuda", "triton") if device.type == "cuda" else ("cpu",):
            module = get(candidate)
            if device.type in module.DEVICE_TYPES and module.status() is None:
                return candidate
        return "torch"
    module = get(name)
    reason = module.status()
    if reason is not None:
        raise RuntimeError(f"backend {name!r} is not available: {reason}")
    if device.type not in module.DEVICE_TYPES:
        raise ValueError(f"backend {name!r} runs on {' or '.join(module.DEVICE_TYPES)} tensors; x is on {device}")
    return name


# torch.compile calls resolve eagerly and keeps its result as a constant of the graph, instead of tracing the
# status checks (which load libraries and probe devices: a graph break, an error under fullgraph=True). The
# attribute is what torch.compiler.assume_constant_result sets; set here directly, because that function
# imports torch._dynamo, which would double the time of `import snnkern`.
resolve._dynamo_marked_constant = True


from . import cpu, cuda, triton  # noqa: E402  (they import build_note from this module)

_MODULES = {"cpu": cpu, "triton": triton, "cuda": cuda}

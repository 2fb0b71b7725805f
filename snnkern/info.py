"""`snnkern.info()`: versions and which backends can run here (and why not)."""
import platform

import torch

from . import backends


def info() -> dict:
    """Versions, devices and, per backend, None if available or the reason it is not."""
    from . import __version__

    return {
        "snnkern": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "threads": torch.get_num_threads(),
        "cpu_instruction_set": backends.cpu.instruction_set(),
        "backends": {name: backends.status(name) for name in (*backends.KERNEL_BACKENDS, "torch")},
        "auto": {"cpu": backends.resolve("auto", torch.device("cpu")),
                 "cuda": backends.resolve("auto", torch.device("cuda")) if torch.cuda.is_available() else None},
    }


def format_info(report: dict) -> str:
    lines = [f"snnkern {report['snnkern']}  torch {report['torch']}  python {report['python']}",
             f"CPU threads: {report['threads']}   CUDA device: {report['cuda_device'] or 'none'}",
             "backends:"]
    for name, reason in report["backends"].items():
        state = "available" if reason is None else "unavailable: " + reason
        if name == "cpu" and reason is None:
            state += f" ({report['cpu_instruction_set']} kernels)"
        lines.append(f"  {name:7s} {state}")
    auto = ", ".join(f"{dev} -> {name}" for dev, name in report["auto"].items() if name)
    lines.append(f"auto picks: {auto}")
    return "\n".join(lines)

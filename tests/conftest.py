"""Tests marked `gpu` need a CUDA device: skipped without one. On a GPU box, `pytest -m "gpu or triton"` selects
them and the Triton kernel tests, which then run compiled on CUDA tensors (bench/gpu_check.sh does this).

Without a GPU, the Triton kernels run in Triton's interpreter (test_triton_kernel.py sets TRITON_INTERPRET=1
for its own tests). Triton decides when it is imported whether its own library functions (tl.zeros, ...)
are interpreted, so it is imported here once in interpreter mode; every other test sees the variable as
it was (unset: no Triton backend for CPU tensors).
"""
import os

import pytest
import torch

if not torch.cuda.is_available():
    _previous = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        import triton  # noqa: F401
    except ImportError:
        pass
    finally:
        if _previous is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = _previous


def pytest_configure(config):
    if not any(line.split(":")[0].strip() == "gpu" for line in config.getini("markers")):
        config.addinivalue_line("markers", "gpu: needs a CUDA GPU (skipped without one)")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)

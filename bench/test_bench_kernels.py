"""pytest-benchmark suite of the LIF kernels beside the peers (not part of the default `tests/` run):

    python -m pytest bench/test_bench_kernels.py --benchmark-group-by=param:shape,param:mode

One benchmark per (device, shape, mode, implementation); unavailable implementations are skipped with their
reason. extra_info carries the GB/s by the byte count of bench/kernels.py. `python -m bench kernels` is the
full sweep with tables and plots.
"""
import pytest
import torch

from bench.kernels import ELEMENTS_PER_STEP, inputs, mode_fn
from bench.peers import implementations

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
SHAPES = {"T128-B32-N1024": (128, 32, 1024), "T16-B32-N8192": (16, 32, 8192)}  # the first is issue 2's shape
CASES = [(device, impl) for device in DEVICES for impl in implementations(torch.device(device))]


@pytest.mark.parametrize("mode", ["fwdbwd", "fwd"])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("device,impl", CASES, ids=[f"{d}-{i.name}" for d, i in CASES])
def test_lif(benchmark, device, impl, shape, mode):
    device = torch.device(device)
    reason = impl.unavailable(device)
    if reason is not None:
        pytest.skip(reason)
    T, B, N = SHAPES[shape]
    x, grad = inputs(T, B, N, torch.float32, device)
    fn = mode_fn(mode, impl.build(device, torch.float32), x, grad)

    def call():
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    benchmark.extra_info["bytes"] = ELEMENTS_PER_STEP[mode] * 4 * T * B * N
    benchmark.pedantic(call, warmup_rounds=1, rounds=5 if impl.library == "ours" else 3, iterations=1)
    benchmark.extra_info["GB/s"] = benchmark.extra_info["bytes"] / benchmark.stats.stats.median / 1e9

"""The CUDA kernels: csrc/*.cu compile for sm_90 wherever nvcc is (no GPU needed), the ctypes mirror of
LifArgs matches the library, and, on a GPU (marked `gpu`), both GPU backends (cuda, triton) against the
reference for every variant and dtype, long sequences, odd sizes, under torch.compile and in a CUDA graph,
without host synchronisation. The Triton tests (test_triton_kernel.py) also run the CUDA kernels there.
"""
import ast
import ctypes
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

import snnkern
from lif_checks import VARIANTS, check_against_reference, make_inputs, run
from snnkern.backends import cuda, resolve

ROOT = Path(__file__).resolve().parent.parent
DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


def _nvcc():
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    candidate = Path(home) / "bin" / "nvcc"
    return str(candidate) if candidate.exists() else shutil.which("nvcc")


def _setup_cuda_flags():
    """setup.py's cuda_flags(), read without running setup()."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "cuda_flags")
    namespace = {"DEBUG": False}
    exec(compile(ast.Module([function], type_ignores=[]), "setup.py", "exec"), namespace)
    return namespace["cuda_flags"]()


@pytest.mark.slow
@pytest.mark.skipif(_nvcc() is None, reason="nvcc not found")
def test_nvcc_builds_for_sm90(tmp_path):
    """setup.py's flags with sm_90 only: every kernel compiles, keeps its load-ahead ring in registers (no
    stack frame, no spills), and the library's LifArgs layout is the one the ctypes mirror expects."""
    flags = [f for f in _setup_cuda_flags() if not f.startswith("-gencode")] + ["-gencode=arch=compute_90,code=sm_90"]
    library = tmp_path / "lif.so"
    done = subprocess.run([_nvcc(), *map(str, sorted((ROOT / "csrc").glob("*.cu"))), "-o", str(library), *flags,
                           "-Xptxas", "-v"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    kernels = re.findall(r"Compiling entry function '(\w+)' for 'sm_90'", done.stderr)
    frames = re.findall(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", done.stderr)
    assert len(kernels) == 4 * 3 * 2 * 2 + 4 * 3 * 2 * 2 * 4  # forward, backward: dtype x variant
    assert len(frames) == len(kernels) and set(frames) == {("0", "0", "0")}
    assert cuda.library_layout(ctypes.CDLL(str(library))) == cuda.mirror_layout()


@pytest.mark.skipif(not cuda.LIBRARY.exists(), reason="the CUDA library is not built here")
def test_built_library_loads_and_matches_the_mirror():
    lib, reason = cuda.load()
    assert reason is None and cuda.library_layout(lib) == cuda.mirror_layout()
    if not torch.cuda.is_available():
        assert cuda.status() == "no CUDA device"


def test_status_says_why_without_the_library(monkeypatch):
    monkeypatch.setattr(cuda, "LIBRARY", ROOT / "snnkern" / "no_such_library.so")
    cuda.load.cache_clear()
    try:
        lib, reason = cuda.load()
        assert lib is None and "not built" in reason
    finally:
        cuda.load.cache_clear()


# ------------------------------------------------------------------------------------- on a GPU only
GPU_CASES = ([("cuda", variant, dtype) for variant in VARIANTS for dtype in DTYPES]
             + [("triton", variant, torch.float32) for variant in VARIANTS]
             + [("triton", variant, dtype) for variant in VARIANTS[::7] for dtype in DTYPES if dtype != torch.float32])


@pytest.fixture(params=["cuda", "triton"])
def gpu_backend(request):
    reason = snnkern.info()["backends"][request.param]
    if reason is not None:
        pytest.fail(f"backend {request.param!r} is unavailable on this GPU machine: {reason}")
    return request.param


@pytest.mark.gpu
@pytest.mark.parametrize("backend, variant, dtype", GPU_CASES,
                         ids=[f"{b}-{'-'.join(map(str, v.values()))}-{d}" for b, v, d in GPU_CASES])
def test_gpu_every_variant(backend, variant, dtype):
    check_against_reference(backend, dtype, (16, 3, 131), variant, seed=VARIANTS.index(variant), device="cuda")


@pytest.mark.gpu
def test_gpu_long_bfloat16(gpu_backend):
    """T = 1024 in bfloat16: spikes identical to the bfloat16 reference, gradients within 1e-2 (relative to
    the gradient's norm) of float64 on the lanes that never come near the threshold."""
    for variant in VARIANTS[::9]:
        check_against_reference(gpu_backend, torch.bfloat16, (1024, 4, 300), variant, seed=1, device="cuda")
        inputs = make_inputs((1024, 4, 300), seed=2, device="cuda")
        inputs.x = inputs.x.bfloat16().double()
        got = run(gpu_backend, inputs, torch.bfloat16, variant)
        exact = run("torch", inputs, torch.float64, variant)
        keep = (got[0] == exact[0]).all(0)  # lanes whose spike train is the float64 one
        assert keep.float().mean() > 0.75
        for name, a, e in zip(("grad_x", "grad_v0"), got[2:4], exact[2:4]):
            a, e = a[..., keep] if name == "grad_x" else a[keep], e[..., keep] if name == "grad_x" else e[keep]
            assert float((a - e).norm() / e.norm()) < 1e-2, name


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 1), (3, 2, 1021), (2, 3, 2, 3, 7), (3, 2, 40000),
                                   (3, 3, 33331)])
def test_gpu_odd_sizes(gpu_backend, shape):
    """Tiny, prime and large lane counts (>= 2^16 lanes switch the Triton launch to 4-warp programs;
    2*40000 lanes allow its 16-element-aligned vector path, 3*33331 do not)."""
    for variant, dtype in ((VARIANTS[0], torch.float32), (VARIANTS[-1], torch.bfloat16), (VARIANTS[17], torch.float64)):
        check_against_reference(gpu_backend, dtype, shape, variant, device="cuda")


def _train_step(model, x):
    spikes, state = model(x)
    loss = (spikes * torch.linspace(-1, 1, spikes.shape[-1], device=x.device)).sum() + state.square().sum()
    loss.backward()
    return loss


class _Sequential(torch.nn.Module):
    def __init__(self, backend):
        super().__init__()
        self.fc = torch.nn.Linear(8, 32)
        self.lif = snnkern.nn.LIF(32, backend=backend, surrogate="sigmoid")

    def forward(self, x):
        return self.lif(self.fc(x))


@pytest.mark.gpu
def test_gpu_cuda_graph_captures_a_training_step(gpu_backend):
    torch.manual_seed(0)
    model = _Sequential(gpu_backend).cuda()
    static_x = torch.randn(20, 4, 8, device="cuda")
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):  # warm up: compile the kernels, allocate the gradients
            _train_step(model, static_x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_loss = _train_step(model, static_x)
    for seed in (1, 2):
        x = torch.randn(20, 4, 8, device="cuda", generator=torch.Generator("cuda").manual_seed(seed))
        for p in model.parameters():
            p.grad.zero_()
        static_x.copy_(x)
        graph.replay()
        graph_grads = [p.grad.clone() for p in model.parameters()]
        for p in model.parameters():
            p.grad.zero_()
        eager_loss = _train_step(model, x)
        torch.testing.assert_close(static_loss, eager_loss)
        for a, b in zip(graph_grads, (p.grad for p in model.parameters())):
            torch.testing.assert_close(a, b)


@pytest.mark.gpu
def test_gpu_no_host_synchronisation(gpu_backend):
    model = _Sequential(gpu_backend).cuda()
    x = torch.randn(20, 4, 8, device="cuda")
    _train_step(model, x)  # compile and allocate first
    torch.cuda.set_sync_debug_mode("error")
    try:
        _train_step(model, x)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.gpu
def test_gpu_torch_compile_fullgraph(gpu_backend):
    model = _Sequential(gpu_backend).cuda()
    x = torch.randn(12, 4, 8, device="cuda")
    compiled = torch.compile(model, fullgraph=True)
    for a, b in zip(compiled(x), model(x)):
        torch.testing.assert_close(a, b)
    grads = [torch.autograd.grad(out[0].sum() + out[1].sum(), list(model.parameters())) for out in (compiled(x), model(x))]
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


@pytest.mark.gpu
def test_gpu_triton_does_not_recompile_for_new_sizes_or_slopes():
    from snnkern.backends import triton as backend

    def compiled_kernels():
        kernels = backend._kernels()
        return sum(len(cache[0]) for kernel in (kernels._lif_fwd_kernel, kernels._lif_bwd_kernel)
                   for cache in kernel.device_caches.values())

    def step(T, B, N, slope):
        x = torch.randn(T, B, N, device="cuda", requires_grad=True)
        spikes, state = snnkern.lif(x, 0.9, torch.full((N,), 1.0, device="cuda"), slope=slope, backend="triton")
        torch.autograd.grad(spikes.sum() + state.sum(), x)

    step(5, 3, 77, 2.0)
    before = compiled_kernels()
    for T, B, N, slope in ((9, 2, 101, 3.0), (1, 7, 33, 25.0), (130, 1, 1001, 0.5)):
        step(T, B, N, slope)
    assert compiled_kernels() == before


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_gpu_call_on_another_device_keeps_the_current_device(gpu_backend):
    x = torch.randn(4, 3, 50, device="cuda:1", requires_grad=True)
    with torch.cuda.device(0):
        spikes, state = snnkern.lif(x, backend=gpu_backend)
        torch.autograd.grad(spikes.sum() + state.sum(), x)
        assert torch.cuda.current_device() == 0
    assert spikes.device == x.device


@pytest.mark.gpu
def test_gpu_auto_picks_a_gpu_kernel():
    available = [b for b in ("cuda", "triton") if snnkern.info()["backends"][b] is None]
    assert resolve("auto", torch.device("cuda")) == available[0]

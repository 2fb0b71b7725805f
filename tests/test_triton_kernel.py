"""The Triton kernels against the reference: every variant x surrogate x dtype, edge sizes and values.

Without a GPU they run on CPU tensors in the Triton interpreter (TRITON_INTERPRET=1, set for this module
only), on tiny sizes: the kernel source is exercised, only its speed is left for the GPU (test_triton_compile.py
compiles them for sm_90 to check what the interpreter cannot). With a GPU the same tests run the compiled
kernels on CUDA tensors, and the tests of the `backend` fixture also run the CUDA kernels. Where the backend
is unavailable (an interpreter that cannot run the kernels, such as Triton 3.6's with numpy >= 2.4), the
module is skipped with the backend's reason.
"""
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings, strategies as st

import snnkern
from lif_checks import VARIANTS, assert_close, check_against_reference, make_inputs, run
from snnkern.backends import triton as triton_backend

pytest.importorskip("triton")
pytestmark = pytest.mark.triton

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
BACKENDS = ["triton"] + (["cuda"] if DEVICE == "cuda" and snnkern.info()["backends"]["cuda"] is None else [])


def _exact_bfloat16_cast(original):
    """Triton's interpreter converts float32 to bfloat16 by truncation, where the compiled kernels round to
    nearest even (cvt.rn.bf16.f32) as torch does: convert bfloat16 exactly, through torch."""
    import numpy as np
    import triton.language as tl
    from triton.runtime.interpreter import TensorHandle

    def cast_impl(self, src, dst_type):
        data = np.ascontiguousarray(src.data)
        if src.dtype.scalar == tl.float32 and dst_type.scalar == tl.bfloat16:
            bits = torch.from_numpy(data).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
            return TensorHandle(bits, dst_type.scalar)
        if src.dtype.scalar == tl.bfloat16 and dst_type.scalar == tl.float32:
            return TensorHandle((data.astype(np.uint32) << 16).view(np.float32), dst_type.scalar)
        return original(self, src, dst_type)

    return cast_impl


@pytest.fixture(autouse=True, scope="module")
def interpreter():
    """Without a GPU, run the kernels in the Triton interpreter on CPU tensors."""
    with pytest.MonkeyPatch.context() as patch:
        if DEVICE == "cpu":
            from triton.runtime.interpreter import InterpreterBuilder

            patch.setenv("TRITON_INTERPRET", "1")
            patch.setattr(InterpreterBuilder, "cast_impl", _exact_bfloat16_cast(InterpreterBuilder.cast_impl))
        reason = triton_backend.status()
        if reason is not None:
            pytest.skip(f"triton backend unavailable: {reason}")
        yield


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def _check(dtype, shape, variant, **kwargs):
    check_against_reference("triton", dtype, shape, variant, device=DEVICE, **kwargs)


def _id(variant):
    return "-".join(str(v) for v in variant.values())


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("variant", VARIANTS, ids=_id)
def test_every_variant(variant, dtype):
    _check(dtype, (5, 2, 23), variant, seed=VARIANTS.index(variant))


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 2, 257), (2, 1, 255), (7, 5, 1), (3, 2, 131), (3, 4, 32), (4, 3, 2, 3, 7)])
@pytest.mark.parametrize("per_neuron", [True, False])
def test_edge_sizes(shape, per_neuron):
    """T = 1, N = 1, lanes not a multiple of the block (256 in the interpreter), a prime N, a feature grid;
    B*N a multiple of 16 (ALIGN = 16); one value or one per neuron for beta and threshold."""
    for variant, dtype in ((VARIANTS[0], torch.float64), (VARIANTS[-1], torch.float32)):
        _check(dtype, shape, variant, per_neuron=per_neuron)


@settings(max_examples=12, deadline=None)
@given(T=st.integers(1, 6), B=st.integers(1, 3), N=st.integers(1, 90), variant=st.sampled_from(VARIANTS),
       dtype=st.sampled_from(DTYPES), per_neuron=st.booleans(), seed=st.integers(0, 2**16))
def test_random_shapes(T, B, N, variant, dtype, per_neuron, seed):
    _check(dtype, (T, B, N), variant, seed=seed, per_neuron=per_neuron)


@pytest.mark.parametrize("scale", [1e4, -1e4])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_huge_membranes(scale, dtype):
    """Inputs and thresholds scaled by 1e4 (slope scaled down to match), then a constant input of +-1e4."""
    for variant in VARIANTS[::10]:
        _check(dtype, (6, 2, 9), variant, scale=abs(scale), slope=2.0 / abs(scale), seed=3)
    inputs = make_inputs((6, 2, 9), seed=4, device=DEVICE)
    inputs.x.fill_(scale)
    for a, e in zip(run("triton", inputs, dtype, VARIANTS[0]), run("torch", inputs, dtype, VARIANTS[0])):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS[::4], ids=_id)
def test_exactly_at_threshold(backend, variant):
    """h == threshold exactly gives no spike (H(0) = 0), in every dtype."""
    for dtype in DTYPES:
        x = torch.zeros(3, 2, 5, dtype=dtype, device=DEVICE)
        x[0] = 1.0  # v0 = 0: h = 1.0 = threshold at t = 0
        x[1] = 2.0  # clearly above at t = 1
        spikes, _ = snnkern.lif(x, 0.5, 1.0, backend=backend, **variant)
        ref, _ = snnkern.lif(x, 0.5, 1.0, backend="torch", **variant)
        assert torch.equal(spikes, ref)
        assert not spikes[0].any() and spikes[1].all()


def test_half_z_keeps_a_spike_positive(backend):
    """float16 z storage: a z = h - threshold that rounds to 0 in float16 is stored as the smallest normal,
    so the backward sees the forward's spike (with reset "zero" the gradient depends on it); z far beyond
    float16's range saturates instead of becoming inf."""
    theta = torch.full((4,), 2.0**-10, device=DEVICE)
    v0 = torch.tensor([[2.0**-32, 0.0, 1e9, -1e9]], device=DEVICE)  # beta*v0 = 2^-33: z = 2^-33 at t = 0
    x = torch.full((2, 1, 4), 2.0**-10, dtype=torch.float16, device=DEVICE)
    results = []
    for run_backend in (backend, "torch"):
        leaves = [x.clone().requires_grad_(), v0.clone().requires_grad_(), theta.clone().requires_grad_()]
        spikes, state = snnkern.lif(leaves[0], 0.5, leaves[2], leaves[1], reset="zero", slope=1.0,
                                    backend=run_backend)
        results.append((spikes, state, *torch.autograd.grad(spikes.float().sum() + state.sum(), leaves)))
    (spikes, *rest), (ref_spikes, *ref_rest) = results
    assert torch.equal(spikes, ref_spikes) and spikes[0, 0, 0] == 1
    for name, a, e in zip(("state", "grad_x", "grad_v0", "grad_threshold"), rest, ref_rest):
        assert torch.isfinite(a).all(), name
        assert_close(name, a.double(), e.double(), rtol=1e-3)


def test_chained_calls_equal_one_call(backend):
    """State carried across two calls gives the values and gradients of one call."""
    for variant in VARIANTS[::7]:
        inputs = make_inputs((9, 2, 6), seed=8, device=DEVICE)
        leaves = [t.clone().requires_grad_() for t in (inputs.x, inputs.v0, inputs.beta, inputs.threshold)]
        x, v0, beta, threshold = leaves
        opts = dict(slope=3.0, backend=backend, **variant)
        whole, state = snnkern.lif(x, beta, threshold, v0, **opts)
        first, mid = snnkern.lif(x[:4], beta, threshold, v0, **opts)
        second, state2 = snnkern.lif(x[4:], beta, threshold, mid, **opts)
        chained = torch.cat([first, second])
        assert torch.equal(chained, whole)
        assert_close("state", state2, state, rtol=1e-12)
        losses = [(s * inputs.grad_spikes).sum() + (v * inputs.grad_state).sum()
                  for s, v in ((chained, state2), (whole, state))]
        for name, a, e in zip(("x", "v0", "beta", "threshold"), torch.autograd.grad(losses[0], leaves),
                              torch.autograd.grad(losses[1], leaves)):
            assert_close(f"grad_{name}", a, e, rtol=1e-10)


def test_strided_input_and_loss(backend):
    """x a window of a larger buffer (time, batch strides not those of a dense tensor), batch-major x, and
    upstream gradients with zero strides (a loss weighted per neuron)."""
    check_against_reference(backend, torch.float32, (6, 4, 19), VARIANTS[9], time_dim=1, device=DEVICE)
    g = torch.Generator().manual_seed(3)
    big = (torch.randn(12, 5, 40, generator=g, dtype=torch.float64) * 0.6 + 0.35).to(DEVICE)
    weights = torch.randn(17, dtype=torch.float64, generator=g).to(DEVICE)
    results = []
    for run_backend in (backend, "torch"):
        x = big.clone().requires_grad_()
        view = x[1::2, 1:, 5:22]  # [6, 4, 17], unit stride along the neurons only
        spikes, state = snnkern.lif(view, 0.7, 0.9, reset="zero", backend=run_backend)
        loss = (spikes.sum((0, 1)) * weights).sum() + state[:, ::3].sum()  # dL/ds strides (0, 0, 1)
        results.append((spikes, state, *torch.autograd.grad(loss, x)))
    for a, e in zip(*results):
        assert_close("strided", a, e, rtol=1e-12)


def test_partial_losses_and_no_grad(backend):
    """A loss on the spikes only, on the final state only, and the no-grad forward (stores no z)."""
    inputs = make_inputs((5, 3, 11), seed=2, device=DEVICE)
    for pick in (0, 1):
        grads = []
        for run_backend in (backend, "torch"):
            x = inputs.x.clone().requires_grad_()
            out = snnkern.lif(x, inputs.beta, inputs.threshold, backend=run_backend, slope=2.0)[pick]
            grads.append(torch.autograd.grad((out * (inputs.grad_spikes if pick == 0 else inputs.grad_state)).sum(),
                                             x)[0])
        assert_close("grad_x", *grads, rtol=1e-12)
    with torch.no_grad():
        got = snnkern.lif(inputs.x.float(), 0.8, 1.0, inputs.v0.float(), backend=backend, reset_delay=True)
        ref = snnkern.lif(inputs.x.float(), 0.8, 1.0, inputs.v0.float(), backend="torch", reset_delay=True)
    assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])


def test_nan_propagates(backend):
    x = torch.rand(6, 2, 5, dtype=torch.float64, device=DEVICE, requires_grad=True)
    with torch.no_grad():
        x[3, 0, 2] = float("nan")
    beta = torch.full((5,), 0.8, dtype=torch.float64, device=DEVICE, requires_grad=True)
    spikes, state = snnkern.lif(x, beta, 1.0, backend=backend)
    grad_x, grad_beta = torch.autograd.grad(spikes.sum() + state.sum(), (x, beta))
    lane = torch.zeros(2, 5, dtype=torch.bool, device=DEVICE)
    lane[0, 2] = True
    assert torch.isnan(spikes[3:, 0, 2]).all() and torch.isnan(state[0, 2])
    assert torch.isfinite(spikes[:3]).all() and torch.isfinite(spikes[:, ~lane]).all()
    assert torch.isnan(grad_x[:4, 0, 2]).all() and torch.isfinite(grad_x[:, ~lane]).all()
    assert torch.isnan(grad_beta[2]) and torch.isfinite(grad_beta[[0, 1, 3, 4]]).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_state_does_not_drift(backend, dtype):
    x = torch.full((300, 1, 3), 0.15, dtype=dtype, device=DEVICE)
    with torch.no_grad():
        spikes, _ = snnkern.lif(x, 0.9, 1.0, backend=backend)
    expected, _ = snnkern.lif(x.double(), 0.9, 1.0, backend="torch")
    assert int(expected.sum()) > 20
    assert torch.equal(spikes.double(), expected)


def test_slope_tensor_equals_float_and_changes_gradient(backend):
    x = torch.tensor([[[0.3, 0.9, 1.2, 1.7]]], dtype=torch.float64, device=DEVICE, requires_grad=True)
    for k in (1.0, 100.0):
        grads = [torch.autograd.grad(snnkern.lif(x, 0.9, 1.0, slope=slope, backend=backend)[0].sum(), x)[0]
                 for slope in (k, torch.tensor(k, dtype=torch.float64, device=DEVICE))]
        assert torch.equal(grads[0], grads[1])
        torch.testing.assert_close(grads[0], 1 / (1 + k * (x.detach() - 1).abs()) ** 2, rtol=1e-12, atol=0)


def test_torch_compile_fullgraph(backend):
    """torch.compile traces through the backend's choice (the status checks run eagerly, not traced)."""
    x = torch.randn(7, 3, 20, device=DEVICE, requires_grad=True)
    beta = torch.full((20,), 0.8, device=DEVICE, requires_grad=True)

    def loss(x):
        spikes, state = snnkern.lif(x, beta, 0.5, backend=backend)
        return (spikes * torch.arange(20.0, device=DEVICE)).sum() + state.square().sum()

    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    expected, got = loss(x), compiled(x)
    torch.testing.assert_close(got, expected)
    for a, b in zip(torch.autograd.grad(got, (x, beta)), torch.autograd.grad(expected, (x, beta))):
        torch.testing.assert_close(a, b)


def test_backend_choice_is_marked_constant_as_torch_marks_it():
    from snnkern.backends import resolve

    def probe():
        return None

    assert torch.compiler.assume_constant_result(probe) is probe
    assert all(getattr(f, "_dynamo_marked_constant", False) for f in (probe, resolve))


def test_deterministic(backend):
    """Two runs give bit-identical results (per-neuron gradients are per-lane sums, reduced by torch)."""
    inputs = make_inputs((6, 4, 70), seed=5, device=DEVICE)
    first = run(backend, inputs, torch.float32, VARIANTS[1])
    second = run(backend, inputs, torch.float32, VARIANTS[1])
    for a, b in zip(first, second):
        assert torch.equal(a, b)


@pytest.mark.skipif(DEVICE == "cuda", reason="checks the interpreter switch on a machine without a GPU")
def test_interpreter_switch_and_lazy_import(monkeypatch):
    assert "cpu" in triton_backend.DEVICE_TYPES and triton_backend.status() is None
    monkeypatch.delenv("TRITON_INTERPRET")
    assert triton_backend.DEVICE_TYPES == ("cuda",)
    assert "no CUDA device" in triton_backend.status()
    with pytest.raises(RuntimeError, match="triton.*not available"):
        snnkern.lif(torch.randn(3, 2, 4), backend="triton")
    code = "import sys, snnkern; assert 'triton' not in sys.modules"  # (torch._dynamo imports it, later)
    subprocess.run([sys.executable, "-c", code], check=True)


class _FailingLaunch:
    """A kernel whose launch fails as Triton 3.6's interpreter does under numpy >= 2.4."""

    def __getitem__(self, grid):
        def launch(*args):
            raise TypeError("only 0-dimensional arrays can be converted to Python scalars")
        return launch


@pytest.mark.skipif(DEVICE == "cuda", reason="checks the interpreter's probe on a machine without a GPU")
def test_interpreter_that_cannot_run_the_kernels_is_reported():
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(triton_backend._kernels(), "_interpreter_probe", _FailingLaunch())
            triton_backend._interpreter_error.cache_clear()
            reason = triton_backend.status()
            assert "interpreter cannot run the kernels" in reason and "TypeError: only 0-dimensional" in reason
            with pytest.raises(RuntimeError, match="triton.*not available.*numpy"):
                snnkern.lif(torch.randn(3, 2, 4), backend="triton")
    finally:
        triton_backend._interpreter_error.cache_clear()
    assert triton_backend.status() is None  # the real probe runs again

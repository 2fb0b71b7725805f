"""The public `snnkern.lif` contract: argument errors, NaN handling, state carrying, strides, precision.
Each test runs on every backend available here (the reference always)."""
import pytest
import torch

import snnkern
from lif_checks import VARIANTS, assert_close
from snnkern.surrogates import surrogate_grad

BACKENDS = ["torch"] + [b for b in ("cpu",) if snnkern.info()["backends"][b] is None]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


# (a) sigmoid surrogate far below threshold: finite gradient in every precision
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_sigmoid_far_below_threshold_is_finite(backend, dtype):
    x = torch.full((4, 2, 8), -100.0, dtype=dtype, requires_grad=True)
    spikes, state = snnkern.lif(x, 0.9, 1.0, surrogate="sigmoid", slope=25.0, backend=backend)
    (grad,) = torch.autograd.grad(spikes.float().sum() + state.sum(), x)
    assert torch.isfinite(grad).all()


# (b) the slope is a runtime value: slope 1 and 100 give different gradients, each 1/(1 + k|z|)^2
@pytest.mark.parametrize("slope_as_tensor", [False, True])
def test_slope_changes_gradient(backend, slope_as_tensor):
    x = torch.tensor([[[0.3, 0.9, 1.2, 1.7]]], dtype=torch.float64, requires_grad=True)  # T=1, B=1
    grads = {}
    for k in (1.0, 100.0):
        slope = torch.tensor(k, dtype=torch.float64) if slope_as_tensor else k
        spikes, _ = snnkern.lif(x, 0.9, 1.0, slope=slope, backend=backend)
        (grads[k],) = torch.autograd.grad(spikes.sum(), x)  # one step, no future: dL/dx = sg(x - 1)
        torch.testing.assert_close(grads[k], 1 / (1 + k * (x.detach() - 1).abs()) ** 2, rtol=1e-12, atol=0)
    assert not torch.allclose(grads[1.0], grads[100.0])


# (c) bad arguments: errors that name the argument, raised from metadata only
@pytest.mark.parametrize("kwargs, error, name", [
    (dict(slope=0.0), ValueError, "slope"),
    (dict(slope=-2.0), ValueError, "slope"),
    (dict(slope=float("nan")), ValueError, "slope"),
    (dict(slope=torch.ones(2)), ValueError, "slope"),
    (dict(beta=1.5), ValueError, "beta"),
    (dict(beta=-0.1), ValueError, "beta"),
    (dict(threshold=0.0), ValueError, "threshold"),
    (dict(beta=torch.rand(7)), ValueError, "beta"),
    (dict(threshold=torch.rand(3, 5)), ValueError, "threshold"),
    (dict(beta=torch.rand(5, dtype=torch.float64)), TypeError, "beta"),
    (dict(v0=torch.zeros(2, 5, dtype=torch.float64)), TypeError, "v0"),
    (dict(v0=torch.zeros(3, 5)), ValueError, "v0"),
    (dict(v0=torch.zeros(2, 5, device="meta")), ValueError, "v0"),
    (dict(threshold=torch.ones(5, device="meta")), ValueError, "threshold"),
    (dict(slope=torch.tensor(2.0, device="meta")), ValueError, "slope"),
    (dict(reset="soft"), ValueError, "reset"),
    (dict(surrogate="erf"), ValueError, "surrogate"),
    (dict(backend="cupy"), ValueError, "backend"),
    (dict(time_dim=2), ValueError, "time_dim"),
    (dict(time_dim=True), ValueError, "time_dim"),
    (dict(reset=["zero"]), ValueError, "reset"),
    (dict(surrogate={}), ValueError, "surrogate"),
    (dict(reset_delay=1), TypeError, "reset_delay"),
])
def test_bad_arguments(kwargs, error, name):
    x = torch.randn(4, 2, 5)
    with pytest.raises(error, match=rf"\b{name}\b"):
        snnkern.lif(x, **kwargs)


@pytest.mark.parametrize("x, error", [
    (torch.randn(4, 5), ValueError),  # [T, N]: no batch dimension
    (torch.randn(4, 2, 5).to(torch.int32), TypeError),
    (torch.randn(4, 2, 5).to_sparse(), TypeError),
    (torch.randn(0, 2, 5), ValueError),
    ([[[1.0]]], TypeError),
])
def test_bad_x(x, error):
    with pytest.raises(error, match=r"\bx\b"):
        snnkern.lif(x)


def test_unavailable_backend_says_why():
    with pytest.raises(RuntimeError, match="triton.*not available"):
        snnkern.lif(torch.randn(3, 2, 4), backend="triton")


# (c) NaN in x: NaN in the affected outputs and gradients, finite elsewhere; debug mode raises
def test_nan_propagates(backend):
    x = torch.rand(6, 2, 5, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        x[3, 0, 2] = float("nan")
    beta = torch.full((5,), 0.8, dtype=torch.float64, requires_grad=True)
    spikes, state = snnkern.lif(x, beta, 1.0, backend=backend)
    grad_x, grad_beta = torch.autograd.grad(spikes.sum() + state.sum(), (x, beta))
    lane = torch.zeros(2, 5, dtype=torch.bool)
    lane[0, 2] = True
    assert torch.isnan(spikes[3:, 0, 2]).all() and torch.isnan(state[0, 2])
    assert torch.isfinite(spikes[:3]).all() and torch.isfinite(spikes[:, ~lane]).all()
    assert torch.isnan(grad_x[:4, 0, 2]).all() and torch.isfinite(grad_x[:, ~lane]).all()
    assert torch.isnan(grad_beta[2]) and torch.isfinite(grad_beta[[0, 1, 3, 4]]).all()


def test_debug_mode_checks_values():
    x = torch.zeros(3, 2, 4)
    x[1, 1, 1] = float("nan")
    snnkern.set_debug(True)
    try:
        with pytest.raises(ValueError, match=r"\bx\b.*NaN"):
            snnkern.lif(x)
        with pytest.raises(ValueError, match=r"\bthreshold\b.*NaN"):
            snnkern.lif(torch.zeros(3, 2, 4), threshold=torch.tensor([1.0, float("nan"), 1.0, 1.0]))
        with pytest.raises(ValueError, match=r"\bslope\b"):
            snnkern.lif(torch.zeros(3, 2, 4), slope=torch.tensor(-1.0))
    finally:
        snnkern.set_debug(False)
    snnkern.lif(x, slope=torch.tensor(-1.0))  # off again: tensor values are not read, no error


def test_no_silent_double_backward():
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    for backend in BACKENDS:
        spikes, _ = snnkern.lif(x, backend=backend, surrogate="sigmoid")
        if backend == "torch":  # the reference has second derivatives
            (g,) = torch.autograd.grad(spikes.sum(), x, create_graph=True)
            assert g.requires_grad
        else:
            with pytest.raises(RuntimeError, match="double backward"):
                torch.autograd.grad(spikes.sum(), x, create_graph=True)


# (d) two chained calls with the state carried (not detached) equal one call over the whole sequence
@pytest.mark.parametrize("variant", VARIANTS[::3], ids=lambda v: "-".join(map(str, v.values())))
def test_chained_calls_equal_one_call(backend, variant):
    g = torch.Generator().manual_seed(7)
    x = (torch.randn(100, 3, 16, generator=g, dtype=torch.float64) * 0.6 + 0.35).requires_grad_()
    v0 = torch.randn(3, 16, generator=g, dtype=torch.float64).requires_grad_()
    beta = (torch.rand(16, generator=g, dtype=torch.float64) * 0.9).requires_grad_()
    threshold = (torch.rand(16, generator=g, dtype=torch.float64) + 0.5).requires_grad_()
    weights = torch.randn(100, 3, 16, generator=g, dtype=torch.float64)
    leaves = (x, v0, beta, threshold)
    opts = dict(slope=3.0, backend=backend, **variant)

    whole, state = snnkern.lif(x, beta, threshold, v0, **opts)
    loss_whole = (whole * weights).sum() + state.sum()
    first, mid = snnkern.lif(x[:50], beta, threshold, v0, **opts)
    second, state2 = snnkern.lif(x[50:], beta, threshold, mid, **opts)
    loss_chained = (torch.cat([first, second]) * weights).sum() + state2.sum()

    assert torch.equal(torch.cat([first, second]), whole)
    torch.testing.assert_close(state2, state, rtol=1e-12, atol=1e-12)
    for name, a, e in zip(("x", "v0", "beta", "threshold"), torch.autograd.grad(loss_chained, leaves),
                          torch.autograd.grad(loss_whole, leaves)):
        assert_close(f"grad_{name}", a, e, rtol=1e-10)


# (e) non-contiguous x and a loss on a strided view of the spikes
def test_strided_input_and_loss(backend):
    g = torch.Generator().manual_seed(3)
    big = torch.randn(9, 6, 40, generator=g, dtype=torch.float64) * 0.6 + 0.35
    results = []
    for run_backend in (backend, "torch"):
        x = big.clone().requires_grad_()
        view = x[1::2, ::2, 3::3]  # strided in every dimension
        assert not view.is_contiguous()
        spikes, state = snnkern.lif(view, 0.7, 0.9, reset="zero", backend=run_backend)
        loss = spikes[::2, :, 1::2].sum() * 2 + spikes[1, 0].sum() + state[:, ::3].sum()
        results.append((spikes, state, *torch.autograd.grad(loss, x)))
    for a, e in zip(*results):
        assert_close("strided", a, e, rtol=1e-12)


# (g) half-precision storage keeps the state in float32: a constant input gives the float64 spike train
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_state_does_not_drift(backend, dtype):
    x = torch.full((1024, 1, 3), 0.15, dtype=dtype)
    spikes, _ = snnkern.lif(x, 0.9, 1.0, backend=backend)
    expected, _ = snnkern.lif(x.double(), 0.9, 1.0, backend="torch")
    assert spikes.dtype == dtype
    assert int(expected.sum()) > 50  # the train is not trivially empty
    assert torch.equal(spikes.double(), expected)


def test_surrogates_match_formulas():
    z = torch.linspace(-3, 3, 61, dtype=torch.float64)
    k = 2.5
    sig = torch.sigmoid(k * z)
    expected = {
        "fast_sigmoid": 1 / (1 + k * z.abs()) ** 2,
        "sigmoid": k * sig * (1 - sig),
        "arctan": k / 2 / (1 + (torch.pi / 2 * k * z) ** 2),
        "triangle": k * torch.clamp(1 - k * z.abs(), min=0),
    }
    for name, value in expected.items():
        torch.testing.assert_close(surrogate_grad(name, z, k), value, rtol=1e-12, atol=1e-15)
    assert torch.isfinite(surrogate_grad("sigmoid", torch.tensor([-1e30, 1e30]), 25.0)).all()


def test_no_grad_path_stores_nothing(backend):
    """Under no_grad the forward keeps nothing for a backward: outputs carry no graph."""
    x = torch.randn(5, 2, 8, requires_grad=True)
    with torch.no_grad():
        spikes, state = snnkern.lif(x, backend=backend)
    assert spikes.grad_fn is None and state.grad_fn is None

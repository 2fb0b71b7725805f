"""snnkern.nn.LIF and set_slope: parameters, state policy, single step, slope changes."""
import pytest
import torch

import snnkern
from snnkern.nn import LIF


def test_paper_initialisation_and_learnable_parameters():
    torch.manual_seed(0)
    layer = LIF(64)
    names = dict(layer.named_parameters())
    assert set(names) == {"beta", "threshold"}
    for p in names.values():
        assert p.shape == (64,) and (p >= 0).all() and (p < 1).all() and p.std() > 0.1
    fixed = LIF(8, beta=0.5, threshold=1.0, learn_beta=False, learn_threshold=False)
    assert list(fixed.parameters()) == []


def test_forward_matches_functional_and_trains():
    torch.manual_seed(1)
    layer = LIF((3, 4), surrogate="arctan", slope=5.0)
    x = torch.randn(7, 2, 3, 4, requires_grad=True)
    spikes, state = layer(x)
    ref, ref_state = snnkern.lif(x, layer.beta, layer.threshold, surrogate="arctan", slope=5.0, backend="torch")
    assert torch.equal(spikes, ref) and torch.allclose(state, ref_state)
    (spikes.sum() + state.sum()).backward()
    assert layer.beta.grad is not None and layer.beta.grad.abs().sum() > 0
    assert layer.threshold.grad.abs().sum() > 0


def test_step_loop_equals_sequence():
    torch.manual_seed(2)
    layer = LIF(10, reset_delay=True, detach_reset=True)
    x = torch.randn(12, 3, 10)
    spikes, state = layer(x)
    s, steps = None, []
    for x_t in x:
        out, s = layer.step(x_t, s)
        steps.append(out)
    assert torch.equal(torch.stack(steps), spikes) and torch.allclose(s, state)


def test_stateless_by_default_two_passes():
    layer = LIF(6)
    x = torch.randn(5, 2, 6, requires_grad=True)
    for _ in range(2):
        spikes, _ = layer(x)
        spikes.sum().backward()  # no state kept: each pass is independent


# (f) a stateful module used for two forward/backward passes without a reset continues from its
# (detached) state and never raises "Trying to backward through the graph a second time"
def test_stateful_two_passes_without_reset():
    torch.manual_seed(3)
    layer = LIF(6, stateful=True)
    x1, x2 = torch.randn(5, 2, 6) + 0.5, torch.randn(5, 2, 6) + 0.5
    s1, state1 = layer(x1)
    s1.sum().backward()
    s2, state2 = layer(x2)
    s2.sum().backward()
    expected, _ = snnkern.lif(x2, layer.beta, layer.threshold, state1.detach(), backend="torch")
    assert torch.equal(s2, expected)
    layer.reset_state()
    s3, _ = layer(x2)
    assert torch.equal(s3, snnkern.lif(x2, layer.beta, layer.threshold, backend="torch")[0])
    with pytest.raises(ValueError, match="reset_state"):
        layer(torch.randn(5, 3, 6))  # new batch size with a stored state


def test_set_slope_reaches_every_layer_without_new_modules():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), LIF(8), torch.nn.Linear(8, 8), LIF(8))
    assert snnkern.set_slope(model, 7.5) == 2
    assert all(float(m.slope) == 7.5 for m in model if isinstance(m, LIF))
    with pytest.raises(ValueError, match=r"\bk\b"):
        snnkern.set_slope(model, 0)


def test_slope_in_state_dict_and_gradient():
    layer = LIF(4, beta=0.9, threshold=1.0, learn_beta=False, learn_threshold=False)
    x = torch.full((1, 1, 4), 0.5, requires_grad=True)
    grads = []
    for k in (1.0, 10.0):
        snnkern.set_slope(layer, k)
        spikes, _ = layer(x)
        grads.append(torch.autograd.grad(spikes.sum(), x)[0])
    assert torch.allclose(grads[0], torch.full_like(x, 1 / 1.5 ** 2))
    assert torch.allclose(grads[1], torch.full_like(x, 1 / 6.0 ** 2))
    assert float(layer.state_dict()["slope"]) == 10.0


def test_bad_feature_shape():
    with pytest.raises(ValueError, match=r"\bx\b"):
        LIF(6)(torch.randn(3, 2, 5))
    with pytest.raises(ValueError, match="x_t"):
        LIF(6).step(torch.randn(6))


@pytest.mark.parametrize("args, kwargs, name", [
    ((0,), {}, "num_neurons"), ((3.0,), {}, "num_neurons"), ((True,), {}, "num_neurons"),
    ((None,), {}, "num_neurons"), (((4, 0),), {}, "num_neurons"),
    ((8,), dict(reset="bogus"), "reset"), ((8,), dict(surrogate="bogus"), "surrogate"),
    ((8,), dict(time_dim=2), "time_dim"), ((8,), dict(backend="bogus"), "backend"),
    ((8,), dict(slope=-1), "slope"), ((8,), dict(slope=float("nan")), "slope"),
    ((8,), dict(beta=1.5, learn_beta=False), "beta"), ((8,), dict(threshold=0.0), "threshold"),
    ((8,), dict(beta=torch.rand(7)), "beta"),
])
def test_bad_construction_fails_at_once(args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        LIF(*args, **kwargs)
    with pytest.raises(TypeError, match="stateful"):
        LIF(8, stateful="yes")


def test_stored_state_follows_the_module_dtype():
    layer = LIF(8, stateful=True)
    layer(torch.rand(3, 2, 8))
    layer.double()
    spikes, state = layer(torch.rand(3, 2, 8, dtype=torch.float64))
    assert spikes.dtype == state.dtype == torch.float64

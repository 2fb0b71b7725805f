"""Numerical equivalence with the peer libraries the variants are named after.

snnTorch `Leaky` (the paper's neuron): its default reset_delay=True equals ours with reset_delay=True,
detach_reset=True; its reset_delay=False equals our immediate reset with detach_reset=False while no
membrane exceeds twice the threshold (above that snnTorch decides the spike on h - threshold, because it
first subtracts the reset owed by the incoming membrane). SpikingJelly `LIFNode` with decay_input=False:
beta = 1 - 1/tau, soft reset (v_reset=None) and hard reset to 0, detach_reset on and off.
Everything runs in float64 on every backend available here.
"""
import pytest
import torch

import snnkern
from lif_checks import assert_close

snntorch = pytest.importorskip("snntorch")
BACKENDS = ["torch"] + [b for b in ("cpu",) if snnkern.info()["backends"][b] is None]
T, B, N = 30, 4, 24


def _inputs(seed, amplitude):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(T, B, N, generator=g, dtype=torch.float64) * amplitude
    beta = torch.rand(N, generator=g, dtype=torch.float64) * 0.8 + 0.1
    threshold = torch.rand(N, generator=g, dtype=torch.float64) * 0.5 + 0.75
    # snnTorch's spikes are float32, so the upstream gradient reaches its surrogate in float32: use
    # weights that float32 holds exactly and the comparison stays exact to float64 rounding
    weights = torch.randn(T, B, N, generator=g, dtype=torch.float64).float().double()
    return x, beta, threshold, weights


def _snntorch_run(x, beta, threshold, weights, reset, reset_delay, surrogate):
    from snntorch import surrogate as sg
    grad = {"fast_sigmoid": sg.fast_sigmoid(slope=4.0), "sigmoid": sg.sigmoid(slope=4.0),
            "arctan": sg.atan(alpha=4.0)}[surrogate]
    layer = snntorch.Leaky(beta=beta.clone(), threshold=threshold.clone(), learn_beta=True, learn_threshold=True,
                           spike_grad=grad, reset_mechanism=reset, reset_delay=reset_delay).double()
    x = x.clone().requires_grad_()
    mem, spikes, membranes = layer.init_leaky(), [], []
    for x_t in x:
        spk, mem = layer(x_t, mem)
        spikes.append(spk)
        membranes.append(mem)
    spikes = torch.stack(spikes)
    grads = torch.autograd.grad((spikes * weights).sum(), (x, layer.beta, layer.threshold))
    return spikes, grads, torch.stack(membranes)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "sigmoid", "arctan"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("reset_delay", [True, False])
def test_snntorch_leaky(backend, surrogate, reset, reset_delay):
    x, beta, threshold, weights = _inputs(seed=11, amplitude=0.7)  # < min threshold: h < 2 threshold
    theirs, their_grads, membranes = _snntorch_run(x, beta, threshold, weights, reset, reset_delay, surrogate)
    if not reset_delay:
        assert bool((membranes < 2 * threshold).all()), "inputs must keep membranes below twice the threshold"
    leaves = [t.clone().requires_grad_() for t in (x, beta, threshold)]
    ours, _ = snnkern.lif(leaves[0], leaves[1], leaves[2], reset=reset, reset_delay=reset_delay,
                          detach_reset=reset_delay, surrogate=surrogate, slope=4.0, backend=backend)
    assert 0.05 < float(ours.detach().mean()) < 0.95
    assert torch.equal(ours, theirs.to(ours.dtype))
    our_grads = torch.autograd.grad((ours * weights).sum(), leaves)
    # with reset_delay=False the gradient of snnTorch's immediate reset flows through its float32 spikes
    rtol = 1e-10 if reset_delay else 1e-6
    for name, a, e in zip(("x", "beta", "threshold"), our_grads, their_grads):
        assert_close(f"grad_{name}", a, e.reshape(a.shape), rtol=rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("v_reset", [None, 0.0])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("surrogate", ["sigmoid", "arctan"])
def test_spikingjelly_lifnode(backend, v_reset, detach_reset, surrogate):
    sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    from spikingjelly.activation_based import surrogate as sj_surrogate
    tau = 3.0
    x, _, _, weights = _inputs(seed=5, amplitude=0.8)
    sg = {"sigmoid": sj_surrogate.Sigmoid(alpha=4.0), "arctan": sj_surrogate.ATan(alpha=4.0)}[surrogate]
    node = sj_neuron.LIFNode(tau=tau, decay_input=False, v_threshold=1.0, v_reset=v_reset, surrogate_function=sg,
                             detach_reset=detach_reset, step_mode="m")
    x_theirs = x.clone().requires_grad_()
    theirs = node(x_theirs)
    (their_grad,) = torch.autograd.grad((theirs * weights).sum(), x_theirs)

    x_ours = x.clone().requires_grad_()
    ours, state = snnkern.lif(x_ours, 1 - 1 / tau, 1.0, reset="subtract" if v_reset is None else "zero",
                              detach_reset=detach_reset, surrogate=surrogate, slope=4.0, backend=backend)
    (our_grad,) = torch.autograd.grad((ours * weights).sum(), x_ours)
    assert 0.05 < float(ours.detach().mean()) < 0.95
    assert torch.equal(ours, theirs.to(ours.dtype))
    assert_close("state", state, node.v, rtol=1e-10)
    assert_close("grad_x", our_grad, their_grad, rtol=1e-10)

"""Checks of a fused LIF backend against the reference, shared by the CPU, Triton and CUDA tests.

`check_against_reference(backend, device, dtype, shape, variant, seed)` draws fresh random inputs,
runs the backend and the reference, and compares spikes, final state and the gradients of x, v0, beta
and threshold under a random upstream gradient on both the spikes and the final state:
- float64: spikes identical, everything else to rtol 1e-10;
- float32 and half storage: spikes identical to the reference run in the same dtype; against float64
  on the same rounded inputs, lanes whose float64 membrane ever came within rounding of the threshold
  are set apart (a spike there may legitimately differ and change the rest of the lane); every other
  value must match to the dtype's tolerance.
"""
import itertools
from dataclasses import dataclass

import torch

import snnkern
from snnkern._validate import validate
from snnkern.reference import lif_ref_trace

VARIANTS = [
    dict(reset=reset, reset_delay=delay, detach_reset=detach, surrogate=surrogate)
    for reset, delay, detach, surrogate in itertools.product(
        ("subtract", "zero", "none"), (False, True), (False, True), ("fast_sigmoid", "sigmoid", "arctan", "triangle"))
    if not (reset == "none" and detach)  # detach_reset has no effect without a reset
]

# relative tolerance of gradients against float64, and the membrane distance to the threshold (relative
# to the membrane's scale) below which a spike may differ from float64
TOLERANCES = {
    torch.float32: dict(grad=1e-5, near=1e-4),
    torch.float16: dict(grad=5e-3, near=1e-4),
    torch.bfloat16: dict(grad=2e-2, near=1e-4),
}


@dataclass
class Inputs:
    x: torch.Tensor
    beta: torch.Tensor
    threshold: torch.Tensor
    v0: torch.Tensor
    grad_spikes: torch.Tensor
    grad_state: torch.Tensor


def make_inputs(shape, per_neuron=True, seed=0, scale=1.0, device="cpu"):
    """float64 inputs: x around the threshold so that neurons spike now and then."""
    g = torch.Generator().manual_seed(seed)
    T, B, *features = shape
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * 0.6 + 0.35) * scale
    pshape = tuple(features) if per_neuron else ()
    beta = torch.rand(pshape, generator=g, dtype=torch.float64) * 0.9 + 0.05
    threshold = (torch.rand(pshape, generator=g, dtype=torch.float64) + 0.5) * scale
    v0 = torch.randn((B, *features), generator=g, dtype=torch.float64) * 0.5 * scale
    grad_spikes = torch.randn(shape, generator=g, dtype=torch.float64)
    grad_state = torch.randn((B, *features), generator=g, dtype=torch.float64)
    return Inputs(*(t.to(device) for t in (x, beta, threshold, v0, grad_spikes, grad_state)))


def run(backend, inputs, dtype, variant, slope=2.0, time_dim=0):
    """Spikes, state and gradients (x, v0, beta, threshold) of one call, all returned as float64.
    beta, threshold and v0 go in the compute dtype (float32 for half x), as nn.LIF holds them."""
    cdt = torch.float64 if dtype == torch.float64 else torch.float32
    x = inputs.x.to(dtype)
    if time_dim:
        x = x.transpose(0, 1).contiguous().transpose(0, 1)  # same values, batch-major memory
    leaves = [x.requires_grad_(), inputs.v0.to(cdt).requires_grad_(), inputs.beta.to(cdt).requires_grad_(),
              inputs.threshold.to(cdt).requires_grad_()]
    xin = leaves[0].transpose(0, 1) if time_dim else leaves[0]
    spikes, state = snnkern.lif(xin, leaves[2], leaves[3], leaves[1], slope=slope, time_dim=time_dim,
                                backend=backend, **variant)
    spikes = spikes.transpose(0, 1) if time_dim else spikes
    loss = (spikes.double() * inputs.grad_spikes).sum() + (state.double() * inputs.grad_state).sum()
    grads = torch.autograd.grad(loss, leaves)
    return [t.detach().double() for t in (spikes, state, *grads)]


NAMES = ("spikes", "state", "grad_x", "grad_v0", "grad_beta", "grad_threshold")


def assert_close(name, actual, expected, rtol, mask=None, atol=0.0):
    """Elementwise |a - e| <= rtol * (|e| + max|e|) + atol on the masked part; NaN must match NaN."""
    if mask is not None:
        actual, expected = actual[mask], expected[mask]
        atol = atol[mask] if torch.is_tensor(atol) and atol.dim() else atol
    assert torch.equal(torch.isnan(actual), torch.isnan(expected)), f"{name}: NaN pattern differs"
    ok = ~torch.isnan(expected)
    a, e = actual[ok], expected[ok]
    if e.numel() == 0:
        return
    atol = atol[ok] if torch.is_tensor(atol) and atol.dim() else atol
    bound = rtol * (e.abs() + e.abs().max()) + atol + 1e-300
    err = (a - e).abs()
    worst = int(torch.argmax(err / bound))
    assert bool((err <= bound).all()), (
        f"{name}: max error {float(err.max()):.3g} at flat index {worst} (actual {float(a[worst]):.17g}, "
        f"expected {float(e[worst]):.17g}, rtol {rtol})")


def near_threshold_lanes(inputs, dtype, variant, slope, near):
    """[B, *features] bool: lanes whose float64 membrane (on the inputs rounded to dtype) ever lies within
    `near` (relative) of the threshold."""
    cdt = torch.float64
    x = inputs.x.to(dtype).to(cdt)
    beta = inputs.beta.to(torch.float32 if dtype != torch.float64 else cdt).to(cdt)
    threshold = inputs.threshold.to(torch.float32 if dtype != torch.float64 else cdt).to(cdt)
    v0 = inputs.v0.to(torch.float32).to(cdt)
    call = validate(x, beta, threshold, v0, variant["reset"], variant["reset_delay"], variant["detach_reset"],
                    variant["surrogate"], slope, 0)
    with torch.no_grad():
        _, _, h = lif_ref_trace(call)
        theta = threshold.expand(h.shape[2:])
        owed = v0 - theta  # the delayed reset also reads the incoming state
        lanes = ((h - theta).abs() <= near * (h.abs() + theta.abs())).any(0)
        if variant["reset_delay"]:
            lanes |= owed.abs() <= near * (v0.abs() + theta.abs())
    return lanes


def check_against_reference(backend, dtype, shape, variant, seed=0, per_neuron=True, scale=1.0, slope=2.0,
                            time_dim=0, device="cpu"):
    inputs = make_inputs(shape, per_neuron, seed, scale, device)
    got = run(backend, inputs, dtype, variant, slope, time_dim)
    same_dtype = run("torch", inputs, dtype, variant, slope)
    assert torch.equal(got[0], same_dtype[0]), "spikes differ from the reference run in the same dtype"
    if dtype == torch.float64:
        for name, a, e in zip(NAMES[1:], got[1:], same_dtype[1:]):
            assert_close(name, a, e, rtol=1e-10)
        return
    tol = TOLERANCES[dtype]
    exact = run("torch", Inputs(inputs.x.to(dtype).double(), *(
        t.to(torch.float32).double() for t in (inputs.beta, inputs.threshold, inputs.v0)),
        inputs.grad_spikes, inputs.grad_state), torch.float64, variant, slope)
    lanes = near_threshold_lanes(inputs, dtype, variant, slope, tol["near"])
    # one excluded lane is always allowed (a tiny tensor may have only a few)
    assert lanes.sum() <= max(1, lanes.numel() // 4), "too many lanes near threshold: the comparison would be vacuous"
    keep = ~lanes
    neurons = ~lanes.any(0) if per_neuron else ~lanes.any()
    # beta and threshold gradients are sums of T*B terms that may cancel: allow rtol of the sum of the
    # terms' magnitudes, |dL/dx| times the membrane scale, summed over what the parameter reduces
    terms = exact[2].abs().sum(0) * (1 + exact[1].abs().max() + inputs.threshold.abs().max())
    terms = terms.sum(0) if per_neuron else terms.sum()
    # dL/dv0 is a product of decays and surrogate values that can end up far smaller than the lane's other
    # derivatives (rounding of z near a surrogate's kink then dominates): judge it on the lane's dL/dx
    # scale; the state on the membrane scale
    lane_scale = exact[2].abs().amax(0)
    membrane_scale = inputs.x.abs().max() + inputs.threshold.abs().max()
    checks = [("spikes", got[0], exact[0], 0.0, keep.expand_as(got[0]), 0.0),
              ("state", got[1], exact[1], tol["grad"], keep, tol["grad"] * membrane_scale),
              ("grad_x", got[2], exact[2], tol["grad"], keep.expand_as(got[2]), 0.0),
              ("grad_v0", got[3], exact[3], tol["grad"], keep, tol["grad"] * lane_scale),
              ("grad_beta", got[4], exact[4], tol["grad"], neurons, tol["grad"] * terms),
              ("grad_threshold", got[5], exact[5], tol["grad"], neurons, tol["grad"] * terms)]
    for name, a, e, rtol, mask, atol in checks:
        if mask.dim() == 0:
            if not bool(mask):
                continue
            mask = None
        assert_close(name, a, e, rtol, mask, atol)

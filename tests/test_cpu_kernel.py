"""The fused CPU kernel against the reference: every variant x surrogate x dtype, edge sizes and values."""
import os

import pytest
import torch
from hypothesis import given, settings, strategies as st

from lif_checks import VARIANTS, check_against_reference, make_inputs, run
import snnkern

pytestmark = pytest.mark.skipif(snnkern.info()["backends"]["cpu"] is not None, reason="CPU kernel not built")

DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


def _id(variant):
    return "-".join(str(v) for v in variant.values())


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("variant", VARIANTS, ids=_id)
def test_every_variant(variant, dtype):
    check_against_reference("cpu", dtype, (13, 3, 131), variant, seed=hash(_id(variant)) % 1000)


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 2, 129), (2, 1, 127), (7, 5, 1), (3, 2, 257), (5, 3, 2, 3, 7)])
@pytest.mark.parametrize("per_neuron", [True, False])
def test_edge_sizes(shape, per_neuron):
    for variant in (VARIANTS[0], VARIANTS[-1]):
        check_against_reference("cpu", torch.float64, shape, variant, per_neuron=per_neuron)
        check_against_reference("cpu", torch.float32, shape, variant, per_neuron=per_neuron)


@pytest.mark.parametrize("scale", [1e4, -1e4])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_huge_membranes(scale, dtype):
    """Inputs and thresholds scaled by 1e4 (the slope scaled down to match, so the comparison is as
    tight as at scale 1), then a constant input of +-1e4: membranes far above and far below threshold."""
    for variant in VARIANTS[::5]:
        check_against_reference("cpu", dtype, (9, 2, 33), variant, scale=abs(scale), slope=2.0 / abs(scale), seed=3)
    inputs = make_inputs((9, 2, 33), seed=4)
    inputs.x.fill_(scale)
    got = run("cpu", inputs, dtype, VARIANTS[0])
    ref = run("torch", inputs, dtype, VARIANTS[0])
    for a, e in zip(got, ref):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS[::4], ids=_id)
def test_exactly_at_threshold(variant):
    """h == threshold exactly gives no spike (H(0) = 0), in every dtype, as in the reference."""
    for dtype in DTYPES:
        x = torch.zeros(3, 2, 5, dtype=dtype)
        x[0] = 1.0  # v0 = 0, so h = 1.0 = threshold at t = 0
        x[1] = 2.0  # and clearly above at t = 1 (the delayed reset owes nothing at t = 1)
        spikes, _ = snnkern.lif(x, 0.5, 1.0, backend="cpu", **variant)
        ref, _ = snnkern.lif(x, 0.5, 1.0, backend="torch", **variant)
        assert torch.equal(spikes, ref)
        assert not spikes[0].any() and spikes[1].all()


def test_batch_major_without_copy():
    check_against_reference("cpu", torch.float64, (6, 4, 19), VARIANTS[3], time_dim=1)
    check_against_reference("cpu", torch.float32, (6, 4, 19), VARIANTS[9], time_dim=1)
    x = torch.randn(4, 6, 19)  # [B, T, N]
    spikes, _ = snnkern.lif(x, time_dim=1, backend="cpu")
    assert spikes.shape == x.shape and spikes.is_contiguous()


@settings(max_examples=60, deadline=None)
@given(T=st.integers(1, 24), B=st.integers(1, 4), N=st.integers(1, 300), variant=st.sampled_from(VARIANTS),
       dtype=st.sampled_from(DTYPES), per_neuron=st.booleans(), seed=st.integers(0, 2**16))
def test_random_shapes(T, B, N, variant, dtype, per_neuron, seed):
    check_against_reference("cpu", dtype, (T, B, N), variant, seed=seed, per_neuron=per_neuron)


def test_deterministic():
    """Two runs give bit-identical results (per-neuron gradients are reduced in a fixed order)."""
    inputs = make_inputs((40, 8, 300), seed=5)
    first = run("cpu", inputs, torch.float32, VARIANTS[1])
    second = run("cpu", inputs, torch.float32, VARIANTS[1])
    for a, b in zip(first, second):
        assert torch.equal(a, b)


def test_instruction_sets_agree_bit_for_bit():
    """The kernels compiled for each instruction set (baseline, and AVX2 where built and supported) give
    identical outputs and gradients: the tests above run the default one, this covers the others."""
    from snnkern import _cpu

    default = _cpu.isa()
    if "SNNKERN_CPU_ISA" not in os.environ:
        assert default == _cpu.isas()[-1], "the best instruction set is the default"
    others = [isa for isa in _cpu.isas() if isa != default]
    if not others:
        pytest.skip(f"only the {default} kernels are available here")
    inputs = make_inputs((11, 3, 1031), seed=5)  # 1031 lanes per row: SIMD tails and a partial chunk
    inputs.x[2, :, :7] = 1e4
    inputs.x[4, :, 7:9] = float("nan")
    try:
        for variant in VARIANTS:
            for dtype in DTYPES:
                expected = run("cpu", inputs, dtype, variant)
                for isa in others:
                    _cpu.use_isa(isa)
                    got = run("cpu", inputs, dtype, variant)
                    _cpu.use_isa(default)
                    for name, a, e in zip(("spikes", "state", "grad_x", "grad_v0", "grad_beta", "grad_threshold"),
                                          got, expected):
                        assert torch.equal(a.nan_to_num(7.0), e.nan_to_num(7.0)), f"{isa} vs {default}: {name}"
    finally:
        _cpu.use_isa(default)
    with pytest.raises(ValueError, match="not available"):
        _cpu.use_isa("avx1024")

"""torch.compile(fullgraph=True) through the custom ops: no graph breaks, eager results, no recompile
when the slope changes; torch.library.opcheck on the op registrations."""
import pytest
import torch
from torch._dynamo.testing import CompileCounter

import snnkern
from snnkern.nn import LIF
from snnkern.ops import lif_fwd

pytestmark = pytest.mark.skipif(snnkern.info()["backends"]["cpu"] is not None, reason="CPU kernel not built")


class TwoLayers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.lif1 = torch.nn.Linear(8, 16), LIF(16, reset_delay=True, detach_reset=True)
        self.fc2, self.lif2 = torch.nn.Linear(16, 16), LIF(16, surrogate="sigmoid")

    def forward(self, x):
        spikes, _ = self.lif1(self.fc1(x))
        return self.lif2(self.fc2(spikes))


def _model():
    torch.manual_seed(0)
    return TwoLayers()


def _loss(model, x):
    spikes, state = model(x)
    return (spikes * torch.arange(16.0)).sum() + state.square().sum()


def _grads(model, loss):
    return torch.autograd.grad(loss, list(model.parameters()))


@pytest.mark.parametrize("compiler", ["aot_eager", "inductor"])
def test_fullgraph_matches_eager(compiler):
    model, x = _model(), torch.randn(10, 4, 8)
    compiled = torch.compile(lambda x: _loss(model, x), fullgraph=True, backend=compiler)
    eager_loss, compiled_loss = _loss(model, x), compiled(x)
    torch.testing.assert_close(compiled_loss, eager_loss)
    for a, b in zip(_grads(model, compiled_loss), _grads(model, eager_loss)):
        torch.testing.assert_close(a, b)


def test_slope_change_does_not_recompile():
    model, x = _model(), torch.randn(6, 2, 8)
    counter = CompileCounter()
    compiled = torch.compile(lambda x: _loss(model, x), fullgraph=True, backend=counter)
    compiled(x)
    before = _grads(model, compiled(x))
    snnkern.set_slope(model, 80.0)
    after = _grads(model, compiled(x))
    assert counter.frame_count == 1
    assert not torch.allclose(before[0], after[0])


@pytest.mark.parametrize("reset, delay, detach, surrogate", [(0, False, False, 0), (1, True, True, 2), (2, True, False, 3)])
def test_opcheck(reset, delay, detach, surrogate):
    x = torch.randn(5, 3, 7, dtype=torch.float64, requires_grad=True)
    beta = torch.rand(7, dtype=torch.float64, requires_grad=True)
    theta = torch.rand(7, dtype=torch.float64).add(0.5).requires_grad_()
    v0 = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(lif_fwd, (x, beta, theta, v0, 2.0, None, reset, delay, detach, surrogate, True, "cpu"))

"""The surrogate-slope analysis (snnkern.analysis, `snnkern slopes`): the paper's qualitative findings (Fig. 1,
PAPER_NOTES §5.1) on its 4 x 64 LIF network, a user model, and the command's output."""
import pytest
import torch

import snnkern
from snnkern.analysis import (PAPER_SLOPES, gaussian_batches, paper_network, plot_slope_analysis,
                              slope_gradient_analysis)
from snnkern.cli import main


@pytest.fixture(scope="module")
def paper_result():
    # 20 draws of one sample each: the findings below hold with a wide margin for every seed tried (0-2)
    return slope_gradient_analysis(paper_network(seed=0), gaussian_batches(63, 64), draws=20, seed=0)


def test_paper_network_layout(paper_result):
    assert paper_result["slopes"] == [float(k) for k in PAPER_SLOPES]
    assert paper_result["parameters"] == [f"linears.{i}.weight" for i in range(4)] + ["readout.weight"]


def test_first_layer_alignment_rises_with_slope(paper_result):
    cosine = paper_result["cosine"]["linears.0.weight"]
    assert all(a < b for a, b in zip(cosine, cosine[1:])), cosine
    assert cosine[0] < 0.2 and cosine[-2] > 0.8 and cosine[-1] == pytest.approx(1.0)


def test_first_layer_magnitude_falls_with_slope(paper_result):
    magnitude = paper_result["grad_magnitude"]["linears.0.weight"]
    assert all(a > b for a, b in zip(magnitude, magnitude[1:])), magnitude
    assert magnitude[0] / magnitude[-1] > 1e3  # the paper's figure spans about five decades


def test_alignment_falls_with_depth_from_the_output_at_shallow_slopes(paper_result):
    at_k1 = [paper_result["cosine"][name][0] for name in paper_result["parameters"]]
    assert at_k1[0] < at_k1[2] < at_k1[3] < at_k1[4]


def test_output_layer_gradient_does_not_depend_on_slope(paper_result):
    # the forward pass is the Heaviside step whatever k is, so the readout sees the same spikes
    magnitude = paper_result["grad_magnitude"]["readout.weight"]
    assert magnitude == pytest.approx([magnitude[-1]] * len(magnitude), rel=1e-6)
    assert paper_result["cosine"]["readout.weight"] == pytest.approx([1.0] * len(magnitude), abs=1e-6)


class UserModel(torch.nn.Module):
    """Batch-major input [B, T, 8] -> Linear -> stateful LIF (sigmoid surrogate) -> mean over time -> Linear."""

    def __init__(self):
        super().__init__()
        self.inp = torch.nn.Linear(8, 16)
        self.lif = snnkern.nn.LIF(16, beta=0.8, threshold=0.5, surrogate="sigmoid", time_dim=1, stateful=True)
        self.out = torch.nn.Linear(16, 3)

    def forward(self, x):
        spikes, _ = self.lif(self.inp(x))
        return self.out(spikes.mean(1))


def _user_batch(generator):
    return torch.randn(4, 5, 8, generator=generator), torch.randint(0, 3, (4,), generator=generator)


def test_works_on_a_user_model():
    torch.manual_seed(1)
    model = UserModel()
    before = {n: p.clone() for n, p in model.named_parameters()}
    result = slope_gradient_analysis(model, _user_batch, torch.nn.functional.cross_entropy, slopes=(0.5, 2.0),
                                     reference=8.0, draws=5, parameters=["inp.weight", "lif.beta", "out.weight"])
    assert result["slopes"] == [0.5, 2.0, 8.0]
    assert result["parameters"] == ["inp.weight", "lif.beta", "out.weight"]
    assert [c[-1] for c in result["cosine"].values()] == pytest.approx([1.0] * 3)
    assert result["cosine"]["out.weight"] == pytest.approx([1.0] * 3, abs=1e-6)
    assert all(m > 0 for m in result["grad_magnitude"]["inp.weight"])
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())  # the model is left as it was
    assert float(model.lif.slope) == 25.0


def test_rejects_a_model_without_lif_and_unknown_parameters():
    with pytest.raises(ValueError, match="no snnkern.nn.LIF"):
        slope_gradient_analysis(torch.nn.Linear(3, 2), lambda g: (torch.randn(1, 3), torch.randn(1, 2)), draws=1)
    with pytest.raises(ValueError, match="parameters must name"):
        slope_gradient_analysis(UserModel(), _user_batch, parameters=["nope"], draws=1)


def test_plot_writes_a_png(paper_result, tmp_path):
    path = tmp_path / "fig.png"
    plot_slope_analysis(paper_result, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_slopes_command(tmp_path, capsys):
    out = tmp_path / "slopes.png"
    assert main(["slopes", "--draws", "2", "--out", str(out), "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "cosine similarity to k=100" in printed and "readout.weight" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

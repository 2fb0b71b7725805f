"""`python -m bench`: a command whose dependencies are missing says which, and leaves the others working
(the GPU machine may lack gymnasium, which only `python -m bench training` needs)."""
import sys

import pytest

from bench.__main__ import main


@pytest.fixture
def without_gymnasium(monkeypatch):
    for name in list(sys.modules):
        if name == "rl" or name.startswith(("rl.", "bench.training", "bench.env_speed", "gymnasium")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "gymnasium", None)  # import gymnasium -> ModuleNotFoundError


def test_missing_dependency_is_named(without_gymnasium, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["training"])
    assert exit_info.value.code == 2
    assert "'gymnasium'" in capsys.readouterr().err


def test_other_commands_still_parse(without_gymnasium, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["kernels", "--help"])
    assert exit_info.value.code == 0
    assert "--device" in capsys.readouterr().out


def test_unknown_command_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["kernel"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_kernels_writes_what_it_measured_when_stopped(tmp_path, monkeypatch):
    """SIGTERM (how timeout(1) ends bench/gpu_check.sh's stage) in the middle of the grid: the results
    written hold the cells measured before, and say that the run was stopped. The target cell runs first."""
    import json
    import os
    import signal

    from bench import kernels

    measured = kernels.sweep

    def sweep_then_terminate(impls, cells, *args):
        measured(impls, cells[:1], *args)
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the run")

    monkeypatch.setattr(kernels, "sweep", sweep_then_terminate)
    main(["kernels", "--device", "cpu", "--T", "16,128", "--BN", "2**10,2**15", "--dtypes", "float32",
          "--modes", "fwdbwd", "--impls", "snnkern-torch", "--budget", "0.01", "--min-runs", "2",
          "--on-shape", "0", "--retained-T", "0", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "results.json").read_text())
    assert "interrupted" in result["stopped"] and "STOPPED EARLY" in (tmp_path / "summary.txt").read_text()
    assert [(r["T"], r["B"] * r["N"]) for r in result["rows"]] == [(128, 2**15)]
    assert result["rows"][0]["median_s"] > 0
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

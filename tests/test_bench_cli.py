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

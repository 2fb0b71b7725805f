"""The snnkern-drone command end to end on the tiny preset: every method writes its checkpoint, TensorBoard
log and pictures; eval and plot work on the result; a run killed with SIGKILL and resumed gives the same
results as an uninterrupted one; the same seed gives the same actions, buffer and evaluation returns."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from rl.cli import main

SUBPROCESS_ENV = {**os.environ, "PYTHONHASHSEED": "0"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A shared parent folder, so the guide is trained once and reused by every run (as users' runs do)."""
    return tmp_path_factory.mktemp("runs")


def _without_time(metrics):
    return [{k: v for k, v in m.items() if k not in ("seconds", "env_share")} for m in metrics]


def _train(out, *extra):
    return main(["train", "--preset", "tiny", "--out", str(out), "--threads", "1", *extra])


@pytest.mark.parametrize("method", ["guided", "bc", "td3bc", "td3"])
def test_every_method_writes_its_run_folder(runs, method):
    out = runs / method
    assert _train(out, "--method", method, "--slope-schedule", "interval") == 0
    for name in ("config.json", "checkpoint.pt", "metrics.jsonl", "final_eval.json", "learning_curve.png",
                 "flight.png"):
        assert (out / name).stat().st_size > 0, name
    assert any((out / "tb").glob("events.out.tfevents.*"))
    assert len(list((runs / "guides").glob("guide-seed0-*.pt"))) == 1  # trained once, reused
    config = json.loads((out / "config.json").read_text())
    assert config["method"] == method and config["slope_schedule"] == "interval"
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in metrics] == [2, 4]
    assert all(torch.isfinite(torch.tensor(m["guided_return"])) for m in metrics)
    assert all(0 < m["env_share"] < 1 for m in metrics)  # the environment's share of the training time


def test_updates_per_environment_step_follow_the_config(runs):
    metrics = [json.loads(line) for line in (runs / "guided" / "metrics.jsonl").read_text().splitlines()]
    config = json.loads((runs / "guided" / "config.json").read_text())
    assert metrics[-1]["updates"] == int(config["utd"] * metrics[-1]["env_steps"])


def test_eval_and_plot_commands(runs, capsys):
    out = runs / "guided"
    assert main(["eval", str(out / "checkpoint.pt"), "--episodes", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"guided", "alone", "sparsity", "synops_per_step", "energy_nj"}
    assert 0 <= report["sparsity"] <= 1 and report["energy_nj"] > 0
    (out / "learning_curve.png").unlink()
    assert main(["plot", str(out)]) == 0
    assert (out / "learning_curve.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["train", "--preset", "tiny", "--out", "{runs}/guided"], "already holds a run: pass --resume"),
    (["train", "--preset", "tiny", "--out", "{runs}/guided", "--resume", "--method", "td3"], "drop --method"),
    (["train", "--preset", "tiny", "--out", "{runs}/nothere", "--resume"], "no checkpoint"),
    (["train", "--preset", "tiny", "--resume"], "--resume needs --out"),
    (["train", "--preset", "tiny", "--slope", "-1", "--out", "{runs}/x"], "slope must be > 0"),
    (["train", "--preset", "tiny", "--threads", "-1"], "must be >= 1"),
    (["eval", "{runs}"], "is not a checkpoint file"),
    (["eval", "{runs}/guided/checkpoint.pt", "--episodes", "0"], "must be >= 1"),
])
def test_bad_commands_say_what_is_wrong(runs, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main([arg.format(runs=runs) for arg in argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_same_seed_same_run(runs):
    for name in ("again_a", "again_b"):
        _train(runs / name, "--seed", "0")
    a, b = (torch.load(runs / name / "checkpoint.pt", weights_only=False) for name in ("again_a", "again_b"))
    actions_a, actions_b = a["buffer"]["data"]["action"], b["buffer"]["data"]["action"]
    assert len(actions_a) >= 300 and torch.equal(actions_a, actions_b)  # every stored action, the first included
    for name in a["buffer"]["data"]:
        assert torch.equal(a["buffer"]["data"][name], b["buffer"]["data"][name])
    assert _without_time(a["run"]["metrics"]) == _without_time(b["run"]["metrics"])  # evaluation returns too
    other = main(["train", "--preset", "tiny", "--out", str(runs / "seed1"), "--seed", "1", "--threads", "1"])
    assert other == 0
    c = torch.load(runs / "seed1" / "checkpoint.pt", weights_only=False)
    assert not torch.equal(c["buffer"]["data"]["action"][:100], actions_a[:100])


def test_resume_after_kill_equals_an_uninterrupted_run(runs):
    reference = runs / "again_a"
    out = runs / "killed"
    command = [sys.executable, "-m", "rl.cli", "train", "--preset", "tiny", "--out", str(out), "--threads", "1"]
    process = subprocess.Popen(command, env=SUBPROCESS_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "checkpoint.pt").exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted_at = torch.load(out / "checkpoint.pt", weights_only=False)["iteration"]
    assert main(["train", "--preset", "tiny", "--out", str(out), "--resume", "--threads", "1"]) == 0
    resumed = torch.load(out / "checkpoint.pt", weights_only=False)
    expected = torch.load(reference / "checkpoint.pt", weights_only=False)
    assert interrupted_at >= 2 and resumed["iteration"] == 4
    assert _without_time(resumed["run"]["metrics"]) == _without_time(expected["run"]["metrics"])
    for name, value in expected["td3"]["actor"].items():
        assert torch.equal(resumed["td3"]["actor"][name], value), name
    for name, value in expected["buffer"]["data"].items():
        assert torch.equal(resumed["buffer"]["data"][name], value), name


def test_sweep_runs_every_schedule_and_draws_the_bars(runs):
    out = runs / "sweep"
    argv = ["sweep", "--preset", "tiny", "--schedules", "fixed:2", "adaptive", "--seeds", "0", "--out", str(out),
            "--threads", "1"]
    assert main(argv) == 0
    summary = json.loads((out / "sweep.json").read_text())
    assert set(summary) == {"fixed:2", "adaptive"}
    for name, folder in (("fixed:2", "fixed-k2-seed0"), ("adaptive", "adaptive-seed0")):
        metrics = [json.loads(line) for line in (out / folder / "metrics.jsonl").read_text().splitlines()]
        assert summary[name]["best_return"] == max(m["guided_return"] for m in metrics)
    assert json.loads((out / "fixed-k2-seed0" / "config.json").read_text())["slope"] == 2.0
    assert (out / "sweep.png").stat().st_size > 0 and "| adaptive |" in (out / "sweep.md").read_text()
    finished = (out / "adaptive-seed0" / "checkpoint.pt").stat().st_mtime
    assert main(argv) == 0  # finished runs are kept, not trained again
    assert (out / "adaptive-seed0" / "checkpoint.pt").stat().st_mtime == finished


@pytest.mark.parametrize("schedule", ["fixed", "interval:5", "cosine"])
def test_sweep_rejects_unknown_schedules(runs, capsys, schedule):
    with pytest.raises(SystemExit):
        main(["sweep", "--preset", "tiny", "--schedules", schedule, "--out", str(runs / "bad")])
    assert "schedule" in capsys.readouterr().err

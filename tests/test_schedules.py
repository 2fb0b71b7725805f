"""Slope schedules: values, clamping, the adaptive rule, and checkpoint round trips."""
import pytest
import torch

from snnkern import schedules


def test_fixed():
    s = schedules.Fixed(25.0)
    assert [s.update(i) for i in (0, 10**6)] == [25.0, 25.0]


def test_linear_and_interval():
    lin = schedules.Linear(total_steps=100, k_min=1, k_max=101)
    assert [lin.update(i) for i in (0, 50, 100, 500)] == [1.0, 51.0, 101.0, 101.0]
    step = schedules.Interval(total_steps=100, k_min=1, k_max=101, intervals=4)
    assert [step.update(i) for i in (0, 24, 25, 74, 75, 99, 100)] == [1.0, 1.0, 26.0, 51.0, 76.0, 76.0, 101.0]


def test_interval_levels_are_exact():
    s = schedules.Interval(total_steps=100, k_min=1, k_max=100, intervals=100)
    assert [s.update(i) for i in (29, 57, 58)] == pytest.approx([1 + 99 * 0.29, 1 + 99 * 0.57, 1 + 99 * 0.58])


def test_adaptive_rule():
    s = schedules.Adaptive(k_start=2.0, k_min=1.0, k_max=100.0, window=2, return_range=(0.0, 400.0))
    assert s.update(0) == 2.0  # no evaluation yet
    # r = 0.5 -> score 0.25 ; then r = 1.0, dr = 0.5 -> score 0.75 ; mean 0.5 -> k = 1 + 99 * 0.5
    assert s.update(1, eval_return=200.0) == pytest.approx(1 + 99 * 0.25)
    assert s.update(2, eval_return=400.0) == pytest.approx(1 + 99 * 0.5)
    # window 2: the first score drops out; r = 1, dr = 0 -> 0.5 ; mean(0.75, 0.5) = 0.625
    assert s.update(3, eval_return=400.0) == pytest.approx(1 + 99 * 0.625)
    assert s.update(4, eval_return=-1e4) == 1.0  # clamped at k_min
    high = schedules.Adaptive(return_range=(0.0, 10.0))
    assert high.update(0, eval_return=1e4) == 100.0  # clamped at k_max
    assert isinstance(high.update(1, eval_return=torch.tensor(5.0)), float)


@pytest.mark.parametrize("make", [
    lambda: schedules.Fixed(3.0),
    lambda: schedules.Linear(total_steps=10),
    lambda: schedules.Interval(total_steps=10, intervals=5),
    lambda: schedules.Adaptive(window=3),
])
def test_state_dict_round_trip(make):
    a, b = make(), make()
    for i in range(4):
        a.update(i, eval_return=100.0 * i)
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict()
    assert [b.update(i, eval_return=50.0 * i) for i in range(4, 8)] == [
        a.update(i, eval_return=50.0 * i) for i in range(4, 8)]


@pytest.mark.parametrize("make, name", [
    (lambda: schedules.Fixed(0), "k"),
    (lambda: schedules.Linear(total_steps=0), "total_steps"),
    (lambda: schedules.Linear(total_steps=5, k_min=10, k_max=1), "k_max"),
    (lambda: schedules.Interval(total_steps=5, intervals=0), "intervals"),
    (lambda: schedules.Adaptive(return_range=(1.0, 1.0)), "return_range"),
    (lambda: schedules.Adaptive(window=0), "window"),
    (lambda: schedules.Adaptive(return_range=(0.0,)), "return_range"),
    (lambda: schedules.Adaptive(return_range=None), "return_range"),
    (lambda: schedules.Fixed(True), "k"),
    (lambda: schedules.Linear(total_steps=True), "total_steps"),
    (lambda: schedules.Linear(total_steps=10).update(float("nan")), "step"),
])
def test_bad_arguments(make, name):
    with pytest.raises(ValueError, match=name):
        make()

"""The example trainers' shared parts (tools/extras_training.py): options and time budget."""

from __future__ import annotations

import extras_training as xt


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_stops_after_its_minutes_but_not_counting_a_pause(monkeypatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(xt.time, "monotonic", clock)
    budget = xt.Budget("lora", steps=100, minutes=1.0)
    clock.now += 2.0
    assert not budget.tick(0, 0.1)
    clock.now += 600.0  # stopped (SIGSTOP) for ten minutes during one step
    assert not budget.tick(1, 0.1) and budget.paused == 600.0
    assert budget.elapsed() == 2.0
    for step in range(2, 100):
        clock.now += 2.0
        if budget.tick(step, 0.1):
            break
    assert step == 31 and budget.elapsed() == 62.0  # 31 working steps of 2 s: the minute is spent


def test_the_shared_options_take_each_trainers_defaults() -> None:
    p = xt.arguments("Doc line.\n\nMore.", xt.EXTRAS / "x.safetensors", 10, 1e-3, 20, 5)
    args = p.parse_args(["--minutes", "2", "--init", "a.safetensors"])
    assert (args.steps, args.lr, args.pool, args.seed, args.minutes) == (10, 1e-3, 20, 5, 2.0)
    assert str(args.init) == "a.safetensors" and p.description == "Doc line."

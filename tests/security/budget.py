"""A time budget a test enforces: past it, the code under test is interrupted (SIGALRM; the
regex engine checks for signals while it matches), so a quadratic parser fails the test in
seconds instead of hanging it for an hour."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator


class OverBudget(AssertionError):
    pass


@contextlib.contextmanager
def within(seconds: float, what: str) -> Iterator[None]:
    can_interrupt = (
        hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    )
    started = time.perf_counter()
    if can_interrupt:

        def interrupt(*_: object) -> None:
            raise OverBudget(f"{what} took over {seconds} s")

        previous = signal.signal(signal.SIGALRM, interrupt)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if can_interrupt:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    took = time.perf_counter() - started
    if took > seconds:  # where no signal could interrupt it
        raise OverBudget(f"{what} took {took:.1f} s (budget {seconds} s)")

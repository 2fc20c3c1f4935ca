import time

from PySide6.QtCore import QObject, Qt, QTimer

from gui.turns import in_turns, pending_turns


def busy(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


def test_steps_run_in_order_with_timers_firing_between_them(qtbot):
    context = QObject()
    order: list[str] = []
    ticker = QTimer()  # the window's own timers: a 5 ms one is overdue after each step
    ticker.setTimerType(Qt.TimerType.PreciseTimer)
    ticker.setInterval(5)
    ticker.timeout.connect(lambda: order.append("tick"))
    ticker.start()
    in_turns(context, *(lambda k=k: (busy(10), order.append(f"step{k}")) for k in range(3)))
    assert pending_turns(context) == 1 and "step0" not in order  # nothing in this turn
    qtbot.waitUntil(lambda: "step2" in order, timeout=2_000)
    ticker.stop()
    steps = [i for i, event in enumerate(order) if event.startswith("step")]
    assert [order[i] for i in steps] == ["step0", "step1", "step2"]
    assert all(order[i + 1] == "tick" for i in steps[:-1])  # the window ticks in between
    assert pending_turns(context) == 0


def test_nothing_runs_once_the_context_is_deleted(qtbot):
    context = QObject()
    ran: list[int] = []
    in_turns(context, lambda: (ran.append(1), context.deleteLater()), lambda: ran.append(2))
    qtbot.waitUntil(lambda: ran == [1], timeout=2_000)
    qtbot.wait(100)
    assert ran == [1]  # the window closed after the first step: the second would touch it

"""The progress bar redraws at most 10 times a second, and never lags a job's first or last step."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject

from gui.progress_bar import MIN_INTERVAL_S, StepProgressBar


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, _watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def shown_bar(qtbot) -> tuple[StepProgressBar, PaintCounter]:
    bar = StepProgressBar()
    qtbot.addWidget(bar)
    bar.resize(300, 24)
    bar.show()
    qtbot.waitExposed(bar)
    qtbot.wait(50)  # the first paint after showing is done: what follows is ours
    counter = PaintCounter()
    bar.installEventFilter(counter)
    return bar, counter


def test_fast_steps_are_drawn_a_few_times_and_the_latest_is_shown(qtbot):
    bar, counter = shown_bar(qtbot)
    bar.show_step(1, 200, "%v of %m steps")  # a new job: shown at once
    assert bar.value() == 1 and bar.text() == "1 of 200 steps"
    painted_first = counter.paints
    assert painted_first >= 1  # QProgressBar repaints synchronously
    for step in range(2, 100):  # a GPU's steps, far faster than 10 a second
        bar.show_step(step, 200, "%v of %m steps")
    assert counter.paints == painted_first  # none of them redrew the bar yet
    qtbot.waitUntil(lambda: bar.value() == 99, timeout=int(MIN_INTERVAL_S * 1000) + 1000)
    assert bar.text() == "99 of 200 steps"
    assert counter.paints <= painted_first + 2  # one redraw for the 98 steps


def test_the_last_step_and_a_new_job_are_shown_at_once(qtbot):
    bar, _ = shown_bar(qtbot)
    bar.show_step(1, 20, "%v of %m steps")
    bar.show_step(2, 20, "%v of %m steps")
    assert bar.value() == 1  # within the interval: waits for the next redraw
    bar.show_step(20, 20, "%v of %m steps")
    assert bar.value() == 20  # the job is done: no lag
    bar.show_step(0, 15, "%v of %m steps, strength 0.75")
    assert bar.text() == "0 of 15 steps, strength 0.75"
    bar.show_step(1, 15, "%v of %m steps, strength 0.75")
    qtbot.wait(int(MIN_INTERVAL_S * 1000) * 3)
    assert bar.value() == 1  # the trailing redraw of a cancelled job's last step came

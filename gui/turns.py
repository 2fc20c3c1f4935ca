"""Work that follows an event, spread over event-loop turns.

Between two turns Qt paints, fires timers and takes input, so a chain of 5 ms steps never
stalls the window for their sum (the end of a generation: result on the canvas, history
thumbnail, settings, session save)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

PENDING = "pendingTurns"  # a dynamic property of the context: steps not run yet


def in_turns(context: QObject, *steps: Callable[[], object]) -> None:
    """Runs `steps` in order, one per event-loop turn, from the next turn on. Nothing runs
    once `context` is deleted (a window closed between two steps)."""
    if not steps:
        return
    first, rest = steps[0], steps[1:]
    context.setProperty(PENDING, pending_turns(context) + 1)

    def run() -> None:
        context.setProperty(PENDING, pending_turns(context) - 1)
        first()
        in_turns(context, *rest)

    # 1 ms, not 0: Qt turns a 0 ms single shot into a posted event, and events posted while
    # others are delivered run in the same pass, before any timer: the chain would still be
    # one long stall. A real timer waits for the next pass.
    QTimer.singleShot(1, context, run)


def pending_turns(context: QObject) -> int:
    """Steps of `in_turns` chains on `context` that have not run yet."""
    return int(context.property(PENDING) or 0)

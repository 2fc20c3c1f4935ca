"""What the progress bar and its label say, in words a newcomer reads without a manual.

Image to image and inpaint run only `strength` × Steps of the schedule, so a bar that counted
"Step 15/15" while Steps said 20 looked like a bug: it now counts against Steps and names the
strength ("15 of 20 steps, strength 0.75").
"""

from __future__ import annotations

from pipeline import GenerationRequest, Mode

IDLE_FORMAT = ""  # no "Step 0/1" before anything ran


def bar_format(request: GenerationRequest) -> str:
    """A QProgressBar format (%v: the step) for a job of `request`."""
    text = f"%v of {request.steps} steps"
    if request.mode is not Mode.TXT2IMG and request.strength < 1.0:
        text += f", strength {request.strength:.2f}"
    return text


def speed_text(step: int, elapsed: float, total: int) -> str:
    """`2.5 it/s · 0:06 left` (s/it when slower than one step a second); '' before a step."""
    if step <= 0 or elapsed <= 0:
        return "Working…"
    rate = step / elapsed
    speed = f"{rate:.1f} it/s" if rate >= 1 else f"{1 / rate:.1f} s/it"
    remaining = round((total - step) / rate)
    return f"{speed} · {remaining // 60}:{remaining % 60:02d} left"

"""Shared helpers of the bench scripts: the machine line, load tracking, repeats, results.md.

Every script in bench/ runs alone (`python3 bench/<name>.py [--write]`), prints a table, and with
`--write` replaces its own section of bench/results.md (the section whose `## ` heading starts
with the script's title), leaving the other sections as they are.

The development machine has 2 cores shared with other people's builds and tests, so absolute
times drift: scripts report medians of several repeats, interleave the runs they compare, and
record the load average seen during the run next to the figures.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"
BUNDLED_MODEL = ROOT / "resources" / "models" / "brushwork-shapes"
# The bundled model's recommended settings (its model card): Euler, 20 steps, CFG 5, 64².
PROMPT = "a large red circle, blue background"
SAMPLER, STEPS, CFG, SIZE = "euler", 20, 5.0, 64

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's pipeline/ and gui/, not an installed copy


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(threads: int | None = None) -> str:
    """One line that says where figures came from (torch is imported only if already loaded)."""
    parts = [f"{cpu_model()}, {os.cpu_count()} cores", f"Python {platform.python_version()}"]
    torch = sys.modules.get("torch")
    if torch is not None:
        parts.append(f"torch {torch.__version__} ({threads or torch.get_num_threads()} threads)")
    diffusers = sys.modules.get("diffusers")
    if diffusers is not None:
        parts.append(f"diffusers {diffusers.__version__}")
    return ", ".join(parts)


class LoadTracker:
    """Samples the 1-minute load average every second while a benchmark runs."""

    def __init__(self, interval: float = 1.0) -> None:
        self.samples: list[float] = [os.getloadavg()[0]]
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-load", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadTracker:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def describe(self) -> str:
        low, high = min(self.samples), max(self.samples)
        return f"load average (1 min) {low:.2f}–{high:.2f} on {os.cpu_count()} cores"


def header(tracker: LoadTracker, threads: int | None = None) -> str:
    today = datetime.date.today().isoformat()
    return f"{today}; {machine_line(threads)}; {tracker.describe()}"


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


def time_once(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved(
    runs: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, dict[str, list[float]]]:
    """Wall and CPU seconds per call of each run ({name: {"wall": […], "cpu": […]}}), alternating
    a, b, a, b… so that drift in the machine's load hits both alike.

    CPU time counts only this process, so it is less disturbed by other people's jobs on shared
    cores; with one torch thread it is close to the wall time of an idle machine.
    """
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            wall, cpu = time_once(fn)
            times[name]["wall"].append(wall)
            times[name]["cpu"].append(cpu)
    return times


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not in /proc/self/status")


def peak_rss_bytes() -> int:
    """Highest RSS this process reached (VmHWM); reset it with reset_peak_rss()."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not in /proc/self/status")


def reset_peak_rss() -> bool:
    """Resets VmHWM to the current RSS (writing 5 to clear_refs; Linux ≥ 4.0)."""
    try:
        Path(f"/proc/{os.getpid()}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def table(rows: Sequence[Sequence[object]], head: Sequence[str]) -> str:
    """A fixed-width text table: first column left-aligned, the rest right-aligned."""
    cells = [[str(c) for c in head]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = []
    for row in cells:
        first = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join([first, *rest]).rstrip())
    return "\n".join(lines)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--write", action="store_true", help="update this section of results.md")
    return p


def write_section(title: str, body: str, path: Path = RESULTS) -> None:
    """Replaces the `## {title}…` section of results.md with `body` (appends it if absent)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    lines = text.rstrip("\n").split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith(f"## {title}")), None)
    new = [f"## {title}", "", *body.strip("\n").split("\n")]
    if start is None:
        lines += ["", *new]
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        tail = ["", *lines[end:]] if end < len(lines) else []
        lines = lines[:start] + new + tail
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def report(title: str, body: str, write: bool) -> None:
    print(f"## {title}\n\n{body}")
    if write:
        write_section(title, body)
        print(f"(written to {RESULTS.relative_to(ROOT)})")


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Pins torch's thread count: same-seed images are bit-identical only at equal counts."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def engineless_app() -> tuple[object, object, Path]:
    """The real window offscreen without a model (GUI-thread benchmarks), in a temporary home
    so the user's settings and session stay untouched: (Qt app, BrushworkApp, work folder)."""
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="brushwork-bench-"))
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = str(work / var.lower())
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gui.app import BrushworkApp, create_qt_app

    qt_app = create_qt_app()
    app = BrushworkApp(lambda: None, work / "outputs")
    app.start(preload=False)
    return qt_app, app, work

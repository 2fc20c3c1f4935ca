"""Nothing lost: the session survives SIGKILL, a kill mid-save, and is offered back only after
a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gui.session import SessionState, SessionStore
from gui.settings import Parameters

ROOT = Path(__file__).resolve().parents[2]


def driver_env(work: Path, restore: str | None = None) -> dict[str, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"),
                     ("XDG_CACHE_HOME", "cache")):  # fmt: skip
        env[var] = str(work / sub)
    env.pop("BRUSHWORK_RESTORE_SESSION", None)
    if restore:
        env["BRUSHWORK_RESTORE_SESSION"] = restore
    return env


def wait_for_line(process: subprocess.Popen, prefix: str, timeout: float = 240) -> str:
    import selectors
    import time

    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=1):
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("ERROR"):
                pytest.fail(line)
            if line.startswith(prefix):
                return line.strip()
    process.kill()
    pytest.fail(f"no {prefix!r} line; stderr: {process.stderr.read()[-3000:]}")


@pytest.mark.slow
def test_sigkill_after_painting_and_generating_loses_nothing(tmp_path):
    """Runs the real app, paints a mask stroke, generates, kills it with SIGKILL once the
    session is autosaved, restarts, accepts the restore prompt, compares canvas and mask."""
    command = [sys.executable, "-m", "tests.reliability.session_driver"]
    first = subprocess.Popen(
        [*command, "paint", str(tmp_path)], cwd=ROOT, env=driver_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    saved_line = wait_for_line(first, "SAVED")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    result_path = Path(saved_line.split(" ", 1)[1])
    session = tmp_path / "data" / "Brushwork" / "session"
    assert (session / "running").exists()  # the crash left its marker behind

    second = subprocess.run(
        [*command, "restore", str(tmp_path)], cwd=ROOT, env=driver_env(tmp_path, "yes"),
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr[-3000:]
    assert "RESTORED True a large red circle, blue background" in second.stdout
    with Image.open(result_path) as png:
        generated = np.asarray(png.convert("RGB"))
    assert np.array_equal(np.load(tmp_path / "restored_image.npy"), generated)
    painted = np.load(tmp_path / "painted_mask.npy")
    assert painted.sum() > 0
    assert np.array_equal(np.load(tmp_path / "restored_mask.npy"), painted)
    assert not (session / "running").exists()  # this time the app exited cleanly


def state(level: int, mask_level: int = 0) -> SessionState:
    image = np.full((16, 24, 3), level, np.uint8)
    mask = np.zeros((16, 24), np.uint8)
    mask[4:8, 5:9] = mask_level
    return SessionState(image, mask, Parameters(prompt=f"prompt {level}"), "some/model", None)


def test_session_round_trips_pixels_and_parameters(tmp_path):
    store = SessionStore(tmp_path)
    store.save(state(40, 255))
    loaded = store.load()
    assert np.array_equal(loaded.image, state(40).image)
    assert np.array_equal(loaded.mask, state(40, 255).mask)
    assert loaded.parameters.prompt == "prompt 40" and loaded.model == "some/model"
    assert sorted(p.name[:5] for p in tmp_path.glob("*.png")) == ["canva", "mask-"]


def test_a_kill_in_the_middle_of_a_save_keeps_the_previous_session(tmp_path, monkeypatch):
    store = SessionStore(tmp_path)
    store.save(state(40, 255))

    def killed(*_args, **_kwargs):  # the process dies before the manifest is swapped in
        raise SystemExit("killed")

    monkeypatch.setattr("gui.session.write_json_atomically", killed)
    with pytest.raises(SystemExit):
        store.save(state(200, 0))
    monkeypatch.undo()
    loaded = store.load()
    assert loaded.image[0, 0, 0] == 40 and loaded.mask.max() == 255
    store.save(state(90))  # the next save removes the orphaned files of the interrupted one
    assert len(list(tmp_path.glob("*.png"))) == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / "manifest.json").write_text("{not json"),
        lambda folder: (folder / "manifest.json").write_text(
            '{"version": 1, "canvas": "../x.png"}'
        ),
        lambda folder: [p.write_bytes(b"\x89PNG trunc") for p in folder.glob("canvas-*.png")],
    ],
    ids=["manifest-not-json", "manifest-escapes-folder", "canvas-png-truncated"],
)
def test_corrupt_session_is_ignored_with_a_message(tmp_path, make_app, damage):
    store = SessionStore(tmp_path / "session")
    store.save(state(40, 255))
    store.mark_running()
    (store.marker).write_text("999999999")  # a crashed process that no longer exists
    damage(store.folder)
    asked = []
    app = make_session_app(make_app, store, asked)
    assert not asked and not app.restored
    assert "previous session could not be read" in app.window.error_banner.text()


def make_session_app(make_app, store, asked, answer=True):
    def ask(_window):
        asked.append(1)
        return answer

    app, _ = make_app(session=store, ask_restore=ask)
    return app


def test_restore_is_offered_only_after_a_crash(tmp_path, make_app, qtbot):
    store = SessionStore(tmp_path / "session")
    store.save(state(40, 255))
    asked: list = []
    app = make_session_app(make_app, store, asked)  # no marker: the last exit was clean
    assert not asked and not app.restored
    app.shutdown()
    assert not store.marker.exists()

    store.marker.write_text("999999999")  # the marker of a run that died
    app = make_session_app(make_app, store, asked)
    assert asked == [1] and app.restored
    assert np.array_equal(app.window.doc.image, state(40).image)
    assert app.window.panel.prompt.toPlainText() == "prompt 40"
    # the session's model was not in the picker's list: the picker shows it, not the bundled one
    assert app.window.controller.model == app.window.model_picker.current() == "some/model"


def test_declining_the_restore_starts_with_a_blank_canvas(tmp_path, make_app):
    store = SessionStore(tmp_path / "session")
    store.save(state(40, 255))
    store.marker.write_text("999999999")
    asked: list = []
    app = make_session_app(make_app, store, asked, answer=False)
    assert asked == [1] and not app.restored and app.window.doc.is_blank


def test_autosave_runs_on_the_timer_only_when_the_document_changed(make_app, qtbot):
    app, _ = make_app()
    window = app.window
    window.autosave.timer.setInterval(30)
    saves: list = []
    original = window.session.save
    window.session.save = lambda s: saves.append(1) or original(s)
    window.autosave.dirty = False
    qtbot.wait(150)
    assert saves == []  # nothing changed: nothing written
    window.doc.fill_mask()
    qtbot.waitUntil(lambda: len(saves) == 1 and window.autosave.settled, timeout=2_000)
    qtbot.wait(150)
    assert len(saves) == 1
    assert window.session.load().mask.min() == 255


@pytest.mark.slow
def test_sigterm_closes_like_quit_and_the_next_start_offers_no_restore(tmp_path):
    """`kill PID` (and logging out) is not a crash: the app saves the session and exits 0, and
    the next start does not ask "did not close normally"."""
    command = [sys.executable, "-m", "tests.reliability.session_driver"]
    first = subprocess.Popen(
        [*command, "term", str(tmp_path)], cwd=ROOT, env=driver_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for_line(first, "READY")
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=180)
    assert first.returncode == 0, stderr[-3000:]
    session = tmp_path / "data" / "Brushwork" / "session"
    assert not (session / "running").exists()  # a clean exit
    saved = SessionStore(session).load()  # saved on the way out, like File → Quit
    assert np.array_equal(saved.mask, np.load(tmp_path / "painted_mask.npy"))
    assert saved.parameters.prompt == "terminated politely"

    second = subprocess.run(
        [*command, "restore", str(tmp_path)], cwd=ROOT, env=driver_env(tmp_path, "yes"),
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr[-3000:]
    assert "RESTORED False" in second.stdout  # no restore was offered (it would be accepted)

"""One Brushwork per session folder: a second instance works in a session of its own, a lock
left by a killed process does not block the next start, and a reused PID cannot hide a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from gui.session import SessionStore, default_session_dir
from tests.reliability.test_session_crash import make_session_app, state

ROOT = Path(__file__).resolve().parents[2]
HOLDER = (
    "import sys, time; from pathlib import Path; from gui.session import SessionStore; "
    "store = SessionStore(Path(sys.argv[1])); assert store.claim(); store.mark_running(); "
    "print('HOLDING', flush=True); time.sleep(120)"
)


def hold_in_another_process(folder: Path) -> subprocess.Popen:
    """Another running Brushwork, as far as the session folder can tell."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "HOLDING"
    return holder


def test_a_second_app_works_in_its_own_session_and_says_so(make_app):
    first, _ = make_app()
    first.window.doc.replace(np.full((16, 16, 3), 40, np.uint8), "Mine")
    first.window.autosave.save()
    assert first.window.autosave.wait(10)
    assert not first.window.error_banner.isVisible()
    mine = first.session.manifest.read_bytes()

    second, _ = make_app()  # same user, same default session folder
    assert first.session.folder == default_session_dir()
    assert second.session.folder != first.session.folder
    assert "Another Brushwork is running" in second.window.error_banner.text()
    assert not second.restored  # the first one's running marker is not a crash
    second.window.doc.replace(np.full((16, 16, 3), 200, np.uint8), "Theirs")
    second.window.autosave.save()
    assert second.window.autosave.wait(10)
    assert second.session.load().image[0, 0, 0] == 200
    assert first.session.manifest.read_bytes() == mine  # the first session is untouched
    own = second.session.folder
    second.shutdown()
    assert not own.exists()  # the temporary session goes with its window
    assert not SessionStore(first.session.folder).claim()  # still held by the first app


def test_an_instance_in_another_process_keeps_the_session(tmp_path, make_app):
    folder = tmp_path / "session"
    SessionStore(folder).save(state(40, 255))
    holder = hold_in_another_process(folder)
    try:
        asked: list = []
        app = make_session_app(make_app, SessionStore(folder), asked)
        assert app.session.folder != folder and not asked
        assert "Another Brushwork is running" in app.window.error_banner.text()
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_instance_is_no_obstacle_and_its_session_is_offered(
    tmp_path, make_app
):
    folder = tmp_path / "session"
    SessionStore(folder).save(state(40, 255))
    holder = hold_in_another_process(folder)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (folder / "lock").exists() and (folder / "running").exists()  # left behind
    asked: list = []
    app = make_session_app(make_app, SessionStore(folder), asked)
    assert app.session.folder == folder and not app.window.error_banner.isVisible()
    assert asked == [1] and app.restored
    assert np.array_equal(app.window.doc.image, state(40).image)


def test_a_crash_is_detected_even_when_its_pid_now_belongs_to_a_live_process(tmp_path, make_app):
    store = SessionStore(tmp_path / "session")
    store.save(state(40, 255))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store.marker.write_text(str(sleeper.pid))  # the crashed run's PID, reused since
        asked: list = []
        app = make_session_app(make_app, store, asked)
        assert asked == [1] and app.restored
    finally:
        sleeper.kill()
        sleeper.wait()

"""Autosave writes on its own thread: the GUI thread only copies the arrays, the files on disk
are complete and restorable, the newest state wins, and quitting waits for the write."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from gui.session import SessionStore


def spy_on_writes(store, hold: threading.Event | None = None, delay: float = 0.0):
    """Records the thread of every session write; `hold` keeps the writer waiting."""
    threads: list[str] = []
    original = store.save

    def save(state):
        threads.append(threading.current_thread().name)
        if hold is not None:
            assert hold.wait(10)
        time.sleep(delay)
        original(state)

    store.save = save
    return threads


def noise(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), np.uint8)


def test_the_session_is_written_off_the_gui_thread_and_can_be_restored(make_app, qtbot):
    app, _ = make_app()
    window = app.window
    window.doc.replace(noise(256), "Noise")
    window.doc.fill_mask()
    threads = spy_on_writes(app.session)
    reported: list[str] = []
    window.autosave.saved.connect(lambda: reported.append(threading.current_thread().name))
    # Wait for the completion signal itself: `settled` turns true on the writer thread, a moment
    # before its queued completion reaches the GUI thread.
    with qtbot.waitSignal(window.autosave.saved, timeout=10_000):
        assert window.autosave.save()
    assert window.autosave.settled
    assert threads == ["brushwork-autosave"]
    assert reported == ["MainThread"]  # the completion comes back to the GUI thread
    restored = SessionStore(app.session.folder).load()
    assert np.array_equal(restored.image, window.doc.image)
    assert np.array_equal(restored.mask, window.doc.mask) and restored.mask.min() == 255


def test_changes_after_a_save_started_are_not_in_it_and_the_newest_state_wins(make_app, qtbot):
    app, _ = make_app()
    window = app.window
    window.doc.replace(noise(64), "Noise")
    hold = threading.Event()
    threads = spy_on_writes(app.session, hold)
    window.autosave.save()  # the writer takes this one and waits
    qtbot.waitUntil(lambda: len(threads) == 1, timeout=5_000)
    window.doc.mask[:8, :8] = 255  # in place, as a brush stroke changes it
    reader = SessionStore(app.session.folder)
    window.autosave.save()
    window.doc.fill_mask()
    window.autosave.save()  # replaces the previous waiting save
    assert window.autosave.busy and not window.autosave.settled
    hold.set()
    qtbot.waitUntil(lambda: window.autosave.settled, timeout=10_000)
    assert len(threads) == 2  # the first save and the newest one; the middle one was skipped
    assert reader.load().mask.min() == 255


def test_the_first_write_holds_the_state_of_when_it_was_asked_for(make_app, qtbot):
    app, _ = make_app()
    window = app.window
    window.doc.replace(noise(64, 1), "Noise")
    expected = window.doc.image.copy()
    hold = threading.Event()
    spy_on_writes(app.session, hold)
    window.autosave.save()
    window.doc.mask[:, :] = 255  # the document changes while the save waits to be written
    with pytest.raises(ValueError, match="read-only"):  # shared with the writer, not copied
        window.doc.image[:, :] = 0
    window.doc.replace(noise(64, 2), "Another image")
    hold.set()
    qtbot.waitUntil(lambda: not window.autosave.busy, timeout=10_000)
    saved = app.session.load()
    assert np.array_equal(saved.image, expected) and saved.mask.max() == 0


def test_a_failed_write_is_reported_and_retried_at_the_next_tick(make_app, qtbot):
    app, _ = make_app()
    window = app.window

    def refuse(_state):
        raise OSError(28, "No space left on device")

    app.session.save = refuse
    window.autosave.mark_dirty()
    window.autosave.save()
    qtbot.waitUntil(lambda: not window.autosave.busy, timeout=5_000)
    qtbot.waitUntil(lambda: "could not be saved" in window.statusBar().currentMessage())
    assert "No space left on device" in window.statusBar().currentMessage()
    assert window.autosave.dirty  # the next timer tick tries again


def test_quitting_waits_for_the_session_to_be_on_disk(make_app, qtbot):
    app, _ = make_app()
    window = app.window
    window.doc.replace(noise(128, 2), "Noise")
    spy_on_writes(app.session, delay=0.3)
    window.close()
    assert np.array_equal(SessionStore(app.session.folder).load().image, window.doc.image)

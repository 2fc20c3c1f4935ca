"""Live mode (gui/live.py, gui/live_view.py) against the real window and worker thread.

Most tests drive a LiveController of their own, built on the window's GenerationController
with a test `edited` signal, canvas and `add_layer` recorder (the constructor arguments the
document provides in the app), so they do not depend on which document signal the app wires.
Waits pump events and sleep: QTest.qWait would hold the GIL and starve the worker thread.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication

import gui.live
from gui.live import GRACE_S, MAX_WAIT_S, PROMPT_PAUSE_S, LiveController, LiveScheduler
from pipeline import ModelError
from pipeline.live_preset import DEFAULT
from pipeline.saving import UnsavedImage
from tests.fakes import FakeEngine
from tests.gui.conftest import wait_idle

SIZE = 64


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        QApplication.processEvents()
        time.sleep(0.005)


def pump(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.005)


def sketch(level: int) -> np.ndarray:
    image = np.full((SIZE, SIZE, 3), 40, np.uint8)
    image[16:48, 16:48, 1] = level  # the fake engine copies the green channel into its result
    return image


class Edits(QObject):
    edited = Signal()


class Harness:
    """A LiveController on the window's controller, with a canvas and layers of its own."""

    def __init__(self, window, tmp_path):
        self.canvas = sketch(0)
        self.layers: list[tuple[np.ndarray, str]] = []
        self.edits = Edits()
        self.live = LiveController(
            window.controller,
            canvas_image=lambda: self.canvas,
            request_fields=lambda: {"prompt": "a large red circle, blue background"},
            edited=self.edits.edited,
            add_layer=lambda pixels, name: self.layers.append((pixels, name)),
            output_dir=lambda: tmp_path / "applied",
        )
        self.shown: list[int] = []  # green level of every result shown
        self.live.result_shown.connect(lambda _: self.shown.append(self.green()))
        self.started: list[int] = []
        self.ended: list[int] = []
        original = window.controller.run_live

        def run_live(request):
            job = original(request)
            if job:
                self.started.append(job)
            return job

        window.controller.run_live = run_live
        window.controller.live_ended.connect(lambda job, *_: self.ended.append(job))

    def green(self) -> int:
        pixels = self.live.result_pixels
        return int(pixels[pixels.shape[0] // 2, pixels.shape[1] // 2, 1])

    def paint(self, level: int) -> None:
        self.canvas = sketch(level)
        self.edits.edited.emit()

    def in_flight(self) -> int:
        return len(self.started) - len(self.ended)


@pytest.fixture
def live_app(make_app, tmp_path):
    def make(step_delay=0.0, **kwargs):
        engine = FakeEngine(tmp_path / "outputs", step_delay=step_delay, **kwargs)
        app, _ = make_app(engine)
        return app.window, engine, Harness(app.window, tmp_path)

    return make


# --- scheduling rules ----------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_fast_generations_start_at_once_and_slow_ones_wait_a_grace_period():
    clock = Clock()
    scheduler = LiveScheduler(clock)
    scheduler.edit()
    assert scheduler.wait() == 0  # nothing measured yet: not slow
    scheduler.started()
    clock.now += 0.4
    scheduler.finished()  # 0.4 s: fast
    scheduler.edit()
    assert scheduler.wait() == 0
    scheduler.started()
    clock.now += 5.0
    scheduler.finished()  # mean (0.4 + 5) / 2 > 1.5 s: slow
    scheduler.edit()
    assert scheduler.wait() == pytest.approx(GRACE_S)


def test_a_slow_model_never_waits_more_than_three_seconds_during_continuous_edits():
    clock = Clock()
    scheduler = LiveScheduler(clock)
    scheduler.started()
    clock.now += 4.0
    scheduler.finished()  # slow
    scheduler.edit()
    first = clock.now
    while scheduler.wait() > 0:  # an edit every 0.2 s, within the grace period each time
        clock.now += 0.2
        scheduler.edit()
    assert clock.now - first == pytest.approx(MAX_WAIT_S, abs=0.21)


def test_a_prompt_edit_waits_for_typing_to_pause():
    clock = Clock()
    scheduler = LiveScheduler(clock)
    scheduler.edit(PROMPT_PAUSE_S)
    assert scheduler.wait() == pytest.approx(PROMPT_PAUSE_S)
    clock.now += PROMPT_PAUSE_S
    assert scheduler.wait() == 0


# --- jobs ----------------------------------------------------------------------------------------


def test_a_live_result_is_shown_not_saved_and_not_in_history(live_app, tmp_path):
    window, engine, harness = live_app()
    live = harness.live
    previews = []
    live.previewed.connect(previews.append)
    live.set_active(True)
    wait_for(lambda: harness.shown)
    assert len(previews) == DEFAULT.steps  # one per step (the fake runs every step)
    assert not window.canvas.showing_preview  # Live's previews go to the Live view only
    request = engine.requests[-1]
    assert engine.saves == [False]
    assert request.mode.value == "img2img" and request.seed == live.seed
    assert request.steps == DEFAULT.steps and request.strength == pytest.approx(live.strength)
    assert np.array_equal(request.init_image, harness.canvas)
    assert isinstance(live.result, UnsavedImage) and live.result.path is None
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").iterdir())
    assert window.history.count() == 0 and window.controller.last_results == []
    assert window.progress_label.text() != "Done"  # the main progress bar is not Live's
    harness.paint(90)
    wait_for(lambda: harness.shown[-1] == 90)
    assert engine.requests[-1].seed == request.seed  # fixed seed: only the edit changed


def test_stale_jobs_are_cancelled_and_never_pile_up(live_app, monkeypatch):
    # No result for 3 s lets a stale job finish (continuous painting still sees results); on a
    # loaded machine ten strokes can take that long, and this test is about cancelling.
    monkeypatch.setattr(gui.live, "MAX_WAIT_S", 60.0)
    _window, engine, harness = live_app(step_delay=0.05)  # 6 steps: 0.3 s a job
    live = harness.live
    live.set_active(True)
    wait_for(lambda: live.running_job)
    most_in_flight = 0
    for level in range(10, 110, 10):  # ten strokes, 60 ms apart
        harness.paint(level)
        most_in_flight = max(most_in_flight, harness.in_flight())
        pump(0.06)
        most_in_flight = max(most_in_flight, harness.in_flight())
    wait_for(lambda: harness.shown and harness.shown[-1] == 100)
    assert most_in_flight <= 1  # one running; the waiting edit is only a flag
    assert engine.cancel_seen_at is not None and live.cancelled_jobs >= 1
    assert len(engine.requests) <= len(harness.started) <= 11  # each job ran once, or not at all
    assert harness.shown == [100]  # every result before the last edit was stale: cancelled


def test_with_slow_generations_a_quick_series_of_strokes_starts_one_job(live_app):
    _window, engine, harness = live_app(step_delay=0.01)
    live = harness.live
    live.scheduler._durations.extend([10.0] * 4)  # measured slow: > 1.5 s a job on average
    live.set_active(True)
    wait_for(lambda: harness.shown)
    for level in range(10, 60, 10):  # five strokes, 50 ms apart: within the 0.25 s grace
        harness.paint(level)
        pump(0.05)
    wait_for(lambda: harness.shown[-1] == 50)
    assert len(engine.requests) == 2  # the first canvas, then the last stroke's


def test_a_repeated_edit_that_changes_nothing_starts_no_job(live_app):
    _window, engine, harness = live_app()
    harness.live.set_active(True)
    wait_for(lambda: harness.shown)
    harness.edits.edited.emit()  # e.g. a mask stroke: the canvas is unchanged
    pump(0.3)
    assert len(engine.requests) == 1


def test_apply_puts_the_result_on_a_new_layer_and_saves_it_with_metadata(live_app, tmp_path):
    window, _engine, harness = live_app()
    live = harness.live
    assert not live.apply() and harness.layers == []  # nothing to apply yet: said, not done
    live.set_active(True)
    harness.paint(77)
    wait_for(lambda: harness.shown and harness.shown[-1] == 77)
    assert live.apply()
    pixels, name = harness.layers[0]
    assert np.array_equal(pixels, live.result_pixels) and name.startswith("Live: a large red")
    wait_for(lambda: window.history.count() == 1)
    saved = list((tmp_path / "applied").glob("*.png"))
    assert len(saved) == 1
    from PIL import Image

    with Image.open(saved[0]) as png:
        assert "parameters" in png.text and f"Seed: {live.seed}" in png.text["parameters"]
        assert np.array_equal(np.asarray(png.convert("RGB")), live.result.image)
    assert "applied as a layer" in window.statusBar().currentMessage()


def test_apply_into_a_folder_that_refuses_it_keeps_the_layer_and_says_so(live_app, tmp_path):
    window, _engine, harness = live_app()
    blocker = tmp_path / "applied"
    blocker.write_text("a file where the output folder should be")
    harness.live.set_active(True)
    wait_for(lambda: harness.shown)
    assert harness.live.apply()
    assert len(harness.layers) == 1  # on the canvas whatever the disk says
    wait_for(lambda: window.error_banner.isVisible())
    assert "not saved" in window.error_banner.text()


def test_live_toggled_during_a_generation_waits_and_does_not_disturb_it(live_app, qtbot):
    window, engine, harness = live_app(step_delay=0.03)
    window.panel.prompt.setPlainText("a red circle")
    window.panel.steps.setValue(20)
    window.panel.set_size(SIZE, SIZE)
    window.generate()
    wait_for(lambda: len(engine.steps_run) >= 2)
    statuses = []
    harness.live.status.connect(statuses.append)
    harness.live.set_active(True)
    assert "waits for the running generation" in statuses[-1]
    assert "waits for the running generation" in window.statusBar().currentMessage()
    assert harness.started == []
    wait_idle(qtbot, window)
    assert window.progress_label.text() == "Done"  # not cancelled
    assert window.controller.last_results[0].path.is_file()
    wait_for(lambda: harness.shown)  # Live starts once the generation ended
    assert engine.saves == [True, False]


def test_generate_during_a_live_job_cancels_it_and_runs_the_generation(live_app, qtbot):
    window, engine, harness = live_app(step_delay=0.05)
    harness.live.set_active(True)
    wait_for(lambda: len(engine.steps_run) >= 1)
    live_job = harness.live.running_job
    assert live_job
    window.panel.prompt.setPlainText("a red circle")
    window.panel.steps.setValue(3)
    window.panel.set_size(SIZE, SIZE)
    window.generate()
    wait_idle(qtbot, window)
    wait_for(lambda: window.progress_label.text() == "Done")
    assert window.controller.last_results[0].path.is_file()
    assert live_job in harness.ended and harness.live.cancelled_jobs == 1


def test_an_engine_error_turns_live_off_with_the_message(live_app):
    window, _engine, harness = live_app(fail=ModelError("Could not load model 'x'"))
    harness.live.set_active(True)
    wait_for(lambda: not harness.live.active)
    assert "Live stopped: Could not load model 'x'" in window.error_banner.text()


class NoSaveEngine(FakeEngine):
    """A backend whose `run` cannot leave results unsaved (as the remote one)."""

    def run(self, request, on_step=None, cancel=None):
        return super().run(request, on_step, cancel)


def test_a_backend_that_always_saves_refuses_live_with_a_clear_message(make_app, tmp_path):
    app, engine = make_app(NoSaveEngine(tmp_path / "outputs"))
    harness = Harness(app.window, tmp_path)
    harness.live.set_active(True)
    wait_for(lambda: not harness.live.active)
    assert "Live mode runs on this computer's engine only" in app.window.error_banner.text()
    assert engine.requests == []  # refused before anything ran (and so nothing was written)


# --- the window's own Live ---------------------------------------------------------------------


def test_the_live_view_toggle_strength_and_apply_key(make_app, qtbot):
    app, engine = make_app()
    window = app.window
    view = window.live_view
    window.doc.replace(sketch(50), "Paint")
    assert not view.isVisible()  # the canvas keeps its room until Live is used
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)  # View → Live mode
    assert window.live.active and view.isVisible() and view.live_button.text() == "Live: on"
    assert window.live_action.isChecked()
    wait_for(lambda: window.live.result is not None)
    assert view.apply_button.isEnabled() and not view.image.image.isNull()
    view.strength.setValue(40)
    wait_for(lambda: engine.requests[-1].strength == pytest.approx(0.4))
    wait_for(lambda: window.live.running_job == 0 and window.live.result.request.strength == 0.4)
    before = window.doc.undo_stack.count()
    qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)  # fmt: skip
    assert window.doc.undo_stack.count() == before + 1
    assert np.array_equal(window.doc.image, window.live.result_pixels)
    qtbot.mouseClick(view.live_button, Qt.MouseButton.LeftButton)
    assert not window.live.active and view.status.text() == "Live is off."
    assert not window.live_action.isChecked() and view.isVisible()  # the last result stays


# --- the real engine -----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_live_result_of_the_bundled_model_appears(make_app, tmp_path):
    from pipeline import Engine

    engine = Engine(tmp_path / "outputs", device="cpu")
    app, _ = make_app(engine)
    window = app.window
    image = np.full((SIZE, SIZE, 3), (40, 80, 220), np.uint8)  # blue
    image[18:46, 20:44] = (220, 40, 40)  # a rough red block
    window.doc.replace(image, "Sketch")
    window.panel.prompt.setPlainText("a large red circle in the center, blue background")
    previews = []
    window.live.previewed.connect(previews.append)
    window.live.set_active(True)
    wait_for(lambda: window.live.result is not None, timeout=120)
    result = window.live.result_pixels
    assert result.shape == image.shape
    assert not np.array_equal(result, image)  # refined, not the sketch back
    assert previews  # step previews went to the Live view
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").glob("*.png"))


def test_a_request_the_fields_refuse_is_said_in_the_live_view_and_nothing_runs(live_app):
    _window, engine, harness = live_app()
    harness.live._fields = lambda: {"prompt": "x" * 100_000}  # over the prompt limit
    statuses = []
    harness.live.status.connect(statuses.append)
    harness.live.set_active(True)
    pump(0.2)
    assert statuses[-1].startswith("Live cannot run: prompt") and engine.requests == []
    assert harness.live.active  # the next edit tries again


def test_a_one_pixel_canvas_gets_a_one_pixel_live_result(live_app):
    _window, _engine, harness = live_app()
    harness.canvas = np.full((1, 1, 3), 90, np.uint8)
    harness.live.set_active(True)
    wait_for(lambda: harness.live.result is not None)
    assert harness.live.result_pixels.shape == (1, 1, 3)


def test_upscale_during_a_live_job_cancels_it_and_runs(live_app, qtbot, tmp_path):
    from tests.gui.test_upscale_dialog import _choose_and_accept, _picture, _with_model

    window, _engine, harness = live_app(step_delay=0.2)
    _with_model(SimpleNamespace(window=window), tmp_path)
    harness.canvas = _picture()
    window.doc.replace(harness.canvas, "Open")
    harness.live.set_active(True)
    wait_for(lambda: harness.live.running_job)
    live_job = harness.live.running_job
    seen: list[str] = []
    _choose_and_accept(qtbot, "near-x4.safetensors", 0, seen)
    window.upscaler.open_dialog()  # not refused: Live gives way
    wait_for(lambda: window.progress_label.text() == "Upscaled")
    assert window.doc.image.shape == (32, 48, 3)
    assert live_job in harness.ended and harness.live.running_job != live_job


def test_the_live_strength_is_kept_across_restarts_and_a_bad_value_is_clamped(make_app, tmp_path):
    import json

    from gui.settings import SettingsStore

    path = tmp_path / "settings.json"
    app, _ = make_app(store=SettingsStore(path))
    app.window.live_view.strength.setValue(35)
    app.window.save_settings()
    assert json.loads(path.read_text())["live_strength"] == pytest.approx(0.35)
    again, _ = make_app(store=SettingsStore(path))
    assert again.window.live.strength == pytest.approx(0.35)
    data = json.loads(path.read_text())
    data["live_strength"] = 1e9  # a hand-edited file
    path.write_text(json.dumps(data))
    third, _ = make_app(store=SettingsStore(path))
    assert third.window.live.strength == 1.0


def test_live_jobs_leave_the_step_scrubber_on_the_last_generation(live_app, qtbot):
    window, _engine, harness = live_app(step_delay=0.01)
    window.panel.prompt.setPlainText("a red circle")
    window.panel.steps.setValue(5)
    window.panel.set_size(SIZE, SIZE)
    window.generate()
    wait_idle(qtbot, window)
    previews = window.scrubber.previews
    wait_for(lambda: previews.total == 5)
    kept = dict(previews.images)
    harness.live.set_active(True)
    wait_for(lambda: harness.shown)
    pump(0.2)  # the Live job's queued signals have all been delivered
    assert previews.total == 5 and previews.images == kept  # the same QImage objects


def test_an_edit_starts_its_job_after_the_event_that_made_it(live_app):
    """Reading the canvas and starting a job inside the mouse release that ended a stroke held
    the GUI thread longer (issue 18's stall target): it runs in the next turn of the loop."""
    _window, _engine, harness = live_app()
    harness.live.set_active(True)
    wait_for(lambda: harness.shown)
    started = len(harness.started)
    harness.paint(90)
    assert len(harness.started) == started  # not inside the edit's own event
    wait_for(lambda: harness.shown[-1] == 90)
    assert len(harness.started) == started + 1


def test_the_app_lets_the_gui_thread_take_the_gil_back_quickly(make_app):
    from gui.app import GIL_SWITCH_INTERVAL_S

    sys.setswitchinterval(0.005)  # Python's default
    make_app()
    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S)


def test_jobs_report_the_loaded_model_only_when_it_changed(live_app):
    """The window's answer to a model report (card, few-step preset, size rules) cost the GUI
    thread ~8 ms; Live jobs ran it for every result."""
    window, engine, harness = live_app()
    reports = []
    window.controller.worker.model_loaded.connect(lambda name, _defaults: reports.append(name))
    harness.live.set_active(True)
    for level in (10, 20, 30):
        harness.paint(level)
        wait_for(lambda level=level: harness.shown and harness.shown[-1] == level)
    assert len(reports) == 1
    engine.loaded = dataclasses.replace(engine.loaded, native_size=64)  # another model
    harness.paint(40)
    wait_for(lambda: harness.shown[-1] == 40)
    assert len(reports) == 2


def test_a_stale_job_past_half_its_usual_time_runs_on():
    clock = Clock()
    scheduler = LiveScheduler(clock)
    scheduler.edit()
    scheduler.started()
    clock.now += 0.9
    assert not scheduler.nearly_done()  # nothing measured yet: a stale job is cancelled
    scheduler.finished()  # the usual job: 0.9 s
    scheduler.edit()
    scheduler.started()
    clock.now += 0.4
    assert not scheduler.nearly_done()
    clock.now += 0.1
    assert scheduler.nearly_done()


def test_strokes_faster_than_the_jobs_still_show_results(live_app, monkeypatch):
    """A stroke every 0.25 s while each job takes 0.3 s: cancelling every job at the next stroke
    showed nothing until the last one; jobs past half their usual time now finish."""
    monkeypatch.setattr(gui.live, "MAX_WAIT_S", 60.0)  # only the new rule lets results through
    _window, _engine, harness = live_app(step_delay=0.05)  # 6 steps: 0.3 s a job
    live = harness.live
    live.set_active(True)
    wait_for(lambda: harness.shown)  # one job measured: the usual time is known
    shown = len(harness.shown)
    for level in range(10, 130, 10):  # twelve strokes, 0.25 s apart
        harness.paint(level)
        pump(0.25)
    assert len(harness.shown) - shown >= 2  # results while painting, not only after
    wait_for(lambda: harness.shown[-1] == 120)

"""The window against a fake engine: previews, final image, cancel, errors, shortcuts."""

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from gui.images import array_to_qimage, qimage_to_array
from gui.main_window import format_progress
from pipeline import ModelError
from tests.fakes import FakeEngine
from tests.gui.conftest import wait_idle


def start_job(window, steps=5, size=64):
    window.panel.prompt.setPlainText("a red circle")
    window.panel.steps.setValue(steps)
    window.panel.set_size(size, size)


def spy_previews(window):
    shown = []
    original = window.canvas.show_preview

    def spy(job, image, region=None):
        accepted = original(job, image, region)
        shown.append((job, qimage_to_array(image)[0, 0, 0], accepted))
        return accepted

    window.canvas.show_preview = spy
    return shown


def test_generate_streams_previews_then_shows_the_saved_image(qtbot, make_app):
    app, engine = make_app()
    window = app.window
    start_job(window, steps=5)
    shown = spy_previews(window)
    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    assert window.generate_button.text() == "Add to queue" and window.cancel_button.isEnabled()
    wait_idle(qtbot, window)

    assert [accepted for *_, accepted in shown] == [True] * 5  # one preview per step
    assert [level for _, level, _ in shown] == sorted(level for _, level, _ in shown)
    result = window.controller.last_results[0]
    assert result.path.is_file()
    assert np.array_equal(window.doc.image, result.image)
    assert not window.canvas.showing_preview
    assert window.panel.seed.text() == str(result.seed)
    assert result.path.name in window.statusBar().currentMessage()
    assert window.progress.value() == 5 and window.progress_label.text() == "Done"
    assert engine.threads and "MainThread" not in engine.threads  # never on the GUI thread


def test_cancel_stops_within_one_step_and_the_app_stays_usable(qtbot, make_app):
    app, engine = make_app(FakeEngine(None, step_delay=0.02))
    engine.output_dir = app.window.output_dir
    window = app.window
    start_job(window, steps=500)
    window.generate()
    qtbot.waitUntil(lambda: window.progress.value() >= 3, timeout=10_000)
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    steps_when_cancelled = len(engine.steps_run)
    wait_idle(qtbot, window)
    assert window.progress_label.text() == "Cancelled"
    assert engine.cancel_seen_at is not None
    assert len(engine.steps_run) - steps_when_cancelled <= 1
    assert window.generate_button.isEnabled()
    start_job(window, steps=2)
    window.generate()
    wait_idle(qtbot, window)
    assert window.progress_label.text() == "Done"


def test_engine_errors_appear_in_the_window_in_plain_words(qtbot, make_app, tmp_path):
    engine = FakeEngine(tmp_path, fail=ModelError("Could not load model 'x': file is truncated"))
    app, _ = make_app(engine)
    window = app.window
    start_job(window)
    window.generate()
    wait_idle(qtbot, window)
    assert window.error_banner.isVisible()
    assert window.error_banner.text() == "Could not load model 'x': file is truncated"
    assert window.progress_label.text() == "Failed"
    engine.fail = None
    window.generate()
    wait_idle(qtbot, window)
    assert not window.error_banner.isVisible() and window.controller.last_results


def test_an_unexpected_engine_bug_does_not_take_the_app_down(qtbot, make_app, tmp_path):
    app, _ = make_app(FakeEngine(tmp_path, fail=RuntimeError("boom")))
    window = app.window
    start_job(window)
    window.generate()
    wait_idle(qtbot, window)
    assert window.error_banner.text() == "Something went wrong: RuntimeError: boom"
    assert window.generate_button.isEnabled()


def test_invalid_parameters_are_explained_and_nothing_runs(qtbot, make_app):
    app, engine = make_app()
    window = app.window
    start_job(window)
    window.panel.width_box.setValue(100)
    window.generate()
    assert window.controller.running_job == 0
    assert "width must be a multiple of 8 (got 100)" in window.error_banner.text()
    window.panel.width_box.setValue(64)
    window.panel.random_seed.setChecked(False)
    window.panel.seed.setText("")
    window.generate()
    assert window.error_banner.text() == "Enter a seed, or tick Random."
    qtbot.wait(50)
    assert engine.requests == []


def test_fixed_seed_is_sent_as_typed(qtbot, make_app):
    app, engine = make_app()
    window = app.window
    start_job(window)
    window.panel.random_seed.setChecked(False)
    window.panel.seed.setText("4294967295")
    window.generate()
    wait_idle(qtbot, window)
    assert engine.requests[0].seed == 4294967295


def test_ctrl_enter_generates_and_escape_cancels(qtbot, make_app, tmp_path):
    app, _ = make_app(FakeEngine(tmp_path, step_delay=0.02))
    window = app.window
    start_job(window, steps=300)
    window.activateWindow()
    window.panel.prompt.setFocus()
    qtbot.keyClick(window.panel.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.controller.running_job != 0
    assert window.panel.prompt.toPlainText() == "a red circle"  # no line break was typed
    qtbot.waitUntil(lambda: window.progress.value() >= 2, timeout=10_000)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    wait_idle(qtbot, window)
    assert window.progress_label.text() == "Cancelled"


def test_closing_during_a_generation_cancels_and_joins_the_worker(qtbot, make_app, tmp_path):
    app, engine = make_app(FakeEngine(tmp_path, step_delay=0.02))
    window = app.window
    start_job(window, steps=1000)
    window.generate()
    qtbot.waitUntil(lambda: len(engine.steps_run) >= 2, timeout=10_000)
    window.close()
    app.shutdown()
    assert app.thread.isFinished()
    assert engine.cancel_seen_at is not None and len(engine.steps_run) < 1000


def test_model_preload_reports_the_model_name(qtbot, make_app):
    app, _ = make_app(preload=True)
    qtbot.waitUntil(lambda: app.window.model_label.text() == "Model: fake-model", timeout=10_000)


def test_a_single_file_model_is_reported_with_its_detected_family(qtbot, make_app, tmp_path):
    from tests.fakes import FakeLoaded

    loaded = FakeLoaded(kind="SDXL base checkpoint")
    app, _ = make_app(FakeEngine(tmp_path, loaded=loaded), preload=True)
    window = app.window
    qtbot.waitUntil(lambda: window.model_label.text() != "Model: not loaded yet", timeout=10_000)
    qtbot.waitUntil(lambda: "ready" in window.statusBar().currentMessage(), timeout=10_000)
    assert window.model_label.text() == "Model: fake-model (SDXL base checkpoint)"
    status = window.statusBar().currentMessage()
    assert status.startswith("Model fake-model (SDXL base checkpoint) ready")


def _size(window) -> tuple[int, int]:
    return window.panel.width_box.value(), window.panel.height_box.value()


def test_the_size_follows_each_loaded_models_own(qtbot, make_app, tmp_path):
    """Fresh settings at 512×512 and a 64-px single-file model (nothing to read before it
    loads) loads: the size becomes 64×64 and the next job asks for it; a model trained at 1024
    then moves it again."""
    from tests.fakes import FakeLoaded

    engine = FakeEngine(tmp_path, loaded=FakeLoaded(native_size=64))
    checkpoint = tmp_path / "tiny.safetensors"
    checkpoint.write_bytes(b"")
    app, _ = make_app(engine, model=str(checkpoint), preload=True)
    window = app.window
    qtbot.waitUntil(lambda: _size(window) == (64, 64), timeout=10_000)
    assert window.statusBar().currentMessage() == (
        "Size set to 64×64, the size fake-model was trained at"
    )
    window.generate()
    wait_idle(qtbot, window)
    assert (engine.requests[-1].width, engine.requests[-1].height) == (64, 64)

    engine.loaded = FakeLoaded(native_size=1024)
    window.load_model()
    qtbot.waitUntil(lambda: _size(window) == (1024, 1024), timeout=10_000)


def test_a_size_the_user_chose_stays_when_a_model_loads(qtbot, make_app, tmp_path):
    from tests.fakes import FakeLoaded

    engine = FakeEngine(tmp_path, loaded=FakeLoaded(native_size=64))
    app, _ = make_app(engine)
    window = app.window
    window.panel.set_size(768, 512)
    window.load_model()
    qtbot.waitUntil(lambda: "ready" in window.statusBar().currentMessage(), timeout=10_000)
    assert _size(window) == (768, 512)
    window.generate()
    wait_idle(qtbot, window)
    assert (engine.requests[-1].width, engine.requests[-1].height) == (768, 512)


def test_after_a_restart_a_size_set_by_the_last_model_still_follows_the_next(
    qtbot, make_app, tmp_path
):
    from gui.settings import Parameters, Settings, SettingsStore
    from tests.fakes import FakeLoaded

    store = SettingsStore(tmp_path / "settings.json")
    store.save(Settings(parameters=Parameters(width=64, height=64), native_size=64))
    engine = FakeEngine(tmp_path, loaded=FakeLoaded(native_size=512))
    app, _ = make_app(engine, preload=True, store=store, settings=store.load())
    qtbot.waitUntil(lambda: _size(app.window) == (512, 512), timeout=10_000)
    app.window.save_settings()
    assert store.load().native_size == 512


def test_canvas_drops_previews_of_other_jobs(qtbot):
    from gui.canvas import Canvas
    from gui.document import Document

    canvas = Canvas(Document(64, 64))
    qtbot.addWidget(canvas)
    canvas.begin_job(2)
    image = QImage(8, 8, QImage.Format.Format_RGB888)
    assert canvas.show_preview(1, image) is False and not canvas.showing_preview
    assert canvas.show_preview(2, image) is True and canvas.showing_preview
    canvas.end_job()
    assert not canvas.showing_preview


def test_array_qimage_round_trip_keeps_pixels():
    array = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    image = array_to_qimage(array)
    assert np.array_equal(qimage_to_array(image), array)


def test_progress_text_shows_speed_and_eta():
    assert format_progress(5, 20, 2.0) == "Step 5/20 · 2.5 it/s · ETA 0:06"
    assert format_progress(2, 10, 8.0) == "Step 2/10 · 4.0 s/it · ETA 0:32"
    assert format_progress(0, 10, 0.0) == "Step 0/10"

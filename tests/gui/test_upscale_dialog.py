"""Image → Upscale…: the dialog driven with real clicks, the job on the worker thread, the result
as one undo step, cancel, and refusals shown in the window."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from gui.upscale_dialog import UpscaleDialog
from pipeline.upscale_job import UpscaleJob
from tests.gui.conftest import wait_idle
from tests.tiny_upscaler import nearest_compact_state, save_model


def _picture(width: int = 24, height: int = 16) -> np.ndarray:
    return np.random.default_rng(2).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _with_model(app, tmp_path):
    folder = tmp_path / "upscalers"
    save_model(nearest_compact_state(), folder / "near-x4.safetensors")
    app.window.upscaler.folder = folder
    return folder


def _choose_and_accept(qtbot, model_name: str, factor_index: int, seen: list):
    """Runs once the modal dialog is up: picks the model and factor, clicks Upscale."""

    def act():
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, UpscaleDialog)
        seen.append(dialog.result_size.text())
        dialog.model.setCurrentIndex(dialog.model.findText(model_name))
        dialog.factor.setCurrentIndex(factor_index)
        seen.append(dialog.result_size.text())
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        QTest.mouseClick(ok, Qt.MouseButton.LeftButton)

    QTimer.singleShot(200, act)


def test_upscale_from_the_menu_is_one_undo_step(qtbot, make_app, tmp_path):
    app, engine = make_app()
    window = app.window
    _with_model(app, tmp_path)
    picture = _picture()
    window.doc.replace(picture, "Open")
    seen: list[str] = []
    _choose_and_accept(qtbot, "near-x4.safetensors", 0, seen)
    action = next(a for a in window.menuBar().actions() if a.text() == "&Image")
    action.menu().actions()[0].trigger()
    wait_idle(qtbot, window)
    assert seen == ["24×16 → 96×64 px", "24×16 → 48×32 px"]
    assert window.doc.width == 48 and window.doc.height == 32
    assert window.progress_label.text() == "Upscaled"
    window.undo_action.trigger()
    assert np.array_equal(window.doc.image, picture)
    window.redo_action.trigger()
    assert window.doc.image.shape == (32, 48, 3)
    assert engine.requests == []  # no generation ran


def test_a_x4_upscale_matches_the_model_and_reports_tiles(qtbot, make_app, tmp_path):
    app, _ = make_app()
    window = app.window
    folder = _with_model(app, tmp_path)
    picture = _picture(200, 30)  # two tiles of 192 px
    window.doc.replace(picture, "Open")
    ticks: list[tuple[int, int]] = []
    window.worker.progressed.connect(lambda job, done, total, _s: ticks.append((done, total)))
    window.upscaler.start(UpscaleJob(picture, 4, str(folder / "near-x4.safetensors")))
    wait_idle(qtbot, window)
    assert np.array_equal(window.doc.image, picture.repeat(4, axis=0).repeat(4, axis=1))
    assert ticks == [(1, 2), (2, 2)]


def test_the_bar_names_the_phase_and_then_what_was_done(qtbot, make_app, tmp_path):
    """It read "Step 1/1" (later "Tile 2/2") after an upscale: it now names the phase while
    running and says what was done at the end."""
    app, _ = make_app()
    window = app.window
    folder = _with_model(app, tmp_path)
    picture = _picture(200, 30)  # two tiles of 192 px
    window.doc.replace(picture, "Open")
    formats: list[str] = []
    window.controller.progressed.connect(lambda _v, _m, text_format: formats.append(text_format))
    window.upscaler.start(UpscaleJob(picture, 4, str(folder / "near-x4.safetensors")))
    wait_idle(qtbot, window)
    assert formats[1:3] == ["Upscaling: tile %v of %m"] * 2  # after "Loading the upscaler…"
    assert window.progress.text() == "Upscaled ×4 with near-x4 (2 tiles)"
    assert window.progress.value() == window.progress.maximum()
    assert window.progress_label.text() == "Upscaled"


def test_cancel_leaves_the_canvas_as_it_was(qtbot, make_app, tmp_path):
    app, _ = make_app()
    window = app.window
    folder = _with_model(app, tmp_path)
    picture = _picture(400, 400)
    window.doc.replace(picture, "Open")
    window.upscaler.start(UpscaleJob(picture, 4, str(folder / "near-x4.safetensors")))
    window.controller.cancel()  # before the worker starts it: cancelled at the first tile
    wait_idle(qtbot, window)
    assert window.progress_label.text() == "Cancelled"
    assert np.array_equal(window.doc.image, picture)


def test_an_output_over_the_limit_is_refused_in_the_window(qtbot, make_app, tmp_path):
    app, _ = make_app()
    window = app.window
    _with_model(app, tmp_path)
    window.doc.replace(np.zeros((8, 4100, 3), np.uint8), "Open")
    _choose_and_accept(qtbot, "near-x4.safetensors", 1, [])
    window.upscaler.open_dialog()
    assert window.controller.running_job == 0
    assert "would make 16400×32 pixels" in window.error_banner.text()
    assert window.error_banner.isVisibleTo(window)

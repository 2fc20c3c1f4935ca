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


def test_an_upscale_goes_on_a_new_layer_over_the_scaled_painting(qtbot, make_app, tmp_path):
    app, _ = make_app()
    window = app.window
    folder = _with_model(app, tmp_path)
    picture = _picture(24, 16)
    window.doc.replace(picture, "Open")
    stroke = np.zeros((16, 24, 4), np.uint8)
    stroke[4:8, 4:12] = (255, 0, 0, 255)
    window.doc.add_layer(stroke, "Sketch")
    names = [layer.name for layer in window.doc.layers]
    window.upscaler.start(UpscaleJob(window.doc.image, 2, str(folder / "near-x4.safetensors")))
    wait_idle(qtbot, window)
    doc = window.doc
    assert [layer.name for layer in doc.layers] == [*names, "Upscale ×2"]
    assert all(layer.pixels.shape == (32, 48, 4) for layer in doc.layers)
    sketch = next(layer for layer in doc.layers if layer.name == "Sketch")
    core = sketch.pixels[11:13, 11:21].astype(int)  # scaled (Lanczos rings a little), not lost
    assert np.abs(core - (255, 0, 0, 255)).max() <= 24
    doc.set_visible(doc.layers[-1], False)  # the stroke is still there under the result
    assert np.abs(doc.image[11:13, 11:21].astype(int) - (255, 0, 0)).max() <= 24
    window.undo_action.trigger()  # visibility
    window.undo_action.trigger()  # the upscale, in one step
    assert [layer.name for layer in doc.layers] == names and doc.width == 24


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


def _open_dialog_and(qtbot, window, act):
    """Opens Image → Upscale… and runs `act(dialog)` once it is up (it must close it)."""
    QTimer.singleShot(200, lambda: act(QApplication.activeModalWidget()))
    window.upscaler.open_dialog()


def test_the_upscalers_folder_of_settings_is_saved_and_listed(qtbot, make_app, tmp_path):
    from gui.settings import SettingsStore
    from gui.settings_dialog import SettingsDialog
    from tests.tiny_diffusion_upscalers import save_tiny_latent_upscaler

    app, _ = make_app()
    window = app.window
    folder = tmp_path / "my upscalers"
    save_model(nearest_compact_state(), folder / "near-x4.safetensors")
    save_tiny_latent_upscaler(folder / "latent-x2")
    (folder / "readme.txt").write_text("not a model")
    dialog = SettingsDialog(window.settings, window)
    qtbot.addWidget(dialog)
    dialog.upscalers.folder.setText(str(folder))
    window.apply_settings(dialog.result_settings())
    assert SettingsStore().load().upscalers_folder == str(folder)
    seen: list = []

    def act(upscale):
        seen.extend(upscale.model.itemText(i) for i in range(upscale.model.count()))
        upscale.model.setCurrentIndex(2)  # the latent upscaler: it only doubles
        seen.append((upscale.factor.currentData(), upscale.prompt.isEnabled()))
        seen.append(upscale.factor.model().item(1).isEnabled())
        upscale.reject()

    _open_dialog_and(qtbot, window, act)
    assert seen == [
        "brushwork-shapes-x4 (bundled)",
        "near-x4.safetensors",
        "latent-x2 (latent ×2, diffusion, uses the prompt)",
        "Other: a diffusers upscaler folder or Hub id…",
        (2, True),
        False,
    ]


def test_a_diffusers_x4_upscaler_runs_from_the_dialog_with_its_prompt(qtbot, make_app, tmp_path):
    from tests.tiny_diffusion_upscalers import save_tiny_x4_upscaler

    app, _ = make_app()
    window = app.window
    model = save_tiny_x4_upscaler(tmp_path / "elsewhere" / "sd-x4")
    picture = _picture(20, 12)
    window.doc.replace(picture, "Open")
    formats: list[str] = []
    window.controller.progressed.connect(lambda _v, _m, text_format: formats.append(text_format))

    def act(upscale):
        upscale.model.setCurrentIndex(upscale.model.findData("other"))
        QTest.keyClicks(upscale.other, str(model))
        upscale.prompt.setText("a red circle")
        ok = upscale.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        QTest.mouseClick(ok, Qt.MouseButton.LeftButton)

    _open_dialog_and(qtbot, window, act)
    wait_idle(qtbot, window, timeout=120_000)
    assert window.doc.image.shape == (48, 80, 3)
    assert "Upscaling: step %v of %m" in formats
    assert window.progress.text() == "Upscaled ×4 with sd-x4 (20 steps)"
    window.undo_action.trigger()
    assert np.array_equal(window.doc.image, picture)

import json
import os

from pipeline import Mode
from tests.gui.conftest import wait_idle
from tests.pngs import png_with_text


def write_png(path, value, text=None, age=0):
    png_with_text(path, text or {}, value, size=16)
    stamp = 1_700_000_000 + age
    os.utime(path, (stamp, stamp))
    return path


def test_history_lists_the_output_folder_newest_first_and_survives_restarts(
    qtbot, make_app, tmp_path
):
    out = tmp_path / "outputs"
    out.mkdir()
    old = write_png(out / "old.png", 10, age=0)
    new = write_png(out / "new.png", 20, age=100)
    app, _ = make_app()
    history = app.window.history
    assert history.paths() == [new, old]
    qtbot.waitUntil(lambda: not history.item(1).icon().isNull(), timeout=5_000)
    app.window.panel.prompt.setPlainText("fresh")
    app.window.panel.set_size(64, 64)
    app.window.generate()
    wait_idle(qtbot, app.window)
    assert history.paths()[0] == app.window.controller.last_results[0].path
    assert len(history.paths()) == 3


def test_click_shows_the_image_on_the_canvas_as_an_undoable_step(qtbot, make_app, tmp_path):
    out = tmp_path / "outputs"
    out.mkdir()
    write_png(out / "a.png", 77)
    app, _ = make_app()
    window = app.window
    window.history.itemClicked.emit(window.history.item(0))
    assert window.doc.image.shape == (16, 16, 3) and window.doc.image[0, 0, 0] == 77
    window.doc.undo_stack.undo()
    assert window.doc.width == 512


def test_use_parameters_restores_every_setting(qtbot, make_app, tmp_path):
    out = tmp_path / "outputs"
    out.mkdir()
    request = {"prompt": "a blue ring", "negative_prompt": "blur", "mode": "img2img",
               "sampler": "dpmpp_2m_karras", "steps": 33, "guidance": 4.5, "seed": 99,
               "width": 320, "height": 256, "strength": 0.4}  # fmt: skip
    ours = write_png(out / "ours.png", 1, {"brushwork": json.dumps({"request": request})})
    a1111 = write_png(out / "a1111.png", 2, {"parameters": (
        "castle\nNegative prompt: fog\nSteps: 12, Sampler: Euler a, CFG scale: 9, Seed: 5, "
        "Size: 448x576")})  # fmt: skip
    app, _ = make_app()
    window = app.window
    assert window.use_parameters_of(ours)
    panel = window.panel
    assert panel.prompt.toPlainText() == "a blue ring" and panel.negative.toPlainText() == "blur"
    assert panel.current_mode == Mode.IMG2IMG and panel.sampler.currentData() == "dpmpp_2m_karras"
    assert (panel.steps.value(), panel.guidance.value(), panel.strength.value()) == (33, 4.5, 0.4)
    # Random stays as the user had it (every later Generate would repeat one seed otherwise),
    # and the status line says the seed was restored.
    assert panel.seed.text() == "99" and panel.random_seed.isChecked()
    assert "seed 99 restored (untick Random to use it)" in window.statusBar().currentMessage()
    assert window.use_parameters_of(a1111)
    assert panel.prompt.toPlainText() == "castle" and panel.sampler.currentData() == "euler_a"
    panel.set_mode(Mode.TXT2IMG)
    assert (panel.width_box.value(), panel.height_box.value()) == (448, 576)


def test_use_parameters_of_a_plain_image_explains(qtbot, make_app, tmp_path):
    plain = write_png(tmp_path / "plain.png", 3)
    app, _ = make_app()
    assert not app.window.use_parameters_of(plain)
    assert "holds no generation parameters" in app.window.error_banner.text()


def test_delete_asks_first_and_removes_file_and_entry(qtbot, make_app, tmp_path, monkeypatch):
    out = tmp_path / "outputs"
    out.mkdir()
    doomed = write_png(out / "doomed.png", 5)
    app, _ = make_app()
    window = app.window
    monkeypatch.setattr(window.files, "confirm_delete", lambda path: False)
    assert not window.files.delete_from_history(doomed)
    assert doomed.exists() and window.history.paths() == [doomed]
    monkeypatch.setattr(window.files, "confirm_delete", lambda path: True)
    assert window.files.delete_from_history(doomed)
    assert not doomed.exists() and window.history.paths() == []


def test_use_parameters_of_a_comfyui_image_wraps_its_64_bit_seed(qtbot, make_app, tmp_path):
    from tests.pipeline.test_metadata_formats import COMFY_GRAPH

    comfy = write_png(tmp_path / "comfy.png", 4, {"prompt": json.dumps(COMFY_GRAPH)})
    app, _ = make_app()
    window = app.window
    assert window.use_parameters_of(comfy)
    assert window.panel.prompt.toPlainText().startswith("beautiful scenery")
    assert window.panel.sampler.currentData() == "dpmpp_2m_karras"
    assert window.panel.seed.text() == str(156680208700286 % 2**32)
    assert "wrapped" in window.statusBar().currentMessage()


def test_painting_unmarks_the_shown_image_once_not_per_dab(qtbot, make_app, tmp_path, monkeypatch):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    out = tmp_path / "outputs"
    out.mkdir()
    for k in range(30):
        write_png(out / f"{k}.png", k, age=k)
    app, _ = make_app()
    window = app.window
    history = window.history
    history.itemClicked.emit(history.item(3))  # its image is now on the canvas, framed
    assert history.currentRow() == 3
    window.canvas.set_tool("brush")
    looked_up = []
    original = type(history).item
    monkeypatch.setattr(
        type(history), "item", lambda s, row: looked_up.append(row) or original(s, row)
    )
    viewport = window.canvas.viewport()
    centre = viewport.rect().center()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre)
    assert history.currentRow() == -1 and history.on_canvas is None  # edited: no longer that file
    looked_up.clear()
    for dx in range(1, 20):
        QTest.mouseMove(viewport, centre + QPoint(dx, 0))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       centre + QPoint(19, 0))  # fmt: skip
    assert looked_up == []  # each later dab: no walk over the 30 rows

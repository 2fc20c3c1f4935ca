"""Control layers in the real window: painted with the mouse, kept out of the picture, shown as
an overlay, read by a Control unit (the bundled model + the bundled scribble ControlNet)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from gui.control_layers import control_image
from gui.control_panel import LAYER
from gui.layers_panel import CONTROL_COLOR, INDEX_ROLE
from gui.session import SessionStore
from gui.settings import Settings
from gui.worker import engine_factory
from pipeline import Mode, RequestError, read_image_info
from tests.gui.conftest import wait_idle
from tests.gui.test_canvas_editor import drag

WHITE = np.full((64, 64, 3), 255, np.uint8)


def small_canvas(window, color=(0, 0, 0), size=4):
    window.doc.replace(WHITE, "New canvas")
    window.canvas.fit()
    window.panel.set_mode(Mode.TXT2IMG)
    window.panel.set_size(64, 64)
    window.tools.set_paint_color(QColor(*color))
    window.tools.hardness_slider.setValue(100)
    window.tools.size_slider.set_pixels(size)


def add_control_layer(qtbot, window):
    qtbot.mouseClick(window.layers_panel.buttons["control"], Qt.MouseButton.LeftButton)
    return window.doc.active_layer


def ring(cx, cy, r, n=24):
    angles = np.linspace(0, 2 * np.pi, n + 1)
    return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in angles]


def list_row(window, layer):
    panel = window.layers_panel.list
    index = window.doc.layers.index(layer)
    return next(
        panel.item(r) for r in range(panel.count()) if panel.item(r).data(INDEX_ROLE) == index
    )


def generate(qtbot, window):
    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, timeout=180_000)


def test_a_scribble_on_a_control_layer_shows_on_the_canvas_but_not_in_the_picture(qtbot, make_app):
    app, _ = make_app()
    window = app.window
    small_canvas(window)
    picture = window.doc.image.copy()
    layer = add_control_layer(qtbot, window)
    assert (layer.name, layer.kind) == ("Control 1", "control")
    row = list_row(window, layer)
    assert row.foreground().color() == CONTROL_COLOR and "Control layer" in row.toolTip()
    assert list_row(window, window.doc.layers[1]).foreground().color() != CONTROL_COLOR

    drag(window.canvas, ring(20, 20, 10))
    assert layer.pixels[..., 3].sum() > 0 and layer.pixels[10, 20, 3] == 255  # the ring's top
    assert np.array_equal(window.doc.image, picture)  # generation reads no control layer
    assert window.canvas._image_item.pixel(20, 10) == (255, 255, 255)
    overlay = window.control_overlay
    assert overlay.alpha(20, 10) > 100 and overlay.alpha(50, 50) == 0  # seen while painting

    row.setCheckState(Qt.CheckState.Unchecked)  # the row's box hides it like any layer
    assert not layer.visible and overlay.alpha(20, 10) == 0
    window.doc.undo_stack.undo()
    assert layer.visible and overlay.alpha(20, 10) > 100
    window.doc.undo_stack.undo()  # the stroke
    assert layer.pixels[..., 3].sum() == 0 and overlay.alpha(20, 10) == 0


def test_a_unit_picks_its_control_layer_and_names_what_is_wrong(qtbot, make_app):
    app, _ = make_app()
    window = app.window
    small_canvas(window)
    control = window.side.control
    row = control.add_unit()
    assert row.source.currentText() == "Canvas"  # no control layer yet
    row.source.setCurrentText(LAYER)
    assert not row.layer_list.isHidden() and row.layer_list.count() == 0
    generate(qtbot, window)
    assert "there is no control layer to read" in window.error_banner.text()

    first = add_control_layer(qtbot, window)
    assert row.chosen is first and row.layer_list.currentText() == "Control 1"
    generate(qtbot, window)
    assert "Unit 0, control layer “Control 1”: The scribble is empty" in (
        window.error_banner.text()
    )

    drag(window.canvas, ring(44, 44, 10))
    second = add_control_layer(qtbot, window)
    assert [row.layer_list.itemText(i) for i in range(2)] == ["Control 1", "Control 2"]
    assert row.chosen is first  # a new layer does not steal the unit's choice
    window.doc.rename(first, "ring")
    assert row.layer_list.currentText() == "ring" and row.chosen is first

    window.doc.set_visible(first, False)
    assert row.layer_list.currentText() == "ring (hidden)"
    generate(qtbot, window)
    assert "control layer “ring” is hidden: show it" in window.error_banner.text()
    window.doc.set_visible(first, True)

    window.doc.set_active(first)
    qtbot.mouseClick(window.layers_panel.buttons["delete"], Qt.MouseButton.LeftButton)
    assert row.layer_list.currentText() == "ring (deleted)" and row.chosen is None
    generate(qtbot, window)
    assert "its control layer “ring” was deleted" in window.error_banner.text()
    window.doc.undo_stack.undo()
    assert row.chosen is first and row.layer_list.currentText() == "ring"
    row.layer_list.setCurrentIndex(1)
    row.layer_list.activated.emit(1)  # what choosing it in the open list does
    assert row.chosen is second

    # A second unit made now starts on the control layers, reading the first one.
    other = control.add_unit()
    assert other.source.currentText() == LAYER and other.chosen is first
    with pytest.raises(RequestError, match="Unit 0, control layer “Control 2”: The scribble"):
        control.units(window.doc.image)  # Control 2 is empty
    row.layer_list.activated.emit(0)
    units = control.units(window.doc.image)
    assert [u.module for u in units] == ["scribble", "scribble"]
    # Both read the ring as black strokes on white (what the scribble preprocessor reads).
    assert np.array_equal(units[0].image, units[1].image)
    assert units[0].image[34, 44, 0] == 0 and units[0].image[0, 0, 0] == 255


def test_control_image_for_each_type_comes_from_the_opaque_pixels():
    from gui.layers import Layer

    pixels = np.zeros((16, 16, 4), np.uint8)
    pixels[4:12, 6:8] = (250, 250, 250, 255)  # white paint: invisible on white, still strokes
    layer = Layer("lines", "control", pixels)
    scribble = control_image(layer, "scribble", "Unit 0")
    assert scribble[5, 6, 0] == 0 and scribble[0, 0, 0] == 255  # black strokes on white
    lines = control_image(layer, "none", "Unit 0")
    assert lines[5, 6, 0] == 255 and lines[0, 0, 0] == 0  # white lines on black, as is
    assert control_image(layer, "canny", "Unit 0")[5, 6, 0] == 250  # its colours over white
    layer.visible = False
    try:
        control_image(layer, "scribble", "Unit 2")
        raise AssertionError("a hidden layer was read")
    except RequestError as exc:
        assert str(exc).startswith("Unit 2: the control layer “lines” is hidden")


def test_the_session_keeps_a_control_layer(qtbot, make_app, tmp_path):
    store = SessionStore(tmp_path / "session")
    app, _ = make_app(session=store)
    window = app.window
    small_canvas(window)
    layer = add_control_layer(qtbot, window)
    drag(window.canvas, ring(20, 20, 10))
    row = window.side.control.add_unit()
    assert window.autosave.save() and window.autosave.wait(10)
    loaded = store.load()
    [saved] = [each for each in loaded.layers if each.kind == "control"]
    assert saved.name == "Control 1" and np.array_equal(saved.pixels, layer.pixels)
    window.doc.replace(WHITE, "something else")
    assert row.layer_list.currentText() == "Control 1 (deleted)"
    window.restore_session(loaded)
    restored = window.doc.layers[-1]
    assert restored.kind == "control" and np.array_equal(restored.pixels, layer.pixels)
    [row] = window.side.control.rows  # the saved unit, in place of the one there was
    assert row.chosen is restored  # the unit finds its layer again by name
    assert np.array_equal(window.doc.image, WHITE)  # still not part of the picture


def _shape_centre(image: np.ndarray) -> tuple[float, float]:
    """The centroid of the pixels far from the border's colour (the shapes checker's rule)."""
    rgb = image.astype(np.float32)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    far = np.sqrt(((rgb - np.median(border, axis=0)) ** 2).sum(-1)) > 60
    ys, xs = np.nonzero(far)
    assert xs.size > 20, "no shape was generated"
    return float(xs.mean()), float(ys.mean())


def test_generating_from_a_painted_control_layer_puts_the_shape_there(qtbot, make_app, tmp_path):
    app, _ = make_app(engine_factory(tmp_path / "outputs", Settings(device="cpu"))(), preload=True)
    window = app.window
    qtbot.waitUntil(lambda: "brushwork-shapes" in window.model_label.text(), timeout=120_000)
    small_canvas(window)
    window.panel.prompt.setPlainText("a yellow circle, blue background")
    window.panel.steps.setValue(20)
    window.panel.random_seed.setChecked(False)
    window.panel.seed.setText("21")
    layer = add_control_layer(qtbot, window)
    picture = window.doc.image.copy()
    row = window.side.control.add_unit()
    assert row.source.currentText() == LAYER and row.chosen is layer
    centres = []
    # The left and right anchors of the shapes data, which the bundled ControlNet learned.
    for cx, cy in ((16, 32), (48, 32)):
        window.doc.set_active(layer)
        drag(window.canvas, ring(cx, cy, 9))
        assert np.array_equal(window.doc.image, picture)  # the scribble is not in the picture
        generate(qtbot, window)
        assert not window.error_banner.isVisible(), window.error_banner.text()
        [result] = window.controller.last_results
        [unit] = read_image_info(result.path)["controls"]
        assert unit == {"module": "scribble", "model": "brushwork-shapes-scribble", "weight": 1.0,
                        "guidance_start": 0.0, "guidance_end": 1.0}  # fmt: skip
        centres.append(_shape_centre(np.asarray(result.image)))
        window.doc.undo_stack.undo()  # the result layer
        window.doc.undo_stack.undo()  # the ring: the next one is alone on the layer
    (x0, y0), (x1, y1) = centres
    assert abs(x0 - 16) < 8 and abs(y0 - 32) < 8, centres  # in the scribbled region
    assert abs(x1 - 48) < 8 and abs(y1 - 32) < 8, centres


def test_the_session_keeps_the_control_units_and_says_what_it_could_not_restore(
    qtbot, make_app, tmp_path
):
    store = SessionStore(tmp_path / "session")
    app, _ = make_app(session=store)
    window = app.window
    small_canvas(window)
    control = window.side.control
    scribble = tmp_path / "scribble.png"
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(scribble)
    first = control.add_unit()
    first.set_file(scribble)
    first.kind.setCurrentIndex(first.kind.findData("canny"))
    first.strength.setValue(0.5)
    first.start.setValue(0.1)
    first.end.setValue(0.8)
    first.enabled.setChecked(False)
    add_control_layer(qtbot, window)
    second = control.add_unit()  # reads the control layer
    saved = control.state()
    assert [unit.source for unit in saved] == ["File", "Control layer"]
    assert window.autosave.save() and window.autosave.wait(10)
    loaded = store.load()
    assert loaded.extras.control == saved
    for row in list(control.rows):
        control.remove_unit(row)
    window.restore_session(loaded)
    assert control.state() == saved and control.rows[1].chosen is window.doc.layers[-1]
    scribble.unlink()  # the next restore cannot read the image any more
    window.restore_session(store.load())
    assert control.rows[0].file is None and control.rows[0].source.currentText() == "File"
    assert "Unit 0: its control image could not be read" in window.statusBar().currentMessage()
    assert second is not control.rows[1]

"""Painting in the real window, driven like a user: mouse strokes, a tablet pen (synthetic
QTabletEvents), the tool keys, the Layers dock, generation results and the session."""

import json

import numpy as np
from PIL import Image
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QColor, QInputDevice, QMouseEvent, QPointingDevice, QTabletEvent
from PySide6.QtWidgets import QApplication

from gui.document import Document
from gui.paint_brush import PaintSettings
from gui.session import SessionState, SessionStore
from gui.settings import Parameters
from pipeline import Mode
from tests.gui.conftest import wait_idle
from tests.gui.test_canvas_editor import drag, send_mouse

RED, BLUE = (220, 30, 30), (30, 60, 200)
PEN = QPointingDevice(
    "test pen", 4242, QInputDevice.DeviceType.Stylus, QPointingDevice.PointerType.Pen,
    QInputDevice.Capability.Position | QInputDevice.Capability.Pressure, 1, 3,
)  # fmt: skip


def painter(make_app, color=RED, size=10):
    app, engine = make_app()
    window = app.window
    window.canvas.set_zoom(1.0)
    window.panel.set_mode(Mode.IMG2IMG)
    window.tools.set_paint_color(QColor(*color))
    window.tools.hardness_slider.setValue(100)
    window.tools.size_slider.set_pixels(size)
    return window, engine


def row_named(window, name):
    names = [
        window.layers_panel.list.item(r).text() for r in range(window.layers_panel.list.count())
    ]
    return names.index(name)


def select_layer(window, name):
    window.layers_panel.list.setCurrentRow(row_named(window, name))


def pen(view, kind, scene_xy, pressure, modifiers=Qt.KeyboardModifier.NoModifier):
    pos = QPointF(view.mapFromScene(QPointF(*scene_xy)))
    button = (
        Qt.MouseButton.NoButton if kind == QEvent.Type.TabletMove else Qt.MouseButton.LeftButton
    )
    held = (
        Qt.MouseButton.NoButton if kind == QEvent.Type.TabletRelease else Qt.MouseButton.LeftButton
    )
    event = QTabletEvent(kind, PEN, pos, QPointF(view.viewport().mapToGlobal(pos)), pressure,
                         0.0, 0.0, 0.0, 0.0, 0.0, modifiers, button, held)  # fmt: skip
    QApplication.sendEvent(view.viewport(), event)
    return event


def pen_stroke(view, points, pressure):
    pen(view, QEvent.Type.TabletPress, points[0], pressure)
    for point in points[1:]:
        pen(view, QEvent.Type.TabletMove, point, pressure)
    pen(view, QEvent.Type.TabletRelease, points[-1], pressure)


def test_a_mouse_stroke_lands_on_the_active_layer_in_the_colour_and_undoes_per_stroke(
    qtbot, make_app
):
    window, _ = painter(make_app)
    doc = window.doc
    drag(window.canvas, [(100, 100), (300, 100)])
    layer = doc.active_layer
    assert layer.name == "Paint 1" and tuple(layer.pixels[100, 200]) == (*RED, 255)
    assert tuple(doc.image[100, 200]) == RED and tuple(doc.image[130, 200]) == (255, 255, 255)
    assert (doc.layers[0].pixels[..., :3] == 255).all() and not doc.mask.any()
    assert window.canvas._image_item.pixel(200, 100) == RED  # what the canvas shows
    drag(window.canvas, [(100, 200), (300, 200)])
    assert doc.undo_stack.count() == 2
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert tuple(doc.image[200, 200]) == (255, 255, 255) and tuple(doc.image[100, 200]) == RED
    assert window.canvas._image_item.pixel(200, 200) == (255, 255, 255)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (doc.image == 255).all()
    qtbot.keyClick(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert tuple(doc.image[100, 200]) == RED and tuple(doc.image[200, 200]) == (255, 255, 255)


def test_e_erases_the_paint_layer_and_b_paints_again(qtbot, make_app):
    window, _ = painter(make_app, size=30)
    doc = window.doc
    drag(window.canvas, [(100, 100), (200, 100)])
    qtbot.keyClick(window, Qt.Key.Key_E)
    assert window.tools.eraser_action.isChecked() and window.canvas.tool == "eraser"
    drag(window.canvas, [(150, 100)])
    assert doc.active_layer.pixels[100, 150, 3] == 0 and doc.active_layer.pixels[100, 110, 3]
    qtbot.keyClick(window, Qt.Key.Key_B)
    drag(window.canvas, [(150, 100)])
    assert tuple(doc.image[100, 150]) == RED and doc.undo_stack.count() == 3


def test_the_eyedropper_picks_the_pictures_colour_with_i_or_alt_click(qtbot, make_app):
    window, _ = painter(make_app)
    drag(window.canvas, [(50, 50), (80, 50)])
    window.tools.set_paint_color(QColor(*BLUE))
    qtbot.keyClick(window, Qt.Key.Key_I)
    assert window.canvas.tool == "picker"
    drag(window.canvas, [(60, 50)])
    assert window.canvas.color == QColor(*RED) and window.doc.undo_stack.count() == 1
    assert window.tools.recent_colors[0] == QColor(*RED)
    qtbot.keyClick(window, Qt.Key.Key_B)
    pos = QPointF(window.canvas.mapFromScene(QPointF(300, 300)))
    alt, left = Qt.KeyboardModifier.AltModifier, Qt.MouseButton.LeftButton
    for kind, held in ((QEvent.Type.MouseButtonPress, left),
                       (QEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton)):  # fmt: skip
        global_pos = window.canvas.viewport().mapToGlobal(pos)
        event = QMouseEvent(kind, pos, global_pos, left, held, alt)
        QApplication.sendEvent(window.canvas.viewport(), event)
    assert window.canvas.color == QColor(255, 255, 255)  # Alt+click picked, painted nothing
    assert window.doc.undo_stack.count() == 1 and window.canvas.tool == "brush"
    qtbot.keyClick(window, Qt.Key.Key_I)
    drag(window.canvas, [(-40, 50)])
    assert "inside the canvas" in window.statusBar().currentMessage()


def test_fill_stays_inside_a_painted_outline(qtbot, make_app):
    window, _ = painter(make_app, size=6)
    square = [(100, 100), (200, 100), (200, 200), (100, 200), (100, 100)]
    drag(window.canvas, square)
    window.tools.set_paint_color(QColor(*BLUE))
    qtbot.keyClick(window, Qt.Key.Key_F)
    drag(window.canvas, [(150, 150)])
    image = window.doc.image
    assert tuple(image[150, 150]) == BLUE and tuple(image[110, 110]) == BLUE
    assert tuple(image[90, 150]) == (255, 255, 255) and tuple(image[150, 250]) == (255,) * 3
    assert tuple(image[100, 150]) == RED  # the outline itself stays
    assert window.doc.undo_stack.count() == 2


def test_tablet_pressure_makes_a_light_stroke_thinner_and_fainter(qtbot, make_app):
    window, _ = painter(make_app, size=40)
    window.tools.hardness_slider.setValue(50)
    doc = window.doc
    pen_stroke(window.canvas, [(100, 100), (200, 100)], pressure=1.0)
    pen_stroke(window.canvas, [(100, 300), (200, 300)], pressure=0.3)
    alpha = doc.active_layer.pixels[..., 3]
    heavy = np.count_nonzero(alpha[60:140, 150])
    light = np.count_nonzero(alpha[260:340, 150])
    assert heavy >= 35 and 5 <= light <= 16
    assert alpha[100, 150] == 255 and 0 < alpha[300, 150] <= 0.3 * 255 + 1
    assert doc.undo_stack.count() == 2  # a pen stroke is one step too, and no mouse copy
    press = pen(window.canvas, QEvent.Type.TabletPress, (400, 400), 0.5)
    pen(window.canvas, QEvent.Type.TabletRelease, (400, 400), 0.5)
    assert press.isAccepted() and doc.undo_stack.count() == 3


def test_layers_dock_visibility_order_rename_and_merge_change_the_picture(qtbot, make_app):
    window, _ = painter(make_app, size=40)
    doc, panel = window.doc, window.layers_panel
    drag(window.canvas, [(100, 100)])  # red on Paint 1
    qtbot.mouseClick(panel.buttons["add"], Qt.MouseButton.LeftButton)
    assert doc.active_layer.name == "Paint 2" and panel.list.currentRow() == 0
    window.tools.set_paint_color(QColor(*BLUE))
    drag(window.canvas, [(100, 100)])
    assert tuple(doc.image[100, 100]) == BLUE
    panel.list.item(row_named(window, "Paint 2")).setCheckState(Qt.CheckState.Unchecked)
    assert tuple(doc.image[100, 100]) == RED and not doc.layers[-1].visible
    panel.list.item(row_named(window, "Paint 2")).setCheckState(Qt.CheckState.Checked)
    qtbot.mouseClick(panel.buttons["down"], Qt.MouseButton.LeftButton)
    assert [layer.name for layer in doc.layers] == ["Image", "Paint 2", "Paint 1"]
    assert tuple(doc.image[100, 100]) == RED and doc.active_layer.name == "Paint 2"
    item = panel.list.item(row_named(window, "Paint 1"))
    item.setText("sketch")  # what a double-click edit ends with
    assert doc.layers[-1].name == "sketch"
    select_layer(window, "sketch")
    panel.opacity.setValue(50)
    assert doc.layers[-1].opacity == 0.5
    half = np.rint((np.array(RED) + np.array(BLUE)) / 2)
    assert np.abs(doc.image[100, 100] - half).max() <= 1
    before = doc.image.copy()
    qtbot.mouseClick(panel.buttons["merge"], Qt.MouseButton.LeftButton)
    assert [layer.name for layer in doc.layers] == ["Image", "Paint 2"]
    assert np.abs(doc.image.astype(int) - before).max() <= 1
    qtbot.keyClick(window, Qt.Key.Key_Insert)
    assert [layer.name for layer in doc.layers] == ["Image", "Paint 2", "Paint 1"]
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert [layer.name for layer in doc.layers] == ["Image", "Paint 2"]
    qtbot.mouseClick(panel.buttons["delete"], Qt.MouseButton.LeftButton)
    assert [layer.name for layer in doc.layers] == ["Image"] and (doc.image == 255).all()
    qtbot.mouseClick(panel.buttons["delete"], Qt.MouseButton.LeftButton)
    assert "only layer" in window.statusBar().currentMessage() and len(doc.layers) == 1


def test_in_inpaint_b_paints_the_mask_until_a_layer_is_selected(qtbot, make_app):
    window, _ = painter(make_app)
    doc, panel = window.doc, window.layers_panel
    window.panel.set_mode(Mode.INPAINT)
    assert panel.list.item(0).text() == "Inpaint mask" and panel.list.currentRow() == 0
    drag(window.canvas, [(100, 100), (200, 100)])
    assert doc.mask[100, 150] == 255 and not doc.active_layer.pixels.any()
    select_layer(window, "Paint 1")
    assert not window.canvas.edit_mask
    drag(window.canvas, [(100, 300), (200, 300)])
    assert tuple(doc.image[300, 150]) == RED and doc.mask[300, 150] == 0
    panel.list.setCurrentRow(0)
    qtbot.keyClick(window, Qt.Key.Key_E)
    drag(window.canvas, [(150, 100)])
    assert doc.mask[100, 150] == 0 and tuple(doc.image[300, 150]) == RED
    window.panel.set_mode(Mode.IMG2IMG)
    assert panel.list.item(0).text() == "Paint 1" and not window.canvas.edit_mask


def test_a_result_becomes_a_new_layer_above_the_painting(qtbot, make_app):
    window, engine = painter(make_app)
    window.doc.replace(np.full((64, 64, 3), 255, np.uint8), "small")
    window.canvas.set_zoom(4.0)
    drag(window.canvas, [(20, 20), (40, 20)])
    painting = window.doc.active_layer.pixels.copy()
    window.panel.steps.setValue(2)
    window.generate()
    wait_idle(qtbot, window)
    doc = window.doc
    assert [layer.name for layer in doc.layers][:2] == ["Image", "Paint 1"]
    assert doc.active_layer.name.startswith("Result ") and len(doc.layers) == 3
    assert np.array_equal(doc.layers[1].pixels, painting)
    result = np.asarray(Image.open(window.history.paths()[0]).convert("RGB"))
    assert np.array_equal(doc.image, result)  # the result shows exactly as saved
    request = engine.requests[-1]
    assert tuple(request.init_image[20, 30]) == RED  # generation read the flattened layers
    window.apply_settings(window.settings.__class__(**{**vars(window.settings),
                                                      "paint_results_to": "image"}))  # fmt: skip
    window.generate()
    wait_idle(qtbot, window)
    assert len(doc.layers) == 3 and np.array_equal(doc.layers[1].pixels, painting)


def test_save_as_writes_the_flattened_picture(qtbot, make_app, tmp_path):
    window, _ = painter(make_app)
    drag(window.canvas, [(100, 100), (200, 100)])
    window.doc.add_layer(np.zeros((512, 512, 4), np.uint8), "empty")
    path = tmp_path / "flat.png"
    assert window.files.save_image(path)
    saved = np.asarray(Image.open(path))
    assert saved.shape == (512, 512, 3) and np.array_equal(saved, window.doc.image)


def test_the_session_keeps_every_layer_and_restores_it(qtbot, make_app, tmp_path):
    store = SessionStore(tmp_path / "session")
    app, _ = make_app(session=store)
    window = app.window
    window.canvas.set_zoom(1.0)
    window.panel.set_mode(Mode.IMG2IMG)
    window.tools.set_paint_color(QColor(*RED))
    drag(window.canvas, [(100, 100), (200, 100)])
    window.doc.new_layer()
    window.doc.rename(window.doc.active_layer, "notes")
    window.doc.set_opacity(window.doc.active_layer, 0.25)
    window.doc.set_visible(window.doc.layers[1], False)
    expected = [(x.name, x.kind, x.visible, x.opacity, x.pixels.copy()) for x in window.doc.layers]
    assert window.autosave.save() and window.autosave.wait(10)
    loaded = store.load()
    assert loaded is not None and loaded.layers is not None and loaded.active_layer == 2
    got = [(x.name, x.kind, x.visible, x.opacity, x.pixels) for x in loaded.layers]
    assert [g[:4] for g in got] == [e[:4] for e in expected]
    assert all(np.array_equal(g[4], e[4]) for g, e in zip(got, expected, strict=True))
    window.doc.replace(np.zeros((8, 8, 3), np.uint8), "something else")
    window.restore_session(loaded)
    assert [layer.name for layer in window.doc.layers] == ["Image", "Paint 1", "notes"]
    assert not window.doc.layers[1].visible and (window.doc.image == 255).all()
    assert window.doc.active_layer.name == "notes"


def test_an_old_single_image_session_and_a_bad_layer_list_still_restore(qtbot, tmp_path):
    store = SessionStore(tmp_path / "session")
    image = np.full((8, 8, 3), 40, np.uint8)
    state = SessionState(image, np.zeros((8, 8), np.uint8), Parameters())
    store.save(state)  # no layers: as a session from before layers was written
    loaded = store.load()
    assert loaded.layers is None and np.array_equal(loaded.image, image)
    manifest = json.loads(store.manifest.read_text())
    manifest["layers"] = [{"file": "../../etc/passwd", "name": "x", "kind": "paint",
                           "visible": True, "opacity": 1.0}]  # fmt: skip
    store.manifest.write_text(json.dumps(manifest))
    loaded = store.load()
    assert loaded.layers is None and np.array_equal(loaded.image, image)
    assert any("layers could not be read back" in note for note in loaded.notes)


def test_painting_off_the_canvas_edge_is_clipped_and_a_one_pixel_canvas_paints(qtbot, make_app):
    window, _ = painter(make_app)
    doc = window.doc
    drag(window.canvas, [(-50, -50), (-20, -30)])
    assert doc.undo_stack.count() == 0 and (doc.image == 255).all()
    drag(window.canvas, [(500, 256), (700, 256)])
    assert tuple(doc.image[256, 511]) == RED and doc.undo_stack.count() == 1
    doc.replace(np.full((1, 1, 3), 255, np.uint8), "one pixel")
    window.canvas.fit()
    send_mouse(window.canvas, QEvent.Type.MouseButtonPress, (0.5, 0.5))
    send_mouse(window.canvas, QEvent.Type.MouseButtonRelease, (0.5, 0.5))
    assert tuple(doc.image[0, 0]) == RED and window.canvas._image_item.pixel(0, 0) == RED


def test_autosave_rewrites_only_the_layers_that_changed(qtbot, tmp_path):
    store = SessionStore(tmp_path / "session")
    doc = Document(32, 32)
    doc.add_layer(np.zeros((32, 32, 3), np.uint8), "black")

    def save() -> list[str]:
        store.save(SessionState(doc.image, doc.mask, Parameters(), layers=doc.session_layers()))
        return [entry["file"] for entry in json.loads(store.manifest.read_text())["layers"]]

    first = save()
    inodes = {name: (store.folder / name).stat().st_ino for name in first}
    doc.begin_paint(PaintSettings(size=4), 5, 5)
    doc.end_paint()
    second = save()
    assert second[:2] == first[:2] and second[2] != first[2]  # only the painted layer is new
    assert all((store.folder / name).stat().st_ino == inodes[name] for name in first[:2])
    assert sorted(p.name for p in store.folder.glob("layer-*.png")) == sorted(second)
    loaded = store.load()
    assert np.array_equal(loaded.layers[2].pixels, doc.layers[2].pixels)


def test_results_go_to_is_a_setting_that_survives_a_bad_file(qtbot, make_app, tmp_path):
    from gui.settings import SettingsStore
    from gui.settings_dialog import SettingsDialog

    app, _ = make_app()
    window = app.window
    dialog = SettingsDialog(window.settings, window)
    dialog.results_to.setCurrentIndex(dialog.results_to.findData("image"))
    window.apply_settings(dialog.result_settings())
    assert window.settings.paint_results_to == "image" and not window.controller.results_as_layer
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"paint_results_to": "the moon"}))
    assert SettingsStore(path).load().paint_results_to == "layer"


def test_dragging_the_opacity_slider_is_one_undo_step_applied_as_it_moves(qtbot, make_app):
    window, _ = painter(make_app, size=40)
    doc, slider = window.doc, window.layers_panel.opacity
    drag(window.canvas, [(100, 100)])
    steps = doc.undo_stack.count()
    y = slider.height() // 2
    left, held = Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton

    def mouse(kind, x, buttons):
        pos = QPointF(x, y)
        event = QMouseEvent(kind, pos, QPointF(slider.mapToGlobal(pos)), left, buttons,
                            Qt.KeyboardModifier.NoModifier)  # fmt: skip
        QApplication.sendEvent(slider, event)

    mouse(QEvent.Type.MouseButtonPress, slider.width() - 3, held)  # on the handle (at 100%)
    assert slider.isSliderDown()
    for x in range(slider.width() - 10, slider.width() // 2, -10):
        mouse(QEvent.Type.MouseMove, x, held)
    qtbot.waitUntil(lambda: doc.active_layer.opacity < 0.8)  # applied while still dragging
    mouse(QEvent.Type.MouseButtonRelease, slider.width() // 2, Qt.MouseButton.NoButton)
    assert doc.active_layer.opacity == slider.value() / 100 and 0.3 < slider.value() / 100 < 0.7
    assert doc.undo_stack.count() == steps + 1
    doc.undo_stack.undo()
    assert doc.active_layer.opacity == 1.0 and slider.value() == 100


def test_layer_thumbnails_follow_a_burst_of_strokes_once_and_later(qtbot, make_app, monkeypatch):
    """Redrawing every thumbnail inside the stroke's release event stalled Live painting: the
    list is rebuilt once for a burst of strokes, after the events that made them."""
    window, _ = painter(make_app)
    panel = window.layers_panel
    rebuilds = []
    original = panel.rebuild
    monkeypatch.setattr(panel, "rebuild", lambda: (rebuilds.append(1), original())[1])
    panel._thumbnail_timer.timeout.disconnect()
    panel._thumbnail_timer.timeout.connect(panel.rebuild)
    row = row_named(window, "Paint 1")
    before = panel.list.item(row).icon().pixmap(36, 36).toImage()
    for y in (100, 150, 200):
        drag(window.canvas, [(50, y), (350, y)])
    assert rebuilds == []  # nothing inside the strokes' events
    qtbot.waitUntil(lambda: bool(rebuilds), timeout=2000)
    qtbot.wait(400)
    assert rebuilds == [1]
    after = panel.list.item(row).icon().pixmap(36, 36).toImage()
    assert after != before  # the thumbnail shows the red strokes


def test_the_colour_button_shows_the_brush_colour_however_it_was_set(qtbot, make_app):
    window, _ = painter(make_app)
    button = window.tools.paint_color_button
    window.canvas.set_color(QColor(12, 200, 34))  # e.g. a script or a restored session
    center = button.grab().toImage().pixelColor(button.width() // 2, button.height() // 2)
    assert (center.red(), center.green(), center.blue()) == (12, 200, 34)
    assert button.toolTip().endswith("#0cc822")


def test_a_long_layer_name_is_cut_short_with_its_whole_text_in_the_tooltip(qtbot, make_app):
    from PySide6.QtWidgets import QListWidget

    window, _ = painter(make_app)
    window.resize(1280, 800)
    window.show()
    name = "Result 3531642884: a large yellow star, green background, " + "very " * 12 + "long"
    window.doc.add_layer(np.zeros((window.doc.height, window.doc.width, 4), np.uint8), name)
    layers = window.findChild(QListWidget, "layersList")
    qtbot.waitUntil(lambda: layers.count() == 3 and layers.isVisible())
    qtbot.wait(50)  # the list lays out its rows
    assert not layers.horizontalScrollBar().isVisible()  # the narrow dock does not scroll sideways
    top = layers.item(0)
    assert top.text() == name and top.toolTip().splitlines()[0] == name

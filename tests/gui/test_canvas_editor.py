"""The canvas editor driven like a user: mouse strokes, shortcuts, zoom/pan, files, modes."""

import itertools

import numpy as np
from PIL import Image
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication, QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from gui.images import array_to_qimage
from pipeline import Mode, read_image_info
from tests.gui.conftest import wait_idle


def send_mouse(view, kind, scene_xy, button=Qt.MouseButton.LeftButton, buttons=None):
    pos = QPointF(view.mapFromScene(QPointF(*scene_xy)))
    held = buttons if buttons is not None else button
    if kind == QEvent.Type.MouseButtonRelease:
        held = Qt.MouseButton.NoButton
    event = QMouseEvent(kind, pos, view.viewport().mapToGlobal(pos), button, held,
                        Qt.KeyboardModifier.NoModifier)  # fmt: skip
    QApplication.sendEvent(view.viewport(), event)


def drag(view, points, button=Qt.MouseButton.LeftButton):
    send_mouse(view, QEvent.Type.MouseButtonPress, points[0], button)
    for point in points[1:]:
        send_mouse(view, QEvent.Type.MouseMove, point, Qt.MouseButton.NoButton, button)
    send_mouse(view, QEvent.Type.MouseButtonRelease, points[-1], button)


def hard_brush(window, size):
    window.panel.set_mode(Mode.INPAINT)  # the mask tools act only where a mask is used
    window.tools.hardness_slider.setValue(100)
    window.tools.size_slider.set_pixels(size)


def test_a_mouse_stroke_paints_the_mask_where_the_pointer_went(qtbot, make_app):
    app, _ = make_app()
    window = app.window
    window.canvas.set_zoom(1.0)
    hard_brush(window, 10)
    drag(window.canvas, [(100, 100), (300, 100)])  # one fast jump: interpolated, no gaps
    mask = window.doc.mask
    assert (mask[100, 102:298] == 255).all()
    assert mask[100, 90] == 0 and mask[120, 200] == 0 and mask[80, 200] == 0
    assert window.doc.undo_stack.count() == 1


def test_eraser_undo_and_redo_restore_exact_pixels(qtbot, make_app):
    app, _ = make_app()
    window = app.window
    window.canvas.set_zoom(1.0)
    hard_brush(window, 30)
    drag(window.canvas, [(200, 200), (260, 240)])
    painted = window.doc.mask.copy()
    qtbot.keyClick(window, Qt.Key.Key_E)
    assert window.tools.eraser_action.isChecked() and window.canvas.brush.erase
    drag(window.canvas, [(200, 200)])
    assert window.doc.mask[200, 200] == 0 and window.doc.mask[240, 260] == 255
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.doc.mask, painted)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not window.doc.mask.any()
    qtbot.keyClick(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.doc.mask, painted)


def test_soft_brush_leaves_a_soft_edge(qtbot, make_app):
    app, _ = make_app()
    window = app.window
    window.canvas.set_zoom(1.0)
    window.panel.set_mode(Mode.INPAINT)
    window.tools.hardness_slider.setValue(0)
    window.tools.size_slider.set_pixels(40)
    drag(window.canvas, [(256, 256)])
    row = window.doc.mask[256, 256:280].astype(int)
    assert row[0] >= 250 and 0 < row[12] < 250 and row[-1] == 0
    assert all(a >= b for a, b in itertools.pairwise(row))


def test_bracket_keys_resize_the_brush(qtbot, make_app):
    app, _ = make_app()
    window = app.window
    window.tools.size_slider.set_pixels(50)
    qtbot.keyClick(window, Qt.Key.Key_BracketRight)
    assert window.canvas.brush.size == 60
    qtbot.keyClick(window, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(window, Qt.Key.Key_BracketLeft)
    assert window.canvas.brush.size == 42


def test_zoom_and_pan_never_change_image_or_mask(qtbot, make_app):
    app, _ = make_app()
    window = app.window
    window.doc.fill_mask()
    image, mask = window.doc.image.copy(), window.doc.mask.copy()
    window.canvas.set_zoom(4.0)
    assert abs(window.canvas.zoom - 4.0) < 1e-6
    before = window.canvas.horizontalScrollBar().value()
    drag(window.canvas, [(100, 100), (60, 100)], button=Qt.MouseButton.MiddleButton)
    assert window.canvas.horizontalScrollBar().value() != before  # it panned
    window.canvas.zoom_by(0.5)
    window.canvas.fit()
    window.canvas.actual_size()
    assert window.canvas.zoom == 1.0
    assert np.array_equal(window.doc.image, image) and np.array_equal(window.doc.mask, mask)


def test_mask_overlay_is_tinted_and_follows_opacity(qtbot, make_app):
    app, _ = make_app()
    window = app.window
    window.doc.fill_mask()
    window.tools.opacity_slider.setValue(100)
    pixel = window.canvas.overlay._buffer[0, 0]
    assert tuple(pixel) == (90, 40, 255, 255)  # B, G, R, A of the default tint
    window.tools.opacity_slider.setValue(0)
    assert window.canvas.overlay._buffer[..., 3].max() == 0


def test_open_save_and_export_mask(qtbot, make_app, tmp_path):
    app, _ = make_app()
    window = app.window
    source = tmp_path / "photo.png"
    Image.fromarray(np.full((40, 72, 3), (10, 200, 30), np.uint8)).save(source)
    assert window.files.open_image(source)
    assert (window.doc.width, window.doc.height) == (72, 40)
    assert tuple(window.doc.image[0, 0]) == (10, 200, 30)
    window.doc.fill_mask()
    assert window.files.save_image(tmp_path / "out.png")
    assert window.files.export_mask(tmp_path / "mask.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), window.doc.image)
    assert (np.asarray(Image.open(tmp_path / "mask.png").convert("L")) == 255).all()
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo mask fill
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo open
    assert (window.doc.width, window.doc.height) == (512, 512)


def test_bad_files_are_explained_and_the_canvas_is_kept(qtbot, make_app, tmp_path):
    app, _ = make_app()
    window = app.window
    window.doc.fill_mask()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert not window.files.open_image(bad)
    assert "Could not read image" in window.error_banner.text()
    assert window.doc.mask.all() and window.doc.width == 512
    assert not window.files.save_image(bad / "inside-a-file.png")
    assert "Could not write the image" in window.error_banner.text()


def test_paste_and_drop_put_an_image_on_the_canvas(qtbot, make_app, tmp_path):
    app, _ = make_app()
    window = app.window
    pasted = np.zeros((24, 32, 3), np.uint8)
    pasted[..., 2] = 250
    QGuiApplication.clipboard().setImage(array_to_qimage(pasted))
    window.files.paste_image()
    assert window.doc.image.shape == (24, 32, 3) and window.doc.image[0, 0, 2] == 250
    dropped = tmp_path / "drop.png"
    Image.fromarray(np.full((16, 16, 3), 7, np.uint8)).save(dropped)
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(dropped))])
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)  # fmt: skip
    window.dropEvent(event)
    assert window.doc.image.shape == (16, 16, 3) and window.doc.image[0, 0, 0] == 7


def test_img2img_sends_the_canvas_and_applies_the_result_as_one_undo_step(qtbot, make_app):
    app, engine = make_app()
    window = app.window
    canvas_image = np.full((100, 70, 3), 40, np.uint8)  # not multiples of 8
    window.doc.replace(canvas_image, "Open")
    window.panel.set_mode(Mode.IMG2IMG)
    window.panel.prompt.setPlainText("paint it")
    window.panel.steps.setValue(3)
    assert (window.panel.width_box.value(), window.panel.height_box.value()) == (72, 104)
    assert "72×104" in window.panel.size_note.text()
    steps_before = window.doc.undo_stack.count()
    window.generate()
    wait_idle(qtbot, window)
    sent = engine.requests[0]
    assert sent.mode is Mode.IMG2IMG and np.array_equal(sent.init_image, canvas_image)
    assert (sent.width, sent.height) == (72, 104)
    assert window.doc.image.shape == (100, 70, 3)  # scaled back to the canvas
    assert window.doc.undo_stack.count() == steps_before + 1
    window.doc.undo_stack.undo()
    assert np.array_equal(window.doc.image, canvas_image)


def test_inpaint_needs_a_mask_and_previews_only_inside_it(qtbot, make_app):
    app, engine = make_app()
    window = app.window
    window.panel.set_mode(Mode.INPAINT)
    window.panel.prompt.setPlainText("a star")
    window.panel.steps.setValue(3)
    window.generate()
    assert window.error_banner.text() == "Paint a mask over the area to regenerate first."
    mask = np.zeros((512, 512), np.uint8)
    mask[:, 256:] = 255
    window.doc.set_mask(mask, "mask")
    shown = []
    original = window.canvas.show_preview

    def spy(job, image, region=None):
        original(job, image, region)
        shown.append(window.canvas._preview_item.pixmap().toImage())

    window.canvas.show_preview = spy
    window.generate()
    wait_idle(qtbot, window)
    assert engine.requests[0].mode is Mode.INPAINT
    assert np.array_equal(engine.requests[0].mask, mask)
    preview = shown[-1].convertToFormat(QImage.Format.Format_ARGB32)
    assert preview.pixelColor(QPoint(10, 10)).alpha() == 0  # outside the mask: not drawn
    assert preview.pixelColor(QPoint(400, 10)).alpha() == 255


def test_saved_canvas_keeps_the_generation_parameters(qtbot, make_app, tmp_path):
    app, _ = make_app()
    window = app.window
    window.panel.prompt.setPlainText("a red circle")
    window.panel.set_size(64, 64)
    window.panel.steps.setValue(2)
    window.generate()
    wait_idle(qtbot, window)
    assert window.files.save_image(tmp_path / "keep.png")
    assert read_image_info(tmp_path / "keep.png")["prompt"] == "fake"  # the fake's chunk
    window.doc.fill_mask()
    window.doc.invert_mask()
    window.doc.replace(np.zeros((64, 64, 3), np.uint8), "paint over it")
    assert window.files.save_image(tmp_path / "edited.png")
    assert "parameters" not in Image.open(tmp_path / "edited.png").text  # no longer that image

"""The first hour of a newcomer (issue 17), driven with real mouse, wheel and key events and
checked on the canvas's rendered pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtWidgets import QApplication, QLabel, QPushButton

from tests.gui.conftest import wait_idle


def shown_window(make_app, qtbot, **kwargs):
    app, _ = make_app(**kwargs)
    window = app.window
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.canvas.viewport().width() > 300)
    return window


def wheel(widget, pos: QPoint, notches: int) -> None:
    """A real wheel event at `pos` (QTest has no wheel helper)."""
    global_pos = QPointF(widget.mapToGlobal(pos))
    event = QWheelEvent(QPointF(pos), global_pos, QPoint(), QPoint(0, 120 * notches),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    QApplication.sendEvent(widget, event)


def drag(qtbot, widget, start: QPoint, end: QPoint) -> None:
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(widget, end)
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=end)


def rendered(canvas, pos: QPoint) -> np.ndarray:
    """The colour the canvas shows at viewport position `pos`."""
    image = canvas.viewport().grab().toImage()
    color = image.pixelColor(pos)
    return np.array([color.red(), color.green(), color.blue()])


def image_at(canvas, pos: QPoint) -> np.ndarray:
    point = canvas.mapToScene(pos)
    return canvas.doc.image[int(point.y()), int(point.x())].astype(int)


# --- the canvas --------------------------------------------------------------------------------


def test_wheel_zoom_keeps_the_pixel_under_the_pointer(qtbot, make_app):
    window = shown_window(make_app, qtbot)
    canvas = window.canvas
    window.doc.replace(np.zeros((64, 64, 3), np.uint8), "black")
    canvas.fit()
    viewport = canvas.viewport()
    pointer = QPoint(viewport.width() // 2 + 120, viewport.height() // 2 + 90)
    qtbot.mouseMove(viewport, pointer)
    before, fitted = canvas.mapToScene(pointer), canvas.zoom
    for _ in range(3):
        wheel(viewport, pointer, 1)
    assert canvas.zoom == pytest.approx(fitted * 1.25**3)
    after = canvas.mapToScene(pointer)
    # Within one screen pixel, in image pixels:
    assert abs(after.x() - before.x()) <= 1 / canvas.zoom + 1e-6
    assert abs(after.y() - before.y()) <= 1 / canvas.zoom + 1e-6
    wheel(viewport, pointer, -2)  # and back out
    again = canvas.mapToScene(pointer)
    assert abs(again.x() - before.x()) <= 1 / canvas.zoom + 1e-6


def paint_inpaint_mask(qtbot, window, size=40):
    """Inpaint mode and a hard brush stroke (real mouse events) across the lower half."""
    window.panel.set_mode("inpaint")
    window.tools.hardness_slider.setValue(100)
    window.tools.size_slider.set_pixels(size)
    canvas = window.canvas
    start = canvas.mapFromScene(QPointF(20, 44))
    end = canvas.mapFromScene(QPointF(44, 48))
    drag(qtbot, canvas.viewport(), start, end)
    return canvas.mapFromScene(QPointF(32, 46))  # a point inside the stroke


def test_a_generation_hides_the_mask_until_the_next_stroke_or_H(qtbot, make_app):
    window = shown_window(make_app, qtbot)
    canvas = window.canvas
    window.doc.replace(np.full((64, 64, 3), (0, 200, 255), np.uint8), "cyan")
    canvas.fit()
    window.panel.prompt.setPlainText("a circle")
    window.panel.steps.setValue(2)
    window.panel.random_seed.setChecked(False)
    window.panel.seed.setText("7")  # the fake's result is then dark red, far from the mask colour
    inside = paint_inpaint_mask(qtbot, window)
    assert window.doc.mask[46, 32] == 255
    tinted = rendered(canvas, inside)
    assert np.abs(tinted - image_at(canvas, inside)).max() > 40  # the mask is drawn over it
    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert window.doc.mask[46, 32] == 255  # the mask is kept for the next try, only hidden
    result = image_at(canvas, inside)
    assert np.abs(rendered(canvas, inside) - result).max() <= 3  # the result, as it is
    assert not canvas.mask_action.isChecked()
    qtbot.keyClick(canvas, Qt.Key.Key_H)  # show it again
    assert canvas.mask_action.isChecked()
    assert np.abs(rendered(canvas, inside) - result).max() > 20
    qtbot.keyClick(canvas, Qt.Key.Key_H)
    assert np.abs(rendered(canvas, inside) - result).max() <= 3
    paint_inpaint_mask(qtbot, window)  # a new stroke shows the mask again
    assert canvas.mask_action.isChecked()
    assert np.abs(rendered(canvas, inside) - result).max() > 20


def test_the_mask_is_hatched_and_outlined_so_it_never_looks_like_paint(qtbot, make_app):
    window = shown_window(make_app, qtbot)
    canvas = window.canvas
    window.doc.replace(np.full((64, 64, 3), 255, np.uint8), "white")
    canvas.fit()
    canvas.set_zoom(canvas.zoom * 2)  # large pixels: smooth scaling barely mixes neighbours
    canvas.centerOn(16, 32)
    window.panel.set_mode("inpaint")
    window.doc.set_mask(np.pad(np.full((32, 32), 255, np.uint8), 16), "square")
    # Along a row inside the square the overlay alternates between stripes and gaps ...
    row = [rendered(canvas, canvas.mapFromScene(QPointF(x + 0.5, 32.5))) for x in range(18, 46)]
    levels = {tuple(color // 16) for color in row}
    assert len(levels) >= 2
    # ... and its edge is drawn in the full mask colour, whatever the opacity.
    window.tools.opacity_slider.setValue(20)
    edge = rendered(canvas, canvas.mapFromScene(QPointF(16.5, 32.5)))
    outside = rendered(canvas, canvas.mapFromScene(QPointF(10.5, 32.5)))
    color = canvas.overlay.color
    # (smooth scaling mixes in a few levels of the neighbour, how many depends on the zoom)
    assert np.abs(edge - [color.red(), color.green(), color.blue()]).max() <= 6
    assert np.abs(outside - 255).max() <= 3


def test_clicking_the_canvas_outside_inpaint_paints_colour_not_the_mask(qtbot, make_app):
    """Outside Inpaint the brush paints colour on the active layer (issue 18); the mask is
    painted only where a mode uses it."""
    window = shown_window(make_app, qtbot)
    canvas = window.canvas
    for steps, mode in enumerate(("img2img", "txt2img", "outpaint"), start=1):
        window.panel.set_mode(mode)
        window.panel.prompt.setFocus()
        centre = canvas.viewport().rect().center()
        qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=centre)
        assert canvas.hasFocus()
        assert not window.doc.mask.any() and window.doc.undo_stack.count() == steps
        assert window.doc.active_layer.pixels[..., 3].any()
    window.panel.set_mode("inpaint")
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert window.doc.mask.any()


def test_ctrl_z_in_the_prompt_undoes_what_was_edited_last(qtbot, make_app):
    window = shown_window(make_app, qtbot)
    prompt = window.panel.prompt
    window.panel.steps.setValue(2)
    window.panel.set_size(64, 64)
    qtbot.mouseClick(prompt.viewport(), Qt.MouseButton.LeftButton)
    qtbot.keyClicks(prompt, "a red circle")
    qtbot.keyClick(prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # generate
    wait_idle(qtbot, window)
    generated = window.doc.image.copy()
    assert prompt.hasFocus() and not window.doc.is_blank
    qtbot.keyClick(prompt, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.doc.is_blank  # the picture went back, the prompt kept its text
    assert prompt.toPlainText() == "a red circle"
    qtbot.keyClick(
        prompt,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert np.array_equal(window.doc.image, generated)  # redo, likewise
    qtbot.keyClicks(prompt, " on blue")  # typed after the last canvas change: text undo
    qtbot.keyClick(prompt, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert prompt.toPlainText() != "a red circle on blue"
    assert np.array_equal(window.doc.image, generated)


def test_bracket_keys_resize_the_brush_while_a_spin_box_has_focus(qtbot, make_app):
    window = shown_window(make_app, qtbot)
    window.tools.size_slider.set_pixels(50)
    steps = window.panel.steps
    steps.setFocus()
    qtbot.waitUntil(steps.hasFocus)
    qtbot.keyClick(steps, "]")
    assert window.canvas.brush.size == 60
    qtbot.keyClick(steps, "[")
    assert window.canvas.brush.size == 50
    qtbot.keyClick(steps, "e")
    assert window.canvas.brush.erase
    qtbot.keyClick(steps, "3")  # digits still go to the box
    assert "3" in steps.text()
    qtbot.keyClick(steps, "b")
    assert not window.canvas.brush.erase
    # A text box keeps every typed key: brackets are prompt syntax, e and h are letters.
    window.panel.prompt.setFocus()
    qtbot.keyClicks(window.panel.prompt, "(red:1.2) [the sea]")
    assert window.panel.prompt.toPlainText() == "(red:1.2) [the sea]"
    assert window.canvas.brush.size == 50 and not window.canvas.brush.erase
    assert window.canvas.mask_action.isChecked()


def test_painting_and_generating_pass_no_event_through_the_key_filter(qtbot, make_app, monkeypatch):
    """The key routing watches the focused input widget only: an app-wide Python filter ran
    for every event of every widget, each waiting for the GIL while the worker runs."""
    from gui.shortcuts import ShortcutRouter

    window = shown_window(make_app, qtbot)
    seen = []
    original = ShortcutRouter.eventFilter

    def counted(self, obj, event):
        seen.append(obj)
        return original(self, obj, event)

    monkeypatch.setattr(ShortcutRouter, "eventFilter", counted)
    viewport = window.canvas.viewport()
    viewport.setFocus()
    centre = viewport.rect().center()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=centre)
    for dx in range(0, 60, 6):
        qtbot.mouseMove(viewport, centre + QPoint(dx, dx // 2))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=centre + QPoint(60, 30))
    window.panel.set_size(64, 64)
    window.panel.steps.setValue(2)
    window.generate()
    wait_idle(qtbot, window)
    assert seen == []
    window.panel.steps.setFocus()  # an input widget with the focus: its keys are routed
    qtbot.waitUntil(window.panel.steps.hasFocus)
    qtbot.keyClick(window.panel.steps, "]")
    assert seen


def test_the_brush_fits_the_image_on_a_log_scale_and_is_remembered(qtbot, make_app, tmp_path):
    from gui.settings import SettingsStore

    store = SettingsStore(tmp_path / "settings.json")
    app, _ = make_app(store=store)
    window = app.window
    window.doc.replace(np.zeros((64, 64, 3), np.uint8), "small")
    assert window.canvas.brush.size == 8  # an eighth of the image, not 48 px of 64
    slider = window.tools.size_slider
    slider.setValue(slider.maximum() // 2)  # the middle of a log track: the geometric mean
    assert window.canvas.brush.size == 8  # sqrt(64)
    window.doc.replace(np.zeros((512, 512, 3), np.uint8), "large")
    assert window.canvas.brush.size == 64  # the same share of a larger image
    qtbot.keyClick(window, "]")
    assert window.canvas.brush.size == 77
    window.tools.opacity_slider.setValue(70)
    window.canvas.overlay.set_style(QColor("#20c040"), 0.7)
    window.save_settings()
    app2, _ = make_app(store=SettingsStore(tmp_path / "settings.json"))
    again = app2.window
    assert again.canvas.brush.size == 77  # on its 512-px start canvas
    assert again.tools.opacity_slider.value() == 70
    assert again.canvas.overlay.color.name() == "#20c040"
    assert again.canvas.overlay.opacity_level == pytest.approx(0.7)


# --- the panel ---------------------------------------------------------------------------------


def visible_on_screen(widget) -> bool:
    """Shown and not clipped away by a scroll area or a too-small window."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


def test_the_panel_fits_1280x800_and_shows_each_modes_options_unscrolled(qtbot, make_app):
    window = shown_window(make_app, qtbot)
    panel = window.panel
    scroll = panel.scroll
    for mode, own in (
        ("txt2img", [panel.prompt]),
        ("img2img", [panel.strength]),
        ("inpaint", [panel.strength, panel.only_masked]),
        ("outpaint", [panel.strength, *panel.sides, panel.only_masked]),
    ):
        panel.mode.setFocus()
        index = panel.mode.findData(mode)
        while panel.mode.currentIndex() != index:  # arrow keys, as a keyboard user picks
            key = Qt.Key.Key_Down if panel.mode.currentIndex() < index else Qt.Key.Key_Up
            qtbot.keyClick(panel.mode, key)
        qtbot.wait(20)
        assert not scroll.horizontalScrollBar().isVisible(), mode
        assert scroll.widget().minimumSizeHint().width() <= scroll.viewport().width(), mode
        assert scroll.verticalScrollBar().value() == 0
        assert visible_on_screen(panel.mode)
        for widget in own:
            assert visible_on_screen(widget), (mode, widget)
            # fully inside the window, not cut off at the side
            corner = widget.mapTo(window, widget.rect().bottomRight())
            assert corner.x() < window.width() and corner.y() < window.height()


def test_outpaint_sides_follow_the_canvas_until_the_user_sets_them(qtbot, make_app):
    window = shown_window(make_app, qtbot)
    panel = window.panel
    window.doc.replace(np.zeros((64, 64, 3), np.uint8), "small")
    panel.set_mode("outpaint")
    assert panel.outpaint_sides() == (0, 0, 32, 0)  # half the canvas, not 128 px on 64
    window.doc.replace(np.zeros((400, 512, 3), np.uint8), "large")
    assert panel.outpaint_sides() == (0, 0, 256, 0)
    right = panel.sides[2]
    right.setFocus()
    qtbot.keyClick(right, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(right, "48")
    qtbot.keyClick(right, Qt.Key.Key_Tab)
    assert panel.outpaint_sides() == (0, 0, 48, 0)
    window.doc.replace(np.zeros((64, 64, 3), np.uint8), "small again")
    assert panel.outpaint_sides() == (0, 0, 48, 0)  # the user's choice stays


def test_a_canvas_far_from_the_models_size_warns_with_one_click_fixes(qtbot, make_app, tmp_path):
    from tests.fakes import FakeEngine, FakeLoaded

    engine = FakeEngine(tmp_path / "outputs", loaded=FakeLoaded(native_size=64))
    window = shown_window(make_app, qtbot, engine=engine, preload=True)
    panel = window.panel
    qtbot.waitUntil(lambda: panel.native_size == 64)
    window.doc.replace(np.zeros((200, 300, 3), np.uint8), "photo")
    panel.set_mode("txt2img")
    assert not panel.native_warning.isVisible()  # text to image uses its own size boxes
    panel.set_mode("img2img")
    warning = panel.native_warning
    assert visible_on_screen(warning)
    assert "300×200" in warning.text.text() and "64×64" in warning.text.text()
    assert not warning.only_masked_button.isVisible()  # no mask in this mode
    qtbot.mouseClick(warning.resize_button, Qt.MouseButton.LeftButton)
    assert (window.doc.width, window.doc.height) == (64, 43)
    assert not warning.isVisible()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (window.doc.width, window.doc.height) == (300, 200)  # one undo step
    panel.set_mode("inpaint")
    assert visible_on_screen(warning.only_masked_button)
    qtbot.mouseClick(warning.only_masked_button, Qt.MouseButton.LeftButton)
    assert panel.only_masked.isChecked()
    assert (panel.width_box.value(), panel.height_box.value()) == (64, 64)
    assert not warning.isVisible()


class StrengthEngine:
    """The fake engine, counting steps as the real one does: strength × Steps in img2img."""

    def __init__(self, output_dir):
        from tests.fakes import FakeEngine

        self.inner = FakeEngine(output_dir)
        self.loaded = self.inner.loaded

    def load(self, model=None):
        return self.inner.load(model)

    def run(self, request, on_step=None, cancel=None):
        txt2img = request.mode.value == "txt2img"
        runs = request.steps if txt2img else int(request.steps * request.strength)

        def report(update):
            if on_step is not None and update.step <= runs:
                on_step(update.__class__(update.step, runs, update.elapsed, update.preview))

        return self.inner.run(request, report, cancel)


def test_progress_labels_say_what_they_count(qtbot, make_app, tmp_path):
    window = shown_window(make_app, qtbot, engine=StrengthEngine(tmp_path / "outputs"))
    assert window.progress.text() == ""  # no "Step 0/1" before anything ran
    panel = window.panel
    window.doc.replace(np.zeros((64, 64, 3), np.uint8), "canvas")
    panel.set_mode("img2img")
    panel.steps.setValue(20)
    panel.strength.setValue(0.75)
    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert window.progress.text() == "15 of 20 steps, strength 0.75"
    panel.set_mode("txt2img")
    panel.set_size(64, 64)
    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert window.progress.text() == "20 of 20 steps"
    labels = {label.buddy(): label.text() for label in panel.findChildren(QLabel)}
    assert labels[panel.batch_count] == "Jobs to queue"
    assert labels[panel.batch_size] == "Images per job"
    assert "one after another" in panel.batch_count.toolTip()
    assert "at once" in panel.batch_size.toolTip()


def test_the_add_model_button_has_room_for_its_arrow(qtbot, make_app):
    from PySide6.QtWidgets import QStyle

    window = shown_window(make_app, qtbot)
    button = window.model_picker.add_button
    text = button.fontMetrics().horizontalAdvance(button.text())
    arrow = button.style().pixelMetric(QStyle.PixelMetric.PM_MenuButtonIndicator)
    assert button.width() >= text + arrow
    assert button.menu() is not None and len(button.menu().actions()) == 3


# --- history and queue -------------------------------------------------------------------------


def frame_pixels(strip, item) -> int:
    """How many pixels of the thumbnail's cell border are in the on-canvas frame colour."""
    from gui.history import FRAME_COLOR

    image = strip.viewport().grab().toImage()
    rect = strip.visualItemRect(item)
    count = 0
    for x in range(rect.left() + 1, rect.right() - 1):
        for y in (rect.top() + 2, rect.bottom() - 2):
            color = image.pixelColor(x, y)
            close = (abs(color.red() - FRAME_COLOR.red()) < 30
                     and abs(color.green() - FRAME_COLOR.green()) < 30
                     and abs(color.blue() - FRAME_COLOR.blue()) < 30)  # fmt: skip
            count += close
    return count


def generate_seeds(qtbot, window, *seeds):
    panel = window.panel
    panel.steps.setValue(1)
    panel.set_size(64, 64)
    panel.random_seed.setChecked(False)
    for seed in seeds:
        panel.prompt.setPlainText(f"a circle number {seed}")
        panel.seed.setText(str(seed))
        qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
        wait_idle(qtbot, window)


class ParametersEngine:
    """The fake engine, writing A1111 parameters into its PNGs as the real one does."""

    def __init__(self, output_dir):
        from tests.fakes import FakeEngine

        self.inner = FakeEngine(output_dir)
        self.loaded = self.inner.loaded

    def load(self, model=None):
        return self.inner.load(model)

    def run(self, request, on_step=None, cancel=None):
        from pipeline.metadata import format_parameters
        from pipeline.outputs import save_png_as

        results = self.inner.run(request, on_step, cancel)
        for result in results:
            meta = {"sampler": request.sampler, "steps": request.steps, "seed": result.seed,
                    "guidance": request.guidance, "width": request.width,
                    "height": request.height, "mode": request.mode.value,
                    "prompt": request.prompt, "negative_prompt": "", "strength": 1.0}  # fmt: skip
            text = format_parameters(meta, "brushwork-shapes")
            save_png_as(result.image, result.path, {"parameters": text})
        return results


def test_the_strip_frames_the_image_on_the_canvas_and_tells_its_parameters(
    qtbot, make_app, tmp_path
):
    window = shown_window(make_app, qtbot, engine=ParametersEngine(tmp_path / "outputs"))
    generate_seeds(qtbot, window, 11, 22)
    strip = window.history
    newest, older = strip.item(0), strip.item(1)
    qtbot.wait(50)
    assert frame_pixels(strip, newest) > 100 and frame_pixels(strip, older) == 0
    tip = older.toolTip()
    assert "a circle number 11" in tip and "seed 11" in tip and "64×64" in tip
    assert "model brushwork-shapes" in tip and "fake-11.png" in tip
    rect = strip.visualItemRect(older)
    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.doc.image[0, 0, 0] == 11  # the fake paints the seed into red
    qtbot.wait(50)
    assert frame_pixels(strip, older) > 100 and frame_pixels(strip, newest) == 0
    window.doc.fill_mask()  # a mask change keeps the image: still framed
    assert frame_pixels(strip, older) > 100
    window.doc.replace(np.zeros((64, 64, 3), np.uint8), "another image")
    qtbot.wait(50)
    assert frame_pixels(strip, older) == 0  # the canvas no longer shows it


def test_changing_the_output_folder_says_so_and_can_show_both(qtbot, make_app, tmp_path):
    import dataclasses

    window = shown_window(make_app, qtbot)
    generate_seeds(qtbot, window, 5)
    old = window.output_dir
    assert len(window.history.paths()) == 1
    new = tmp_path / "elsewhere"
    new.mkdir()
    window.apply_settings(dataclasses.replace(window.settings, output_dir=str(new)))
    notice = window.folder_notice
    assert visible_on_screen(notice) and str(new) in notice.text.text()
    assert str(old) in notice.text.text()
    assert window.history.paths() == []
    qtbot.mouseClick(notice.both_button, Qt.MouseButton.LeftButton)
    assert len(window.history.paths()) == 1 and window.history.paths()[0].parent == old


def test_the_queue_lists_the_running_job_and_rows_stay_under_the_pointer(qtbot, make_app, tmp_path):
    from tests.fakes import FakeEngine

    engine = FakeEngine(tmp_path / "outputs", step_delay=0.02)
    window = shown_window(make_app, qtbot, engine=engine)
    panel, queue = window.panel, window.queue
    panel.set_size(64, 64)
    panel.steps.setValue(15)
    for prompt in ("first", "second", "third"):
        panel.prompt.setPlainText(prompt)
        qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    assert queue.count() == 3 and "running" in queue.item(0).text()
    assert "first" in queue.item(0).text() and window.queue_label.text() == "2 waiting"
    # Remove with nothing selected says so
    queue.clearSelection()
    remove = next(b for b in window.findChildren(QPushButton) if b.text() == "Remove")
    qtbot.mouseClick(remove, Qt.MouseButton.LeftButton)
    assert "Select the waiting jobs" in window.statusBar().currentMessage()
    assert queue.waiting_count() == 2
    # The pointer rests on "third": it stays under the pointer while "first" ends
    third = queue.visualItemRect(queue.item(2)).center()
    qtbot.mouseMove(queue.viewport(), third)
    qtbot.waitUntil(lambda: "running" in queue.item(1).text(), timeout=10_000)
    assert "third" in queue.itemAt(third).text()
    qtbot.mouseMove(window.canvas.viewport(), QPoint(10, 10))  # the pointer leaves the list
    qtbot.waitUntil(lambda: "running" in queue.item(0).text(), timeout=5_000)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: queue.count() == 0, timeout=10_000)


def test_cancelled_does_not_stay_on_the_status_line_while_the_next_job_runs(
    qtbot, make_app, tmp_path
):
    from tests.fakes import FakeEngine

    engine = FakeEngine(tmp_path / "outputs", step_delay=0.02)
    window = shown_window(make_app, qtbot, engine=engine)
    window.panel.set_size(64, 64)
    window.panel.steps.setValue(200)
    window.panel.prompt.setPlainText("long")
    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    window.panel.steps.setValue(30)
    window.panel.prompt.setPlainText("next")
    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.progress.value() >= 2, timeout=10_000)
    window.panel.prompt.setFocus()
    qtbot.keyClick(window.panel.prompt, Qt.Key.Key_Escape)
    qtbot.waitUntil(
        lambda: engine.requests[-1].prompt == "next" and window.controller.running_job != 0,
        timeout=10_000,
    )
    qtbot.waitUntil(lambda: window.progress.value() >= 1, timeout=10_000)
    assert window.statusBar().currentMessage() != "Cancelled"
    wait_idle(qtbot, window)


# --- quit and restart --------------------------------------------------------------------------


def answer_next_dialog(qtbot, button_text: str, seen: list) -> None:
    """Clicks `button_text` in the next modal dialog, with the mouse, once it is up."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        seen.append(box.text())
        button = next(b for b in box.buttons() if b.text() == button_text)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, click)


def test_quit_warns_about_a_canvas_in_no_file(qtbot, make_app):
    from PySide6.QtGui import QGuiApplication

    from gui.images import array_to_qimage

    window = shown_window(make_app, qtbot)
    generate_seeds(qtbot, window, 3)  # a result in the history: nothing to warn about
    window.canvas.setFocus()
    seen: list = []
    qtbot.keyClick(window.canvas, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible())
    assert seen == []
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    pasted = np.zeros((40, 50, 3), np.uint8)
    pasted[..., 1] = 180
    QGuiApplication.clipboard().setImage(array_to_qimage(pasted))
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.doc.image, pasted)
    answer_next_dialog(qtbot, "Cancel", seen)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert len(seen) == 1 and "not saved in any file" in seen[0]
    assert window.isVisible()  # Cancel keeps working
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.canvas.setFocus()
    answer_next_dialog(qtbot, "Quit", seen)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert len(seen) == 2 and not window.isVisible()


def test_a_clean_restart_brings_back_the_canvas_and_mask(qtbot, make_app):
    app, _ = make_app()
    window = app.window
    window.resize(1280, 800)
    generate_seeds(qtbot, window, 9)
    paint_inpaint_mask(qtbot, window, size=20)
    image, mask = window.doc.image.copy(), window.doc.mask.copy()
    assert mask.any()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible())  # in history: closed without a question
    app.shutdown()
    assert not app.session.marker.exists()  # a clean exit

    again, _ = make_app()
    assert again.resumed and not again.restored  # nothing was asked
    assert np.array_equal(again.window.doc.image, image)
    assert np.array_equal(again.window.doc.mask, mask)
    assert "canvas and mask are back" in again.window.statusBar().currentMessage()


def test_a_blank_canvas_is_not_brought_back(qtbot, make_app):
    app, _ = make_app()
    app.window.close()
    app.shutdown()
    again, _ = make_app()
    assert not again.resumed and again.window.doc.is_blank

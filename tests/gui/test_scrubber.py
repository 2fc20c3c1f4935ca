"""The step scrubber and "Branch from step k" in the real window with the real engine (bundled
model): real mouse and key events on the slider, branches through the real worker."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject, QPoint, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSlider

from pipeline import Engine

PROMPT = "a large red circle, blue background"


def wait_for(condition, timeout=120.0) -> None:
    """Events processed while waiting, without QTest.qWait (which holds the GIL)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        QApplication.processEvents()
        time.sleep(0.01)


def generate(window, button) -> None:
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    wait_for(lambda: window.controller.running_job != 0 or window.error_banner.isVisible(), 10)
    wait_for(lambda: window.controller.running_job == 0)
    # The worker's `finished` reaches each receiver as its own queued event, posted one after
    # the other from the worker thread: the controller's may run before the previews model's.
    time.sleep(0.05)
    QApplication.processEvents()
    assert not window.error_banner.isVisible(), window.error_banner.text()


def handle_point(slider, value: int) -> QPoint:
    """The centre of the slider's handle at `value` (the style says where: no guessed pixels)."""
    option = QStyleOptionSlider()
    slider.initStyleOption(option)
    style, control = slider.style(), QStyle.ComplexControl.CC_Slider
    groove = style.subControlRect(control, option, QStyle.SubControl.SC_SliderGroove, slider)
    handle = style.subControlRect(control, option, QStyle.SubControl.SC_SliderHandle, slider)
    span = groove.width() - handle.width()
    x = QStyle.sliderPositionFromValue(slider.minimum(), slider.maximum(), value, span)
    return QPoint(groove.x() + x + handle.width() // 2, handle.center().y())


def previews_of(scrubber) -> list:
    return [scrubber.previews.image(k) for k in range(1, scrubber.previews.total + 1)]


def test_scrub_then_branch_with_the_real_engine(qtbot, make_app, tmp_path, tiny_model_dir):
    app, _ = make_app(Engine(tmp_path / "outputs", device="cpu"), preload=True)
    window, panel, scrubber = app.window, app.window.panel, app.window.scrubber
    wait_for(lambda: window.model_label.text().startswith("Model: brushwork-shapes"))
    assert not scrubber.slider.isEnabled() and not scrubber.branch_button.isEnabled()
    panel.prompt.setPlainText(PROMPT)
    panel.steps.setValue(6)
    panel.sampler.setCurrentIndex(panel.sampler.findData("euler_a"))
    panel.random_seed.setChecked(False)
    panel.seed.setText("5")
    generate(window, window.generate_button)
    original = window.doc.image.copy()
    first = previews_of(scrubber)
    assert len(first) == 6 and all(image is not None for image in first)
    assert (scrubber.slider.maximum(), scrubber.slider.value()) == (6, 6)
    assert scrubber.label.text() == "Step 6/6 · result"
    result_view = window.canvas.grab().toImage()

    # Keyboard on the slider: Home → step 1 is shown over the canvas; End → the result again.
    scrubber.slider.setFocus()
    QTest.keyClick(scrubber.slider, Qt.Key.Key_Home)
    assert scrubber.slider.value() == 1 and window.canvas.showing_preview
    assert scrubber.label.text() == "Step 1/6"
    assert window.canvas.grab().toImage() != result_view
    QTest.keyClick(scrubber.slider, Qt.Key.Key_Right)
    assert scrubber.slider.value() == 2
    QTest.keyClick(scrubber.slider, Qt.Key.Key_End)
    assert scrubber.slider.value() == 6 and not window.canvas.showing_preview
    assert np.array_equal(window.doc.image, original)  # scrubbing never edits the document

    # Mouse: drag the handle from step 6 to step 3.
    start, end = handle_point(scrubber.slider, 6), handle_point(scrubber.slider, 3)
    QTest.mousePress(scrubber.slider, Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(scrubber.slider, end)
    QTest.mouseRelease(scrubber.slider, Qt.MouseButton.LeftButton, pos=end)
    assert scrubber.slider.value() == 3 and window.canvas.showing_preview
    assert scrubber.branch_button.text() == "Branch from step 3"

    # Branch from step 3 with unchanged settings: the same image, bit for bit.
    generate(window, scrubber.branch_button)
    assert np.array_equal(window.doc.image, original)
    assert previews_of(scrubber) == first
    assert window.controller.last_results[0].request.branch.step == 3

    # A changed prompt: steps 1–3 keep their previews, the rest and the result change.
    panel.prompt.setPlainText("a small green square, yellow background")
    scrubber.slider.setFocus()
    QTest.keyClick(scrubber.slider, Qt.Key.Key_Home)
    for _ in range(2):
        QTest.keyClick(scrubber.slider, Qt.Key.Key_Right)
    generate(window, scrubber.branch_button)
    branched = previews_of(scrubber)
    assert branched[:3] == first[:3] and branched[3] != first[3]
    assert not np.array_equal(window.doc.image, original)
    branched_image = window.doc.image.copy()

    # Branching after the model was changed: a message, nothing lost, nothing queued.
    window.select_model(str(tiny_model_dir))
    QTest.keyClick(scrubber.slider, Qt.Key.Key_Home)
    QTest.mouseClick(scrubber.branch_button, Qt.MouseButton.LeftButton)
    assert window.error_banner.isVisible()
    assert "the model is now" in window.error_banner.text()
    assert "choose it again under Model" in window.error_banner.text()
    assert window.controller.running_job == 0
    assert previews_of(scrubber) == branched and scrubber.previews.total == 6
    assert np.array_equal(window.doc.image, branched_image)
    wait_for(lambda: window.model_label.text().startswith("Model: tiny-sd"))


def test_a_cancelled_job_keeps_the_previous_steps(qtbot, make_app, tmp_path):
    """The set changes only when a generation finishes: Cancel keeps the last one."""
    app, _ = make_app(Engine(tmp_path / "outputs", device="cpu"), preload=True)
    window, panel, scrubber = app.window, app.window.panel, app.window.scrubber
    wait_for(lambda: window.model_label.text().startswith("Model: brushwork-shapes"))
    panel.prompt.setPlainText(PROMPT)
    panel.steps.setValue(4)
    generate(window, window.generate_button)
    wait_for(lambda: scrubber.previews.total == 4)
    kept = previews_of(scrubber)
    panel.steps.setValue(400)
    QTest.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    wait_for(lambda: window.controller.running_job != 0)
    assert not scrubber.slider.isEnabled() and scrubber.label.text() == "Generating…"
    QTest.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    wait_for(lambda: window.controller.running_job == 0)
    assert previews_of(scrubber) == kept and scrubber.slider.isEnabled()


class _Signals(QObject):
    """The worker's signals the previews model listens to (emitted here, on this thread)."""

    progressed = Signal(int, int, int, float)
    previewed = Signal(int, QImage, object)
    recorded = Signal(int, object)
    finished = Signal(int, object)
    cancelled = Signal(int)
    failed = Signal(int, str)


def test_previews_are_kept_at_display_size_and_within_the_byte_cap(qtbot):
    from types import SimpleNamespace

    from gui.step_previews import StepPreviews
    from pipeline import GenerationRequest

    worker = _Signals()
    big = QImage(1024, 512, QImage.Format.Format_RGB888)
    big.fill(0x3366CC)
    one = big.scaled(256, 128).sizeInBytes()  # what a kept preview costs at max_side 256
    previews = StepPreviews(worker, max_side=256, max_bytes=3 * one)
    for step in range(1, 6):
        worker.progressed.emit(7, step, 5, 0.1)
        worker.previewed.emit(7, big, None)
    assert previews.total == 0  # nothing adopted before the job finishes
    result = SimpleNamespace(request=GenerationRequest(prompt="x"))
    worker.finished.emit(7, [result])
    assert previews.total == 5 and sorted(previews.images) == [1, 2, 3]
    assert previews.image(1).size().toTuple() == (256, 128)
    assert previews.note == "Previews kept up to step 3 (0 MiB)."
    worker.progressed.emit(8, 1, 5, 0.1)
    worker.previewed.emit(8, big, None)
    worker.cancelled.emit(8)
    worker.finished.emit(8, [result])  # a late signal of the cancelled job changes nothing
    assert sorted(previews.images) == [1, 2, 3]

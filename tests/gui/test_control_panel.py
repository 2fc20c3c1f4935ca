"""The side panel's Control section, driven with real mouse and key events."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolButton

from gui.control_panel import ControlPanel
from gui.settings import Settings
from gui.worker import engine_factory
from pipeline import RequestError, read_image_info
from tests.gui.conftest import wait_idle
from tests.tiny_controlnet import save_tiny_controlnet


@pytest.fixture
def panel(qtbot, monkeypatch):
    monkeypatch.setattr("pipeline.preprocess._has", lambda name: name != "controlnet_aux")
    widget = ControlPanel()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def type_into(box, text: str) -> None:
    box.setFocus()
    QTest.keyClick(box, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(box, Qt.Key.Key_Backspace)
    QTest.keyClicks(box, text)


def test_a_unit_made_with_clicks_and_keys_becomes_a_control_unit(qtbot, panel):
    assert panel.units(None) == ()  # no rows: nothing to steer
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    [row] = panel.rows
    type_into(row.model, "/models/my-cn.safetensors")
    row.kind.setFocus()
    QTest.keyClicks(row.kind, "canny")  # a closed combo box selects by typing
    type_into(row.strength, "1.5")
    type_into(row.start, "0.1")
    type_into(row.end, "0.9")
    canvas = np.full((32, 48, 3), 200, np.uint8)
    [unit] = panel.units(canvas)
    assert (unit.model, unit.module, unit.strength, unit.start, unit.end) == (
        "/models/my-cn.safetensors", "canny", 1.5, 0.1, 0.9
    )  # fmt: skip
    assert np.array_equal(unit.image, canvas)

    qtbot.mouseClick(
        row.enabled, Qt.MouseButton.LeftButton, pos=QPoint(6, row.enabled.height() // 2)
    )
    assert panel.units(canvas) == ()  # off: left out of the request
    QTest.keyClick(row.enabled, Qt.Key.Key_Space)  # on again (a second click would be a double)
    assert row.enabled.isChecked()
    type_into(row.start, "0.8")
    type_into(row.end, "0.2")
    assert (row.start.value(), row.end.value()) == (0.8, 0.2)
    with pytest.raises(RequestError, match=r"start 0.8 is after end 0.2"):
        panel.units(canvas)

    remove = next(b for b in row.findChildren(QToolButton) if b.text() == "✕")
    qtbot.mouseClick(remove, Qt.MouseButton.LeftButton)
    assert panel.rows == []


def test_missing_pieces_are_named_and_unrunnable_types_are_hidden(qtbot, panel, tmp_path):
    assert "depth" not in panel.modules and "pose" not in panel.modules
    assert panel.note.text() == "Hidden: depth, pose." and "controlnet-aux" in panel.note.toolTip()
    row = panel.add_unit()
    assert row.model.text().endswith("brushwork-shapes-scribble")  # the shipped one by default
    assert [row.kind.itemText(i) for i in range(row.kind.count())] == list(panel.modules)
    type_into(row.model, "")
    with pytest.raises(RequestError, match="Unit 0: choose a ControlNet model"):
        panel.units(None)
    type_into(row.model, "cn")
    row.source.setCurrentText("File")
    with pytest.raises(RequestError, match="choose the control image file"):
        panel.units(None)
    row.source.setCurrentText("Control layer")
    with pytest.raises(RequestError, match="there is no control layer to read"):
        panel.units(None)  # control layers: tests/gui/test_control_layers.py
    for _ in range(5):
        panel.add_unit()
    assert len(panel.rows) == 4 and not panel.add_button.isEnabled()


def test_generate_with_a_control_unit_in_the_window(qtbot, make_app, tiny_model_dir, tmp_path):
    cn = save_tiny_controlnet(tiny_model_dir, tmp_path / "tiny-cn")
    scribble = np.full((64, 64, 3), 255, np.uint8)
    scribble[20:44, 20:23] = 0  # one black stroke on white
    Image.fromarray(scribble).save(tmp_path / "scribble.png")
    Image.fromarray(np.full((64, 64, 3), 255, np.uint8)).save(tmp_path / "blank.png")
    app, _ = make_app(
        engine_factory(tmp_path / "outputs", Settings(device="cpu"))(), model=str(tiny_model_dir),
        preload=True,
    )  # fmt: skip
    window = app.window
    qtbot.waitUntil(lambda: window.model_label.text() == "Model: tiny-sd", timeout=60_000)
    window.panel.prompt.setPlainText("a red circle")
    window.panel.steps.setValue(3)
    window.panel.set_size(64, 64)
    control = window.side.control
    qtbot.mouseClick(control.add_button, Qt.MouseButton.LeftButton)
    row = control.rows[0]
    type_into(row.model, str(cn))
    row.set_file(tmp_path / "blank.png")  # what the file dialog hands over

    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, timeout=120_000)
    assert "The scribble is empty" in window.error_banner.text()

    row.set_file(tmp_path / "scribble.png")
    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, timeout=120_000)
    assert not window.error_banner.isVisible(), window.error_banner.text()
    [result] = window.controller.last_results
    [unit] = read_image_info(result.path)["controls"]
    assert unit == {"module": "scribble", "model": "tiny-cn", "weight": 1.0,
                    "guidance_start": 0.0, "guidance_end": 1.0}  # fmt: skip


def test_control_units_scroll_with_the_fields_and_leave_the_prompt_its_height(qtbot, make_app):
    """Outside the fields' scroll area, each unit took its height from the prompt and fields:
    at 1280×800 two units left the fields a sliver."""
    app, _ = make_app()
    window = app.window
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.panel.scroll.height() > 0)
    control, scroll = window.side.control, window.panel.scroll
    assert scroll.widget().isAncestorOf(control)
    before = scroll.height()
    for _ in range(2):
        qtbot.mouseClick(control.add_button, Qt.MouseButton.LeftButton)
    QApplication.processEvents()
    assert len(control.rows) == 2 and scroll.height() == before
    assert scroll.height() >= 300  # the prompt and the first fields stay in view

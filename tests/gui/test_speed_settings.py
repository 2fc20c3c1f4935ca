"""Settings → Speed (saved, validated, handed to the engine) and the few-step preset button."""

from __future__ import annotations

import dataclasses
import json
import shutil

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from gui.settings import Settings, SettingsStore
from gui.worker import engine_factory
from pipeline.speed import SpeedOptions


def click(box) -> None:
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def test_speed_box_saves_options_and_gives_the_worker_a_new_engine(qtbot, make_app, tmp_path):
    from gui.settings_dialog import SettingsDialog

    app, _ = make_app()
    window = app.window
    dialog = SettingsDialog(window.settings, window)
    qtbot.addWidget(dialog)
    dialog.show()
    speed = dialog.speed
    assert speed.sdpa.isChecked() and not speed.compile.isChecked()
    assert "background" in speed.compile.toolTip() and "eager" in speed.compile.toolTip()
    click(speed.compile)
    click(speed.fast_decode)
    speed.preview.setCurrentIndex(speed.preview.findData("taesd"))
    assert "offline" in speed.taesd_state.text()  # the suite runs offline: the option says so
    replaced = []
    window.controller.engine_changed.connect(replaced.append)
    window.apply_settings(dialog.result_settings())
    assert len(replaced) == 1
    saved = SettingsStore().load()
    assert SpeedOptions.from_dict(saved.speed) == SpeedOptions(
        compile=True, fast_decode=True, preview="taesd"
    )
    engine = engine_factory(tmp_path, saved)()
    assert engine.speed.compile and engine.speed.fast_decode


def test_bad_speed_values_in_the_settings_file_fall_back_one_by_one(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"speed": {"compile": "yes", "channels_last": True,
                                          "preview": 3}}), encoding="utf-8")  # fmt: skip
    settings = SettingsStore(path).load()
    assert SpeedOptions.from_dict(settings.speed) == SpeedOptions(channels_last=True)
    assert SettingsStore(tmp_path / "none.json").load().speed == Settings().speed


def test_few_step_button_shows_for_an_lcm_model_and_sets_the_panel(
    qtbot, make_app, tiny_model_dir, tmp_path
):
    lcm = tmp_path / "tiny-lcm"
    shutil.copytree(tiny_model_dir, lcm)
    config = lcm / "scheduler" / "scheduler_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()),
                                  "_class_name": "LCMScheduler"}))  # fmt: skip
    app, _ = make_app()
    side, panel = app.window.side, app.window.panel
    button = side.few_step
    button.show_for(None)  # the bundled model: an ordinary one
    assert button.isHidden()
    button.show_for(str(lcm))
    assert not button.isHidden()
    assert button.text() == "Use few-step preset: 4 steps, CFG 1, LCM"
    click(button)
    values = panel.shown_values()
    assert (values["steps"], values["guidance"], values["sampler"]) == (4, 1.0, "lcm")


def test_openvino_box_round_trips_through_the_settings(qtbot, make_app, tmp_path):
    from gui.settings_dialog import SettingsDialog
    from pipeline.openvino_unet import installed

    if not installed():
        import pytest

        pytest.skip("openvino is not installed")
    app, _ = make_app()
    window = app.window
    dialog = SettingsDialog(window.settings, window)
    qtbot.addWidget(dialog)
    dialog.show()
    box = dialog.speed.openvino
    assert box.isEnabled() and not box.isChecked()
    assert "approximate" in box.text() and "one-off conversion" in box.toolTip()
    click(box)
    window.apply_settings(dialog.result_settings())
    saved = SettingsStore().load()
    assert SpeedOptions.from_dict(saved.speed) == SpeedOptions(openvino=True)
    assert engine_factory(tmp_path, saved)().speed.openvino
    reopened = SettingsDialog(saved, window)
    qtbot.addWidget(reopened)
    assert reopened.speed.openvino.isChecked()


def test_openvino_box_is_disabled_with_the_install_hint_when_missing(qtbot, make_app, monkeypatch):
    import importlib.util

    from gui.settings_dialog import SettingsDialog

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a)
    )
    app, _ = make_app()
    settings = app.window.settings
    on = dataclasses.replace(settings, speed=SpeedOptions(openvino=True).to_dict())
    dialog = SettingsDialog(on, app.window)
    qtbot.addWidget(dialog)
    box = dialog.speed.openvino
    assert not box.isEnabled()
    assert "pip install brushwork[openvino]" in box.toolTip()
    assert not dialog.speed.options().openvino  # a saved "on" cannot run: off in what is applied

"""Settings → Speed (saved, validated, handed to the engine) and the few-step preset button."""

from __future__ import annotations

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

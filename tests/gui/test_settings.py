import json

from gui.settings import Parameters, Settings, SettingsStore, default_settings_path


def test_round_trip_keeps_every_value(tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    settings = Settings(
        parameters=Parameters(prompt="a cat ✓", seed=4294967295, random_seed=False, steps=7,
                              guidance=4.5, mode="inpaint"),
        models=["/m/a", "org/b"], model="org/b", device="cpu", output_dir="/tmp/x",
    )  # fmt: skip
    store.save(settings)
    assert store.load() == settings
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]  # no temp file left


def test_missing_file_gives_defaults_without_notice(tmp_path):
    store = SettingsStore(tmp_path / "none.json")
    assert store.load() == Settings() and store.notice == ""


def test_corrupt_file_falls_back_to_defaults_keeps_a_backup_and_says_so(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"parameters": {"steps": 3', encoding="utf-8")
    store = SettingsStore(path)
    assert store.load() == Settings()
    assert "could not be read" in store.notice and "settings.json.bak" in store.notice
    assert (tmp_path / "settings.json.bak").read_text() == '{"parameters": {"steps": 3'
    assert not path.exists()


def test_wrong_types_reset_only_those_fields(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({
        "parameters": {"steps": "many", "prompt": "kept", "guidance": 5, "random_seed": 1,
                       "seed": None},
        "models": ["ok", 3], "device": ["cuda"], "model": None, "unknown": 1,
    }))  # fmt: skip
    settings = SettingsStore(path).load()
    assert settings.parameters.steps == 20 and settings.parameters.prompt == "kept"
    assert settings.parameters.guidance == 5 and settings.parameters.random_seed is True
    assert settings.models == ["ok"] and settings.device == "auto"


def test_default_path_is_in_the_platform_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_settings_path() == tmp_path / "Brushwork" / "settings.json"


def test_the_window_restores_and_saves_its_parameters(qtbot, make_app):
    from gui.settings import SettingsStore
    from pipeline import Mode
    from tests.gui.conftest import wait_idle

    store = SettingsStore()
    store.save(Settings(parameters=Parameters(prompt="restored prompt", steps=3, mode="img2img",
                                              sampler="ddim", width=64, height=64)))  # fmt: skip
    app, _ = make_app()
    panel = app.window.panel
    assert panel.prompt.toPlainText() == "restored prompt"
    assert panel.current_mode == Mode.IMG2IMG and panel.sampler.currentData() == "ddim"
    panel.set_mode(Mode.TXT2IMG)
    panel.prompt.setPlainText("a new prompt")
    app.window.generate()
    wait_idle(qtbot, app.window)
    saved = store.load().parameters
    assert saved.prompt == "a new prompt" and saved.mode == "txt2img"
    assert saved.seed == app.window.controller.last_results[0].seed


def test_a_corrupt_settings_file_is_reported_in_the_window(qtbot, make_app):
    from gui.settings import default_settings_path

    path = default_settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\x00garbage")
    app, _ = make_app()
    assert "could not be read" in app.window.error_banner.text()
    assert path.with_suffix(".json.bak").exists()


def test_settings_dialog_changes_take_effect(qtbot, make_app, tmp_path):
    from gui.settings_dialog import SettingsDialog

    app, _ = make_app()
    window = app.window
    dialog = SettingsDialog(window.settings, window)
    qtbot.addWidget(dialog)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.precision.setCurrentIndex(dialog.precision.findData("bf16"))
    dialog.output.setText(str(tmp_path / "elsewhere"))
    dialog.allow_pickle.setChecked(True)
    replaced = []
    window.controller.engine_changed.connect(replaced.append)
    window.apply_settings(dialog.result_settings())
    assert window.output_dir == tmp_path / "elsewhere"
    assert window.history.folder == tmp_path / "elsewhere"
    assert len(replaced) == 1  # the worker gets a fresh engine factory
    saved = SettingsStore().load()
    assert (saved.device, saved.precision, saved.allow_pickle) == ("cpu", "bf16", True)
    window.apply_settings(saved)
    assert len(replaced) == 1  # nothing engine-related changed: keep the loaded model

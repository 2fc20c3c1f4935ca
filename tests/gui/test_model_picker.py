from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from gui.settings import SettingsStore


def drop(window, path):
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    window.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, data, buttons, keys))


def test_added_models_are_checked_listed_selected_and_remembered(qtbot, make_app, tiny_model_dir):
    app, _ = make_app()
    window, picker = app.window, app.window.model_picker
    assert picker.current() is None  # the bundled model
    assert picker.add_source("someone/some-model")
    assert window.controller.model == "someone/some-model"
    drop(window, tiny_model_dir)
    assert window.controller.model == str(tiny_model_dir)
    assert picker.sources() == ["someone/some-model", str(tiny_model_dir)]
    assert not picker.add_source(str(tiny_model_dir / "nope.safetensors"))
    assert "Model file not found" in window.error_banner.text()
    window.close()
    saved = SettingsStore().load()
    assert saved.models == ["someone/some-model", str(tiny_model_dir)]
    assert saved.model == str(tiny_model_dir)


def test_dropping_a_pickle_checkpoint_explains_the_risk(qtbot, make_app, tmp_path):
    app, _ = make_app()
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"not loaded")
    drop(app.window, ckpt)
    assert "pickle checkpoint" in app.window.error_banner.text()
    assert app.window.model_picker.sources() == []


def test_saved_models_are_restored_at_start(qtbot, make_app, tiny_model_dir):
    from gui.settings import Settings

    SettingsStore().save(Settings(models=["a/b", str(tiny_model_dir)], model="a/b"))
    app, _ = make_app(model="a/b")
    picker = app.window.model_picker
    assert picker.sources() == ["a/b", str(tiny_model_dir)] and picker.current() == "a/b"
    assert picker.combo.itemText(2) == "tiny-sd (folder)"


def test_choosing_a_model_sends_it_with_the_next_job(qtbot, make_app):
    from tests.gui.conftest import wait_idle

    app, engine = make_app()
    window = app.window
    window.model_picker.add_source("org/model")
    window.panel.prompt.setPlainText("x")
    window.panel.set_size(64, 64)
    window.generate()
    wait_idle(qtbot, window)
    assert engine.requests[-1].model == "org/model"


def test_a_hub_model_is_downloaded_with_progress_before_it_is_used(
    qtbot, make_app, tiny_model_dir, monkeypatch
):
    from pathlib import Path

    import huggingface_hub.constants as constants

    from tests.gui.conftest import wait_idle
    from tests.hub_standin import HubStandIn

    texts = []
    with HubStandIn({"org/tiny-dl": tiny_model_dir}, chunk=8192) as hub:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        app, engine = make_app()
        window = app.window
        window.worker.downloading.connect(lambda job, text, done, total: texts.append(text))
        window.model_picker.add_source("org/tiny-dl")
        window.panel.prompt.setPlainText("x")
        window.panel.set_size(64, 64)
        window.generate()
        wait_idle(qtbot, window)
    assert not window.error_banner.isVisible(), window.error_banner.text()
    assert texts and texts[-1].startswith("Downloading org/tiny-dl: ") and " of " in texts[-1]
    assert engine.requests[-1].model == "org/tiny-dl" and window.controller.last_results
    cache = Path(constants.HF_HUB_CACHE)
    assert list(cache.glob("models--org--tiny-dl/snapshots/*/model_index.json"))


def test_a_hub_model_not_yet_downloaded_says_when_it_will_be(qtbot, make_app, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    app, _ = make_app()
    app.window.model_picker.add_source("org/not-here")
    qtbot.waitUntil(lambda: "downloads when you first generate" in app.window.model_label.text(),
                    timeout=5_000)  # fmt: skip

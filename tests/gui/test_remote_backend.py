"""The app on ComfyUI servers (a fake one): Settings → Backends, results, previews, where."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox

from gui.remote_backend import RemoteBackend
from gui.settings import SettingsStore
from gui.settings_dialog import SettingsDialog
from gui.worker import engine_factory
from tests.gui.conftest import wait_idle
from tests.remote.fake_comfy import RESULT_COLOUR, FakeComfy


def test_backends_settings_take_server_urls_and_refuse_bad_ones(qtbot, make_app, tmp_path):
    app, _ = make_app()
    window = app.window
    dialog = SettingsDialog(window.settings, window)
    qtbot.addWidget(dialog)
    dialog.show()
    box = dialog.backends
    dialog.tabs.setCurrentIndex(1)
    assert dialog.tabs.tabText(1) == "Backends" and box.isVisible()
    assert box.local.isChecked() and not box.urls.isEnabled()
    qtbot.mouseClick(box.remote, Qt.MouseButton.LeftButton)
    assert box.urls.isEnabled()
    QTest.keyClicks(box.urls, "localhost:8188")
    QTest.keyClicks(box.checkpoint, "tiny.safetensors")
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    dialog.tabs.setCurrentIndex(0)  # OK pressed on another tab: the dialog shows the problem
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "server URL" in box.error.text()  # not accepted
    assert box.isVisible() and dialog.tabs.currentIndex() == 1
    box.urls.clear()
    QTest.keyClicks(box.urls, "http://127.0.0.1:8188")
    dialog.backends.urls.appendPlainText("http://10.0.0.2:8188")
    dialog.grab().save("/tmp/comfy-settings.png")
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    replaced = []
    window.controller.engine_changed.connect(replaced.append)
    window.apply_settings(dialog.result_settings())
    saved = SettingsStore().load()
    assert saved.backend == "servers" and saved.server_checkpoint == "tiny.safetensors"
    assert saved.servers == ["http://127.0.0.1:8188", "http://10.0.0.2:8188"]
    assert len(replaced) == 1
    assert isinstance(engine_factory(tmp_path, saved)(), RemoteBackend)


def test_generate_on_a_server_paints_previews_and_shows_where_it_runs(qtbot, make_app, tmp_path):
    out = tmp_path / "outputs"
    with FakeComfy(step_delay=0.15) as server:
        app, _ = make_app(RemoteBackend([server.url], "tiny.safetensors", out))
        window = app.window
        window.panel.prompt.setPlainText("a red circle")
        window.panel.steps.setValue(4)
        window.panel.set_size(64, 64)
        previews = []
        original = window.canvas.show_preview
        window.canvas.show_preview = lambda job, image, region=None: (
            previews.append(image) or original(job, image, region)
        )
        qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: server.url in window.queue_label.text(), timeout=20_000)
        qtbot.waitUntil(lambda: len(previews) >= 2, timeout=20_000)
        window.grab().save("/tmp/comfy-window-running.png")
        wait_idle(qtbot, window, timeout=30_000)
    assert not window.error_banner.isVisible(), window.error_banner.text()
    assert len(previews) == 4
    [result] = window.controller.last_results
    assert result.path.parent == out and (result.image == RESULT_COLOUR).all()
    assert np.array_equal(window.doc.image, result.image)
    assert server.url not in window.queue_label.text()  # the job is over

import pytest

from gui.app import BrushworkApp
from tests.fakes import FakeEngine


@pytest.fixture
def make_app(qtbot, tmp_path):
    """Builds the real app around any engine; always joins the worker thread afterwards."""
    apps = []

    def make(engine=None, model=None, preload=False):
        engine = engine or FakeEngine(tmp_path / "outputs")
        app = BrushworkApp(lambda: engine, tmp_path / "outputs", model)
        qtbot.addWidget(app.window)
        app.start(preload=preload)
        apps.append(app)
        app.window.activateWindow()  # shortcuts only fire in the active window
        qtbot.waitUntil(app.window.isActiveWindow, timeout=5_000)
        return app, engine

    yield make
    for app in apps:
        app.shutdown()
        assert app.thread.isFinished()


def wait_idle(qtbot, window, timeout=20_000):
    qtbot.waitUntil(lambda: window.running_job == 0, timeout=timeout)

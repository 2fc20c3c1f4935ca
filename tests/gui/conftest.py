import pytest

from gui.app import BrushworkApp
from gui.turns import pending_turns
from tests.fakes import FakeEngine


@pytest.fixture
def make_app(qtbot, tmp_path):
    """The real app around any engine (default: the fake one); extra keyword arguments go to
    BrushworkApp (session store, restore question, settings). Always joins the worker thread."""
    apps = []

    def make(engine=None, model=None, preload=False, **kwargs):
        engine = engine or FakeEngine(tmp_path / "outputs")
        app = BrushworkApp(lambda: engine, tmp_path / "outputs", model, **kwargs)
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
    """No job runs, and what follows a result (history, settings, session) has run."""
    qtbot.waitUntil(
        lambda: window.controller.running_job == 0 and pending_turns(window) == 0,
        timeout=timeout,
    )

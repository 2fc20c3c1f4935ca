"""The reliability suite drives the same app fixture as the GUI tests."""

from tests.gui.conftest import make_app  # noqa: F401  (a fixture, used by name)

"""Guards against a Qt binding that corrupts the interpreter (PySide6 6.12.0 on Python 3.11).

In that release every call that returns None (setText, processEvents, …) drops one reference to
None; Python < 3.12 aborts with "none_dealloc" once None's count reaches zero, a few thousand UI
updates into a session. pyproject.toml excludes it; this test fails if such a build comes back.
"""

import sys

from PySide6.QtWidgets import QApplication, QLabel


def test_none_returning_qt_calls_keep_none_alive(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("x")
        QApplication.processEvents()
    assert abs(sys.getrefcount(None) - before) < 100

"""The real app with the real engine (tiny components): click Generate, get a file and previews."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from gui.settings import Settings
from gui.worker import engine_factory
from pipeline import read_image_info
from tests.gui.conftest import wait_idle

ROOT = Path(__file__).resolve().parents[2]


def test_click_generate_with_the_real_engine(qtbot, make_app, tiny_model_dir, tmp_path):
    out = tmp_path / "outputs"
    app, _ = make_app(
        engine_factory(out, Settings(device="cpu"))(), model=str(tiny_model_dir), preload=True
    )
    window = app.window
    qtbot.waitUntil(lambda: window.model_label.text() == "Model: tiny-sd", timeout=60_000)
    window.panel.prompt.setPlainText("a red circle")
    window.panel.steps.setValue(6)
    window.panel.set_size(64, 64)
    previews = []
    original = window.canvas.show_preview
    window.canvas.show_preview = lambda job, image, region=None: (
        previews.append(image) or original(job, image, region)
    )

    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, timeout=120_000)

    assert not window.error_banner.isVisible(), window.error_banner.text()
    assert len(previews) == 6 and previews[0].size().width() == 8
    [result] = window.controller.last_results
    assert result.path.parent == out
    with Image.open(result.path) as png:
        on_disk = np.asarray(png.convert("RGB"))
    assert np.array_equal(window.doc.image, on_disk)
    info = read_image_info(result.path)
    assert info["prompt"] == "a red circle" and info["steps"] == 6
    assert info["seed"] == int(window.panel.seed.text())


STARTUP_PROBE = """
import sys
from PySide6.QtWidgets import QApplication
from gui.app import BrushworkApp
from gui.settings import Settings
from gui.worker import engine_factory
qt = QApplication([])
app = BrushworkApp(engine_factory(__OUT__, Settings(device="cpu")), __OUT__, __MODEL__)
app.start(preload=False)
qt.processEvents()
print("torch before window:", "torch" in sys.modules, app.window.isVisible())
app.window.load_model()
while app.window.model_label.text() in ("Model: not loaded yet", "Model: loading…"):
    qt.processEvents()
print("torch after load:", "torch" in sys.modules, app.window.model_label.text())
app.shutdown()
"""


def test_window_is_shown_before_torch_is_imported(tiny_model_dir, tmp_path):
    code = STARTUP_PROBE.replace("__OUT__", repr(str(tmp_path))).replace(
        "__MODEL__", repr(str(tiny_model_dir))
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert "torch before window: False True" in done.stdout, done.stderr[-2000:]
    assert "torch after load: True Model: tiny-sd" in done.stdout, done.stderr[-2000:]


def real_app(make_app, tiny_model_dir, tmp_path, qtbot):
    app, _ = make_app(engine_factory(tmp_path / "out", Settings(device="cpu"))(),
                      model=str(tiny_model_dir), preload=True)  # fmt: skip
    qtbot.waitUntil(lambda: app.window.model_label.text() == "Model: tiny-sd", timeout=60_000)
    return app.window


def test_inpaint_in_the_app_changes_only_the_masked_area(qtbot, make_app, tiny_model_dir,
                                                         tmp_path):  # fmt: skip
    from gui.panels import CanvasMode

    window = real_app(make_app, tiny_model_dir, tmp_path, qtbot)
    original = np.zeros((64, 64, 3), np.uint8)
    original[..., 2] = 200
    window.doc.replace(original, "start")
    mask = np.zeros((64, 64), np.uint8)
    mask[16:40, 24:48] = 255
    window.doc.set_mask(mask, "mask")
    window.panel.set_mode(CanvasMode.INPAINT)
    window.panel.mask_blur.setValue(4)
    window.panel.steps.setValue(4)
    window.panel.strength.setValue(1.0)
    window.generate()
    wait_idle(qtbot, window, timeout=120_000)
    assert not window.error_banner.isVisible(), window.error_banner.text()
    result = window.doc.image
    band = np.zeros((64, 64), bool)
    band[16 - 4 : 40 + 4, 24 - 4 : 48 + 4] = True  # the mask plus its 4 px blend band
    assert np.array_equal(result[~band], original[~band])  # untouched outside, bit for bit
    assert np.abs(result[16:40, 24:48].astype(int) - original[16:40, 24:48]).mean() > 5


def test_outpaint_in_the_app_grows_the_canvas(qtbot, make_app, tiny_model_dir, tmp_path):
    from gui.panels import CanvasMode

    window = real_app(make_app, tiny_model_dir, tmp_path, qtbot)
    original = np.full((64, 64, 3), (30, 160, 60), np.uint8)
    window.doc.replace(original, "start")
    window.panel.set_mode(CanvasMode.OUTPAINT)
    for box, value in zip(window.panel.sides, (0, 0, 32, 0), strict=True):
        box.setValue(value)
    window.panel.steps.setValue(4)
    assert (window.panel.width_box.value(), window.panel.height_box.value()) == (96, 64)
    undo_before = window.doc.undo_stack.count()
    window.generate()
    assert window.doc.image.shape == (64, 96, 3)  # extended at once, new area masked
    assert window.doc.mask[:, 64:].min() == 255 and window.doc.mask[:, :60].max() == 0
    wait_idle(qtbot, window, timeout=120_000)
    assert not window.error_banner.isVisible(), window.error_banner.text()
    assert np.array_equal(window.doc.image[:, :60], original[:, :60])
    assert window.doc.undo_stack.count() == undo_before + 2  # extend, then the result
    assert window.doc.undo_stack.text(undo_before) == "Extend canvas"
    window.doc.undo_stack.undo()
    window.doc.undo_stack.undo()
    assert window.doc.image.shape == (64, 64, 3)


def test_the_brushwork_command_starts_loads_the_bundled_model_and_keeps_running(tmp_path):
    """`python -m gui` is what the `brushwork` entry point runs: start it for real."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "c"),
        "XDG_DATA_HOME": str(tmp_path / "d"),
    }
    try:
        done = subprocess.run([sys.executable, "-m", "gui", "--device", "cpu"], env=env,
                              capture_output=True, text=True, timeout=25)  # fmt: skip
        output = done.stderr
    except subprocess.TimeoutExpired as exc:  # still running: what we want
        output = (exc.stderr or b"").decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
    else:
        raise AssertionError(f"brushwork exited ({done.returncode}):\n{output[-2000:]}")
    assert "Traceback" not in output, output[-2000:]


SHOWN_PROBE = """
import sys
from gui.app import BrushworkApp
from gui.main_window import MainWindow
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

def show_event(window, event, original=MainWindow.showEvent):
    print("ML modules at show:", sorted(m for m in ("torch", "diffusers", "transformers")
                                        if m in sys.modules))
    original(window, event)

def start(app, preload=True, original=BrushworkApp.start):
    original(app, preload=False)  # the window is shown before preloading starts; skip the load
    QApplication.instance().processEvents()
    print("visible:", app.window.isVisible())
    QTimer.singleShot(0, QApplication.quit)

MainWindow.showEvent = show_event
BrushworkApp.start = start
from gui.app import main
sys.exit(main(["--out", sys.argv[1], "--device", "cpu"]))
"""


def test_real_entry_point_shows_the_window_before_any_ml_import(tmp_path):
    """`brushwork` as users start it: at the moment the main window is shown, torch, diffusers
    and transformers are not imported (the worker thread imports them afterwards)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data")}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", SHOWN_PROBE, str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert "ML modules at show: []" in done.stdout, done.stdout + done.stderr[-2000:]
    assert "visible: True" in done.stdout, done.stderr[-2000:]

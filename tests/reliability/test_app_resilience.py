"""The window under stress: corrupt settings, a disk that refuses the image, cancelling a model
load, Generate hammered, closing mid-download or mid-generation. Nothing is lost, nothing hangs,
no thread is left behind (the suite's guard checks that after every test)."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from gui.settings import Settings, SettingsStore, default_settings_path
from gui.worker import engine_factory
from pipeline import Cancelled
from pipeline.downloads import DownloadProgress
from tests.fakes import FakeEngine
from tests.gui.conftest import wait_idle


def ask_for(window, prompt="a red circle", steps=2, size=64) -> None:
    window.panel.prompt.setPlainText(prompt)
    window.panel.steps.setValue(steps)
    window.panel.set_size(size, size)


def test_corrupt_settings_file_starts_with_defaults_and_says_so(qtbot, make_app):
    path = default_settings_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"parameters": {"prompt": "half a fi\xff')
    store = SettingsStore()
    app, _ = make_app(store=store, settings=store.load())
    window = app.window
    assert "settings file could not be read" in window.error_banner.text()
    assert path.with_suffix(".json.bak").read_bytes().startswith(b'{"parameters"')
    ask_for(window)
    window.generate()
    wait_idle(qtbot, window)
    assert window.controller.last_results[0].path.is_file()


def refuse_writes(monkeypatch, code: int) -> None:
    """The output folder refuses the write: read-only (EROFS) or full (ENOSPC) after the data
    went to the temp file, so the clean-up of a half-written file is exercised too."""

    def fsync(_fd):
        raise OSError(code, "No space left on device" if code == errno.ENOSPC else
                      "Read-only file system")  # fmt: skip

    monkeypatch.setattr("pipeline.atomic.os.fsync", fsync)


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC], ids=["read-only", "disk-full"])
def test_output_folder_refuses_the_image_and_it_is_not_lost(
    qtbot, make_app, tiny_model_dir, tmp_path, monkeypatch, code
):
    out = tmp_path / "outputs"
    engine = engine_factory(out, Settings(device="cpu"))()
    app, _ = make_app(engine, model=str(tiny_model_dir))
    window = app.window
    ask_for(window, steps=3)
    refuse_writes(monkeypatch, code)
    window.generate()
    wait_idle(qtbot, window, timeout=120_000)
    banner = window.error_banner.text()
    reason = "No space left on device" if code == errno.ENOSPC else "Read-only file system"
    assert f"Could not write the image to {out}: {reason}" in banner
    assert "on the canvas but not saved: use File → Save image as…" in banner
    assert window.progress_label.text() == "Not saved"
    assert not window.doc.is_blank and window.doc.image.shape == (64, 64, 3)
    assert window.doc.image.std() > 0  # the generated picture, not the blank canvas
    assert not [p for p in out.glob("*") if p.is_file()]  # no half-written file remains

    monkeypatch.undo()  # the user saves it elsewhere
    target = tmp_path / "elsewhere" / "kept.png"
    assert window.files.save_image(target)
    with Image.open(target) as png:
        assert np.array_equal(np.asarray(png.convert("RGB")), window.doc.image)


class SlowLoadEngine(FakeEngine):
    def __init__(self, output_dir: Path) -> None:
        super().__init__(output_dir)
        self.loading = threading.Event()
        self.release = threading.Event()

    def load(self, model=None):
        self.loading.set()
        self.release.wait(timeout=10)
        return super().load(model)


def test_cancelling_during_model_load(qtbot, make_app, tmp_path):
    engine = SlowLoadEngine(tmp_path / "outputs")
    app, _ = make_app(engine)
    window = app.window
    ask_for(window, steps=5)
    window.generate()
    assert engine.loading.wait(timeout=5)
    qtbot.keyClick(window, Qt.Key.Key_Escape)  # Cancel while the model is still loading
    assert window.progress_label.text() == "Cancelling…"
    engine.release.set()
    qtbot.waitUntil(lambda: window.progress_label.text() == "Cancelled", timeout=10_000)
    assert engine.steps_run == [] and not window.controller.last_results
    window.generate()  # and the next job runs normally
    wait_idle(qtbot, window)
    assert len(engine.steps_run) == 5 and window.controller.last_results


def test_generate_pressed_20_times_quickly(qtbot, make_app, tmp_path):
    app, engine = make_app(FakeEngine(tmp_path / "outputs", step_delay=0.01))
    window = app.window
    ask_for(window, steps=3)
    for _ in range(20):
        qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    assert (
        window.controller.running_job and window.queue.count() >= 15
    )  # queued, not dropped or doubled
    qtbot.waitUntil(lambda: window.controller.running_job == 0 and window.queue.count() == 0,
                    timeout=30_000)  # fmt: skip
    assert len(engine.requests) == 20
    assert len(list((tmp_path / "outputs").glob("*.png"))) == 20
    assert len({r.seed for r in engine.requests}) == 20  # every job its own seed
    assert not window.error_banner.isVisible()


def test_closing_the_app_during_a_download(qtbot, make_app, monkeypatch, tmp_path):
    seen = {}

    def fake_download(repo_id, on_progress=None, cancel=None, **_kwargs):
        total = 4_000_000_000
        for done in range(0, total, 1_000_000):
            if cancel is not None and cancel.is_set():
                seen["cancelled_at"] = done
                raise Cancelled()
            on_progress(DownloadProgress(done, total, 1_000_000.0, "unet.safetensors"))
            time.sleep(0.01)
        raise AssertionError("the download was never cancelled")

    monkeypatch.setattr("gui.worker.is_offline", lambda: False)
    monkeypatch.setattr("gui.worker.is_downloaded", lambda _repo: False)
    monkeypatch.setattr("gui.worker.download_model", fake_download)
    app, engine = make_app()
    window = app.window
    window.controller.model = "org/big-model"
    ask_for(window)
    window.generate()
    qtbot.waitUntil(lambda: "Downloading big-model" in window.progress_label.text()
                    or "Downloading org/big-model" in window.progress_label.text(),
                    timeout=10_000)  # fmt: skip
    started = time.perf_counter()
    window.close()
    app.shutdown()
    assert time.perf_counter() - started < 5 and app.thread.isFinished()
    assert "cancelled_at" in seen and engine.requests == []


def test_closing_the_app_during_a_generation(qtbot, make_app, tmp_path):
    app, engine = make_app(FakeEngine(tmp_path / "outputs", step_delay=0.02))
    window = app.window
    ask_for(window, steps=500)
    window.generate()
    qtbot.waitUntil(lambda: window.progress.value() >= 3, timeout=10_000)
    started = time.perf_counter()
    window.close()
    app.shutdown()
    assert time.perf_counter() - started < 5 and app.thread.isFinished()
    assert engine.cancel_seen_at is not None and engine.cancel_seen_at < 500
    assert app.session.load() is not None  # the session was saved on the way out
    assert not app.session.marker.exists()  # a clean exit: no restore offered next time


def test_cli_keeps_images_the_output_folder_refuses(tiny_model_dir, tmp_path, monkeypatch, capsys):
    """The command line has no canvas to keep the image on: it writes it to the temp folder,
    names the file on stdout as usual, and still exits 2 with the reason."""
    from pipeline.cli import main
    from pipeline.metadata import read_image_info

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    code = main(["generate", "--model", str(tiny_model_dir), "--prompt", "a red circle",
                 "--steps", "2", "--width", "64", "--height", "64", "--seed", "7",
                 "--batch", "2", "--device", "cpu", "--out", str(blocker / "out")])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2
    assert f"Could not write the image to {blocker / 'out'}" in err
    kept = [Path(line.split("\t")[0]) for line in out.splitlines()]
    folder = kept[0].parent  # a new private folder per run, never a shared fixed path
    assert folder.parent == tmp_path / "tmp" and folder.name.startswith("brushwork-unsaved-")
    assert [p.parent for p in kept] == [folder, folder]
    assert [read_image_info(p)["seed"] for p in kept] == [7, 8]  # parameters travel with them
    assert f"were written to {folder} instead" in err


def test_a_refused_batch_is_kept_whole_in_the_temp_folder(
    qtbot, make_app, tiny_model_dir, tmp_path, monkeypatch
):
    """Only the output folder refuses (full disk there): every image of the batch is written to
    a temp folder, the first is on the canvas, and Save As keeps its parameters."""
    import os

    out = tmp_path / "outputs"
    real_fsync = os.fsync

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(out)):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    engine = engine_factory(out, Settings(device="cpu"))()
    app, _ = make_app(engine, model=str(tiny_model_dir))
    window = app.window
    ask_for(window, steps=2)
    window.panel.batch_size.setValue(3)
    monkeypatch.setattr("pipeline.atomic.os.fsync", fsync)
    window.generate()
    wait_idle(qtbot, window, timeout=120_000)
    kept = sorted((tmp_path / "tmp").glob("brushwork-unsaved-*/*.png"))
    assert len(kept) == 3 and not [p for p in out.glob("*") if p.is_file()]
    banner = window.error_banner.text()
    assert f"The 3 images were written to {kept[0].parent} instead" in banner
    assert np.array_equal(
        np.asarray(Image.open(window.controller.last_results[0].path)), window.doc.image
    )
    monkeypatch.undo()
    target = tmp_path / "elsewhere" / "kept.png"
    assert window.files.save_image(target)
    assert "a red circle" in Image.open(target).text.get("parameters", "")

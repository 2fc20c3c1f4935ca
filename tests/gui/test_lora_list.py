"""The LoRA list and embeddings list in the real window, driven with real Qt events: a dropped
LoRA is copied, listed and sent; its slider and box change the request; prompt tags show up;
"Use parameters" turns an image's LoRAs on again (by name or hash) and names the missing ones."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from safetensors.torch import save_file

from gui.settings import Settings, SettingsStore
from pipeline.loras import short_hash
from pipeline.metadata import JSON_KEY, PARAMETERS_KEY, json_chunk
from tests.gui.conftest import wait_idle
from tests.pngs import png_with_text

KEY = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"


def lora_file(path: Path, seed: int = 0) -> Path:
    gen = torch.Generator().manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({f"{KEY}.lora_down.weight": torch.randn(2, 8, generator=gen),
               f"{KEY}.lora_up.weight": torch.randn(8, 2, generator=gen),
               f"{KEY}.alpha": torch.tensor(2.0)}, str(path))  # fmt: skip
    return path


@pytest.fixture
def folders(tmp_path):
    return tmp_path / "loras", tmp_path / "embeddings"


@pytest.fixture
def window_and_engine(make_app, tmp_path, folders):
    settings = Settings(loras_folder=str(folders[0]), embeddings_folder=str(folders[1]))
    app, engine = make_app(store=SettingsStore(tmp_path / "settings.json"), settings=settings)
    app.window.panel.steps.setValue(2)
    return app.window, engine


def drop(widget, path: Path) -> None:
    """A drag entering the widget, then the drop, sent through Qt's event dispatch."""
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    at = widget.rect().center()
    enter = QDragEnterEvent(at, Qt.DropAction.CopyAction, data, buttons, keys)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(widget, QDropEvent(QPointF(at), Qt.DropAction.CopyAction, data, buttons,
                                              keys))  # fmt: skip


def click_box(qtbot, row) -> None:
    """A click on the row's box itself (the row is wider than its text)."""
    qtbot.mouseClick(row.check, Qt.MouseButton.LeftButton, pos=QPoint(8, row.check.height() // 2))


def generate(qtbot, window, engine):
    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert not window.error_banner.isVisible(), window.error_banner.text()
    return engine.requests[-1]


def test_drop_slider_and_box_decide_what_the_request_carries(
    qtbot, window_and_engine, folders, tmp_path
):
    window, engine = window_and_engine
    source = lora_file(tmp_path / "downloads" / "ink.safetensors")
    view = window.extras.lora_view

    drop(view, source)

    copied = folders[0] / "ink.safetensors"
    assert copied.read_bytes() == source.read_bytes()
    row = view.row_widgets["ink"]
    assert row.check.isChecked() and row.value.text() == "1.00"
    request = generate(qtbot, window, engine)
    assert request.loras == ((str(copied), 1.0),)
    assert request.lora_dir == str(folders[0])

    row.slider.setFocus()
    QTest.keyClick(row.slider, Qt.Key.Key_Left)  # one step: 0.05 less
    QTest.keyClick(row.slider, Qt.Key.Key_PageDown)  # one page: 0.25 less
    assert row.value.text() == "0.70"
    assert generate(qtbot, window, engine).loras == ((str(copied), 0.7),)

    click_box(qtbot, row)
    assert not row.check.isChecked()
    assert generate(qtbot, window, engine).loras == ()


def test_a_dropped_pickle_or_damaged_file_is_refused_on_the_error_line(
    qtbot, window_and_engine, folders, tmp_path
):
    window, _ = window_and_engine
    pickle = tmp_path / "evil.ckpt"
    pickle.write_bytes(b"\x80\x04\x95" + b"\x00" * 64)
    drop(window.extras.lora_view, pickle)
    assert "pickle" in window.error_banner.text() and window.error_banner.isVisible()
    cut = lora_file(tmp_path / "cut.safetensors")
    cut.write_bytes(cut.read_bytes()[:-20])
    drop(window.extras.lora_view, cut)
    assert "cut.safetensors is truncated" in window.error_banner.text()
    assert not folders[0].exists() or not list(folders[0].iterdir())  # nothing copied
    assert "evil" not in window.extras.lora_view.row_widgets


def test_prompt_tags_show_in_the_list_and_stay_the_engines(qtbot, window_and_engine, folders):
    window, engine = window_and_engine
    lora_file(folders[0] / "ink.safetensors")
    window.extras.loras.rescan()
    window.panel.prompt.setFocus()
    QTest.keyClicks(window.panel.prompt, "a red circle <lora:ink:0.6> <lora:gone:1>")

    rows = window.extras.lora_view.row_widgets
    assert rows["ink"].check.isChecked() and rows["ink"].value.text() == "0.60"
    assert not rows["ink"].slider.isEnabled()  # the tag decides; edit the prompt to change it
    assert rows["gone"].value.text() == "missing"
    QTest.keyClick(window.panel.prompt, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    for _ in range(len(" <lora:gone:1>")):
        QTest.keyClick(window.panel.prompt, Qt.Key.Key_Backspace)
    assert "gone" not in window.extras.lora_view.row_widgets
    request = generate(qtbot, window, engine)
    assert request.loras == ()  # the tag is in the prompt: the engine applies it, once
    assert request.prompt == "a red circle <lora:ink:0.6>"


def test_use_parameters_finds_loras_by_name_or_hash_and_names_the_missing(
    qtbot, window_and_engine, folders, tmp_path
):
    window, _ = window_and_engine
    mine = lora_file(folders[0] / "mine.safetensors", seed=1)  # was "theirs" where it was made
    lora_file(folders[0] / "ink.safetensors", seed=2)
    window.extras.loras.rescan()
    window.extras.loras.set_applied({"ink": 0.3})  # on before: not part of that image
    text = (
        "a red circle <lora:theirs:0.7> <lora:gone:1>\nSteps: 2, Sampler: Euler, CFG scale: 5, "
        f'Seed: 3, Size: 64x64, Lora hashes: "theirs: {short_hash(mine)}, gone: 0123456789ab"'
    )
    image = png_with_text(tmp_path / "a1111.png", {PARAMETERS_KEY: text})

    assert window.use_parameters_of(image)

    assert window.panel.prompt.toPlainText() == "a red circle <lora:mine:0.7> <lora:gone:1>"
    rows = window.extras.lora_view.row_widgets
    assert rows["mine"].check.isChecked() and rows["mine"].value.text() == "0.70"
    assert not rows["ink"].check.isChecked()
    assert "gone (hash 0123456789ab)" in window.error_banner.text()
    assert "theirs as mine" in window.statusBar().currentMessage()
    assert "LoRAs not restored" not in window.statusBar().currentMessage()


def test_use_parameters_of_a_brushwork_image_turns_its_list_loras_on(
    qtbot, window_and_engine, folders, tmp_path
):
    window, engine = window_and_engine
    ink = lora_file(folders[0] / "ink.safetensors", seed=2)
    window.extras.loras.rescan()
    request = {"prompt": "a red circle", "steps": 2, "seed": 3, "width": 64, "height": 64,
               "mode": "txt2img", "loras": [["/elsewhere/ink.safetensors", 0.45]],
               "lora_hashes": f"ink: {short_hash(ink)}"}  # fmt: skip
    image = png_with_text(tmp_path / "ours.png", {JSON_KEY: json_chunk(request, "m", "0.1")})

    assert window.use_parameters_of(image)

    assert not window.error_banner.isVisible()
    assert window.extras.lora_view.row_widgets["ink"].value.text() == "0.45"
    assert generate(qtbot, window, engine).loras == ((str(ink), 0.45),)
    assert generate(qtbot, window, engine).seed >= 0  # nothing else lost: it still runs


def test_embeddings_are_listed_and_a_click_inserts_the_name(qtbot, window_and_engine, folders):
    window, engine = window_and_engine
    folders[1].mkdir()
    save_file({"emb_params": torch.zeros(1, 128)}, str(folders[1] / "glow.safetensors"))
    window.extras.embeddings.rescan()
    listing = window.extras.embedding_view.list
    row = window.extras.embeddings.stringList().index("glow")
    window.panel.prompt.setPlainText("a red circle,")
    window.panel.prompt.moveCursor(window.panel.prompt.textCursor().MoveOperation.End)
    rect = listing.visualRect(window.extras.embeddings.index(row))
    qtbot.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.panel.prompt.toPlainText() == "a red circle, glow"
    assert generate(qtbot, window, engine).embedding_dir == str(folders[1])


def test_lora_and_embedding_folders_are_settings(qtbot, window_and_engine, tmp_path):
    from gui.settings_dialog import SettingsDialog

    window, _ = window_and_engine
    dialog = SettingsDialog(window.settings, window)
    qtbot.addWidget(dialog)
    new = tmp_path / "other-loras"
    lora_file(new / "far.safetensors")
    dialog.extras_folders.loras.clear()
    QTest.keyClicks(dialog.extras_folders.loras, str(new))
    window.apply_settings(dialog.result_settings())
    assert "far" in window.extras.lora_view.row_widgets
    assert SettingsStore(tmp_path / "settings.json").load().loras_folder == str(new)


def test_a_lora_for_another_family_reaches_the_error_line_and_the_model_stays_clean(
    qtbot, make_app, tmp_path, folders
):
    """Real engine, bundled model (SD 1.x layout): an SDXL LoRA is refused at Generate with the
    engine's message on the error line; turned off, the next image is the plain model's."""
    from gui.worker import engine_factory

    engine = engine_factory(tmp_path / "out", Settings(device="cpu"))()
    settings = Settings(loras_folder=str(folders[0]), embeddings_folder=str(folders[1]))
    app, _ = make_app(engine, store=SettingsStore(tmp_path / "s.json"), settings=settings)
    window = app.window
    window.panel.prompt.setPlainText("a red circle, blue background")
    window.panel.steps.setValue(4)
    window.panel.random_seed.setChecked(False)
    window.panel.seed.setText("5")
    path = tmp_path / "xl.safetensors"
    xl_key = "lora_te1_text_model_encoder_layers_0_self_attn_q_proj"
    save_file({f"{xl_key}.lora_down.weight": torch.zeros(2, 768),
               f"{xl_key}.lora_up.weight": torch.zeros(768, 2)}, str(path))  # fmt: skip
    drop(window.extras.lora_view, path)

    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, timeout=120_000)
    assert "xl is an SDXL LoRA; the loaded model is SD 1.x/2.x" in window.error_banner.text()

    row = window.extras.lora_view.row_widgets["xl"]
    click_box(qtbot, row)
    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, timeout=120_000)
    assert not window.error_banner.isVisible(), window.error_banner.text()
    [result] = window.controller.last_results
    assert result.request.loras == ()
    fresh = engine_factory(tmp_path / "out2", Settings(device="cpu"))()  # never saw the LoRA
    assert (fresh.run(result.request)[0].image == result.image).all()


def test_the_shipped_examples_are_listed_out_of_the_box(qtbot, make_app, tmp_path):
    from pipeline.embeddings import example_embedding_dir
    from pipeline.loras import example_lora_dir

    app, engine = make_app(store=SettingsStore(tmp_path / "s.json"), settings=Settings())
    window = app.window
    window.panel.steps.setValue(2)
    outlined = window.extras.lora_view.row_widgets["outlined"]
    assert outlined.check.text() == "outlined (example)" and not outlined.check.isChecked()
    diamond = window.extras.lora_view.row_widgets["diamond"]  # the second example, off as well
    assert diamond.check.text() == "diamond (example)" and not diamond.check.isChecked()
    assert "brown" not in window.extras.lora_view.row_widgets  # tried, not shipped
    assert "coin (example)" in [window.extras.embeddings.data(window.extras.embeddings.index(k))
                                for k in range(window.extras.embeddings.rowCount())]  # fmt: skip
    click_box(qtbot, outlined)
    window.panel.prompt.setPlainText("a large coin at the top, green background")
    request = generate(qtbot, window, engine)
    assert request.loras == ((str(example_lora_dir() / "outlined.safetensors"), 1.0),)
    assert request.embeddings == (str(example_embedding_dir() / "coin.safetensors"),)
    other = window.extras.applied_to(request, "someone/sd15")
    assert other.embeddings == request.embeddings  # already given: kept as it was
    plain = dataclasses.replace(request, embeddings=())
    assert window.extras.applied_to(plain, "someone/sd15").embeddings == ()  # not for SD 1.5


def test_live_jobs_carry_the_lora_list_too(qtbot, window_and_engine, folders):
    window, engine = window_and_engine
    lora_file(folders[0] / "ink.safetensors")
    window.extras.loras.rescan()
    window.extras.loras.set_applied({"ink": 0.4})
    window.panel.prompt.setPlainText("a red circle")
    window.live.set_active(True)
    deadline = time.monotonic() + 20
    while not engine.requests and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.005)
    window.live.set_active(False)
    [(name, weight)] = engine.requests[0].loras
    assert Path(name).name == "ink.safetensors" and weight == 0.4


def test_the_session_keeps_the_loras_that_are_on_and_names_the_missing(make_app, tmp_path, folders):
    from gui.session import SessionStore

    lora_file(folders[0] / "ink.safetensors")
    lora_file(folders[0] / "gone.safetensors", seed=1)
    settings = Settings(loras_folder=str(folders[0]), embeddings_folder=str(folders[1]))
    store = SessionStore(tmp_path / "session")
    app, _ = make_app(store=SettingsStore(tmp_path / "s.json"), settings=settings, session=store)
    loras = app.window.extras.loras
    loras.set_applied({"ink": 0.6, "gone": 1.2})
    assert app.window.autosave.save() and app.window.autosave.wait(10)
    loaded = store.load()
    assert sorted(loaded.extras.loras) == [("gone", 1.2), ("ink", 0.6)]
    (folders[0] / "gone.safetensors").unlink()
    loras.rescan()
    loras.set_applied({})
    app.window.restore_session(loaded)
    assert loras.applied() == (("ink", 0.6),)
    assert "LoRAs no longer in the LoRA folder: gone." in app.window.statusBar().currentMessage()

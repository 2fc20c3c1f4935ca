"""The panel, "Use parameters", settings and sessions all go through the field table."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PySide6.QtCore import Qt

from gui.panels import CanvasMode
from gui.session import SessionState, SessionStore
from gui.settings import Parameters, SettingsStore
from pipeline import Engine, InpaintArea, Mode, fields
from tests.fakes import FakeEngine, FakeLoaded
from tests.gui.conftest import wait_idle
from tests.pipeline.test_fields import SAMPLES
from tests.pngs import png_with_text


def brushwork_png(path, request: dict):
    png_with_text(path, {"brushwork": json.dumps({"request": request})}, 3, size=16)
    return path


def _size(window) -> tuple[int, int]:
    return window.panel.width_box.value(), window.panel.height_box.value()


# --- one table, walked end to end ------------------------------------------------------------


@pytest.mark.parametrize("mode", [Mode.TXT2IMG, Mode.INPAINT])
def test_every_field_survives_generate_then_use_parameters(qtbot, make_app, tmp_path, mode):
    """Each table field the mode records, set to a non-default value → a real generation with
    the bundled model → the PNG read back → "Use parameters" → the panel shows that value."""
    app, _ = make_app(Engine(tmp_path / "outputs", device="cpu"))
    window, panel = app.window, app.window.panel
    values = {
        spec.name: SAMPLES[spec.name]
        for spec in fields.FIELDS
        if spec.recall and spec.panel and mode in spec.modes and spec.name != "mode"
    }
    panel.set_mode(mode)
    if mode is Mode.INPAINT:  # left half kept, right half regenerated
        mask = np.zeros((64, 64), np.uint8)
        mask[:, 32:] = 255
        window.doc.replace(np.full((64, 64, 3), 120, np.uint8), "start", mask=mask)
    panel.set_values(values)
    panel.random_seed.setChecked(False)
    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, timeout=300_000)
    assert not window.error_banner.isVisible(), window.error_banner.text()
    path = window.controller.last_results[0].path

    panel.restore(Parameters())  # back to every default
    unchanged = [name for name, value in values.items() if panel.shown_values()[name] == value]
    assert unchanged == []
    assert window.use_parameters_of(path)
    shown = panel.shown_values()
    assert {name: shown[name] for name in values} == values
    assert panel.current_mode.value == mode.value


def test_the_walk_covers_every_field_use_parameters_restores():
    walked = {
        spec.name
        for mode in (Mode.TXT2IMG, Mode.INPAINT)
        for spec in fields.FIELDS
        if spec.recall and spec.panel and mode in spec.modes
    }
    assert walked == {spec.name for spec in fields.FIELDS if spec.recall and spec.panel}
    local_paths = {"lora_dir", "embedding_dir", "vae"}
    # ControlNet units hold images, which no file records: the Control section builds them.
    assert {spec.name for spec in fields.FIELDS if not spec.recall} == {
        "batch_size", "model", "branch", "controls", *local_paths,
    }  # fmt: skip
    # Fields the panel has no widget for yet say so in the table (and the walk leaves them out).
    assert {spec.name for spec in fields.FIELDS if not spec.panel} == {
        "prompt_style", "loras", "embeddings", "clip_skip", "branch", "controls", *local_paths,
    }  # fmt: skip


def test_use_parameters_says_which_recorded_fields_the_panel_cannot_restore(
    qtbot, make_app, tmp_path
):
    path = brushwork_png(tmp_path / "lora.png", {
        "prompt": "x", "steps": 7, "loras": [["style.safetensors", 0.5]], "clip_skip": 2,
        "lora_dir": "/somewhere",
    })  # fmt: skip
    app, _ = make_app()
    window = app.window
    assert window.use_parameters_of(path)
    assert window.panel.steps.value() == 7
    status = window.statusBar().currentMessage()
    assert "Clip skip not restored" in status
    assert "LoRA folder" not in status  # a machine-local path is not recalled at all
    # LoRAs go back into the LoRA list (gui/lora_recall.py); this one is in no folder: said so
    assert "LoRAs not restored" not in status
    assert "not in" in window.error_banner.text() and "style" in window.error_banner.text()


def test_use_parameters_of_a_brushwork_inpaint_png_keeps_its_inpaint_options(
    qtbot, make_app, tmp_path
):
    """Before: history.py kept its own list of fields and dropped all five of these."""
    path = brushwork_png(tmp_path / "inpaint.png", {
        "prompt": "x", "mode": "inpaint", "mask_blur": 9, "mask_grow": -3,
        "inpaint_area": "only_masked", "inpaint_padding": 40, "color_correction": False,
    })  # fmt: skip
    app, _ = make_app()
    panel = app.window.panel
    assert app.window.use_parameters_of(path)
    assert (panel.mask_blur.value(), panel.mask_grow.value(), panel.padding.value()) == (9, -3, 40)
    assert panel.only_masked.isChecked() and not panel.color_correction.isChecked()


def test_use_parameters_drops_bad_values_with_a_note_and_keeps_the_rest(qtbot, make_app, tmp_path):
    """Before: steps 10**30 raised OverflowError in the slot, after the prompt had changed."""
    path = brushwork_png(tmp_path / "hostile.png", {
        "steps": 10**30, "prompt": ["a"], "width": "512", "guidance": 3.5, "sampler": "ddim",
        "mask_blur": -1, "negative_prompt": "fog",
    })  # fmt: skip
    app, _ = make_app()
    window, panel = app.window, app.window.panel
    panel.prompt.setPlainText("mine")
    size = panel.txt2img_size
    assert window.use_parameters_of(path)
    assert (panel.steps.value(), panel.prompt.toPlainText(), panel.txt2img_size) == (
        20, "mine", size,
    )  # fmt: skip
    assert (panel.guidance.value(), panel.sampler.currentData()) == (3.5, "ddim")
    assert panel.negative.toPlainText() == "fog" and panel.mask_blur.value() == 4
    status = window.statusBar().currentMessage()
    for words in ("Steps was left out", str(10**30), "Prompt was left out", "Width", "Mask blur"):
        assert words in status


def test_use_parameters_keeps_random_seed_as_the_user_had_it(qtbot, make_app, tmp_path):
    path = brushwork_png(tmp_path / "seeded.png", {"prompt": "x", "seed": 77})
    app, engine = make_app()
    window, panel = app.window, app.window.panel
    assert panel.random_seed.isChecked()
    assert window.use_parameters_of(path)
    assert panel.random_seed.isChecked() and panel.seed.text() == "77"
    assert "seed 77 restored" in window.statusBar().currentMessage()
    panel.random_seed.setChecked(False)
    assert window.use_parameters_of(path)
    assert not panel.random_seed.isChecked()
    window.generate()
    wait_idle(qtbot, window)
    assert engine.requests[-1].seed == 77


# --- untrusted settings and sessions never stop the start ------------------------------------


HOSTILE_PARAMETERS = {
    "steps": 10**30, "width": -8, "height": "64", "guidance": 1e308, "seed": -1,
    "sampler": "nope", "strength": 5, "mask_blur": 10**9, "outpaint_sides": [1, 2],
    "mode": "paint", "prompt": {"a": 1}, "inpaint_area": 3, "color_correction": "yes",
    "negative_prompt": "kept",
}  # fmt: skip


def test_a_settings_file_with_out_of_range_values_still_starts(qtbot, make_app, tmp_path):
    """Before: QSpinBox.setValue(10**30) raised OverflowError while the window was built, on
    every start."""
    store = SettingsStore(tmp_path / "settings.json")
    store.path.write_text(json.dumps({
        "parameters": HOSTILE_PARAMETERS, "native_size": 10**30,
        "model_defaults": {"width": "x", "sampler": "nope", "guidance": 5.5},
    }))  # fmt: skip
    app, _ = make_app(store=store, settings=store.load())
    panel = app.window.panel
    assert app.window.isVisible()
    assert (panel.steps.value(), panel.mask_blur.value(), panel.strength.value()) == (20, 4, 0.75)
    assert panel.negative.toPlainText() == "kept"
    assert panel.outpaint_sides() == (0, 0, 256, 0)  # the default: half the canvas's width
    assert "out of range and reset" in app.window.error_banner.text()
    assert "Steps was left out" in app.window.error_banner.text()


def test_a_session_manifest_with_out_of_range_values_still_restores(qtbot, make_app, tmp_path):
    session = SessionStore(tmp_path / "session")
    image = np.full((32, 40, 3), 90, np.uint8)
    session.save(SessionState(image, np.zeros((32, 40), np.uint8), Parameters(prompt="p")))
    manifest = json.loads(session.manifest.read_text())
    manifest["parameters"] = {**HOSTILE_PARAMETERS, "prompt": "restored"}
    session.manifest.write_text(json.dumps(manifest))
    session.marker.write_text(str(os.getpid()))  # as if the last run had crashed
    app, _ = make_app(session=session, ask_restore=lambda _window: True)
    window = app.window
    assert app.restored and window.panel.prompt.toPlainText() == "restored"
    assert np.array_equal(window.doc.image, image) and window.panel.steps.value() == 20
    assert "Steps was left out" in window.statusBar().currentMessage()


# --- the size, sampler and CFG follow the model ----------------------------------------------


def test_a_restart_shows_the_models_size_sampler_and_cfg_before_it_loads(qtbot, make_app):
    """Before: 512×512, Euler a, CFG 7 until the 64-px bundled model had loaded."""
    app, _ = make_app(preload=False)
    panel = app.window.panel
    assert _size(app.window) == (64, 64)
    assert (panel.sampler.currentData(), panel.guidance.value()) == ("euler", 5.0)


def test_the_first_generate_before_the_model_loaded_uses_the_models_size(qtbot, make_app, tmp_path):
    """A Hub model (nothing to read before it loads): the request says "the model's own" and
    the engine makes it 64² (before: 512²)."""
    engine = FakeEngine(tmp_path / "outputs", loaded=FakeLoaded(native_size=64))
    app, _ = make_app(engine, model="some-org/some-model")
    window = app.window
    window.panel.steps.setValue(2)
    window.generate()
    wait_idle(qtbot, window)
    assert engine.requests[-1].width is None
    assert window.controller.last_results[0].image.shape == (64, 64, 3)


def test_a_sampler_the_user_picks_stays_while_the_cfg_follows_the_next_model(
    qtbot, make_app, tmp_path
):
    engine = FakeEngine(tmp_path / "outputs", loaded=FakeLoaded(native_size=64))
    store = SettingsStore(tmp_path / "settings.json")
    app, _ = make_app(engine, store=store, settings=store.load())
    window, panel = app.window, app.window.panel
    panel.sampler.setFocus()
    qtbot.keyClick(panel.sampler, Qt.Key.Key_Down)  # the user picks the next sampler
    picked = panel.sampler.currentData()
    assert picked != "euler"
    engine.loaded = FakeLoaded(native_size=96, card={"sampler": "ddim", "guidance": 9.0})
    window.load_model()
    qtbot.waitUntil(lambda: panel.guidance.value() == 9.0, timeout=10_000)
    assert panel.sampler.currentData() == picked and _size(window) == (96, 96)
    window.save_settings()
    saved = store.load()
    assert (saved.parameters.sampler, saved.parameters.guidance) == (picked, None)
    assert saved.model_defaults["guidance"] == 9.0


# --- one rounding rule -----------------------------------------------------------------------


def test_outpaint_generates_at_the_size_the_panel_shows(qtbot, make_app, tmp_path):
    """100×100 extended 64 px at the top: the panel said 104×168 but 96×168 was generated."""
    app, engine = make_app()
    window, panel = app.window, app.window.panel
    window.doc.replace(np.full((100, 100, 3), 80, np.uint8), "start")
    panel.set_mode(CanvasMode.OUTPAINT)
    for box, value in zip(panel.sides, (0, 64, 0, 0), strict=True):
        box.setValue(value)
    assert _size(window) == (104, 168)
    panel.steps.setValue(1)
    window.generate()
    wait_idle(qtbot, window)
    assert (engine.requests[-1].width, engine.requests[-1].height) == (104, 168)


def test_each_mode_keeps_its_own_strength_inpaint_starting_at_1(qtbot, make_app):
    app, _ = make_app()
    panel = app.window.panel
    panel.set_mode(CanvasMode.IMG2IMG)
    assert panel.strength.value() == 0.75
    panel.strength.setValue(0.4)
    panel.set_mode(CanvasMode.INPAINT)
    assert panel.strength.value() == 1.0
    panel.set_mode(CanvasMode.IMG2IMG)
    assert panel.strength.value() == 0.4
    assert InpaintArea.WHOLE.value == panel.to_parameters().inpaint_area


# --- per-run facts come with the run ---------------------------------------------------------


def test_the_memory_plan_shown_comes_from_the_runs_own_step_update(qtbot, make_app, tmp_path):
    """The worker used to read `engine.last_memory_plan` with getattr: an engine (or a remote
    backend) without that attribute showed nothing. Now the plan travels in the StepUpdate."""
    from pipeline import StepUpdate
    from pipeline.memory import MemoryPlan

    plan = MemoryPlan(True, False, False, 3 * 1024**3, 2 * 1024**3)

    class PlanningEngine(FakeEngine):
        def run(self, request, on_step=None, cancel=None):
            def with_plan(update: StepUpdate) -> None:
                on_step(StepUpdate(update.step, update.total, update.elapsed, None, None, plan))

            return super().run(request, with_plan, cancel)

    app, _ = make_app(PlanningEngine(tmp_path / "outputs"))
    seen: list[str] = []
    app.worker.status.connect(seen.append, Qt.ConnectionType.DirectConnection)  # no wait on it
    app.window.generate()
    wait_idle(qtbot, app.window)
    assert plan.describe() in seen


def test_the_panel_holds_every_field_it_saves(qtbot):
    from gui.panels import ParametersPanel
    from gui.settings import PANEL_FIELDS

    panel = ParametersPanel()
    qtbot.addWidget(panel)
    assert set(panel.shown_values()) == set(PANEL_FIELDS)

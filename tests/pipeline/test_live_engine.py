"""Live mode's engine side: `Engine.run(save=False)`, `save_later`, and the few-step presets."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from pipeline import GenerationRequest, Mode
from pipeline.live_preset import DEFAULT, for_model
from pipeline.models import ModelSource, SourceKind
from pipeline.saving import UnsavedImage, save_later


def img2img(model_dir, **changes):
    init = np.zeros((64, 64, 3), np.uint8)
    init[16:48, 16:48] = (220, 40, 40)
    base = dict(prompt="a red circle", mode=Mode.IMG2IMG, init_image=init, steps=4,
                strength=0.7, seed=7, model=str(model_dir))  # fmt: skip
    return GenerationRequest(**{**base, **changes})


def test_unsaved_run_writes_nothing_and_save_later_writes_what_a_saved_run_would(
    engine, tiny_model_dir
):
    kept = engine.run(img2img(tiny_model_dir), save=False)[0]
    assert isinstance(kept, UnsavedImage) and kept.path is None
    assert not engine.output_dir.exists() or not any(engine.output_dir.iterdir())
    saved = engine.run(img2img(tiny_model_dir))[0]  # the same request, saved as usual
    assert np.array_equal(kept.image, saved.image)
    later = save_later(engine.output_dir, kept)
    with Image.open(later.path) as png, Image.open(saved.path) as reference:
        assert np.array_equal(np.asarray(png.convert("RGB")), kept.image)
        assert png.text["parameters"] == reference.text["parameters"]


def loaded(folder: Path | None, scheduler: str = "EulerDiscreteScheduler"):
    source = ModelSource(SourceKind.FOLDER, str(folder)) if folder else None
    return SimpleNamespace(source=source, scheduler_config={"_class_name": scheduler})


def test_an_lcm_model_gets_its_few_steps_and_cfg_at_any_strength(tmp_path):
    request = img2img(tmp_path, strength=0.5, steps=DEFAULT.steps, guidance=7.0)
    live = for_model(request, loaded(tmp_path / "some-model", "LCMScheduler"))
    assert (live.sampler, live.guidance) == ("lcm", 1.0)
    assert int(live.steps * live.strength) == 4  # img2img runs steps × strength of them


def test_a_turbo_card_is_read_and_a_plain_model_keeps_the_measured_preset(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "README.md").write_text("---\ntags:\n- sd-turbo\n---\n# a model\n")
    request = img2img(tmp_path, steps=DEFAULT.steps)
    turbo = for_model(request, loaded(folder))
    assert turbo.guidance == 0.0 and int(turbo.steps * turbo.strength) == 2
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "README.md").write_bytes(b"---\n\xff\xfe: [unclosed\n")  # hostile card: ignored
    assert for_model(request, loaded(plain)) is request
    assert for_model(request, SimpleNamespace()) is request  # a backend that says nothing

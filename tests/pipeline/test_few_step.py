"""Few-step presets from scheduler configs, model cards, folder names and LoRA names."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.few_step import FewStepPreset, few_step_preset, lora_preset, preset_fields
from pipeline.samplers import get_sampler

BUNDLED = Path(__file__).resolve().parents[2] / "resources" / "models" / "brushwork-shapes"
EULER = {"_class_name": "EulerDiscreteScheduler"}


def test_lcm_scheduler_means_lcm_preset() -> None:
    preset = few_step_preset(None, {"_class_name": "LCMScheduler"}, None)
    assert preset == FewStepPreset(4, 1.0, "lcm", "its scheduler is LCMScheduler")


def test_turbo_from_card_base_model_and_card_parameters_win() -> None:
    card = {
        "base_model": "stabilityai/sd-turbo",
        "inference": {"parameters": {"num_inference_steps": 2, "guidance_scale": 0.0}},
    }
    preset = few_step_preset(None, EULER, card)
    assert preset is not None
    assert (preset.steps, preset.cfg, preset.sampler) == (2, 0.0, "euler_a")
    assert "Turbo" in preset.why and "card" in preset.why


def test_card_values_out_of_range_are_ignored() -> None:
    card = {"tags": ["lcm"], "inference": {"parameters": {"num_inference_steps": 50,
                                                          "guidance_scale": 12}}}  # fmt: skip
    assert few_step_preset(None, EULER, card) == FewStepPreset(
        4, 1.0, "lcm", "its card's tags says LCM"
    )


def test_lightning_steps_from_folder_name(tmp_path: Path) -> None:
    folder = tmp_path / "SDXL-Lightning-8step"
    folder.mkdir()
    preset = few_step_preset(folder, EULER, None)
    assert preset is not None and (preset.steps, preset.cfg) == (8, 0.0)


def test_card_read_from_readme(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("---\ntags:\n- hyper-sd\n---\n# x\n", encoding="utf-8")
    preset = few_step_preset(tmp_path, EULER, None)
    assert preset is not None and preset.sampler == "euler" and "Hyper-SD" in preset.why


def test_broken_card_and_ordinary_models_give_none(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_bytes(b"---\n: [unclosed\n---\n\xff")
    assert few_step_preset(tmp_path, EULER, None) is None
    config = json.loads((BUNDLED / "scheduler" / "scheduler_config.json").read_text())
    assert few_step_preset(BUNDLED, config, None) is None  # the bundled model is not distilled
    assert few_step_preset(None, "not a dict", "not a dict") is None  # type: ignore[arg-type]


def test_lcm_lora_by_file_name() -> None:
    assert lora_preset(["style", "lcm-lora-sdv1-5"]) == FewStepPreset(
        4, 1.0, "lcm", "the LoRA lcm-lora-sdv1-5 is a LCM LoRA"
    )
    assert lora_preset(["Hyper-SD15-8steps-lora"]).steps == 8  # type: ignore[union-attr]
    assert lora_preset(["clcmx", "watercolour"]) is None  # 'lcm' inside a word is not LCM


def test_every_preset_sampler_exists_and_fields_fit_the_table() -> None:
    from pipeline import fields

    for card in ({"tags": "lcm"}, {"tags": "turbo"}, {"tags": "lightning"}, {"tags": "hyper-sd"}):
        preset = few_step_preset(None, EULER, card)
        assert preset is not None
        get_sampler(preset.sampler)
        kept, notes = fields.clean(preset_fields(preset))
        assert notes == [] and kept["steps"] == preset.steps

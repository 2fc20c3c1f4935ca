"""Single-file checkpoints (original LDM layout): which family a file is, and loading it offline.

A `.safetensors` checkpoint holds weights only. `from_single_file` needs each component's
config and the tokenizers, and fetches them from the Hub unless given a local folder. Brushwork
ships those folders in `resources/model_configs/<family>` (the published configs of SD 1.5,
SD 2.1, SD 2.1 base and SDXL base 1.0) plus one copy of CLIP's BPE vocabulary in `clip-bpe/`,
so a checkpoint of any of these families loads with no network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelError

_UNET = "model.diffusion_model."
_SD2_TEXT = "cond_stage_model.model."  # OpenCLIP ViT-H
_SD1_TEXT = "cond_stage_model.transformer."  # OpenAI CLIP ViT-L
_SDXL_TEXT_2 = "conditioner.embedders.1."  # OpenCLIP ViT-bigG (base model only)
_SDXL_TEXT_1 = "conditioner.embedders.0."
_INPUT_CONV = _UNET + "input_blocks.0.0.weight"
# ComfyUI's test for SD 2.x v-prediction (comfy/supported_models.py, SD20.model_type): this
# norm's bias has a standard deviation above 0.09 in the 768-v models and below in 512-base.
_V_PREDICTION_PROBE = _UNET + "output_blocks.11.1.transformer_blocks.0.norm1.bias"
_V_PREDICTION_STD = 0.09


@dataclass(frozen=True)
class CheckpointFamily:
    """A model family Brushwork can load from one file, and the config folder it uses."""

    id: str  # folder name under resources/model_configs
    label: str  # what the user is shown
    is_xl: bool = False


SD1 = CheckpointFamily("sd1", "SD 1.x")
SD2 = CheckpointFamily("sd2", "SD 2.x (768, v-prediction)")
SD2_BASE = CheckpointFamily("sd2-base", "SD 2.x base (512, epsilon)")
SDXL = CheckpointFamily("sdxl", "SDXL base", is_xl=True)
FAMILIES = (SD1, SD2, SD2_BASE, SDXL)


def configs_dir() -> Path:
    from .models import resources_dir  # read at call time: tests point it elsewhere

    return resources_dir() / "model_configs"


def detect_family(path: Path) -> CheckpointFamily:
    """The family of a checkpoint, from its tensor names (and, for SD 2.x, one small tensor).

    Variants Brushwork cannot run (inpainting-only UNets, the SDXL refiner) are refused with
    a message that names them, rather than loaded as something they are not.
    """
    from safetensors import SafetensorError, safe_open

    try:  # the header is untrusted: garbage, or a length of 2**60, is an error, not a crash
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            in_channels = f.get_slice(_INPUT_CONV).get_shape()[1] if _INPUT_CONV in keys else 4
            probe = f.get_tensor(_V_PREDICTION_PROBE) if _V_PREDICTION_PROBE in keys else None
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"Could not load model {path.stem!r}: {exc}.") from None

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in keys)

    if not has(_UNET):
        raise ModelError(
            f"{path.name} does not look like a Stable Diffusion checkpoint "
            "(no model.diffusion_model.* tensors)."
        )
    if has(_SDXL_TEXT_2):
        family = SDXL
    elif has(_SDXL_TEXT_1):
        raise ModelError(f"{path.name} is an SDXL refiner, which cannot generate on its own.")
    elif has(_SD2_TEXT):
        family = SD2 if _is_v_prediction(keys, probe) else SD2_BASE
    else:
        family = SD1
    if in_channels != 4:
        raise ModelError(
            f"{path.name} is a {family.label.split(' (')[0]} checkpoint with a {in_channels}-"
            "channel UNet (an inpainting or editing model); Brushwork loads only ordinary "
            "4-channel checkpoints, and inpaints with those."
        )
    return family


def _is_v_prediction(keys: set[str], probe: Any) -> bool:
    if "v_pred" in keys:  # marker tensor some trainers add
        return True
    if probe is None:  # too few blocks to tell: diffusers' default for SD 2.x
        return True
    return float(probe.float().std(unbiased=False)) > _V_PREDICTION_STD


def load_single_file(path: Path, family: CheckpointFamily, dtype: Any) -> Any:
    """Loads `path` with the shipped configs of `family`: never touches the network."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    folder = configs_dir() / family.id
    if not (folder / "model_index.json").is_file():
        raise ModelError(
            f"{path.name} is a {family.label} checkpoint, but its component configs are "
            f"missing from this installation ({folder})."
        )
    kwargs: dict[str, Any] = {"config": str(folder), "dtype": dtype}
    kwargs.update(load_tokenizers(folder, family))  # passed in: the folders hold no vocabulary
    if family.is_xl:
        return StableDiffusionXLPipeline.from_single_file(str(path), **kwargs)
    kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return StableDiffusionPipeline.from_single_file(str(path), **kwargs)


def load_tokenizers(folder: Path, family: CheckpointFamily) -> dict[str, Any]:
    """The family's tokenizer(s), built from the one shared copy of CLIP's vocabulary."""
    names = ("tokenizer", "tokenizer_2") if family.is_xl else ("tokenizer",)
    return {name: load_tokenizer(folder / name) for name in names}


def load_tokenizer(folder: Path) -> Any:
    """A CLIP tokenizer from a folder holding its settings (tokenizer_config.json).

    The shipped folders hold settings only and take the vocabulary from `clip-bpe/`; a folder
    with its own vocabulary (a custom or test model) is used as it is.
    """
    from transformers import CLIPTokenizer

    if any((folder / name).is_file() for name in ("vocab.json", "tokenizer.json")):
        return CLIPTokenizer.from_pretrained(str(folder))
    settings = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    keep = ("bos_token", "eos_token", "unk_token", "pad_token", "model_max_length")
    shared = configs_dir() / "clip-bpe"
    return CLIPTokenizer.from_pretrained(str(shared), **{k: settings[k] for k in keep})

"""ControlNet models: a diffusers folder, one .safetensors file or a Hub id, checked and loaded.

Every file is hostile until read: pickle weights are refused (they can run code), a damaged or
foreign safetensors file is a message, and a ControlNet made for another family (an SD 1.5 one
on SDXL, say) is refused by comparing its architecture with the loaded UNet's before any
weight is placed. A single file has no config: its architecture is the loaded UNet's own
(`ControlNetModel.from_unet`, built on the meta device, so nothing is allocated twice), and its
tensors (diffusers or original "control_model." layout) must fit it exactly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .errors import ModelError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}/[A-Za-z0-9][\w.\-]{0,95}$")
_PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")
_DIFFUSERS_PROBE = "controlnet_cond_embedding.conv_in.weight"
_UNION_PROBES = ("task_embedding", "control_add_embedding.linear_1.weight")
_FAMILY_BY_WIDTH = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL"}
_ARCHITECTURE = ("cross_attention_dim", "block_out_channels", "addition_embed_type",
                 "layers_per_block", "in_channels")  # fmt: skip


def source_key(text: str) -> str:
    """One key per ControlNet, however it was spelled (cache key of loaded ControlNets)."""
    path = Path(text).expanduser()
    return str(path.resolve()) if path.exists() else text.strip()


def load_controlnet(text: str, base: Any, device: str, dtype: Any) -> Any:
    """The ControlNet named by `text`, on `device` in `dtype`, checked against `base`'s UNet."""
    path = Path(text).expanduser()
    name = path.name or text
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        raise ModelError(
            f"ControlNet {name} is a pickle file, which can run code when loaded; Brushwork "
            "loads only .safetensors ControlNets."
        )
    if path.is_dir():
        net = _from_folder(path, dtype)
    elif path.suffix.lower() == ".safetensors":
        if not path.is_file():
            raise ModelError(f"ControlNet file not found: {path}")
        net = _from_file(path, base.unet, dtype)
    elif path.exists():
        raise ModelError(f"{name} is not a ControlNet: expected a folder or a .safetensors file.")
    elif _HUB_ID.match(text.strip()):
        net = _from_hub(text.strip(), dtype)
    else:
        raise ModelError(
            f"ControlNet {text!r} not found: it is neither a folder, a .safetensors file nor a "
            "Hugging Face Hub id like 'org/name'."
        )
    check_family(net.config, base.unet.config, name)
    if net.dtype != dtype:  # only then: diffusers warns about casting even to the same dtype
        net = net.to(dtype=dtype)
    return net.to(device=device).eval()


def family_name(config: Any) -> str:
    width = config.get("cross_attention_dim") if hasattr(config, "get") else None
    if config.get("addition_embed_type") == "text_time":
        return "SDXL"
    return _FAMILY_BY_WIDTH.get(width, f"a model with {width}-wide cross-attention")


def check_family(net_config: Any, unet_config: Any, name: str) -> None:
    """Refuses a ControlNet whose blocks do not match the loaded UNet's (another family)."""
    for key in _ARCHITECTURE:
        if _plain(net_config.get(key)) != _plain(unet_config.get(key)):
            raise ModelError(
                f"ControlNet {name} is for {family_name(net_config)}, but the loaded model is "
                f"{family_name(unet_config)} ({key} differs: {_plain(net_config.get(key))} vs "
                f"{_plain(unet_config.get(key))}); pick a ControlNet made for this model."
            )


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _from_folder(folder: Path, dtype: Any) -> Any:
    from diffusers import ControlNetModel

    config = _read_config(folder)
    if config.get("_class_name") == "ControlNetUnionModel":
        raise ModelError(_union_message(folder.name))
    if not any(folder.glob("*.safetensors")):
        pickles = [p.name for p in folder.iterdir() if p.suffix.lower() in _PICKLE_SUFFIXES]
        what = f"only pickle weights ({pickles[0]})" if pickles else "no weights"
        raise ModelError(f"ControlNet folder {folder.name} has {what}; Brushwork loads only "
                         ".safetensors.")  # fmt: skip
    try:
        return ControlNetModel.from_pretrained(
            folder, torch_dtype=dtype, use_safetensors=True, local_files_only=True
        )
    except Exception as exc:  # a damaged file or a config that does not fit its weights
        raise ModelError(f"Could not load ControlNet {folder.name}: {_one_line(exc)}") from exc


def _read_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8")[:1_000_000])
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"{folder.name} is not a ControlNet folder (config.json missing or unreadable: "
            f"{_one_line(exc)})."
        ) from None
    if not isinstance(config, dict) or "ControlNet" not in str(config.get("_class_name", "")):
        raise ModelError(f"{folder.name} is not a ControlNet (its config names no ControlNet).")
    return config


def _from_file(path: Path, unet: Any, dtype: Any) -> Any:
    import torch
    from diffusers import ControlNetModel
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"Could not read ControlNet {path.name}: {_one_line(exc)}.") from None
    if any(any(k.startswith(p) for p in _UNION_PROBES) for k in state):
        raise ModelError(_union_message(path.name))
    if _DIFFUSERS_PROBE not in state:
        state = _from_original_layout(state, unet, path.name)
    embedding = _conditioning_channels(state, path.name)
    with torch.device("meta"):
        net = ControlNetModel.from_unet(
            unet, conditioning_embedding_out_channels=embedding[1],
            load_weights_from_unet=False, conditioning_channels=embedding[0],
        )  # fmt: skip
    try:
        net.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:  # missing/unexpected keys or other shapes: another family
        raise ModelError(
            f"ControlNet {path.name} does not fit the loaded model (made for another model "
            f"family or size): {_one_line(exc)}"
        ) from None
    return net


def _conditioning_channels(state: dict[str, Any], name: str) -> tuple[int, tuple[int, ...]]:
    """(input channels, the conditioning embedding's widths) from the file's tensor shapes."""
    first = state[_DIFFUSERS_PROBE]
    widths = [int(first.shape[0])]
    k = 1
    while f"controlnet_cond_embedding.blocks.{k}.weight" in state:
        widths.append(int(state[f"controlnet_cond_embedding.blocks.{k}.weight"].shape[0]))
        k += 2
    if len(widths) > 8:
        raise ModelError(f"ControlNet {name} has an unusual conditioning embedding.")
    return int(first.shape[1]), tuple(widths)


def _from_original_layout(state: dict[str, Any], unet: Any, name: str) -> dict[str, Any]:
    """A ControlNet in the original (lllyasviel / A1111) layout, converted by diffusers."""
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    if not any(k.startswith(("control_model.", "input_hint_block.")) for k in state):
        raise ModelError(f"{name} is not a ControlNet (no ControlNet tensors in it).")
    try:
        converted = convert_controlnet_checkpoint(state, dict(unet.config))
    except Exception as exc:
        raise ModelError(f"Could not convert ControlNet {name}: {_one_line(exc)}") from None
    return {k: v for k, v in converted.items() if v is not None}


def _from_hub(repo_id: str, dtype: Any) -> Any:
    from diffusers import ControlNetModel

    from .downloads import download_model, is_offline

    try:
        return ControlNetModel.from_pretrained(
            repo_id, torch_dtype=dtype, use_safetensors=True, local_files_only=True
        )
    except OSError:
        pass  # not in the cache (yet)
    if is_offline():
        raise ModelError(
            f"ControlNet {repo_id!r} is not in the Hugging Face cache and the Hub cannot be "
            "reached (offline). Connect once to download it, or pick a local ControlNet."
        )
    folder = download_model(repo_id, required="config.json")
    return _from_folder(folder, dtype)


def _union_message(name: str) -> str:
    return (
        f"{name} is a ControlNet Union (several control types in one model), which this "
        "version of Brushwork does not run yet; use a single-type ControlNet."
    )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "…"

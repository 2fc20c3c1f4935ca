"""Where models come from and how they are loaded: folders, single files, Hub ids; device/dtype."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from .errors import ModelError
from .single_file import CheckpointFamily, detect_family, load_single_file

BUNDLED_MODEL_NAME = "brushwork-shapes"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}/[A-Za-z0-9][\w.\-]{0,95}$")
_PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin", ".pkl"}


class SourceKind(str, Enum):
    FOLDER = "folder"
    SINGLE_FILE = "single_file"
    HUB = "hub"


@dataclass(frozen=True)
class ModelSource:
    kind: SourceKind
    location: str

    @property
    def name(self) -> str:
        """Short display name, also written into image metadata."""
        if self.kind is SourceKind.HUB:
            return self.location
        path = Path(self.location)
        return path.stem if self.kind is SourceKind.SINGLE_FILE else path.name


def resources_dir() -> Path:
    """The app's resources/ folder: beside the packages, or inside a PyInstaller bundle."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    root = Path(frozen_root) if frozen_root else Path(__file__).resolve().parent.parent
    return root / "resources"


def bundled_model_dir() -> Path:
    return resources_dir() / "models" / BUNDLED_MODEL_NAME


def parse_model_source(text: str | None, allow_pickle: bool = False) -> ModelSource:
    """Turns what a user typed or picked into a source; None means the bundled model.

    Pickle checkpoints (.ckpt, .pt, …) are refused unless `allow_pickle` is set; even then they
    are read with `weights_only=True` and converted (see `convert_pickle_checkpoint`).
    """
    if text is None:
        folder = bundled_model_dir()
        if not (folder / "model_index.json").is_file():
            raise ModelError(
                f"No model chosen and the bundled model is missing ({folder}); "
                "pass a model folder, a .safetensors file or a Hub id."
            )
        return ModelSource(SourceKind.FOLDER, str(folder))
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelError(
                f"{path} is not a diffusers model folder (model_index.json is missing)."
            )
        return ModelSource(SourceKind.FOLDER, str(path.resolve()))
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        if not path.is_file():
            raise ModelError(f"Model file not found: {path}")
        return ModelSource(SourceKind.SINGLE_FILE, str(path.resolve()))
    if suffix in _PICKLE_SUFFIXES and allow_pickle and path.is_file():
        return ModelSource(SourceKind.SINGLE_FILE, str(path.resolve()))
    if suffix in _PICKLE_SUFFIXES:
        raise ModelError(
            f"{path.name} is a pickle checkpoint, which can run code when loaded; Brushwork loads "
            "only .safetensors. Convert it to .safetensors with a trusted tool first."
        )
    if path.exists():
        raise ModelError(
            f"{path} is not a model: expected a diffusers folder or a .safetensors file."
        )
    if _HUB_ID.match(text):
        return ModelSource(SourceKind.HUB, text)
    raise ModelError(
        f"Model {text!r} not found: it is neither an existing folder, a .safetensors file, "
        "nor a Hugging Face Hub id like 'org/name'."
    )


def choose_device(preference: str = "auto") -> str:
    """CUDA, then Apple MPS, then CPU; an explicit choice that is unavailable is an error."""
    import torch

    available = {
        "cuda": torch.cuda.is_available(),
        "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if preference == "auto":
        return next(name for name, ok in available.items() if ok)
    if preference not in available:
        raise ModelError(f"Unknown device {preference!r}; choose auto, cuda, mps or cpu.")
    if not available[preference]:
        raise ModelError(
            f"Device {preference!r} is not available to this PyTorch build "
            f"(torch {torch.__version__}); use --device cpu or install a {preference} build."
        )
    return preference


def choose_dtype(device: str, preference: str = "auto") -> Any:
    """Half precision on GPUs (fp16 is what consumer cards run fastest), fp32 on CPU."""
    import torch

    named = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
    if preference == "auto":
        return torch.float16 if device in ("cuda", "mps") else torch.float32
    try:
        return named[preference]
    except KeyError:
        raise ModelError(
            f"Unknown precision {preference!r}; choose auto, fp16, bf16 or fp32."
        ) from None


def load_text2image(source: ModelSource, device: str, dtype: Any) -> Any:
    """Loads the txt2img pipeline for `source` onto `device`; every failure is a ModelError."""
    _quiet_loading()
    try:
        if source.kind is SourceKind.FOLDER:
            pipe = _load_folder(Path(source.location), dtype)
        elif source.kind is SourceKind.SINGLE_FILE:
            pipe = _load_single_file(Path(source.location), dtype)
        else:
            pipe = _load_hub(source.location, dtype)
        pipe.to(device)
    except ModelError:
        raise
    except Exception as exc:  # any failure to read a user's model is reported, not a crash
        raise ModelError(f"Could not load model {source.name!r}: {_one_line(exc)}") from exc
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _quiet_loading() -> None:
    """Loading bars belong in our own progress UI, not on the terminal."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


def _no_safety_checker(model_index: dict[str, Any]) -> dict[str, Any]:
    # Like the anchor apps, no NSFW classifier is run; skipping it also saves ~1.2 GB of memory.
    if "safety_checker" in model_index:
        return {"safety_checker": None, "requires_safety_checker": False}
    return {}


def _load_folder(folder: Path, dtype: Any) -> Any:
    from diffusers import AutoPipelineForText2Image

    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"Could not load model {folder.name!r}: its model_index.json cannot be read ({exc})."
        ) from None
    check_model_folder(folder, index)
    return AutoPipelineForText2Image.from_pretrained(
        folder,
        dtype=dtype,
        use_safetensors=True,
        local_files_only=True,
        **_no_safety_checker(index),
    )


_NO_WEIGHTS = ("Scheduler", "Tokenizer", "ImageProcessor", "FeatureExtractor", "Processor")


def check_model_folder(folder: Path, index: Any) -> None:
    """Refuses an incomplete folder, or one whose weights exist only as pickle files, with a
    message naming the component, before diffusers tries (and reports something vaguer)."""
    if not isinstance(index, dict):
        raise ModelError(f"{folder.name}/model_index.json is not a diffusers model index.")
    skipped = set(_no_safety_checker(index))  # never read, so it may be missing or pickle-only
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or len(spec) != 2 or None in spec:
            continue
        if name in skipped:
            continue
        part = folder / name
        if not part.is_dir():
            raise ModelError(f"Model folder {folder.name} is incomplete: {name}/ is missing.")
        if any(word in str(spec[1]) for word in _NO_WEIGHTS):
            continue
        if any(part.glob("*.safetensors")):
            continue
        pickles = sorted(p.name for p in part.iterdir() if p.suffix.lower() in _PICKLE_SUFFIXES)
        if pickles:
            raise ModelError(
                f"{folder.name}/{name} has only pickle weights ({pickles[0]}), which can run code "
                "when loaded; Brushwork loads only .safetensors. Convert the model first."
            )
        raise ModelError(f"Model folder {folder.name} is incomplete: {name}/ has no weights.")


def checkpoint_family(source: ModelSource) -> CheckpointFamily | None:
    """The detected family of a single-file checkpoint (None for folders and Hub models)."""
    if source.kind is not SourceKind.SINGLE_FILE:
        return None
    return detect_family(_as_safetensors(Path(source.location)))


def describe_source(source: ModelSource) -> str | None:
    """What the user is told was loaded, e.g. "SD 1.x checkpoint"; None when nothing to add."""
    family = checkpoint_family(source)
    return f"{family.label} checkpoint" if family else None


def _as_safetensors(path: Path) -> Path:
    if path.suffix.lower() in _PICKLE_SUFFIXES:  # only reachable when the user opted in
        return convert_pickle_checkpoint(path)  # converted once, then reused
    return path


def _load_single_file(path: Path, dtype: Any) -> Any:
    path = _as_safetensors(path)
    return load_single_file(path, detect_family(path), dtype)


def convert_pickle_checkpoint(path: Path, cache_dir: Path | None = None) -> Path:
    """Reads a pickle checkpoint with `weights_only=True` and writes its tensors as safetensors.

    `weights_only` makes torch refuse anything but tensors and plain containers, so a payload
    that would run code is rejected instead of executed. The converted file is kept (keyed by
    the original's size and time) so the pickle is read only once.
    """
    import hashlib
    import pickle

    import torch
    from safetensors.torch import save_file

    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    folder = cache_dir or _converted_dir()
    target = folder / f"{path.stem}-{key.hexdigest()[:12]}.safetensors"
    if target.is_file():
        return target
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise ModelError(
            f"{path.name} holds more than plain weights (code or custom objects) and was not "
            f"loaded: {_one_line(exc)}"
        ) from None
    state = data.get("state_dict", data) if isinstance(data, dict) else {}
    tensors = {k: v.contiguous() for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ModelError(f"{path.name} holds no weights.")
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    save_file(tensors, str(partial))
    os.replace(partial, target)
    return target


def _converted_dir() -> Path:
    import platformdirs

    return platformdirs.user_cache_path("Brushwork", appauthor=False) / "converted"


def _load_hub(repo_id: str, dtype: Any) -> Any:
    from diffusers import AutoPipelineForText2Image

    try:
        return AutoPipelineForText2Image.from_pretrained(
            repo_id, dtype=dtype, use_safetensors=True, safety_checker=None
        )
    except OSError as exc:
        if _offline_error(exc):
            raise ModelError(
                f"Model {repo_id!r} is not in the Hugging Face cache and the Hub cannot be "
                "reached (offline). Connect once to download it, or pick a local model."
            ) from exc
        raise


def _offline_error(exc: BaseException) -> bool:
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    chain: BaseException | None = exc
    while chain is not None:
        if isinstance(chain, (LocalEntryNotFoundError, OfflineModeIsEnabled)):
            return True
        chain = chain.__cause__ or chain.__context__
    text = str(exc).lower()
    return os.environ.get("HF_HUB_OFFLINE") == "1" or "offline" in text or "cannot find" in text


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "…"

"""LoRA files: read and check them (hostile input), then apply them through diffusers + peft.

Formats: kohya/A1111 (`lora_unet_…`, `lora_te_…`, SDXL `lora_te1_…`/`lora_te2_…` with
`.lora_down/.lora_up/.alpha`) and diffusers/PEFT (`unet.….lora_A.weight`, `….lora.down.weight`).
A file is refused by name with the reason — a pickle, truncated, NaN weights, LyCORIS
(LoHa/LoKr), keys that name no layer of the model, layers of another width (another model
family) — before anything touches the model. Applied LoRAs stay loaded as peft adapters of the
shared modules, so switching LoRAs or weights never reloads the base model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import struct
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelError, RequestError

if TYPE_CHECKING:
    import torch

MAX_LORAS = 16
MAX_LORA_WEIGHT = 10.0
MAX_HEADER = 100_000_000  # bytes of a safetensors JSON header we are willing to read
KEEP_LOADED = 8  # adapters kept in memory beyond the ones a run uses
_PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")
_LYCORIS = ("hada_w1", "hada_w2", "lokr_w1", "lokr_w2", ".diff", "oft_", "boft_")
# A1111 prompt tags: <lora:NAME>, <lora:NAME:W> (a third unet weight is read as the same W).
LORA_TAG = re.compile(r"<(lora|lyco):([^:<>]+)(?::([^:<>]*))?(?::[^<>]*)?>")
_KOHYA_SUFFIXES = (".lora_down.weight", ".lora_up.weight", ".alpha", ".dora_scale")
_PEFT_SUFFIXES = (
    ".lora_A.weight", ".lora_B.weight", ".lora.down.weight", ".lora.up.weight",
    ".lora_linear_layer.down.weight", ".lora_linear_layer.up.weight", ".alpha",
    ".lora_A.default.weight", ".lora_B.default.weight",
)  # fmt: skip
_DOWN = (".lora_down.weight", ".lora_A.weight", ".lora.down.weight",
         ".lora_linear_layer.down.weight", ".lora_A.default.weight")  # fmt: skip


@dataclass(frozen=True)
class LoraFile:
    name: str  # the file name without .safetensors: what A1111 tags and metadata use
    path: Path
    state: dict[str, torch.Tensor] = field(repr=False)
    short_hash: str  # A1111's: sha256 of the tensor data (after the header), 12 hex digits
    size: int


@dataclass(frozen=True)
class AppliedLora:
    name: str
    weight: float
    short_hash: str
    from_tag: bool


def default_lora_dir() -> Path:
    """`<user data dir>/Brushwork/loras`."""
    import platformdirs

    return platformdirs.user_data_path("Brushwork", appauthor=False) / "loras"


def example_lora_dir() -> Path:
    """The example LoRAs shipped with the app (for the bundled model; resources/extras)."""
    from .models import resources_dir

    return resources_dir() / "extras" / "loras"


# --- Request values ---------------------------------------------------------------------------
def check_loras(value: Any) -> tuple[tuple[str, float], ...]:
    """The request's `loras`: (path or name, weight) pairs, weights finite within ±10."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise RequestError(f"loras must be a list of (file, weight) pairs (got {value!r}).")
    pairs = []
    for item in value:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise RequestError(f"Each LoRA must be a (file, weight) pair (got {item!r}).")
        path, weight = item
        if not isinstance(path, str) or not path.strip():
            raise RequestError(f"A LoRA's file must be a non-empty text (got {path!r}).")
        pairs.append((path, check_weight(weight, path)))
    if len(pairs) > MAX_LORAS:
        raise RequestError(f"At most {MAX_LORAS} LoRAs at once (got {len(pairs)}).")
    return tuple(pairs)


def check_weight(weight: Any, name: str) -> float:
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        raise RequestError(f"The weight of LoRA {name!r} must be a number (got {weight!r}).")
    if not math.isfinite(weight) or abs(weight) > MAX_LORA_WEIGHT:
        raise RequestError(
            f"The weight of LoRA {name!r} must be between -{MAX_LORA_WEIGHT:g} and "
            f"{MAX_LORA_WEIGHT:g} (got {weight})."
        )
    return float(weight)


def prompt_tags(prompt: str) -> list[tuple[str, float]]:
    """The `<lora:NAME:W>` tags of a prompt as (NAME, W); W defaults to 1."""
    tags = []
    for match in LORA_TAG.finditer(prompt):
        name, raw = match.group(2).strip(), (match.group(3) or "1").strip()
        try:
            weight = float(raw)
        except ValueError:
            raise RequestError(
                f"{match.group(0)}: the weight {raw!r} is not a number; write e.g. "
                f"<lora:{name}:0.8>."
            ) from None
        tags.append((name, check_weight(weight, name)))
    return tags


def strip_tags(prompt: str) -> str:
    """The prompt as the text encoder reads it: A1111 removes its extra-network tags."""
    return LORA_TAG.sub("", prompt)


def with_lora_tags(prompt: str, loras: Iterable[tuple[str, float]]) -> str:
    """The prompt for A1111's parameters text: LoRAs given outside the prompt are added as
    `<lora:NAME:W>` tags, so A1111 (and our reader) applies them again."""
    tags = [f"<lora:{Path(path).stem}:{weight:g}>" for path, weight in loras]
    return " ".join([prompt, *tags]) if tags else prompt


def resolve_name(name: str, folder: Path) -> Path:
    """A LoRA named in a tag: `<folder>/NAME.safetensors`, else a file of that name below it,
    else a shipped example of that name (so `<lora:outlined:1>` works out of the box)."""
    direct = folder / f"{name}.safetensors"
    if direct.is_file():
        return direct
    example = example_lora_dir() / f"{name}.safetensors"
    if folder.is_dir():
        for k, candidate in enumerate(folder.rglob("*.safetensors")):
            if candidate.stem == name:
                return candidate
            if k > 10_000:  # a hostile or huge folder: stop looking
                break
    if "/" not in name and "\\" not in name and example.is_file():
        return example
    raise RequestError(f"<lora:{name}>: no LoRA named {name!r} in {folder}.")


# --- Reading a file ---------------------------------------------------------------------------
def read_lora(path: Path) -> LoraFile:
    """Reads and checks a LoRA file; ModelError names the file and the reason."""
    label = path.name
    pickled = ModelError(
        f"LoRA {label} is a pickle file; only .safetensors LoRAs are loaded (a pickle can run "
        "code when it is opened)."
    )
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        raise pickled
    if not path.is_file():
        raise ModelError(f"LoRA file not found: {path}")
    try:
        header_size, data_size = _check_layout(path)
    except ModelError:
        # Only now: a valid file's header length may start with the same bytes as a pickle.
        if _looks_like_pickle(path):
            raise pickled from None
        raise
    import torch
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types on hostile files
        raise ModelError(f"LoRA {label} is not a readable .safetensors file ({exc}).") from None
    bad = next((k for k, t in state.items() if t.is_floating_point() and
                not torch.isfinite(t).all()), None)  # fmt: skip
    if bad is not None:
        raise ModelError(f"LoRA {label} has NaN or infinite weights (in {bad}); it is damaged.")
    lycoris = next((k for k in state if any(mark in k for mark in _LYCORIS)), None)
    if lycoris is not None:
        raise ModelError(
            f"LoRA {label} is a LyCORIS file (LoHa/LoKr/OFT, e.g. {lycoris}); Brushwork loads "
            "plain LoRA and LoCon only."
        )
    if not state:
        raise ModelError(f"LoRA {label} holds no weights.")
    digest = _data_hash(path, header_size, data_size)
    return LoraFile(path.stem, path, state, digest[:12], path.stat().st_size)


def short_hash(path: Path) -> str:
    """A1111's short hash of a .safetensors file (what `Lora hashes` records), without loading
    its tensors; ModelError for a file that is not a readable .safetensors file."""
    if not path.is_file():
        raise ModelError(f"LoRA file not found: {path}")
    header_size, data_size = _check_layout(path)
    return _data_hash(path, header_size, data_size)[:12]


def _looks_like_pickle(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            start = handle.read(4)
    except OSError:
        return False
    return start[:1] == b"\x80" or start[:2] == b"PK"  # pickle protocol 2+, or a torch zip


def _check_layout(path: Path) -> tuple[int, int]:
    """The header and data sizes; a truncated or malformed file is refused by name."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        raw = handle.read(8)
        if len(raw) < 8:
            raise ModelError(f"LoRA {path.name} is truncated ({size} bytes).")
        (header_size,) = struct.unpack("<Q", raw)
        if header_size > min(MAX_HEADER, size - 8):
            raise ModelError(f"LoRA {path.name} is truncated or not a .safetensors file.")
        try:
            header = json.loads(handle.read(header_size))
        except (ValueError, UnicodeDecodeError):
            raise ModelError(f"LoRA {path.name} has a damaged header.") from None
    ends = [v["data_offsets"][1] for k, v in header.items()
            if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v]  # fmt: skip
    data_size = max(ends, default=0)
    if 8 + header_size + data_size > size:
        raise ModelError(
            f"LoRA {path.name} is truncated: it has {size:,} bytes, its header needs "
            f"{8 + header_size + data_size:,}."
        )
    return header_size, data_size


def _data_hash(path: Path, header_size: int, data_size: int) -> str:
    """sha256 of the bytes after the header (A1111's "addnet" LoRA hash)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        handle.seek(8 + header_size)
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- Does it fit the model? -------------------------------------------------------------------
def check_fits(lora: LoraFile, pipe: Any) -> None:
    """Every key must name a layer of this model, with that layer's width."""
    sdxl = getattr(pipe, "text_encoder_2", None) is not None
    family = "SDXL" if sdxl else "SD 1.x/2.x"
    table = _module_table(pipe, sdxl)
    unknown: list[str] = []
    for key, tensor in lora.state.items():
        if key.startswith(("lora_te1_", "lora_te2_", "te1.", "te2.")) and not sdxl:
            raise ModelError(f"LoRA {lora.name} is an SDXL LoRA; the loaded model is {family}.")
        if key.startswith("lora_te_") and sdxl:
            raise ModelError(f"LoRA {lora.name} is an SD 1.x/2.x LoRA; the loaded model is SDXL.")
        if key.startswith(("lora_unet_input_blocks", "lora_unet_middle_block",
                           "lora_unet_output_blocks")):  # fmt: skip
            continue  # original-layout UNet names: diffusers maps them itself
        module = table.get(_layer_name(key))
        if module is None:
            unknown.append(key)
            continue
        if key.endswith(_DOWN) and tensor.ndim >= 2 and tensor.shape[1] != _width(module):
            raise ModelError(
                f"LoRA {lora.name} is for another model family: its layer {_layer_name(key)} "
                f"takes {tensor.shape[1]} inputs, the loaded {family} model's takes "
                f"{_width(module)}."
            )
    if unknown:
        raise ModelError(
            f"LoRA {lora.name} has {len(unknown)} key(s) that name no layer of the loaded "
            f"{family} model, e.g. {unknown[0]!r}; it is for another model or format."
        )


def _width(module: Any) -> int | None:
    return getattr(module, "in_features", None) or getattr(module, "in_channels", None)


def _layer_name(key: str) -> str:
    """kohya key → `lora_unet_<name with _>`; diffusers/PEFT key → `unet.<dotted name>`."""
    if key.startswith("lora_"):
        return key.split(".", 1)[0]
    for suffix in _PEFT_SUFFIXES:
        if key.endswith(suffix):
            return key[: -len(suffix)]
    return key


def _module_table(pipe: Any, sdxl: bool) -> dict[str, Any]:
    """Layer names in both spellings: kohya (`lora_te1_text_model_encoder_…`) and dotted."""
    import torch

    table: dict[str, Any] = {}
    parts = [("unet", "lora_unet", "")]
    parts.append(("text_encoder", "lora_te1" if sdxl else "lora_te", "text_model."))
    if sdxl:
        parts.append(("text_encoder_2", "lora_te2", "text_model."))
    for attr, kohya, text_prefix in parts:
        model = getattr(pipe, attr, None)
        if model is None:
            continue
        for name, found in model.named_modules():
            if ".lora_" in name or name.endswith(".base_layer"):
                continue  # the parts of a layer an earlier LoRA wrapped (peft)
            module = getattr(found, "base_layer", found)
            if not isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
                continue
            full = name if name.startswith(text_prefix) else text_prefix + name
            table[f"{kohya}_{full.replace('.', '_')}"] = module
            for dotted in {name, full}:
                table[f"{attr}.{dotted}"] = module
    return table


# --- Applying ---------------------------------------------------------------------------------
@dataclass
class _Loaded:
    adapter: str
    lora: LoraFile


@dataclass
class LoraState:
    """The adapters loaded into one model's modules, by file identity."""

    loaded: dict[tuple[str, int, int], _Loaded] = field(default_factory=dict)
    counter: int = 0
    bytes_read: int = 0  # LoRA bytes read from disk (the base weights are never re-read)
    enabled: bool = False


def wanted_loras(request: Any) -> list[tuple[Path, float, bool]]:
    """(file, weight, from_tag) for the request's `loras` and the prompt's `<lora:…>` tags."""
    folder = Path(request.lora_dir) if request.lora_dir else default_lora_dir()
    wanted = []
    for given, weight in request.loras:
        path = Path(given)
        if path.suffix.lower() != ".safetensors" and not path.exists():
            path = resolve_name(given, folder)
        wanted.append((path, weight, False))
    for name, weight in prompt_tags(request.prompt):
        wanted.append((resolve_name(name, folder), weight, True))
    return wanted


def apply_loras(state: LoraState, pipe: Any, wanted: list[tuple[Path, float, bool]]) -> list:
    """Loads what is not loaded yet, then sets the adapters and weights for this run (or turns
    them all off). A LoRA that fails is removed again: the model stays as it was."""
    applied: list[AppliedLora] = []
    names: list[str] = []
    for path, weight, from_tag in wanted:
        entry = _load(state, pipe, path)
        applied.append(AppliedLora(entry.lora.name, weight, entry.lora.short_hash, from_tag))
        names.append(entry.adapter)
    if not names:
        if state.enabled:
            pipe.disable_lora()
            state.enabled = False
        return []
    if not state.enabled:
        pipe.enable_lora()
        state.enabled = True
    # The same file twice (e.g. a tag and --lora) adds up, as in A1111.
    weights: dict[str, float] = {}
    for name, lora in zip(names, applied, strict=True):
        weights[name] = weights.get(name, 0.0) + lora.weight
    pipe.set_adapters(list(weights), list(weights.values()))
    _forget_unused(state, pipe, set(names))
    return applied


def _load(state: LoraState, pipe: Any, path: Path) -> _Loaded:
    try:
        stat = path.stat()
    except OSError:
        raise ModelError(f"LoRA file not found: {path}") from None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key in state.loaded:
        return state.loaded[key]
    lora = read_lora(path)
    check_fits(lora, pipe)
    state.counter += 1
    adapter = f"lora{state.counter}"
    try:
        with _quiet_loading():
            pipe.load_lora_weights(dict(lora.state), adapter_name=adapter)
    except Exception as exc:  # diffusers/peft raise many kinds; the model must stay clean
        _remove(pipe, adapter)
        raise ModelError(f"LoRA {lora.name} could not be applied: {exc}") from None
    state.bytes_read += lora.size
    state.loaded[key] = _Loaded(adapter, lora)
    return state.loaded[key]


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Loading a text-encoder LoRA makes transformers print a table of the base weights as
    "missing" (they are untouched), and peft warns on every second adapter: neither is news."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as hf_logging

    # diffusers also says "No LoRA keys associated to CLIPTextModel" for a UNet-only LoRA.
    levels = hf_logging.get_verbosity(), diffusers_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    diffusers_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            yield
    finally:
        hf_logging.set_verbosity(levels[0])
        diffusers_logging.set_verbosity(levels[1])


def _remove(pipe: Any, adapter: str) -> None:
    present = {name for names in pipe.get_list_adapters().values() for name in names}
    if adapter in present:
        pipe.delete_adapters(adapter)


def _forget_unused(state: LoraState, pipe: Any, used: set[str]) -> None:
    spare = [key for key, entry in state.loaded.items() if entry.adapter not in used]
    for key in spare[: max(0, len(spare) - KEEP_LOADED)]:
        _remove(pipe, state.loaded.pop(key).adapter)


def lora_hashes(applied: list[AppliedLora]) -> str:
    """A1111's `Lora hashes` value: `NAME: hash, NAME2: hash2`."""
    seen = dict.fromkeys(f"{a.name}: {a.short_hash}" for a in applied)
    return ", ".join(seen)


def lora_support_available() -> bool:
    """Whether diffusers found peft, which every LoRA load needs (the self-test asks: a frozen
    app could miss it, as peft is only imported by name)."""
    from diffusers.utils import USE_PEFT_BACKEND

    return bool(USE_PEFT_BACKEND)

"""The one table of generation parameters: name, type, default, bounds, A1111 key, label, modes.

Everything that handles a parameter reads `FIELDS`: `GenerationRequest` validates with it, the
PNG writer and every metadata reader name values by it (`metadata.py`, `metadata_formats.py`),
`brushwork-cli info --json` reports under its names, and the GUI builds its widgets, its saved
`Parameters` (settings and session) and "Use parameters" from it. Untrusted values (image
metadata, settings.json, a session manifest) go through `clean`, which keeps what is valid and
says what it dropped, so nothing half-applies and nothing out of range reaches a widget.

Adding a parameter (e.g. a scheduler option):
1. add a `Field(...)` to `FIELDS` below (its `name` is the request's attribute name; give the
   A1111 key if that format has one, and the modes that use it);
2. add the attribute to `GenerationRequest` (request.py, default `fields.default(name)`) and use
   it in the engine; tests/pipeline/test_fields.py fails until the two agree and the field has
   a sample value there;
3. in the panel (gui/panels.py), make its widget with `number_box(name)` / `check_box(name)`
   (gui/field_widgets.py: bounds, default, step and tooltip come from here), place it in the
   layout and add its (getter, setter) to `ParametersPanel._bind`; a GUI test fails until the
   panel holds every saved field. A field without a widget yet says so with `panel=False`
   (settings, the panel and its tests leave it out by that flag).
A field whose value is not a plain number/text/bool/enum (e.g. the LoRA list) gives `convert`,
which checks and normalises it (JSON lists back to tuples). Facts the engine records about a run
(LoRA and embedding hashes, the VAE's name) are not request fields: they are `RUN_FACTS`, written
and read with the same A1111 machinery.
Validation, the PNG's A1111 text and JSON chunk, every reader, `info --json`, settings, sessions
and "Use parameters" (with its range checks) then follow from the table alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np

from .branching import check_branch
from .control import check_controls
from .embeddings import check_embeddings
from .errors import RequestError
from .loras import check_loras
from .samplers import DEFAULT_SAMPLER, get_sampler, sampler_from_name

SEED_LIMIT = 2**32  # seeds are 0 … 2**32 - 1, as in AUTOMATIC1111
MIN_SIZE, MAX_SIZE = 64, 4096
SIZE_MULTIPLE = 8  # latents are 8× smaller than images (4× for the bundled model: 8 fits both)
FALLBACK_SIZE = 512  # when neither the user nor the model says
MAX_STEPS = 500
MAX_BATCH = 16
MAX_GUIDANCE = 50.0
MAX_MASK_PIXELS = 256  # mask blur and grow, in pixels of the init image
MAX_PROMPT_CHARS = 20_000  # far beyond what CLIP reads; keeps metadata chunks small
MAX_HIRES_SCALE = 4.0  # as A1111
MAX_NAME_CHARS = 200  # an upscaler's name or file path
LATENT, LANCZOS = "latent", "lanczos"  # the built-in hires upscalers; anything else names a model

E = TypeVar("E", bound=Enum)


class Mode(str, Enum):
    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"


class InpaintArea(str, Enum):
    """What inpaint generates: the whole image, or only a crop around the mask (scaled up to the
    request size, so a small masked detail gets the model's full resolution)."""

    WHOLE = "whole"
    ONLY_MASKED = "only_masked"


ALL_MODES = frozenset(Mode)
CANVAS_MODES = frozenset((Mode.IMG2IMG, Mode.INPAINT))
INPAINT_ONLY = frozenset((Mode.INPAINT,))
TXT2IMG_ONLY = frozenset((Mode.TXT2IMG,))


def snap_to_multiple(value: float, multiple: int = SIZE_MULTIPLE) -> int:
    """The nearest multiple of `multiple` within the size limits; halves round up.

    The one rounding rule for generation sizes (panel, outpaint, engine): 100 → 104, 96 → 96.
    """
    snapped = math.floor(value / multiple + 0.5) * multiple
    return min(max(snapped, MIN_SIZE), MAX_SIZE)


@dataclass(frozen=True)
class Field:
    """One generation parameter. `default` None with `optional` means "not given": a random
    seed, the bundled model, or the loaded model's own size / sampler / CFG (see `resolve`)."""

    name: str
    kind: type  # int, float, bool, str or an Enum
    default: Any
    label: str
    low: float | None = None
    high: float | None = None
    optional: bool = False
    multiple_of: int = 1
    modes: frozenset[Mode] = ALL_MODES  # the modes that use it (metadata writes only those)
    a1111: str | None = None  # key in A1111's `parameters` text
    to_text: Callable[[Any], str] = str
    from_text: Callable[[str], Any] | None = None  # default: kind(text)
    recall: bool = True  # "Use parameters" restores it from an image
    mode_defaults: Mapping[Mode, Any] = field(default_factory=lambda: MappingProxyType({}))
    check: Callable[[str, Any], None] | None = None  # an extra rule beyond type and bounds
    adapt: Callable[[Any], tuple[Any, str | None]] | None = None  # foreign value → ours + note
    normalise: Callable[[Any], Any] | None = None  # a checked value → its one spelling
    # Written to (and read from) A1111 text only when this holds for the other values: the
    # hires fields only with the hires fix on; its strength shares "Denoising strength".
    when: Callable[[Mapping[str, Any]], bool] | None = None
    tooltip: str = ""
    suffix: str = ""
    step: float = 1
    convert: Callable[[Any], Any] | None = None  # checks + normalises a non-plain kind (tuple)
    panel: bool = True  # False: the GUI panel has no widget for it yet (not saved, not walked)
    omit_default: bool = False  # A1111 text: written only when it is not the default

    def default_for(self, mode: Mode | str | None = None) -> Any:
        return self.mode_defaults.get(Mode(mode), self.default) if mode else self.default

    def parse_text(self, text: str) -> Any:
        """An A1111 text value as this field's type; raises ValueError."""
        if self.from_text is not None:
            return self.from_text(text)
        if self.kind is bool:
            return {"true": True, "false": False}[text.strip().lower()]
        return self.kind(text.strip())


def _check_sampler(name: str, value: Any) -> None:
    get_sampler(value)  # raises "Unknown sampler …; choose one of: …"


def _check_model(name: str, value: Any) -> None:
    if not value.strip():
        raise RequestError(f"{name} must be a non-empty text or None (got {value!r}).")


def _wrap_seed(value: Any) -> tuple[Any, str | None]:
    """ComfyUI and others use 64-bit seeds: wrap them into ours (the image will differ)."""
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if is_int and not 0 <= value < SEED_LIMIT and abs(value) < 2**64:
        wrapped = int(value) % SEED_LIMIT
        return wrapped, f"its seed {value} is beyond 2³² and was wrapped to {wrapped}"
    return value, None


def _sampler_from_text(text: str) -> str:
    known = sampler_from_name(text.strip())
    if known is None:
        raise ValueError(text)
    return known.id


def _check_hires_scale(name: str, value: Any) -> None:
    if 0 < value <= 1:
        raise RequestError(f"{name} must be 0 (off) or above 1 (got {value:g}).")


def _check_upscaler(name: str, value: Any) -> None:
    if not value.strip():
        raise RequestError(f"{name} must be latent, lanczos or an upscaler name (got {value!r}).")


def _upscaler_name(text: str) -> str:
    lowered = text.strip().lower()
    return lowered if lowered in (LATENT, LANCZOS) else text.strip()


def _upscaler_label(name: str) -> str:
    return name.capitalize() if name in (LATENT, LANCZOS) else name  # A1111 writes "Latent"


def _hires_on(values: Mapping[str, Any]) -> bool:
    return bool(values.get("hires_scale"))


def hires_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The hires pass's size: the first pass's times `scale`, to a multiple of 8 (as A1111)."""
    return (round(width * scale / 8) * 8, round(height * scale / 8) * 8)


_AREA_TEXT = {InpaintArea.WHOLE: "Whole picture", InpaintArea.ONLY_MASKED: "Only masked"}


def _area_from_text(text: str) -> InpaintArea:
    for area, label in _AREA_TEXT.items():
        if text.strip().lower() in (label.lower(), area.value):
            return area
    raise ValueError(text)


PROMPT_STYLES = ("a1111", "pipeline")
MAX_CLIP_SKIP = 12


def _check_prompt_style(name: str, value: Any) -> None:
    if value not in PROMPT_STYLES:
        raise RequestError(f"{name} must be one of {', '.join(PROMPT_STYLES)} (got {value!r}).")


def _prompt_style_from_text(text: str) -> str:
    value = text.strip().lower()
    if value not in PROMPT_STYLES:
        raise ValueError(text)
    return value


def _check_path(name: str, value: Any) -> None:
    if not value.strip():
        raise RequestError(f"{name} must be a path or None (got {value!r}).")


def _hashes_from_text(text: str) -> dict[str, str]:
    """A1111's `NAME: hash, NAME2: hash2` → {NAME: hash}."""
    pairs = {}
    for part in text.split(","):
        name, sep, digest = part.rpartition(":")
        if sep and name.strip() and digest.strip():
            pairs[name.strip()] = digest.strip()
    if not pairs:
        raise ValueError(text)
    return pairs


FIELDS: tuple[Field, ...] = (
    Field("prompt", str, "", "Prompt", high=MAX_PROMPT_CHARS),
    Field("negative_prompt", str, "", "Negative prompt", high=MAX_PROMPT_CHARS),
    Field("mode", Mode, Mode.TXT2IMG, "Mode"),
    Field("steps", int, 20, "Steps", 1, MAX_STEPS, a1111="Steps"),
    Field(
        "sampler", str, None, "Sampler", optional=True, a1111="Sampler", check=_check_sampler,
        to_text=lambda v: get_sampler(v).name, from_text=_sampler_from_text,
    ),
    Field(
        "guidance", float, None, "CFG scale", 0.0, MAX_GUIDANCE, optional=True, a1111="CFG scale",
        to_text=lambda v: f"{v:g}", step=0.5,
        tooltip="Classifier-free guidance: how closely to follow the prompt",
    ),
    Field(
        "seed", int, None, "Seed", 0, SEED_LIMIT - 1, optional=True, a1111="Seed",
        adapt=_wrap_seed,
    ),
    Field(
        "width", int, None, "Width", MIN_SIZE, MAX_SIZE, optional=True,
        multiple_of=SIZE_MULTIPLE, a1111="Size", step=SIZE_MULTIPLE, suffix=" px",
    ),
    Field(
        "height", int, None, "Height", MIN_SIZE, MAX_SIZE, optional=True,
        multiple_of=SIZE_MULTIPLE, a1111="Size", step=SIZE_MULTIPLE, suffix=" px",
    ),
    Field(
        "model", str, None, "Model", optional=True, a1111="Model", recall=False,
        check=_check_model,
    ),
    Field(
        "batch_size", int, 1, "Images per job", 1, MAX_BATCH, recall=False,
        tooltip="Images per job (made together: faster, more memory)",
    ),
    Field(
        "strength", float, 0.75, "Strength", 0.0, 1.0, modes=CANVAS_MODES,
        a1111="Denoising strength", to_text=lambda v: f"{v:g}", step=0.05,
        when=lambda v: not _hires_on(v),  # with the hires fix, A1111's key is its strength
        mode_defaults=MappingProxyType({Mode.INPAINT: 1.0}),  # the masked area is regenerated
        tooltip="How much of the canvas may change: 0 keeps it, 1 repaints it",
    ),
    Field(
        "mask_blur", int, 4, "Mask blur", 0, MAX_MASK_PIXELS, modes=INPAINT_ONLY,
        a1111="Mask blur", suffix=" px",
        tooltip="Soft band outside the mask through which the result blends in",
    ),
    Field(
        "mask_grow", int, 0, "Grow mask", -MAX_MASK_PIXELS, MAX_MASK_PIXELS, modes=INPAINT_ONLY,
        a1111="Mask grow", suffix=" px",
        tooltip="Grow the mask before generating (negative values shrink it)",
    ),
    Field(
        "inpaint_area", InpaintArea, InpaintArea.WHOLE, "Only the masked area, generated at Size",
        modes=INPAINT_ONLY, a1111="Inpaint area", to_text=lambda v: _AREA_TEXT[InpaintArea(v)],
        from_text=_area_from_text,
        tooltip="Crop around the mask and generate it at full resolution, then paste it back",
    ),
    Field(
        "inpaint_padding", int, 32, "Padding", 0, MAX_SIZE, modes=INPAINT_ONLY,
        a1111="Masked area padding", suffix=" px",
        tooltip="Context kept around the mask when only the masked area is made",
    ),
    Field(
        "color_correction", bool, True, "Match colours at the mask border", modes=INPAINT_ONLY,
        a1111="Color correction",
    ),
    # Hires fix (txt2img): a first pass at the size asked, then upscaled and re-diffused.
    Field(
        "hires_scale", float, 0.0, "Hires fix", 0.0, MAX_HIRES_SCALE, modes=TXT2IMG_ONLY,
        a1111="Hires upscale", to_text=lambda v: f"{v:g}", check=_check_hires_scale,
        when=_hires_on, step=0.25, suffix=" ×",
        tooltip="0: off. Otherwise generate at Size, upscale by this factor, then refine",
    ),
    Field(
        "hires_strength", float, 0.5, "Hires strength", 0.0, 1.0, modes=TXT2IMG_ONLY,
        a1111="Denoising strength", to_text=lambda v: f"{v:g}", when=_hires_on, step=0.05,
        tooltip="How much the hires pass may change the upscaled image",
    ),
    Field(
        "hires_steps", int, 0, "Hires steps", 0, MAX_STEPS, modes=TXT2IMG_ONLY,
        a1111="Hires steps", when=lambda v: _hires_on(v) and bool(v.get("hires_steps")),
        tooltip="Steps of the hires pass; 0: the same as Steps",
    ),
    Field(
        "hires_upscaler", str, LANCZOS, "Hires upscaler", high=MAX_NAME_CHARS,
        modes=TXT2IMG_ONLY, a1111="Hires upscaler", to_text=_upscaler_label,
        from_text=_upscaler_name, check=_check_upscaler, normalise=_upscaler_name,
        when=_hires_on,
        tooltip="latent, lanczos, or an upscale model's file or name",
    ),
    # Prompt syntax, LoRAs, embeddings, clip skip and VAE (issue 19); no panel widgets yet.
    Field(
        "prompt_style", str, "a1111", "Prompt style", a1111="Prompt style",  # ours: A1111 has
        check=_check_prompt_style, from_text=_prompt_style_from_text,  # one style only
        omit_default=True, panel=False,
        tooltip="a1111: (text:1.2) weights, [text], BREAK and prompts longer than 75 tokens in "
        "chunks, as AUTOMATIC1111; pipeline: the text goes to the model's own pipeline as is "
        "(first 75 tokens, no weights)",
    ),
    Field(
        "loras", tuple, (), "LoRAs", convert=check_loras, panel=False,  # A1111: prompt tags
        tooltip="LoRA file (or name in the LoRA folder) and weight, PATH[:WEIGHT]",
    ),
    Field(
        "lora_dir", str, None, "LoRA folder", optional=True, check=_check_path, recall=False,
        panel=False,  # a path on this machine: in our JSON chunk, not A1111's text
        tooltip="folder of the LoRAs that <lora:NAME:W> prompt tags name (default: <user data "
        "dir>/Brushwork/loras)",
    ),
    Field(
        "embeddings", tuple, (), "Embeddings", convert=check_embeddings, panel=False,
        tooltip="textual-inversion embedding file (.safetensors), used by its file name in the "
        "prompt",
    ),
    Field(
        "embedding_dir", str, None, "Embedding folder", optional=True, check=_check_path,
        recall=False, panel=False,
        tooltip="folder of embeddings used by file name in the prompt (default: <user data "
        "dir>/Brushwork/embeddings)",
    ),
    Field(
        "clip_skip", int, 1, "Clip skip", 1, MAX_CLIP_SKIP, a1111="Clip skip", omit_default=True,
        panel=False,
        tooltip="1-12: read the text encoder's output this many layers from the end (A1111's "
        "'Clip skip'; 2 for many anime models)",
    ),
    Field(
        "vae", str, None, "VAE", optional=True, check=_check_path, recall=False, panel=False,
        tooltip="a separate VAE: .safetensors file (diffusers or original layout) or diffusers "
        "folder",  # the path is machine-local; its name goes under A1111's "VAE" (RUN_FACTS)
    ),
    # Branching (issue 18 §3, branching.py): continue a recorded run from one of its steps.
    Field(
        "branch", object, None, "Branch from", optional=True, convert=check_branch, recall=False,
        panel=False, modes=TXT2IMG_ONLY,  # metadata: where it branched (BranchPoint.describe)
        tooltip="a step of an earlier run (latents and sampler state) to continue from",
    ),
    # ControlNet units (issue 21): images + settings; A1111's `ControlNet k` keys (control.py).
    Field(
        "controls", tuple, (), "ControlNet units", convert=check_controls, recall=False,
        panel=False,  # the GUI's Control section (gui/control_panel.py) builds them itself
        tooltip="control image, type, ControlNet model, strength 0-2, start/end (0-1)",
    ),
)  # fmt: skip

# What the engine records about a run beyond the request (A1111 keys; not request fields).
RUN_FACTS: tuple[Field, ...] = (
    Field(
        "lora_hashes", str, "", "LoRA hashes", a1111="Lora hashes", from_text=_hashes_from_text,
        omit_default=True, tooltip="A1111's short sha256 of each applied LoRA's tensor data",
    ),
    Field(
        "ti_hashes", str, "", "Embedding hashes", a1111="TI hashes", from_text=_hashes_from_text,
        omit_default=True, tooltip="A1111's short sha256 of each embedding the prompts used",
    ),
    Field(
        "vae_name", str, None, "VAE", optional=True, a1111="VAE", from_text=str.strip,
        tooltip="the separate VAE's file name without extension, as A1111 writes it",
    ),
    Field(
        "fast_decode", str, "", "Fast decode", a1111="Fast decode", from_text=str.strip,
        omit_default=True, tooltip="the final image was decoded with TAESD (approximate)",
    ),
    Field(
        "step_cache", str, "", "Step cache", a1111="Step cache", from_text=str.strip,
        omit_default=True, tooltip="DeepCache reused UNet features between steps (approximate)",
    ),
)  # fmt: skip
RUN_FACT_NAMES: tuple[str, ...] = tuple(spec.name for spec in RUN_FACTS)

BY_NAME: Mapping[str, Field] = MappingProxyType({f.name: f for f in FIELDS})
NAMES: tuple[str, ...] = tuple(BY_NAME)
HIRES_NAMES = ("hires_scale", "hires_strength", "hires_steps", "hires_upscaler")  # CLI, panel
# What "not given" becomes when the loaded model says nothing either (see `resolve`).
FALLBACKS: Mapping[str, Any] = MappingProxyType(
    {"sampler": DEFAULT_SAMPLER, "guidance": 7.0, "width": FALLBACK_SIZE, "height": FALLBACK_SIZE}
)
MODEL_DEFAULTED = tuple(FALLBACKS)  # the fields a model's own size and card may set


def used_by(mode: Mode | str) -> tuple[str, ...]:
    """The fields a mode uses (inpaint options only for inpaint, strength not for txt2img)."""
    return tuple(spec.name for spec in FIELDS if Mode(mode) in spec.modes)


def default(name: str, mode: Mode | str | None = None) -> Any:
    return BY_NAME[name].default_for(mode)


def validate(name: str, value: Any) -> Any:
    """`value` checked against the field's type and bounds, normalised (enum members, plain
    bools and numbers); raises RequestError naming the field and the value."""
    spec = BY_NAME[name]
    if value is None:
        if spec.optional:
            return None
        if spec.kind is str:
            raise RequestError(f"{name} must be text (got NoneType).")
        raise RequestError(f"{name} must be given (got None).")
    if issubclass(spec.kind, Enum):
        return _choice(spec.kind, name, value)
    if spec.convert is not None:
        return spec.convert(value)
    checked = _CHECKS[spec.kind](spec, value)
    if spec.check is not None:
        spec.check(name, checked)
    return checked if spec.normalise is None else spec.normalise(checked)


def applies(spec: Field, values: Mapping[str, Any]) -> bool:
    """Whether the field is written to / read from A1111 text given the other `values`."""
    return spec.when is None or spec.when(values)


def clean(
    values: Mapping[str, Any], names: Iterable[str] = NAMES
) -> tuple[dict[str, Any], list[str]]:
    """The valid values among untrusted `values` (only table fields in `names`), and one note
    per value that was changed or dropped. Never raises for any JSON-like input."""
    kept: dict[str, Any] = {}
    notes: list[str] = []
    for name in names:
        if name not in values:
            continue
        value = values[name]
        spec = BY_NAME[name]
        if spec.adapt is not None:
            value, note = spec.adapt(value)
            if note:
                notes.append(note)
        try:
            kept[name] = validate(name, value)
        except RequestError as exc:
            notes.append(f"{spec.label} was left out: {str(exc).rstrip('.')}")
    return kept, notes


def resolve(
    values: Mapping[str, Any], model_defaults: Mapping[str, Any], image_size: tuple[int, int] | None
) -> dict[str, Any]:
    """Fills the "not given" (None) size, sampler and CFG: the loaded model's own values (its
    native size, its card's sampler and CFG), else `FALLBACKS`. A size not given is the init
    image's (snapped to multiples of 8) when the image is generated whole, as diffusers does."""
    filled: dict[str, Any] = {}
    for name in MODEL_DEFAULTED:
        if values.get(name) is not None:
            continue
        if name in ("width", "height") and image_size is not None:
            filled[name] = snap_to_multiple(image_size[0 if name == "width" else 1])
        else:
            chosen = model_defaults.get(name)
            filled[name] = chosen if chosen is not None else FALLBACKS[name]
    return filled


def format_a1111_pairs(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A1111's `Key: value` pairs for the fields used by `values["mode"]`, in table order
    (width and height share one `Size: WxH`)."""
    mode = Mode(values["mode"])
    pairs: list[tuple[str, str]] = []
    for spec in (*FIELDS, *RUN_FACTS):
        value = values.get(spec.name)
        if spec.a1111 is None or mode not in spec.modes or value is None:
            continue
        if spec.omit_default and value == spec.default:
            continue
        if not applies(spec, values):
            continue
        if spec.name == "height":
            continue  # written with width
        if spec.name == "width":
            pairs.append(("Size", f"{values['width']}x{values['height']}"))
            continue
        pairs.append((spec.a1111, spec.to_text(values[spec.name])))
    return pairs


def parse_a1111_pairs(params: Mapping[str, str]) -> dict[str, Any]:
    """Table fields (and run facts) from A1111 `Key: value` pairs; values that do not parse are
    left out, and so are fields whose `when` does not hold for what was found (no hires fields
    without `Hires upscale`; its `Denoising strength` is then the hires strength, not img2img's)."""
    found: dict[str, Any] = {}
    for spec in (*FIELDS, *RUN_FACTS):
        if spec.a1111 is None or spec.a1111 not in params or spec.name in ("width", "height"):
            continue
        try:
            found[spec.name] = spec.parse_text(params[spec.a1111])
        except (ValueError, KeyError, OverflowError):
            continue
    size = params.get("Size", "").lower().replace(" ", "").split("x")
    if len(size) == 2 and all(p.isascii() and p.isdigit() and len(p) <= 6 for p in size):
        found["width"], found["height"] = int(size[0]), int(size[1])
    return {
        name: value
        for name, value in found.items()
        if name not in BY_NAME or applies(BY_NAME[name], found)  # run facts always apply
    }


def _choice(kind: type[E], name: str, value: object) -> E:
    try:
        return kind(value)
    except (ValueError, TypeError):
        choices = ", ".join(member.value for member in kind)
        raise RequestError(f"Unknown {name} {value!r}; choose one of: {choices}.") from None


def _check_int(spec: Field, value: object) -> int:
    name = spec.name
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise RequestError(f"{name} must be a whole number (got {value!r}).")
    low, high = int(spec.low), int(spec.high)  # type: ignore[arg-type]
    if not low <= value <= high:
        raise RequestError(f"{name} must be between {low} and {high} (got {value}).")
    if value % spec.multiple_of:
        lower = value - value % spec.multiple_of
        raise RequestError(
            f"{name} must be a multiple of {spec.multiple_of} (got {value}); try {lower} or "
            f"{lower + spec.multiple_of}."
        )
    return int(value)


def _check_float(spec: Field, value: object) -> float:
    name, low, high = spec.name, spec.low, spec.high
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise RequestError(f"{name} must be a number (got {value!r}).")
    if not math.isfinite(value) or not low <= value <= high:  # type: ignore[operator]
        raise RequestError(f"{name} must be between {low:g} and {high:g} (got {value}).")
    return float(value)


def _check_bool(spec: Field, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise RequestError(f"{spec.name} must be True or False (got {value!r}).")
    return bool(value)


def _check_text(spec: Field, value: object) -> str:
    name = spec.name
    if not isinstance(value, str):
        raise RequestError(f"{name} must be text (got {type(value).__name__}).")
    if spec.high is not None and len(value) > spec.high:
        raise RequestError(
            f"{name} is {len(value):,} characters long; the limit is {int(spec.high):,} (the "
            "text encoder reads only about 75 tokens of it anyway)."
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates, e.g. undecodable bytes from a terminal
        raise RequestError(
            f"{name} holds bytes that are not valid text (at character {exc.start + 1}); "
            "retype it or paste it again as plain text."
        ) from None
    return value


_CHECKS: dict[type, Callable[[Field, Any], Any]] = {
    int: _check_int,
    float: _check_float,
    bool: _check_bool,
    str: _check_text,
}

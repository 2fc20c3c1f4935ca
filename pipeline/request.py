"""The one typed contract between a front end (GUI, CLI, tests) and the engine.

A `GenerationRequest` is validated when it is built, so an invalid request never reaches the
engine, and each error names the field and the value the user gave.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

import numpy as np

from .errors import RequestError
from .extra_fields import check_fields
from .samplers import DEFAULT_SAMPLER, get_sampler

SEED_LIMIT = 2**32  # seeds are 0 … 2**32 - 1, as in AUTOMATIC1111
MIN_SIZE, MAX_SIZE = 64, 4096
MAX_STEPS = 500
MAX_BATCH = 16
MAX_GUIDANCE = 50.0
MAX_MASK_PIXELS = 256  # mask blur and grow, in pixels of the init image
MAX_PROMPT_CHARS = 20_000  # far beyond what CLIP reads; keeps metadata chunks small


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


def item_seed(seed: int, index: int) -> int:
    """Seed of batch item `index`: base seed + index (wrapping at 2**32), as in AUTOMATIC1111.

    Each item's noise comes from its own generator, so item k can be re-made alone with this seed.
    """
    return (seed + index) % SEED_LIMIT


@dataclass(frozen=True, eq=False)
class GenerationRequest:
    """Everything one generation needs. Images are numpy arrays, made read-only on creation.

    `seed` None (or -1) means "pick one": `with_resolved_seed()` chooses it, and the chosen seed
    is reported with every result. `model` None means the bundled default model.

    Inpaint options (ignored by the other modes): `mask_grow` px grows (negative: shrinks) the
    mask; `mask_blur` px is the soft band outside the mask through which the result is blended
    back; `inpaint_area` and `inpaint_padding` (px of context around the mask's bounding box)
    choose what is generated; `color_correction` matches colours across the mask border.
    """

    prompt: str
    negative_prompt: str = ""
    mode: Mode = Mode.TXT2IMG
    sampler: str = DEFAULT_SAMPLER
    steps: int = 20
    guidance: float = 7.0
    seed: int | None = None
    width: int = 512
    height: int = 512
    batch_size: int = 1
    strength: float = 0.75
    init_image: np.ndarray | None = None
    mask: np.ndarray | None = None
    model: str | None = None
    mask_blur: int = 4
    mask_grow: int = 0
    inpaint_area: InpaintArea = InpaintArea.WHOLE
    inpaint_padding: int = 32
    color_correction: bool = True
    # Defined (checked, written, read) in extra_fields.py.
    prompt_style: str = "a1111"
    loras: tuple[tuple[str, float], ...] = ()
    lora_dir: str | None = None
    embeddings: tuple[str, ...] = ()
    embedding_dir: str | None = None
    clip_skip: int = 1
    vae: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", _mode(self.mode))
        if self.seed == -1:
            object.__setattr__(self, "seed", None)
        _check_text("prompt", self.prompt)
        _check_text("negative_prompt", self.negative_prompt)
        get_sampler(self.sampler)
        _check_int("steps", self.steps, 1, MAX_STEPS)
        _check_float("guidance", self.guidance, 0.0, MAX_GUIDANCE)
        if self.seed is not None:
            _check_int("seed", self.seed, 0, SEED_LIMIT - 1)
        for name in ("width", "height"):
            _check_size(name, getattr(self, name))
        _check_int("batch_size", self.batch_size, 1, MAX_BATCH)
        _check_float("strength", self.strength, 0.0, 1.0)
        if self.mode is not Mode.TXT2IMG and self.strength == 0:
            raise RequestError("strength must be above 0 for img2img and inpaint (got 0).")
        if self.model is not None and (not isinstance(self.model, str) or not self.model.strip()):
            raise RequestError(f"model must be a non-empty text or None (got {self.model!r}).")
        self._check_inpaint_options()
        self._check_images()
        check_fields(self)

    def _check_inpaint_options(self) -> None:
        object.__setattr__(self, "inpaint_area", _inpaint_area(self.inpaint_area))
        _check_int("mask_blur", self.mask_blur, 0, MAX_MASK_PIXELS)
        _check_int("mask_grow", self.mask_grow, -MAX_MASK_PIXELS, MAX_MASK_PIXELS)
        _check_int("inpaint_padding", self.inpaint_padding, 0, MAX_SIZE)
        if not isinstance(self.color_correction, (bool, np.bool_)):
            raise RequestError(
                f"color_correction must be True or False (got {self.color_correction!r})."
            )
        object.__setattr__(self, "color_correction", bool(self.color_correction))

    def _check_images(self) -> None:
        needs_init = self.mode in (Mode.IMG2IMG, Mode.INPAINT)
        if needs_init and self.init_image is None:
            raise RequestError(f"{self.mode.value} needs an init image.")
        if self.mode is Mode.INPAINT and self.mask is None:
            raise RequestError("inpaint needs a mask.")
        if self.mode is Mode.TXT2IMG and self.init_image is not None:
            raise RequestError("txt2img takes no init image; use mode img2img or inpaint.")
        if self.mode is not Mode.INPAINT and self.mask is not None:
            raise RequestError(f"{self.mode.value} takes no mask; use mode inpaint.")
        if self.init_image is not None:
            image = _frozen_array("init_image", self.init_image, ndim=3)
            if image.shape[2] != 3:
                raise RequestError(f"init_image must be RGB (H×W×3), got shape {image.shape}.")
            object.__setattr__(self, "init_image", image)
        if self.mask is not None:
            mask = _frozen_array("mask", self.mask, ndim=2)
            if self.init_image is not None and mask.shape != self.init_image.shape[:2]:
                raise RequestError(
                    f"mask size {mask.shape[1]}×{mask.shape[0]} differs from the init image size "
                    f"{self.init_image.shape[1]}×{self.init_image.shape[0]}."
                )
            object.__setattr__(self, "mask", mask)

    def replace(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self, **changes)

    def with_resolved_seed(self) -> GenerationRequest:
        """The same request with a concrete seed (a random one if none was given)."""
        if self.seed is not None:
            return self
        return self.replace(seed=secrets.randbelow(SEED_LIMIT))

    def to_metadata(self) -> dict[str, Any]:
        """The request as JSON-ready data (images are not included, only whether they were)."""
        data = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("init_image", "mask")
        }
        data["mode"] = self.mode.value
        data["inpaint_area"] = self.inpaint_area.value
        return data


def _choice(kind: type[E], name: str, value: object) -> E:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise RequestError(f"Unknown {name} {value!r}; choose one of: {choices}.") from None


def _mode(value: Mode | str) -> Mode:
    return _choice(Mode, "mode", value)


def _inpaint_area(value: InpaintArea | str) -> InpaintArea:
    return _choice(InpaintArea, "inpaint_area", value)


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise RequestError(f"{name} must be text (got {type(value).__name__}).")
    if len(value) > MAX_PROMPT_CHARS:
        raise RequestError(
            f"{name} is {len(value):,} characters long; the limit is {MAX_PROMPT_CHARS:,} (the "
            "text encoder reads only about 75 tokens of it anyway)."
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates, e.g. undecodable bytes from a terminal
        raise RequestError(
            f"{name} holds bytes that are not valid text (at character {exc.start + 1}); "
            "retype it or paste it again as plain text."
        ) from None


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise RequestError(f"{name} must be a whole number (got {value!r}).")
    if not low <= value <= high:
        raise RequestError(f"{name} must be between {low} and {high} (got {value}).")


def _check_float(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise RequestError(f"{name} must be a number (got {value!r}).")
    if not math.isfinite(value) or not low <= value <= high:
        raise RequestError(f"{name} must be between {low:g} and {high:g} (got {value}).")


def _check_size(name: str, value: object) -> None:
    _check_int(name, value, MIN_SIZE, MAX_SIZE)
    if value % 8:
        lower, upper = value - value % 8, value - value % 8 + 8
        raise RequestError(f"{name} must be a multiple of 8 (got {value}); try {lower} or {upper}.")


def _frozen_array(name: str, value: object, ndim: int) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.ndim != ndim or value.dtype != np.uint8:
        shape = "H×W×3" if ndim == 3 else "H×W"
        got = (
            f"{value.dtype} array of shape {value.shape}"
            if isinstance(value, np.ndarray)
            else type(value).__name__
        )
        raise RequestError(f"{name} must be a uint8 {shape} array (got {got}).")
    frozen = np.array(value, copy=True)
    frozen.setflags(write=False)
    return frozen

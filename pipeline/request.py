"""The one typed contract between a front end (GUI, CLI, tests) and the engine.

A `GenerationRequest` is validated when it is built, so an invalid request never reaches the
engine, and each error names the field and the value the user gave.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import fields
from .branching import BranchPoint
from .branching import check_request as check_branch_request
from .control import ControlUnit
from .errors import RequestError
from .fields import (
    MAX_BATCH,
    MAX_GUIDANCE,
    MAX_MASK_PIXELS,
    MAX_PROMPT_CHARS,
    MAX_SIZE,
    MAX_STEPS,
    MIN_SIZE,
    SEED_LIMIT,
    InpaintArea,
    Mode,
)
from .prompt_weights import parse_prompt

# Re-exported: the limits and enums live with the field table.
__all__ = [
    "MAX_BATCH", "MAX_GUIDANCE", "MAX_MASK_PIXELS", "MAX_PROMPT_CHARS", "MAX_SIZE", "MAX_STEPS",
    "MIN_SIZE", "SEED_LIMIT", "GenerationRequest", "InpaintArea", "Mode", "item_seed",
]  # fmt: skip


def item_seed(seed: int, index: int) -> int:
    """Seed of batch item `index`: base seed + index (wrapping at 2**32), as in AUTOMATIC1111.

    Each item's noise comes from its own generator, so item k can be re-made alone with this seed.
    """
    return (seed + index) % SEED_LIMIT


@dataclass(frozen=True, eq=False)
class GenerationRequest:
    """Everything one generation needs. Images are numpy arrays, made read-only on creation.
    Every other field is a row of the field table (fields.py), which validates it.

    `seed` None (or -1) means "pick one": `with_resolved_seed()` chooses it, and the chosen seed
    is reported with every result. `model` None means the bundled default model. `width`,
    `height`, `sampler` and `guidance` None mean "the loaded model's own" (its native size and
    its card's sampler and CFG; for width and height in img2img and whole-image inpaint, the init
    image's size): the engine fills them in with `resolved()` before it runs. `strength` None
    is the mode's default (1.0 for inpaint: the masked area is regenerated; 0.75 for img2img).

    Inpaint options (ignored by the other modes): `mask_grow` px grows (negative: shrinks) the
    mask; `mask_blur` px is the soft band outside the mask through which the result is blended
    back; `inpaint_area` and `inpaint_padding` (px of context around the mask's bounding box)
    choose what is generated; `color_correction` matches colours across the mask border.

    Extras (any mode): `prompt_style` "a1111" reads (word:1.2)/[word]/BREAK and chunks long
    prompts, "pipeline" gives the text to the model's own pipeline; `loras` (file or name,
    weight) pairs, also `<lora:NAME:W>` prompt tags found in `lora_dir`; `embeddings` files, also
    those of `embedding_dir` named in a prompt; `clip_skip` 1-12; `vae` a separate VAE file or
    folder; `controls` ControlNet units (control.py). `branch` (txt2img) continues a recorded
    run from one of its steps (branching.py).
    """

    prompt: str
    negative_prompt: str = fields.default("negative_prompt")
    mode: Mode = fields.default("mode")  # noqa: RUF009 (an immutable enum member)
    sampler: str | None = fields.default("sampler")
    steps: int = fields.default("steps")
    guidance: float | None = fields.default("guidance")
    seed: int | None = fields.default("seed")
    width: int | None = fields.default("width")
    height: int | None = fields.default("height")
    batch_size: int = fields.default("batch_size")
    strength: float | None = None
    init_image: np.ndarray | None = None
    mask: np.ndarray | None = None
    model: str | None = fields.default("model")
    mask_blur: int = fields.default("mask_blur")
    mask_grow: int = fields.default("mask_grow")
    inpaint_area: InpaintArea = fields.default("inpaint_area")  # noqa: RUF009
    inpaint_padding: int = fields.default("inpaint_padding")
    color_correction: bool = fields.default("color_correction")
    # Hires fix (txt2img; hires_scale 0 is off): see the table in fields.py.
    hires_scale: float = fields.default("hires_scale")
    hires_strength: float = fields.default("hires_strength")
    hires_steps: int = fields.default("hires_steps")
    hires_upscaler: str = fields.default("hires_upscaler")
    prompt_style: str = fields.default("prompt_style")
    loras: tuple[tuple[str, float], ...] = fields.default("loras")
    lora_dir: str | None = fields.default("lora_dir")
    embeddings: tuple[str, ...] = fields.default("embeddings")
    embedding_dir: str | None = fields.default("embedding_dir")
    clip_skip: int = fields.default("clip_skip")
    vae: str | None = fields.default("vae")
    branch: BranchPoint | None = None  # the table's default; a step to continue from
    controls: tuple[ControlUnit, ...] = fields.default("controls")

    def __post_init__(self) -> None:
        if self.seed == -1:
            object.__setattr__(self, "seed", None)
        object.__setattr__(self, "mode", fields.validate("mode", self.mode))
        if self.strength is None:
            object.__setattr__(self, "strength", fields.default("strength", self.mode))
        for name in fields.NAMES:
            object.__setattr__(self, name, fields.validate(name, getattr(self, name)))
        if self.mode is not Mode.TXT2IMG and self.strength == 0:
            raise RequestError("strength must be above 0 for img2img and inpaint (got 0).")
        self._check_images()
        self._check_hires()
        if self.branch is not None:
            check_branch_request(self.branch, self)
        self._check_prompt_syntax()

    def _check_prompt_syntax(self) -> None:
        """A1111-style prompts are parsed now, so a bad weight or a hostile nesting is refused
        before any work (the parser is linear-time and bounded: prompt_weights.py)."""
        if self.prompt_style != "a1111":
            return
        for name in ("prompt", "negative_prompt"):
            try:
                parse_prompt(getattr(self, name))
            except RequestError as exc:
                raise RequestError(f"{name}: {exc}") from None

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

    def _check_hires(self) -> None:
        """The rules between fields (each field's own are in the table)."""
        if not self.hires_scale:
            return
        if self.mode is not Mode.TXT2IMG:
            raise RequestError(f"The hires fix is for txt2img, not {self.mode.value}.")
        if self.hires_strength == 0:
            raise RequestError("hires_strength must be above 0 for the hires pass (got 0).")
        if self.width is None or self.height is None:
            return  # checked again once `resolved` has the model's size
        width, height = fields.hires_size(self.width, self.height, self.hires_scale)
        if max(width, height) > MAX_SIZE:
            raise RequestError(
                f"hires_scale {self.hires_scale:g} makes {self.width}×{self.height} into "
                f"{width}×{height}; the largest generation size is {MAX_SIZE} a side."
            )

    def replace(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self, **changes)

    def with_resolved_seed(self) -> GenerationRequest:
        """The same request with a concrete seed (a random one if none was given)."""
        if self.seed is not None:
            return self
        return self.replace(seed=secrets.randbelow(SEED_LIMIT))

    def resolved(self, model_defaults: Mapping[str, Any] | None = None) -> GenerationRequest:
        """The request with every "not given" size, sampler and CFG filled in (see the class
        docstring); `model_defaults` are the loaded model's (`LoadedModel.defaults`)."""
        image_size = None
        whole_image = self.mode is Mode.IMG2IMG or (
            self.mode is Mode.INPAINT and self.inpaint_area is InpaintArea.WHOLE
        )
        if whole_image and self.init_image is not None:
            image_size = (self.init_image.shape[1], self.init_image.shape[0])
        values = {name: getattr(self, name) for name in fields.MODEL_DEFAULTED}
        defaults = dict(model_defaults or {})
        if self.branch is not None:  # a branch continues its run: that run's sampler and size
            point = self.branch
            defaults.update(sampler=point.sampler, width=point.width, height=point.height)
        filled = fields.resolve(values, defaults, image_size)
        return self.replace(**filled) if filled else self

    def to_metadata(self) -> dict[str, Any]:
        """The request as JSON-ready data under the table's names (images are not included)."""
        data = {name: getattr(self, name) for name in fields.NAMES}
        data["mode"] = self.mode.value
        data["inpaint_area"] = self.inpaint_area.value
        data["branch"] = self.branch.describe() if self.branch is not None else None
        data["controls"] = [unit.to_metadata() for unit in self.controls]  # no images
        return data


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

"""Inpainting around the model call: what the model is given, and how its output goes back.

plan_inpaint: grow the mask, choose the region (whole image or a crop around the mask), and
scale that region to the request size. finish_inpaint: scale the output back, repair the seam,
and paste it into the init image through the feathered mask. Everything outside the feathered
band comes back bit-identical, whatever the model did there (a VAE round trip alone would shift
every pixel). No torch here: the same steps work on any model's output (see bench/seam.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .errors import RequestError
from .masks import (
    Box,
    binary,
    cover_cells,
    feather_mask,
    grow_mask,
    inpaint_region,
    paste_back,
)
from .request import GenerationRequest, InpaintArea, Mode
from .seams import correct_seam


@dataclass(frozen=True, eq=False)
class InpaintPlan:
    """What one inpaint request generates. `box` is in init-image pixels; `size` is the
    generation (width, height) the box is scaled to."""

    original: np.ndarray
    mask: np.ndarray  # grown, 0/255, init-image size
    box: Box
    size: tuple[int, int]
    mask_blur: int
    color_correction: bool

    def model_image(self) -> Image.Image:
        return _resized(self.original[self.box.slices], self.size)

    def model_mask(self) -> Image.Image:
        """The mask at generation size, widened to whole latent cells (see cover_cells)."""
        scaled = np.asarray(_resized(self.mask[self.box.slices], self.size))
        return Image.fromarray(cover_cells(scaled))

    def generated_area(self) -> np.ndarray:
        """What the model regenerates, in box pixels: outside it, its output is a VAE round
        trip of the original, which is what the colour-cast estimate needs."""
        size = (self.box.width, self.box.height)
        return binary(np.asarray(self.model_mask().resize(size, Image.Resampling.NEAREST)))


def plan_inpaint(request: GenerationRequest) -> InpaintPlan:
    """Grows the mask and picks the region to generate; raises RequestError if nothing is left."""
    if request.mode is not Mode.INPAINT or request.init_image is None or request.mask is None:
        raise RequestError("plan_inpaint needs an inpaint request with an init image and mask.")
    request = request.resolved()  # a size not given: the image's (the engine passes it resolved)
    mask = grow_mask(request.mask, request.mask_grow)
    if not binary(mask).any():
        grown = f" after mask_grow={request.mask_grow}" if request.mask_grow else ""
        raise RequestError(
            f"Nothing to inpaint: the mask is empty{grown} (no pixel of 128 or more; white "
            "marks what to regenerate)."
        )
    height, width = request.init_image.shape[:2]
    box = Box(0, 0, width, height)
    if request.inpaint_area is InpaintArea.ONLY_MASKED:
        # The feathered band must fit in the crop, or it would end in a hard edge.
        padding = max(request.inpaint_padding, request.mask_blur)
        aspect = request.width / request.height
        box = inpaint_region(mask, padding, (width, height), aspect=aspect)
    return InpaintPlan(
        original=request.init_image,
        mask=mask,
        box=box,
        size=(request.width, request.height),
        mask_blur=request.mask_blur,
        color_correction=request.color_correction,
    )


def seam_scale(box: Box) -> tuple[int, int]:
    """(window, depth) for correct_seam, in pixels: about 1/8 of the region for the depth."""
    depth = int(np.clip(max(box.width, box.height) // 8, 8, 64))
    return int(np.clip(depth // 4, 3, 16)), depth


def finish_inpaint(plan: InpaintPlan, generated: np.ndarray) -> np.ndarray:
    """The init image with `generated` (the model's output at plan.size) pasted into its box."""
    box = plan.box
    output = np.asarray(_resized(generated, (box.width, box.height)))
    original, mask = plan.original[box.slices], plan.mask[box.slices]
    window, depth = seam_scale(box)
    # Only pixels within reach of the mask can change: work on that window (same result,
    # a fraction of the cost when a small mask sits in a large image).
    reach = plan.mask_blur + depth + 2 * window
    work = inpaint_region(mask, reach, (box.width, box.height)).slices
    original, output, mask = original[work], output[work], mask[work]
    if plan.color_correction:
        output = correct_seam(
            original,
            output,
            mask,
            window=window,
            depth=depth,
            feather=plan.mask_blur,
            generated_area=plan.generated_area()[work],
        )
    full = np.array(plan.original, copy=True)
    full[box.slices][work] = paste_back(original, output, feather_mask(mask, plan.mask_blur))
    return full


def _resized(array: np.ndarray, size: tuple[int, int]) -> Image.Image:
    image = Image.fromarray(np.ascontiguousarray(array))
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)

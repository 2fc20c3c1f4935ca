"""The engine's ControlNet side: load ControlNets, derive the ControlNet pipelines, fill kwargs.

ControlNets are loaded once per base model and kept with it (`LoadedModel.controlnets`). The
ControlNet pipeline of a mode is made with diffusers' `from_pipe` from the txt2img pipeline, so
it holds the very same UNet, VAE and text encoders (0 bytes reloaded; LoRAs and embeddings set
on them apply too). Loading (control_models.py) refuses another family's ControlNet, pickle
files and damaged files with a message before the model is touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from .control import ControlUnit
from .control_models import load_controlnet, source_key
from .fields import InpaintArea, Mode
from .preprocess import preprocess

if TYPE_CHECKING:
    from .inpaint import InpaintPlan
    from .request import GenerationRequest


def controlnets_of(model: Any) -> dict[str, Any]:
    """The ControlNets loaded for this base model (dropped with it)."""
    return model.__dict__.setdefault("controlnets", {})


def control_pipeline(model: Any, request: GenerationRequest, device: str, dtype: Any) -> Any:
    """The pipeline to run: the mode's plain one without control units, else the mode's
    ControlNet pipeline over the same modules, with the request's ControlNets in order."""
    if not request.controls:
        return model.pipeline(request.mode)
    loaded = controlnets_of(model)
    nets = []
    for unit in request.controls:
        key = source_key(unit.model)
        if key not in loaded:
            loaded[key] = load_controlnet(unit.model, model.pipelines[Mode.TXT2IMG], device, dtype)
        nets.append(loaded[key])
    keys = (request.mode, tuple(source_key(unit.model) for unit in request.controls))
    derived = model.__dict__.setdefault("control_pipelines", {})
    if keys not in derived:
        derived.clear()  # one derived pipeline at a time: each holds its own small state
        derived[keys] = _derive(model, request.mode, nets)
    return derived[keys]


def _derive(model: Any, mode: Mode, nets: list[Any]) -> Any:
    from diffusers import (
        AutoPipelineForImage2Image,
        AutoPipelineForInpainting,
        AutoPipelineForText2Image,
    )
    from diffusers.models.controlnets import MultiControlNetModel

    auto = {
        Mode.TXT2IMG: AutoPipelineForText2Image,
        Mode.IMG2IMG: AutoPipelineForImage2Image,
        Mode.INPAINT: AutoPipelineForInpainting,
    }[mode]
    controlnet = nets[0] if len(nets) == 1 else MultiControlNetModel(nets)
    pipe = auto.from_pipe(model.pipelines[Mode.TXT2IMG], controlnet=controlnet)
    pipe.set_progress_bar_config(disable=True)  # not carried over by from_pipe
    return pipe


def control_images(
    request: GenerationRequest, plan: InpaintPlan | None, notes: list[str]
) -> list[Image.Image]:
    """Each unit's ControlNet input at the generation size: preprocessed, then (for "only
    masked" inpaint) cropped like the init image, then resized with a note if its size
    differs. Raises RequestError (e.g. an empty scribble) before any denoising."""
    size = (request.width, request.height)
    images = []
    for k, unit in enumerate(request.controls):
        array = preprocess(unit.module, unit.image)
        if plan is not None and request.inpaint_area is InpaintArea.ONLY_MASKED:
            array = _crop_like_init(array, plan)
        elif array.shape[1::-1] != size:
            notes.append(
                f"Control image {k} ({array.shape[1]}×{array.shape[0]}) was resized to "
                f"{size[0]}×{size[1]}, the generation size."
            )
        images.append(_at_size(array, size))
    return images


def _crop_like_init(array: np.ndarray, plan: InpaintPlan) -> np.ndarray:
    height, width = plan.original.shape[:2]
    full = np.asarray(_at_size(array, (width, height)))
    return full[plan.box.slices]


def _at_size(array: np.ndarray, size: tuple[int, int]) -> Image.Image:
    image = Image.fromarray(np.ascontiguousarray(array))
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def control_kwargs(
    request: GenerationRequest, images: list[Image.Image], kwargs: dict[str, Any]
) -> None:
    """Adds the ControlNet arguments to the pipeline call's `kwargs` (in place). txt2img
    pipelines take the control image as `image`; img2img and inpaint as `control_image`."""
    units: tuple[ControlUnit, ...] = request.controls
    if not units:
        return
    single = len(units) == 1
    name = "image" if request.mode is Mode.TXT2IMG else "control_image"
    kwargs[name] = images[0] if single else images
    kwargs["controlnet_conditioning_scale"] = _one_or_list([u.strength for u in units])
    kwargs["control_guidance_start"] = _one_or_list([u.start for u in units])
    kwargs["control_guidance_end"] = _one_or_list([u.end for u in units])


def _one_or_list(values: list[float]) -> float | list[float]:
    return values[0] if len(values) == 1 else values

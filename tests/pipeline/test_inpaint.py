"""Inpaint options: validation, and the engine's paste-back on tiny real components."""

import numpy as np
import pytest
from PIL import Image

from pipeline import GenerationRequest, InpaintArea, RequestError, read_image_info
from pipeline.inpaint import plan_inpaint
from pipeline.masks import feather_mask, grow_mask, inpaint_region
from pipeline.seams import seam_metric


def textured(height=64, width=64, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 3.0, yy * 3.0, np.full_like(xx, 120.0)], axis=-1)
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


def box_mask(shape, top, left, height, width):
    mask = np.zeros(shape, np.uint8)
    mask[top : top + height, left : left + width] = 255
    return mask


def inpaint(model_dir, init, mask, **changes):
    base = dict(
        prompt="a red circle", mode="inpaint", init_image=init, mask=mask, width=64, height=64,
        steps=3, seed=5, strength=1.0, model=str(model_dir),
    )  # fmt: skip
    return GenerationRequest(**{**base, **changes})


def changed(a, b):
    return np.any(a != b, axis=-1)


# --- request options ---------------------------------------------------------------------


def test_defaults_keep_existing_callers_working():
    request = GenerationRequest(prompt="x")
    assert (request.mask_blur, request.mask_grow, request.inpaint_padding) == (4, 0, 32)
    assert request.inpaint_area is InpaintArea.WHOLE and request.color_correction is True
    assert GenerationRequest(prompt="x", inpaint_area="only_masked").inpaint_area is (
        InpaintArea.ONLY_MASKED
    )


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("mask_blur", -1, ["mask_blur", "-1"]),
        ("mask_blur", 2.5, ["mask_blur", "whole number"]),
        ("mask_grow", 1000, ["mask_grow", "1000"]),
        ("mask_grow", -1000, ["mask_grow", "-1000"]),
        ("inpaint_padding", -8, ["inpaint_padding", "-8"]),
        ("inpaint_area", "masked", ["inpaint_area", "'masked'", "only_masked"]),
        ("color_correction", "yes", ["color_correction", "'yes'"]),
    ],
)
def test_bad_inpaint_options_name_field_and_value(field, value, words):
    with pytest.raises(RequestError) as info:
        GenerationRequest(prompt="x", **{field: value})
    assert all(word in str(info.value) for word in words), str(info.value)


def test_inpaint_options_are_in_the_metadata():
    meta = GenerationRequest(
        prompt="x", inpaint_area="only_masked", mask_grow=-3, color_correction=False
    ).to_metadata()
    assert meta["inpaint_area"] == "only_masked" and meta["mask_grow"] == -3
    assert meta["mask_blur"] == 4 and meta["inpaint_padding"] == 32
    assert meta["color_correction"] is False


# --- engine ------------------------------------------------------------------------------


@pytest.mark.parametrize("area", ["whole", "only_masked"])
def test_pixels_outside_the_feathered_band_are_bit_identical(engine, tiny_model_dir, area):
    init = textured()
    mask = box_mask((64, 64), 20, 24, 16, 12)
    request = inpaint(tiny_model_dir, init, mask, inpaint_area=area, mask_grow=2, mask_blur=3)
    result = engine.run(request)[0]
    band = feather_mask(grow_mask(mask, 2), 3) > 0
    assert result.image.shape == init.shape
    assert np.array_equal(result.image[~band], init[~band])
    assert changed(result.image, init)[mask == 255].mean() > 0.5  # the mask was regenerated
    with Image.open(result.path) as png:
        assert np.array_equal(np.asarray(png.convert("RGB")), result.image)  # the saved one


def test_only_masked_generates_a_crop_and_pastes_it_in_place(engine, tiny_model_dir):
    init = textured(96, 80)
    mask = box_mask((96, 80), 84, 68, 6, 6)  # a small mask in the bottom-right corner
    request = inpaint(tiny_model_dir, init, mask, inpaint_area="only_masked", inpaint_padding=4)
    updates = []
    result = engine.run(request, on_step=updates.append)[0]
    box = inpaint_region(mask, 4, (80, 96), aspect=1.0)
    assert [u.region for u in updates] == [tuple(box)] * len(updates) and len(updates) == 3
    assert box.x >= 56 and box.y >= 72  # the crop really is small
    rows, cols = np.nonzero(changed(result.image, init))
    assert rows.size and rows.min() >= 84 - 4 and cols.min() >= 68 - 4  # only around the mask
    assert result.image.shape == (96, 80, 3)


def test_whole_mode_returns_the_init_size_and_reports_the_full_region(engine, tiny_model_dir):
    init = textured(80, 72)
    mask = box_mask((80, 72), 30, 30, 10, 10)
    updates = []
    result = engine.run(inpaint(tiny_model_dir, init, mask), on_step=updates.append)[0]
    assert result.image.shape == (80, 72, 3)
    assert updates[-1].region == (0, 0, 72, 80)
    band = feather_mask(mask, 4) > 0
    assert np.array_equal(result.image[~band], init[~band])


def test_other_modes_send_previews_without_a_region(engine, tiny_model_dir):
    updates = []
    result = engine.run(
        GenerationRequest(
            prompt="x", width=64, height=64, steps=2, seed=1, model=str(tiny_model_dir)
        ),
        on_step=updates.append,
    )
    assert updates and all(u.region is None for u in updates)
    assert "mask_blur" not in read_image_info(result[0].path)  # inpaint options stay out of info


@pytest.mark.parametrize(("grow", "message"), [(0, "the mask is empty"), (-4, "mask_grow=-4")])
def test_an_empty_mask_is_refused_before_anything_runs(engine, tiny_model_dir, grow, message):
    init = textured()
    mask = np.zeros((64, 64), np.uint8) if grow == 0 else box_mask((64, 64), 10, 10, 6, 6)
    updates = []
    with pytest.raises(RequestError, match=message):
        engine.run(inpaint(tiny_model_dir, init, mask, mask_grow=grow), on_step=updates.append)
    assert updates == []


def test_parameters_text_records_the_inpaint_options(engine, tiny_model_dir):
    init, mask = textured(), box_mask((64, 64), 8, 8, 16, 16)
    request = inpaint(tiny_model_dir, init, mask, inpaint_area="only_masked", inpaint_padding=8)
    path = engine.run(request)[0].path
    with Image.open(path) as png:
        text = png.text["parameters"]
    assert "Mask blur: 4, Mask grow: 0, Inpaint area: Only masked, Masked area padding: 8" in text
    info = read_image_info(path)
    assert info["mode"] == "inpaint" and info["inpaint_area"] == "only_masked"
    assert (info["inpaint_padding"], info["mask_blur"], info["color_correction"]) == (8, 4, True)


def test_repair_does_not_make_the_seam_worse_than_a_plain_paste(engine, tiny_model_dir):
    """Same seed, same model output: a hard paste (no blur, no correction) vs Brushwork's."""
    init = textured(seed=3)
    mask = box_mask((64, 64), 16, 16, 32, 32)
    plain = engine.run(inpaint(tiny_model_dir, init, mask, mask_blur=0, color_correction=False))[
        0
    ].image
    repaired = engine.run(inpaint(tiny_model_dir, init, mask))[0].image
    assert seam_metric(repaired, mask) <= seam_metric(plain, mask)


def test_the_model_regenerates_every_latent_cell_the_mask_touches():
    """diffusers samples the mask once per 8×8 cell; a thin stroke must still reach the model."""
    init = textured(64, 64)
    mask = np.zeros((64, 64), np.uint8)
    mask[10:50, 13:15] = 255  # 2 px wide, never on a cell's first column
    for area in ("whole", "only_masked"):
        request = inpaint("unused", init, mask, inpaint_area=area, model=None)
        plan = plan_inpaint(request)
        sampled = np.asarray(plan.model_mask())[::8, ::8]  # what the latents see
        cells = Image.fromarray(sampled).resize(
            (plan.box.width, plan.box.height), Image.Resampling.NEAREST
        )
        assert (np.asarray(cells)[mask[plan.box.slices] == 255] == 255).all(), area

"""Preprocessors turn the canvas or an image into what a ControlNet reads."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import RequestError
from pipeline.preprocess import available_modules, preprocess, unavailable_reason


def box_image(background=(30, 60, 200), fill=(240, 220, 30)) -> np.ndarray:
    image = np.zeros((64, 64, 3), np.uint8)
    image[:] = background
    image[16:48, 20:44] = fill
    return image


def test_canny_finds_the_outline_of_a_filled_box_and_nothing_inside():
    edges = preprocess("canny", box_image())
    assert edges.shape == (64, 64, 3) and edges.dtype == np.uint8
    assert set(np.unique(edges)) == {0, 255}
    on = edges[..., 0] > 0
    assert on[14:18, 20:44].any() and on[46:50, 20:44].any()  # top and bottom sides
    assert not on[22:42, 26:38].any() and not on[:8].any()  # inside and far outside: empty


def test_soft_edges_are_bright_on_the_border_and_dark_in_flat_areas():
    soft = preprocess("softedge", box_image())[..., 0].astype(int)
    assert soft[16, 32] > 150 and soft[32, 32] < 20 and soft[4, 4] < 20
    assert 0 < soft[18, 32] < 255  # soft: falls off away from the edge, not a hard line
    assert not preprocess("softedge", np.full((16, 16, 3), 9, np.uint8)).any()


@pytest.mark.parametrize("background", [(255, 255, 255), (0, 0, 0), (120, 200, 90)])
def test_scribble_is_strokes_as_white_on_black_on_any_plain_background(background):
    painted = np.zeros((64, 64, 3), np.uint8)
    painted[:] = background
    stroke = (255 - np.array(background)).astype(np.uint8)
    painted[30:33, 10:50] = stroke
    lines = preprocess("scribble", painted)[..., 0]
    expected = np.zeros((64, 64), bool)
    expected[30:33, 10:50] = True
    assert np.array_equal(lines == 255, expected) and set(np.unique(lines)) == {0, 255}


def test_scribble_of_a_transparent_paint_layer_uses_its_opaque_pixels():
    layer = np.zeros((32, 32, 4), np.uint8)
    layer[5:8, 5:25] = (10, 10, 10, 255)
    layer[20, 20] = (10, 10, 10, 40)  # a faint speck: not a stroke
    lines = preprocess("scribble", layer)
    assert lines.shape == (32, 32, 3)
    assert lines[6, 10, 0] == 255 and lines[20, 20, 0] == 0 and lines[..., 0].sum() == 60 * 255


@pytest.mark.parametrize(
    "image",
    [np.full((64, 64, 3), 255, np.uint8), np.zeros((16, 16, 4), np.uint8)],
    ids=["white canvas", "empty layer"],
)
def test_an_empty_scribble_is_a_clear_message(image):
    with pytest.raises(RequestError, match="The scribble is empty"):
        preprocess("scribble", image)


def test_depth_and_pose_are_hidden_with_a_reason_when_controlnet_aux_is_missing(monkeypatch):
    monkeypatch.setattr("pipeline.preprocess._has", lambda name: name != "controlnet_aux")
    for module in ("depth", "pose"):
        assert "controlnet-aux" in unavailable_reason(module)
        with pytest.raises(RequestError, match="controlnet-aux"):
            preprocess(module, box_image())
    assert available_modules() == ("none", "scribble", "canny", "softedge")


def test_depth_without_its_weights_in_the_cache_is_a_message_not_a_download(monkeypatch):
    monkeypatch.setattr("pipeline.preprocess._has", lambda name: True)
    reason = unavailable_reason("depth")  # the session's HF cache is empty and offline
    assert "not in the Hugging Face cache" in reason and "lllyasviel/Annotators" in reason


def test_none_passes_the_image_through():
    image = box_image()
    assert np.array_equal(preprocess("none", image), image)

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import GenerationRequest, Mode, RequestError, item_seed
from pipeline.request import MAX_SIZE, MIN_SIZE, SEED_LIMIT


def test_defaults_are_valid_and_seed_minus_one_means_random():
    request = GenerationRequest(prompt="a cat", seed=-1)
    assert request.seed is None
    resolved = request.with_resolved_seed()
    assert 0 <= resolved.seed < SEED_LIMIT
    assert resolved.with_resolved_seed() is resolved


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("width", 100, ["width", "multiple of 8", "100", "96", "104"]),
        ("height", 0, ["height", "0"]),
        ("width", -64, ["width", "-64"]),
        ("height", 100_000, ["height", "100000"]),
        ("steps", 0, ["steps", "0"]),
        ("steps", 10_000, ["steps", "10000"]),
        ("guidance", float("nan"), ["guidance", "nan"]),
        ("guidance", -1.0, ["guidance", "-1"]),
        ("seed", 2**32, ["seed", str(2**32)]),
        ("seed", -5, ["seed", "-5"]),
        ("batch_size", 0, ["batch_size"]),
        ("sampler", "foo", ["sampler", "'foo'", "euler_a"]),
        ("mode", "paint", ["mode", "'paint'"]),
        ("steps", 2.5, ["steps", "whole number"]),
        ("prompt", None, ["prompt", "text"]),
    ],
)
def test_bad_values_raise_errors_that_name_field_and_value(field, value, words):
    kwargs = {"prompt": "x", field: value}
    with pytest.raises(RequestError) as info:
        GenerationRequest(**kwargs)
    for word in words:
        assert word in str(info.value)


@given(st.integers(min_value=-10, max_value=MAX_SIZE + 100))
def test_width_is_accepted_exactly_when_a_multiple_of_8_in_range(width):
    valid = MIN_SIZE <= width <= MAX_SIZE and width % 8 == 0
    try:
        GenerationRequest(prompt="x", width=width)
    except RequestError as exc:
        assert not valid, exc
        assert "width" in str(exc)
    else:
        assert valid


def test_modes_require_and_refuse_the_right_images():
    image = np.zeros((64, 64, 3), np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    with pytest.raises(RequestError, match="img2img needs an init image"):
        GenerationRequest(prompt="x", mode=Mode.IMG2IMG)
    with pytest.raises(RequestError, match="inpaint needs a mask"):
        GenerationRequest(prompt="x", mode="inpaint", init_image=image)
    with pytest.raises(RequestError, match="txt2img takes no init image"):
        GenerationRequest(prompt="x", init_image=image)
    with pytest.raises(RequestError, match="mask size 32×64 differs"):
        GenerationRequest(prompt="x", mode="inpaint", init_image=image, mask=mask[:, :32])
    with pytest.raises(RequestError, match="uint8 H×W×3"):
        GenerationRequest(prompt="x", mode="img2img", init_image=image.astype(np.float32))
    ok = GenerationRequest(prompt="x", mode="inpaint", init_image=image, mask=mask)
    assert ok.mode is Mode.INPAINT


def test_images_are_copied_and_read_only():
    image = np.zeros((64, 64, 3), np.uint8)
    request = GenerationRequest(prompt="x", mode="img2img", init_image=image)
    image[0, 0] = 255
    assert request.init_image[0, 0, 0] == 0
    with pytest.raises(ValueError):
        request.init_image[0, 0, 0] = 1


def test_item_seed_is_base_plus_index_wrapping():
    assert [item_seed(10, k) for k in range(3)] == [10, 11, 12]
    assert item_seed(SEED_LIMIT - 1, 2) == 1


def test_metadata_is_json_ready_and_excludes_images():
    image = np.zeros((64, 64, 3), np.uint8)
    meta = GenerationRequest(prompt="p", mode="img2img", init_image=image, seed=3).to_metadata()
    assert meta["mode"] == "img2img" and meta["seed"] == 3
    assert "init_image" not in meta and "mask" not in meta

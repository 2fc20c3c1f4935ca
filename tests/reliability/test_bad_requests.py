"""Bad generation parameters: each gets a message that names the field and the value, from the
request itself and from the command line (exit status 2, one line), and nothing is written."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pipeline import GenerationRequest, RequestError
from pipeline.cli import main

CASES = {
    "width-not-multiple-of-8": ({"width": 500}, ["--width", "500"],
                                "width must be a multiple of 8 (got 500); try 496 or 504"),
    "height-not-multiple-of-8": ({"height": 77}, ["--height", "77"],
                                 "height must be a multiple of 8"),
    "width-zero": ({"width": 0}, ["--width", "0"], "width must be between 64 and 4096 (got 0)"),
    "height-negative": ({"height": -512}, ["--height", "-512"],
                        "height must be between 64 and 4096 (got -512)"),
    "width-huge": ({"width": 100_000}, ["--width", "100000"],
                   "width must be between 64 and 4096 (got 100000)"),
    "steps-zero": ({"steps": 0}, ["--steps", "0"], "steps must be between 1 and 500 (got 0)"),
    "steps-10000": ({"steps": 10_000}, ["--steps", "10000"],
                    "steps must be between 1 and 500 (got 10000)"),
    "cfg-negative": ({"guidance": -3.0}, ["--cfg", "-3"],
                     "guidance must be between 0 and 50 (got -3.0)"),
    "cfg-nan": ({"guidance": math.nan}, ["--cfg", "nan"], "guidance must be between 0 and 50"),
    "seed-above-range": ({"seed": 2**32}, ["--seed", str(2**32)],
                         "seed must be between 0 and 4294967295 (got 4294967296)"),
    "seed-negative": ({"seed": -5}, ["--seed", "-5"], "seed must be between 0 and 4294967295"),
    "prompt-not-utf8": ({"prompt": "a red \udcff circle"}, ["--prompt", "a red \udcff circle"],
                        "prompt holds bytes that are not valid text (at character 7)"),
    "negative-prompt-not-utf8": ({"negative_prompt": "\udc80"}, ["--negative", "\udc80"],
                                 "negative_prompt holds bytes that are not valid text"),
    "prompt-megabyte-long": ({"prompt": "a" * 1_000_000}, ["--prompt", "a" * 1_000_000],
                             "prompt is 1,000,000 characters long; the limit is 20,000"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_bad_parameter_is_named_in_the_error(case, tmp_path, capsys):
    fields, argv, message = CASES[case]
    with pytest.raises(RequestError) as error:
        GenerationRequest(**{"prompt": "a red circle", **fields})
    assert message in str(error.value)

    base = ["generate", "--prompt", "a red circle", "--out", str(tmp_path), "--quiet"]
    if argv[0] == "--prompt":
        base = base[:1] + base[3:]
    assert main(base + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())  # nothing written, the model never loaded


def test_mask_size_differs_from_the_init_image_in_the_request():
    with pytest.raises(RequestError, match="mask size 32×64 differs from the init image size"):
        GenerationRequest(
            prompt="x",
            mode="inpaint",
            init_image=np.zeros((64, 64, 3), np.uint8),
            mask=np.zeros((64, 32), np.uint8),
        )


anything = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
    st.binary(max_size=8), st.lists(st.integers(), max_size=3),
)  # fmt: skip
FIELDS = ("prompt", "negative_prompt", "mode", "sampler", "steps", "guidance", "seed", "width",
          "height", "batch_size", "strength", "model", "mask_blur", "mask_grow", "inpaint_area",
          "inpaint_padding", "color_correction", "init_image", "mask")  # fmt: skip


@given(st.dictionaries(st.sampled_from(FIELDS), anything, max_size=6))
@example({"sampler": []})  # found by Hypothesis in CI: a list is unhashable (was a TypeError)
@example({key: [] for key in ("mode", "inpaint_area", "model")})
def test_any_field_values_give_a_request_or_a_request_error(fields):
    """Whatever a front end passes, validation answers with RequestError or a valid request."""
    try:
        request = GenerationRequest(**{"prompt": "x", **fields})
    except RequestError as exc:
        assert str(exc)  # a message for the user
        return
    request = request.resolved()  # as the engine runs it: size, sampler and CFG filled in
    assert request.width % 8 == 0 and 1 <= request.steps <= 500
    assert math.isfinite(request.guidance)
    request.prompt.encode("utf-8")


@given(st.text(max_size=200), st.text(max_size=200))
def test_any_text_is_a_valid_prompt_or_named_as_invalid(prompt, negative):
    try:
        GenerationRequest(prompt=prompt, negative_prompt=negative)
    except RequestError as exc:
        assert "not valid text" in str(exc)

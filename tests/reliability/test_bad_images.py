"""Images and metadata from anywhere: opening them never crashes, never hangs, never changes the
canvas when it fails, and the app generates afterwards."""

from __future__ import annotations

import contextlib
import json
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from pipeline import ImageInputError
from pipeline.imagefiles import read_image
from pipeline.metadata import _from_json_chunk, parse_parameters, read_image_info
from pipeline.metadata_formats import READERS
from tests.gui.conftest import wait_idle
from tests.pngs import png_with_text


def raw_png(width: int, height: int, pixels: bytes = b"", depth: int = 8, color: int = 2) -> bytes:
    """A PNG whose header claims any size; only the header is honest about nothing."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels))
            + chunk(b"IEND", b""))  # fmt: skip


def truncated_png(path: Path) -> None:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:2000])


BAD_IMAGES = {
    "not-an-image": (lambda p: p.write_text("just text"), "Could not read image"),
    "truncated-png": (truncated_png, "Could not read image"),
    "decompression-bomb-png": (  # 10 GP claimed in a few hundred bytes
        lambda p: p.write_bytes(raw_png(100_000, 100_000, b"\0" * 1000, depth=1, color=0)),
        "too large to open safely",
    ),
    "bomb-just-over-our-limit": (  # 100 MP: over our cap, under PIL's own error threshold
        lambda p: p.write_bytes(raw_png(10_000, 10_000, b"\0" * 1000, depth=1, color=0)),
        "10000×10000 pixels; Brushwork opens images up to 16384 px a side",
    ),
    "zero-by-zero": (lambda p: p.write_bytes(raw_png(0, 0)), "Could not read image"),
    "100000-px-wide": (
        lambda p: p.write_bytes(raw_png(100_000, 1, b"\0" * 300_001)),
        "100000×1 pixels",
    ),
    "empty-file": (lambda p: p.write_bytes(b""), "Could not read image"),
    "folder-named-png": (lambda p: p.mkdir(), "is a folder, not an image"),
}


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_bad_image_opened_is_explained_and_the_canvas_is_kept(qtbot, make_app, tmp_path, case):
    make, message = BAD_IMAGES[case]
    app, _ = make_app()
    window = app.window
    window.doc.fill_mask()
    before = window.doc.image.copy()
    path = tmp_path / f"{case}.png"
    make(path)
    started = time.perf_counter()
    assert not window.files.open_image(path)
    assert time.perf_counter() - started < 5  # refused from the header, not decoded
    assert message in window.error_banner.text()
    assert np.array_equal(window.doc.image, before) and window.doc.mask.all()
    window.panel.prompt.setPlainText("still works")
    window.panel.steps.setValue(2)
    window.generate()
    wait_idle(qtbot, window)
    assert window.controller.last_results and window.controller.last_results[0].path.is_file()


def test_mask_of_a_different_size_than_the_image(tmp_path, capsys):
    from pipeline.cli import main

    Image.new("RGB", (64, 64), "white").save(tmp_path / "init.png")
    Image.new("L", (48, 64), 255).save(tmp_path / "mask.png")
    code = main(["generate", "--prompt", "x", "--init", str(tmp_path / "init.png"),
                 "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path)])  # fmt: skip
    assert code == 2
    assert "mask size 48×64 differs from the init image size 64×64" in capsys.readouterr().err
    assert not list(tmp_path.glob("2*.png"))


MALFORMED_CHUNKS = {
    "brushwork-json-truncated": {"brushwork": '{"app": "Brushwork", "request": {"prompt": "a'},
    "brushwork-json-deeply-nested": {"brushwork": "[" * 100_000 + "]" * 100_000},
    "brushwork-request-not-a-dict": {"brushwork": '{"request": ["x"]}'},
    "parameters-binary-garbage": {"parameters": "\x00\x01\x02\ufffd" * 50},
    "parameters-huge-comma-less-line": {"parameters": "x\n" + "a " * 400_000},
    "comfyui-graph-cycle": {
        "prompt": json.dumps(
            {
                "1": {
                    "class_type": "KSampler",
                    "inputs": {"positive": ["2", 0], "model": ["2", 0]},
                },
                "2": {
                    "class_type": "CLIPTextEncode",
                    "inputs": {"text": ["1", 0], "clip": ["1", 0]},
                },
            }
        )
    },
    "invokeai-wrong-types": {"invokeai_metadata": '{"positive_prompt": 5, "seed": "x"}'},
    "novelai-comment-not-json": {"Software": "NovelAI", "Comment": "{{{"},
}


@pytest.mark.parametrize("case", list(MALFORMED_CHUNKS))
def test_malformed_metadata_chunks_in_opened_images(qtbot, make_app, tmp_path, case):
    path = png_with_text(tmp_path / f"{case}.png", MALFORMED_CHUNKS[case], value=90)
    app, _ = make_app()
    window = app.window
    before = window.panel.to_parameters()
    started = time.perf_counter()
    restored = window.use_parameters_of(path)
    assert time.perf_counter() - started < 5  # bounded: no quadratic parse, no deep recursion
    if not restored:
        assert "holds no generation parameters" in window.error_banner.text()
        assert window.panel.to_parameters() == before
    assert window.files.open_image(path)  # the pixels are fine whatever the chunks say
    assert window.doc.image[0, 0, 0] == 90


def test_text_chunk_bomb_is_refused_with_a_reason(qtbot, make_app, tmp_path):
    """A 6 KB PNG whose compressed text chunk inflates to 6 MB: PIL's 1 MB text cap holds."""
    info = PngInfo()
    info.add_text("parameters", "a, " * 2_000_000, zip=True)
    path = tmp_path / "text-bomb.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    assert path.stat().st_size < 20_000
    app, _ = make_app()
    window = app.window
    assert not window.use_parameters_of(path)
    assert "over 1 MB of text metadata" in window.error_banner.text()
    assert not window.files.open_image(path)
    assert "over 1 MB of text metadata" in window.error_banner.text()


chunk_values = st.one_of(
    st.text(max_size=300),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    ).map(json.dumps),
)
chunk_keys = st.sampled_from(
    ["parameters", "brushwork", "prompt", "workflow", "invokeai_metadata", "sd-metadata",
     "Dream", "Comment", "Software", "Description", "fooocus_scheme"]
)  # fmt: skip


@given(st.dictionaries(chunk_keys, chunk_values, max_size=4))
def test_every_metadata_reader_takes_random_chunks(chunks):
    for reader in READERS:
        found = reader(chunks)
        assert found is None or isinstance(found, dict)
    ours = _from_json_chunk(chunks.get("brushwork"))
    assert ours is None or ours["source"] == "brushwork"
    text = chunks.get("parameters", "")
    assert isinstance(parse_parameters(text), dict)


@given(st.binary(max_size=2000))
def test_random_bytes_as_an_image_file_give_only_our_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "random.png"
    path.write_bytes(data)
    for read in (read_image, read_image_info):
        with contextlib.suppress(ImageInputError):  # anything else fails the test
            read(path)


@given(st.binary(min_size=1, max_size=400))
def test_random_bytes_inside_a_png_text_chunk(tmp_path_factory, data):
    text = data.decode("latin-1")
    path = png_with_text(tmp_path_factory.mktemp("chunk") / "x.png", {"parameters": text})
    try:
        info = read_image_info(path)
    except ImageInputError:
        return
    assert info["source"] == "a1111"

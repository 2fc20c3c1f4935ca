"""Images from anywhere: only PNG, JPEG, WebP, BMP, TIFF and GIF are ever decoded (a PostScript
file named `.png` never reaches Ghostscript), and sizes are checked before any decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from pipeline import ImageInputError
from pipeline.cli import main
from pipeline.imagefiles import read_image
from pipeline.metadata import read_image_info
from tests.security.crafted import EPS, png, text_chunk, write

REFUSED = "it is not a PNG, JPEG, WebP, BMP, TIFF or GIF file"
PARAMETERS = "a red cat\nSteps: 5, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 64x64"


@pytest.mark.parametrize("command", ["generate-init", "info"])
def test_postscript_named_png_is_refused_without_running_ghostscript(
    tmp_path, tattletale_gs, capsys, command
):
    holiday = write(tmp_path / "holiday.png", EPS)
    args = {
        "generate-init": ["generate", "--prompt", "x", "--init", str(holiday), "--out",
                          str(tmp_path / "out")],
        "info": ["info", str(holiday)],
    }[command]  # fmt: skip
    assert main(args) == 2
    assert REFUSED in capsys.readouterr().err
    assert not tattletale_gs.exists(), "Ghostscript was run on a file named .png"


def test_history_strip_never_hands_a_png_to_ghostscript(qtbot, make_app, tmp_path, tattletale_gs):
    """The strip makes thumbnails of every *.png in the output folder, with no click at all."""
    out = tmp_path / "outputs"
    out.mkdir()
    write(out / "holiday.png", EPS)
    app, _ = make_app()
    history = app.window.history
    qtbot.waitUntil(lambda: history.item(0).text() == "unreadable", timeout=10_000)
    assert not tattletale_gs.exists()
    assert not app.window.use_parameters_of(out / "holiday.png")
    assert REFUSED in app.window.error_banner.text()
    assert not tattletale_gs.exists()


def test_dropped_postscript_is_refused_and_the_canvas_kept(
    qtbot, make_app, tmp_path, tattletale_gs
):
    holiday = write(tmp_path / "holiday.png", EPS)
    app, _ = make_app()
    window = app.window
    before = window.doc.image.copy()
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(holiday))])
    drop = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, data,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    window.dropEvent(drop)
    assert REFUSED in window.error_banner.text()
    assert np.array_equal(window.doc.image, before)
    assert not tattletale_gs.exists()


@pytest.mark.parametrize(
    "kind", ["PPM", "ICO", "PCX", "TGA", "SGI", "QOI", "DDS", "SPIDER", "MSP", "XBM"]
)
def test_formats_outside_the_list_are_refused_whatever_the_name(tmp_path, kind):
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).convert("1" if kind in ("XBM", "MSP") else "RGB").save(
        buffer, format=kind
    )
    path = write(tmp_path / "photo.png", buffer.getvalue())
    assert Image.open(path).format == kind  # Pillow alone would open it
    with pytest.raises(ImageInputError, match=REFUSED):
        read_image(path)
    with pytest.raises(ImageInputError, match=REFUSED):
        read_image_info(path)


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"])
def test_the_allowed_formats_open(tmp_path, kind):
    buffer = io.BytesIO()
    Image.new("RGB", (16, 8), (200, 0, 0)).save(buffer, format=kind)
    pixels = read_image(write(tmp_path / f"image.{kind.lower()}", buffer.getvalue()))
    assert pixels.shape == (8, 16, 3) and pixels[4, 8, 0] > 150


def test_info_reads_text_after_the_pixels_without_decoding_them(tmp_path, monkeypatch):
    """An APNG of three 4000² frames with its parameters after the pixel data: the text is
    read, no frame is decoded (Pillow's `.text` would decode all three)."""
    path = write(
        tmp_path / "anim.png",
        png(4000, 4000, after=text_chunk("parameters", PARAMETERS, compressed=True), frames=3),
    )
    decoded = []
    original = ImageFile.ImageFile.load
    spy = lambda self: decoded.append(1) or original(self)  # noqa: E731
    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    info = read_image_info(path)
    assert info["prompt"] == "a red cat" and info["steps"] == 5
    assert decoded == []


@pytest.mark.parametrize(
    ("side", "message"),
    [(13_000, "13000×13000 pixels; Brushwork opens images up to"),
     (20_000, "too large to open safely")],
)  # fmt: skip
def test_info_on_a_huge_image_is_a_clear_error(tmp_path, capsys, side, message):
    """13000²: over our limit; 20000²: over Pillow's own bomb limit (an uncaught
    DecompressionBombError before). Both in well under 1 MB of file."""
    text = text_chunk("parameters", PARAMETERS)
    path = write(tmp_path / "huge.png", png(side, side, before=text))
    assert path.stat().st_size < 1_000_000
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: huge.png") and message in err and "Traceback" not in err


def test_history_strip_and_use_parameters_with_a_bomb(qtbot, make_app, tmp_path):
    out = tmp_path / "outputs"
    out.mkdir()
    bomb = write(out / "bomb.png", png(20_000, 20_000, before=text_chunk("parameters", PARAMETERS)))
    app, _ = make_app()
    window = app.window
    qtbot.waitUntil(lambda: window.history.item(0).text() == "unreadable", timeout=10_000)
    before = window.panel.to_parameters()
    assert not window.use_parameters_of(bomb)
    assert "too large to open safely" in window.error_banner.text()
    assert window.panel.to_parameters() == before


def test_error_line_shows_markup_in_a_name_as_text(qtbot, make_app, tmp_path):
    """Messages quote names from disk; a QLabel guesses "rich text" from any tag in it and
    would render `<img src=…>` in a file name as HTML."""
    path = write(tmp_path / "<img src='x.png'><i>holiday.png", b"not an image")
    app, _ = make_app()
    window = app.window
    assert not window.files.open_image(path)
    assert "image <img src='x.png'><i>holiday.png: it is not" in window.error_banner.text()
    assert window.error_banner.textFormat() == Qt.TextFormat.PlainText

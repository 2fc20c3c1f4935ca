"""Makes the Windows .ico and macOS .icns from resources/icons/brushwork.png at build time, so
the PNG stays the only icon in git."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]


def make_icon(png: Path, target: Path) -> Path:
    """Writes `target` (.ico or .icns, chosen by its suffix) from `png` and returns it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(png) as image:
        rgba = image.convert("RGBA")
        if target.suffix == ".ico":
            rgba.save(target, sizes=ICO_SIZES)
        elif target.suffix == ".icns":
            rgba.resize((512, 512), Image.Resampling.LANCZOS).save(target)  # Pillow adds smaller
        else:
            raise ValueError(f"unknown icon format {target.suffix!r}: use .ico or .icns")
    return target

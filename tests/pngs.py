"""PNG files with text chunks, as other tools write them (for metadata tests)."""

from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo


def png_with_text(path: Path, chunks: dict[str, str], value: int = 0, size: int = 8) -> Path:
    info = PngInfo()
    for key, text in chunks.items():
        info.add_text(key, text)
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path, pnginfo=info)
    return path

import numpy as np
import pytest
from PIL import Image

from pipeline import OutputError
from pipeline.outputs import default_output_dir, write_png


def test_writes_png_with_text_and_never_overwrites(tmp_path):
    image = np.zeros((8, 8, 3), np.uint8)
    image[0, 0] = (1, 2, 3)
    first = write_png(image, tmp_path / "out", "stem", {"parameters": "p ✓"})
    second = write_png(image, tmp_path / "out", "stem", {})
    assert (first.name, second.name) == ("stem.png", "stem-1.png")
    with Image.open(first) as png:
        assert png.text["parameters"] == "p ✓"
        assert tuple(np.asarray(png)[0, 0]) == (1, 2, 3)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["stem-1.png", "stem.png"]


def test_unwritable_folder_raises_and_leaves_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(OutputError, match="Could not write the image to"):
        write_png(np.zeros((8, 8, 3), np.uint8), blocker / "out", "x", {})
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_default_output_dir_follows_the_platform_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_output_dir() == tmp_path / "Brushwork" / "outputs"


def test_images_get_the_permissions_the_umask_gives_any_new_file(tmp_path):
    """mkstemp alone creates 0600 files: `--out result.png` was readable by its owner only."""
    import os

    from pipeline.atomic import SHARED_MODE

    path = write_png(np.zeros((8, 8, 3), np.uint8), tmp_path, "x", {})
    assert os.stat(path).st_mode & 0o777 == SHARED_MODE
    assert SHARED_MODE & 0o400  # the owner can read it whatever the umask

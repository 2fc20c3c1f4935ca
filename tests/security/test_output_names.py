"""Output names are claimed atomically: concurrent writers never pick the same name, so no
image silently replaces another."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from PIL import Image

from pipeline.outputs import write_png

THREADS, WRITES = 4, 100


def write_concurrently(folder):
    barrier = threading.Barrier(THREADS)
    paths: list = []

    def writer(index: int) -> None:
        barrier.wait()
        for count in range(WRITES):
            image = np.full((8, 8, 3), index, np.uint8)
            image[0, 0] = (count % 256, count // 256, 7)
            paths.append(write_png(image, folder, "same-stem", {"writer": f"{index}-{count}"}))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return paths


def check_every_image_kept(folder, paths):
    assert len(set(paths)) == THREADS * WRITES  # 400 distinct names returned
    files = sorted(folder.glob("*.png"))
    assert len(files) == THREADS * WRITES  # and 400 files on disk
    written = set()
    for path in files:
        with Image.open(path) as png:
            written.add(png.text["writer"])
    assert len(written) == THREADS * WRITES  # each one a different image
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp files left


def test_four_threads_writing_100_images_each_keep_400_files(tmp_path):
    folder = tmp_path / "outputs"
    check_every_image_kept(folder, write_concurrently(folder))


def test_without_hard_links_the_name_is_claimed_with_o_excl(tmp_path, monkeypatch):
    """FAT and some network shares refuse hard links: the O_EXCL claim keeps names unique."""

    def no_links(*_args, **_kwargs):
        raise PermissionError("hard links are not supported here")

    monkeypatch.setattr(os, "link", no_links)
    folder = tmp_path / "outputs"
    check_every_image_kept(folder, write_concurrently(folder))


@pytest.mark.parametrize("taken", [0, 1, 3])
def test_taken_names_are_skipped(tmp_path, taken):
    for index in range(taken):
        name = "s.png" if index == 0 else f"s-{index}.png"
        (tmp_path / name).write_bytes(b"someone else's")
    path = write_png(np.zeros((8, 8, 3), np.uint8), tmp_path, "s", {})
    assert path.name == ("s.png" if taken == 0 else f"s-{taken}.png")
    assert all((tmp_path / n).read_bytes() == b"someone else's" for n in
               [("s.png" if i == 0 else f"s-{i}.png") for i in range(taken)])  # fmt: skip

"""The one crash-safe write helper: the old file survives any failure, no temp file is left."""

import json
import os

import pytest

from pipeline.atomic import replace_atomically, write_atomically, write_json_atomically


def test_json_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "settings.json"
    write_json_atomically(path, {"a": 1})
    write_json_atomically(path, {"a": "é"}, indent=2)
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": "é"}
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failing_write_keeps_the_old_file_and_removes_the_temporary(tmp_path, error):
    path = tmp_path / "manifest.json"
    path.write_text("old")

    def fail(handle):
        handle.write(b"half of the new")
        raise error

    with pytest.raises(type(error)):
        replace_atomically(path, fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_the_target_name_is_asked_only_after_the_data_is_written(tmp_path):
    order = []

    def write(handle):
        order.append("write")
        handle.write(b"x")

    def place(tmp_name):
        order.append("target")
        os.replace(tmp_name, tmp_path / "out.bin")
        return tmp_path / "out.bin"

    assert write_atomically(tmp_path / "new", write, place) == tmp_path / "out.bin"
    assert order == ["write", "target"] and (tmp_path / "out.bin").read_bytes() == b"x"

"""`brushwork-cli info` prints what a file says: escape sequences in it must reach the terminal
as visible text, never as commands (set the title, clear the screen, fake coloured lines)."""

from __future__ import annotations

import json
import unicodedata

import pytest

from pipeline.cli import main
from tests.pngs import png_with_text

HOSTILE = "cat\x1b]0;pwned\x07\x1b[2J\rFAKE\x9b31mred\x7f\u202eevil\u2028x\x85\ttab"
RAW_CONTROLS = {c for c in HOSTILE if unicodedata.category(c) in ("Cc", "Zl") or c == "\u202e"}


def controls_in(text: str) -> set[str]:
    return {c for c in text if c != "\n" and (unicodedata.category(c) in ("Cc", "Zl", "Zp")
                                              or c == "\u202e")}  # fmt: skip


@pytest.fixture
def hostile_png(tmp_path):
    request = {"prompt": HOSTILE, "negative_prompt": "\x1b[31mred", "steps": 5, "seed": 1}
    chunks = {"brushwork": json.dumps({"request": request, "model": "m\x1b[0m"})}
    return png_with_text(tmp_path / "hostile.png", chunks)


def test_info_shows_control_characters_as_escapes(hostile_png, capsys):
    assert main(["info", str(hostile_png)]) == 0
    out = capsys.readouterr().out
    assert not controls_in(out), f"raw control characters printed: {controls_in(out)}"
    shown = r"cat\x1b]0;pwned\x07\x1b[2J\rFAKE\x9b31mred\x7f\u202eevil\u2028x\x85\ttab"
    assert f"prompt: {shown}\n" in out
    assert "negative_prompt: \\x1b[31mred" in out and "model: m\\x1b[0m" in out
    assert len(out.splitlines()) == 6  # one line per value: a CR or LF cannot add fake ones


def test_info_json_is_escaped_and_still_reads_back_exactly(hostile_png, capsys):
    assert main(["info", "--json", str(hostile_png)]) == 0
    out = capsys.readouterr().out
    assert not controls_in(out)
    assert json.loads(out)["prompt"] == HOSTILE


def test_error_line_escapes_a_hostile_file_name(tmp_path, capsys):
    plain = png_with_text(tmp_path / "x\x1b[2J\x07.png", {})
    assert main(["info", str(plain)]) == 2
    err = capsys.readouterr().err
    assert not controls_in(err) and "x\\x1b[2J\\x07.png holds no generation parameters" in err

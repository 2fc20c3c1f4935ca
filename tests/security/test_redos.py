"""No parser of untrusted text may take more than linear time (ReDoS): every regex in pipeline/
and gui/ meets adversarial inputs of 100 000+ characters within a 2 s budget, and so do the
whole readers, from a 1 KB zTXt PNG through `brushwork-cli info` and "Use parameters"."""

from __future__ import annotations

import ast
import fnmatch
import importlib
import itertools
import json
import re
import zlib
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.security.budget import within
from tests.security.crafted import chunk, png, write

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 2.0  # seconds: generous, a linear pass over 1 MB takes milliseconds
N = 100_000
RE_CALLS = {
    "compile",
    "match",
    "search",
    "fullmatch",
    "findall",
    "finditer",
    "sub",
    "subn",
    "split",
}


def source_files() -> list[Path]:
    return sorted(p for folder in ("pipeline", "gui") for p in (ROOT / folder).rglob("*.py"))


def literal_patterns(path: Path) -> set[str]:
    """The pattern of every `re.<call>("literal", …)` in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in RE_CALLS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "re"
            and node.args
        ):
            first = node.args[0]
            assert isinstance(first, ast.Constant), (
                f"{path.name}:{node.lineno}: pattern not a literal"
            )
            found.add(first.value)
    return found


def module_values(path: Path) -> list[object]:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return [] if name.endswith("__main__") else list(vars(importlib.import_module(name)).values())


def all_patterns() -> list[str]:
    """Literal patterns of re calls, and compiled patterns modules hold (built by any means)."""
    patterns = set()
    for path in source_files():
        patterns |= literal_patterns(path)
        patterns |= {v.pattern for v in module_values(path) if isinstance(v, re.Pattern)}
    return sorted(patterns)


def all_globs() -> list[str]:
    """fnmatch globs held in module-level tuples (applied to names a server sends)."""
    globs = set()
    for path in source_files():
        for value in module_values(path):
            if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
                globs |= {v for v in value if "*" in v and "fnmatch" in path.read_text()}
    return sorted(globs)


# Characters that regexes in parsers care about; every single one and every pair, repeated.
SPECIAL = ["[", "]", '"', "\\", " ", ",", ":", "a", "0", "x", "\n", "-", "."]
SEEDS = ["", "a:", 'a:"', "x\n", "Steps: 1, a", '"', "[", " "]


def adversarial() -> list[str]:
    texts = [seed + unit * N for seed in ("", "a:", 'a:"') for unit in SPECIAL]
    texts += ["".join(pair) * (N // 2) for pair in itertools.combinations(SPECIAL, 2)]
    texts += [seed + "a " * (N // 2) + tail for seed in SEEDS for tail in ("", "!", ":")]
    texts += ['a:"' + "\\" * N, "[" * N + "]", "a" * N + "\n" + "b:" * N, "0x" * N]
    return texts


ADVERSARIAL = adversarial()


def test_the_collector_finds_the_known_regexes():
    """If collecting broke, the budget test below would pass on nothing."""
    from pipeline.metadata import _PARAM

    patterns = all_patterns()
    assert _PARAM.pattern in patterns and len(patterns) >= 7  # `Size:` is no regex since w/table
    assert "*.safetensors" in all_globs()


@pytest.mark.parametrize("pattern", all_patterns())
def test_every_regex_is_linear_on_adversarial_input(pattern):
    compiled = re.compile(pattern)
    for text in ADVERSARIAL:
        with within(BUDGET, f"{pattern!r} on {text[:12]!r}…({len(text)} chars)"):
            compiled.findall(text)  # tries every start position, as search/sub/split do
            compiled.match(text)


@pytest.mark.parametrize("glob", all_globs())
def test_every_file_name_glob_is_linear(glob):
    """fnmatch anchors its patterns, so only `match` applies; names come from the server."""
    for text in ADVERSARIAL:
        with within(BUDGET, f"glob {glob!r} on {text[:12]!r}…"):
            fnmatch.fnmatch(text, glob)


# --- whole readers, from files -----------------------------------------------------------------

SIZE = 990_000  # characters: a chunk holds at most 1 MiB (Pillow's MAX_TEXT_CHUNK)
PROMPTS = {
    "brackets": "[" * SIZE,
    "spaces": " " * SIZE,
    "bracket-space": "[ " * (SIZE // 2),
    "quotes-escapes": '\\"' * (SIZE // 2),
}


def ztxt_png(path: Path, key: str, value: str) -> Path:
    """A tiny PNG whose one zTXt chunk inflates to `value` (1 M characters in about 1 KB)."""
    data = key.encode("latin-1") + b"\0\0" + zlib.compress(value.encode("latin-1"), 9)
    return write(path, png(8, 8, before=chunk(b"zTXt", data)))


def chunks_for(kind: str, prompt: str) -> tuple[str, str]:
    """A chunk of each reader's format carrying `prompt` (about 1 M characters in all)."""
    if kind == "invokeai2":  # JSON escapes `\\` and `"`: keep the chunk under the cap
        return "sd-metadata", json.dumps({"image": {"prompt": prompt[: SIZE // 2], "steps": 5}})
    if kind == "dream":
        return "Dream", f'"{prompt}" -s 5'
    half = prompt[: SIZE // 2]
    return "parameters", f"{half}\nSteps: 5, Sampler: Euler, Seed: 1, {half}"


@pytest.mark.parametrize("kind", ["invokeai2", "dream", "a1111"])
@pytest.mark.parametrize("prompt", list(PROMPTS))
def test_cli_info_on_a_small_ztxt_png_with_a_million_character_prompt(
    tmp_path, capsys, kind, prompt
):
    key, value = chunks_for(kind, PROMPTS[prompt])
    value = value[:1_000_000]  # Pillow's per-chunk cap (MAX_TEXT_CHUNK) is 1 MiB
    path = ztxt_png(tmp_path / "tiny.png", key, value)
    assert path.stat().st_size < 8_000
    with within(BUDGET, f"brushwork-cli info on {kind}/{prompt}"):
        code = main(["info", str(path)])
    assert code in (0, 2)
    capsys.readouterr()


def test_use_parameters_parses_the_1_kb_redos_png_in_time(tmp_path):
    """The review's file: InvokeAI 2 metadata, a 1 M-character prompt of `[`, about 1 KB.
    "Use parameters" parses it on the GUI thread (gui.history.parameters_from_image), so the
    parse must be fast. (Showing a prompt that long in the panel is slow in Qt itself; the
    field table's length limit is what keeps it out.)"""
    from gui.history import parameters_from_image

    value = json.dumps({"image": {"prompt": "[" * SIZE, "steps": 7}})
    path = ztxt_png(tmp_path / "redos.png", "sd-metadata", value)
    assert path.stat().st_size < 2_000
    with within(BUDGET, "Use parameters"):
        found, notes = parameters_from_image(path)
    assert found["steps"] == 7 and "prompt" not in found  # over the table's length limit
    assert any("Prompt was left out" in note for note in notes)

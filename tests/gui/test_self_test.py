"""`brushwork --self-test`: the check the packaging build runs on every frozen app."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from gui.self_test import (
    PARAMETERS,
    SelfTestFailure,
    SelfTestProbe,
    check_optional_parts,
    check_result,
)
from tests.fakes import FakeEngine

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "QT_QPA_PLATFORM": "xcb",  # the self-test must switch to offscreen by itself
    }


@pytest.mark.slow
def test_self_test_generates_with_the_bundled_model_and_reports_timings(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "gui", "--self-test", "--device", "cpu", "--out", str(out)],
        env=_env(tmp_path), capture_output=True, text=True, timeout=600,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[-1] == "self-test: OK"
    assert any(line.startswith("self-test: window shown after ") for line in lines)
    assert any(line.endswith(f"({PARAMETERS.steps} previews)") for line in lines), lines
    assert any(line.startswith("self-test: first image after ") for line in lines)
    assert (
        "self-test: upscaler, LoRA support (peft) and the ComfyUI client (aiohttp) are present"
        in lines
    )
    [png] = out.glob("*.png")
    with Image.open(png) as image:
        assert image.size == (64, 64)
        assert PARAMETERS.prompt in image.text["parameters"]
    assert (out / "self-test.log").read_text().splitlines() == lines
    # The user's settings and default output folder were never touched.
    assert not (tmp_path / "config").exists() and not (tmp_path / "data").exists()


def test_self_test_fails_with_the_reason_when_the_model_cannot_load(tmp_path):
    missing = tmp_path / "no-such-model"
    done = subprocess.run(
        [sys.executable, "-m", "gui", "--self-test", "--device", "cpu", "--model", str(missing)],
        env=_env(tmp_path), capture_output=True, text=True, timeout=600,
    )  # fmt: skip

    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    [failure] = [line for line in done.stderr.splitlines() if "FAILED" in line]
    assert failure.startswith("self-test FAILED: loading the model failed: ")
    assert "no-such-model" in failure


def test_optional_parts_check_fails_when_the_upscaler_is_missing(tmp_path, monkeypatch):
    import pipeline.upscale

    image = tmp_path / "image.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(image)
    assert "upscaler" in check_optional_parts(image)  # all present in the test environment
    monkeypatch.setattr(
        pipeline.upscale, "bundled_upscaler_path", lambda: tmp_path / "gone.safetensors"
    )
    with pytest.raises(
        SelfTestFailure, match="the bundled upscaler does not run: Upscaler not found"
    ):
        check_optional_parts(image)


def test_clock_counts_from_process_start():
    code = (
        "import time; time.sleep(1.0)\n"
        "from gui.self_test import seconds_since_start\n"
        "print(seconds_since_start()())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)  # fmt: skip
    assert 1.0 <= float(done.stdout) < 60, done.stderr


def _probe(app) -> tuple[SelfTestProbe, list[bool]]:
    quits: list[bool] = []
    probe = SelfTestProbe(app, lambda: 1.0, lambda: quits.append(True))
    probe.begin()
    return probe, quits


def test_probe_rejects_an_image_whose_parameters_are_not_the_self_tests(qtbot, make_app, tmp_path):
    app, engine = make_app(FakeEngine(tmp_path / "outputs"))
    probe, quits = _probe(app)
    qtbot.waitUntil(lambda: bool(quits), timeout=20_000)

    [request] = engine.requests
    assert (request.prompt, request.steps, request.width, request.seed) == (
        PARAMETERS.prompt, 20, 64, 42,
    )  # fmt: skip
    assert len(probe.seen.previews) == 20 and probe.seen.first_image == 1.0
    with pytest.raises(SelfTestFailure, match="the PNG's parameters are wrong"):
        check_result(probe.seen)  # the fake engine writes "parameters: fake"


def test_probe_reports_a_failed_generation(qtbot, make_app, tmp_path):
    app, _ = make_app(FakeEngine(tmp_path / "outputs", fail=RuntimeError("boom")))
    probe, quits = _probe(app)
    qtbot.waitUntil(lambda: bool(quits), timeout=20_000)

    with pytest.raises(SelfTestFailure, match=r"generating failed: .*RuntimeError: boom"):
        check_result(probe.seen)

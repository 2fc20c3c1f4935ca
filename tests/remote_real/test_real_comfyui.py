"""Brushwork's remote backend against real ComfyUI servers on 127.0.0.1 (tiny SD 1.5 model)."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request

import numpy as np
import pytest

from pipeline.errors import Cancelled, RequestError
from pipeline.metadata import read_image_info
from pipeline.remote import RemoteEngine, RemoteError, ServerDown, Timeouts
from pipeline.request import GenerationRequest
from pipeline.results import StepUpdate

from .comfy_server import ComfyServer
from .tiny_sd15 import NAME

pytestmark = pytest.mark.slow  # minutes: real ComfyUI processes, ~8 s per step on a busy CPU
TIMEOUTS = Timeouts(connect=10, request=60, idle=300, reconnect=3)


def _request(**kw) -> GenerationRequest:
    fields = {"prompt": "a red square", "seed": 5, "width": 64, "height": 64, "steps": 3,
              "model": NAME, **kw}  # fmt: skip
    return GenerationRequest(**fields)


def _engine(tmp_path, *urls: str, **kw) -> RemoteEngine:
    return RemoteEngine(list(urls), tmp_path, timeouts=TIMEOUTS, **kw)


def _get(url: str) -> dict:
    return json.loads(urllib.request.urlopen(url, timeout=10).read())


def _wait_idle(url: str, limit: float = 120.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        queue = _get(url + "/queue")
        if not queue["queue_running"] and not queue["queue_pending"]:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{url} still busy after {limit} s")


def test_txt2img_with_progress_and_previews(comfy: ComfyServer, tmp_path) -> None:
    updates: list[StepUpdate] = []
    (result,) = _engine(tmp_path, comfy.url).run(_request(), on_step=updates.append)
    assert result.path.is_file() and result.image.shape == (64, 64, 3)
    assert result.image.std() > 0  # a real (random-model) image, not a blank
    assert read_image_info(result.path)["seed"] == 5
    assert [u.step for u in updates if u.preview is None] == [1, 2, 3]
    previews = [u.preview for u in updates if u.preview is not None]
    assert len(previews) == 3 and all(p.ndim == 3 and p.shape[2] == 3 for p in previews)


def test_same_seed_same_image_and_batch_items_remake_alone(comfy: ComfyServer, tmp_path) -> None:
    engine = _engine(tmp_path, comfy.url)
    batch = engine.run(_request(batch_size=2, seed=40))
    alone = engine.run(_request(seed=41))
    assert (batch[1].image == alone[0].image).all()  # item 2 of the batch = its seed alone
    assert not (batch[0].image == batch[1].image).all()


def test_img2img(comfy: ComfyServer, tmp_path) -> None:
    init = np.zeros((64, 64, 3), np.uint8)
    init[:, :32] = (250, 10, 10)
    (result,) = _engine(tmp_path, comfy.url).run(
        _request(mode="img2img", init_image=init, strength=0.5, steps=4)
    )
    assert result.image.shape == (64, 64, 3)
    assert read_image_info(result.path)["mode"] == "img2img"


def test_inpaint_keeps_every_pixel_outside_the_mask(comfy: ComfyServer, tmp_path) -> None:
    rng = np.random.default_rng(1)
    init = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[24:40, 24:40] = 255
    (result,) = _engine(tmp_path, comfy.url).run(
        _request(mode="inpaint", init_image=init, mask=mask, mask_blur=2, strength=1.0)
    )
    far = np.ones((64, 64), bool)
    far[16:48, 16:48] = False
    assert (result.image[far] == init[far]).all()
    assert not (result.image[28:36, 28:36] == init[28:36, 28:36]).all()


def test_interrupt_stops_within_one_step(comfy: ComfyServer, tmp_path) -> None:
    cancel = threading.Event()
    seen: list[int] = []

    def on_step(update: StepUpdate) -> None:
        seen.append(update.step)
        if update.step >= 2:
            cancel.set()

    log_before = len(comfy.log_tail(10**9))
    with pytest.raises(Cancelled):
        _engine(tmp_path, comfy.url).run(_request(steps=40), on_step=on_step, cancel=cancel)
    _wait_idle(comfy.url)
    # The server's own progress bar says how far the sampler got after the cancel.
    bars = re.findall(r"(\d+)/40 \[", comfy.log_tail(10**9)[log_before:])
    assert bars and int(bars[-1]) <= max(seen) + 1, (seen, bars[-5:])


def test_cancel_of_a_queued_job_deletes_it_from_the_queue(comfy: ComfyServer, tmp_path) -> None:
    # Another client's long job runs first, so Brushwork's job waits in the queue.
    body = {"prompt": _long_graph(), "client_id": "someone-else"}
    post = urllib.request.Request(comfy.url + "/prompt", json.dumps(body).encode(), method="POST")
    other = json.loads(urllib.request.urlopen(post, timeout=30).read())["prompt_id"]
    cancel, errors = threading.Event(), []

    def job() -> None:
        try:
            _engine(tmp_path, comfy.url).run(_request(seed=77), cancel=cancel)
        except Exception as exc:
            errors.append(exc)

    worker = threading.Thread(target=job)
    worker.start()
    try:
        pending = _wait_for(lambda: _get(comfy.url + "/queue")["queue_pending"])
        ours = pending[0][1]
        cancel.set()
        worker.join(60)
        assert len(errors) == 1 and isinstance(errors[0], Cancelled)
        assert not _get(comfy.url + "/queue")["queue_pending"]
        assert _get(comfy.url + "/queue")["queue_running"][0][1] == other  # not touched
    finally:
        cancel.set()
        worker.join(60)
        urllib.request.urlopen(urllib.request.Request(comfy.url + "/interrupt", b"", method="POST"))
        _wait_idle(comfy.url)
    assert ours not in _get(comfy.url + "/history")


def test_a_server_killed_mid_job_fails_over_to_another(
    comfy: ComfyServer, comfy_models, tmp_path
) -> None:
    victim = ComfyServer(tmp_path / "victim", comfy_models).start()
    try:
        engine = _engine(tmp_path, victim.url, comfy.url)  # both idle: the first is picked

        def on_step(update: StepUpdate) -> None:
            if engine.last_server == victim.url and update.step == 1:
                victim.kill()

        (result,) = engine.run(_request(steps=4, seed=9), on_step=on_step)
    finally:
        victim.stop()
    assert engine.last_server == comfy.url and victim.url in engine.down
    assert any("run again on another server" in note for note in result.notes)
    assert result.path.is_file()


def test_bad_url_unreachable_server_and_wrong_path(comfy: ComfyServer, tmp_path) -> None:
    with pytest.raises(RequestError, match="server URL"):
        RemoteEngine(["127.0.0.1:8188"], tmp_path)
    dead = ComfyServer(tmp_path, tmp_path).url  # a free port nobody listens on
    with pytest.raises(ServerDown, match="Cannot reach"):
        _engine(tmp_path, dead).run(_request())
    with pytest.raises(RemoteError, match=r"404.*ComfyUI server"):
        _engine(tmp_path, comfy.url + "/not-comfy").run(_request())


def test_a_model_missing_on_the_server_is_named(comfy: ComfyServer, tmp_path) -> None:
    with pytest.raises(RemoteError) as error:
        _engine(tmp_path, comfy.url).run(_request(model="dreamshaper_8.safetensors"))
    assert "no checkpoint 'dreamshaper_8.safetensors'" in str(error.value)
    assert NAME in str(error.value)


def _long_graph() -> dict:
    from pipeline.remote.graph import build_graph

    return build_graph(_request(steps=200, seed=1234), NAME).prompt


def _wait_for(probe, limit: float = 60.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_token_proxy_in_front_admits_the_right_token_only(comfy: ComfyServer, tmp_path) -> None:
    from .auth_proxy import AuthProxy

    updates: list[StepUpdate] = []
    with AuthProxy(comfy.url, "s3cret") as proxy:
        with pytest.raises(RemoteError, match="refused the token"):
            _engine(tmp_path, proxy.url, token="wrong").run(_request(steps=1))
        with pytest.raises(RemoteError, match="needs a token"):
            _engine(tmp_path, proxy.url).run(_request(steps=1))
        engine = _engine(tmp_path, proxy.url, token="s3cret")
        (result,) = engine.run(_request(steps=2, seed=88), on_step=updates.append)
    assert result.path.is_file()
    assert sum(u.preview is not None for u in updates) == 2  # the socket went through it too


def test_the_same_job_twice_gives_the_same_image_from_the_cache(
    comfy: ComfyServer, tmp_path
) -> None:
    # ComfyUI runs nothing for a graph it ran just before (all nodes cached): the result must
    # still come back.
    engine = _engine(tmp_path, comfy.url)
    first = engine.run(_request(seed=123, steps=2))
    started = time.monotonic()
    again = engine.run(_request(seed=123, steps=2))
    assert (first[0].image == again[0].image).all() and first[0].path != again[0].path
    assert time.monotonic() - started < 30  # no sampling the second time


def test_lora_tag_runs_through_loraloader(comfy: ComfyServer, tmp_path) -> None:
    """The tiny kohya LoRA in the server's models/loras: every key loads (ComfyUI logs each
    one it cannot place) and it changes the picture; the tag stays in the metadata."""
    engine = _engine(tmp_path, comfy.url)
    (plain,) = engine.run(_request(seed=60))
    (styled,) = engine.run(_request(seed=60, prompt="a red square <lora:brushwork-tiny-lora:1>"))
    assert "lora key not loaded" not in comfy.log_tail(200_000)
    assert np.abs(styled.image.astype(int) - plain.image.astype(int)).max() > 10
    assert read_image_info(styled.path)["prompt"] == "a red square <lora:brushwork-tiny-lora:1>"
    with pytest.raises(RemoteError, match=r"LoRA 'absent' is not on server .*brushwork-tiny-lora"):
        engine.run(_request(loras=(("absent", 1.0),)))

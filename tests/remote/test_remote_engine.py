"""RemoteEngine against a fake ComfyUI: results, progress, previews, errors, cancel, failover."""

from __future__ import annotations

import json
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from pipeline.control import ControlUnit
from pipeline.errors import Cancelled, ModelError, RequestError
from pipeline.inpaint import finish_inpaint, plan_inpaint
from pipeline.metadata import read_image_info
from pipeline.remote import RemoteEngine, RemoteError, ServerDown, Timeouts
from pipeline.remote import client as client_module
from pipeline.request import GenerationRequest
from pipeline.results import StepUpdate

from .fake_comfy import PREVIEW_COLOUR, RESULT_COLOUR, FakeComfy, hanging_server

FAST = Timeouts(connect=2, request=3, idle=5, reconnect=1)


def _request(**kw) -> GenerationRequest:
    fields = {
        "prompt": "a red square",
        "seed": 11,
        "width": 64,
        "height": 64,
        "steps": 4,
        "model": "tiny.safetensors",
        **kw,
    }
    return GenerationRequest(**fields)


def _engine(tmp_path, *servers, **kw) -> RemoteEngine:
    return RemoteEngine(
        [s.url if hasattr(s, "url") else s for s in servers], tmp_path, timeouts=FAST, **kw
    )


def test_txt2img_writes_the_servers_image_with_brushworks_metadata(tmp_path) -> None:
    updates: list[StepUpdate] = []
    with FakeComfy() as server:
        results = _engine(tmp_path, server).run(_request(), on_step=updates.append)
    (result,) = results
    assert result.path.is_file() and result.path.parent == tmp_path
    assert (result.image == RESULT_COLOUR).all()
    info = read_image_info(result.path)
    assert info["seed"] == 11 and info["model"] == "tiny.safetensors"
    assert [u.step for u in updates if u.preview is None] == [1, 2, 3, 4]
    assert {u.total for u in updates} == {4}
    previews = [u.preview for u in updates if u.preview is not None]
    assert len(previews) == 4
    assert np.abs(previews[0].astype(int) - PREVIEW_COLOUR).max() < 8  # JPEG
    (socket,) = [r for r in server.requests if r[1] == "/ws"]
    assert socket[3]["clientId"] == server.prompts[0]["client_id"]
    assert server.flags_received[0]["type"] == "feature_flags"


def test_modern_server_previews_carry_metadata_and_success_ends_the_job(tmp_path) -> None:
    updates: list[StepUpdate] = []
    with FakeComfy(modern=True) as server:
        (result,) = _engine(tmp_path, server).run(_request(), on_step=updates.append)
    assert (result.image == RESULT_COLOUR).all()
    assert sum(u.preview is not None for u in updates) == 4


def test_batch_items_have_their_own_seeds_and_progress_spans_the_batch(tmp_path) -> None:
    updates: list[StepUpdate] = []
    with FakeComfy(modern=True, previews=False) as server:
        results = _engine(tmp_path, server).run(_request(batch_size=2), on_step=updates.append)
        seeds = sorted(
            n["inputs"]["seed"]
            for n in server.prompts[0]["prompt"].values()
            if n["class_type"] == "KSampler"
        )
    assert [r.seed for r in results] == [11, 12] == seeds
    assert len({r.path for r in results}) == 2
    assert [u.step for u in updates] == list(range(1, 9)) and updates[-1].total == 8


def test_img2img_uploads_the_init_image_at_the_request_size(tmp_path) -> None:
    init = np.full((32, 48, 3), 77, np.uint8)
    with FakeComfy() as server:
        (result,) = _engine(tmp_path, server).run(
            _request(mode="img2img", init_image=init, width=96, height=64)
        )
        (upload,) = server.uploads.values()
    from .fake_comfy import as_array

    assert as_array(upload).shape == (64, 96, 3) and (as_array(upload) == 77).all()
    assert result.image.shape == (64, 96, 3)


def test_inpaint_pastes_back_so_pixels_outside_the_mask_are_untouched(tmp_path) -> None:
    rng = np.random.default_rng(0)
    init = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[24:40, 24:40] = 255
    updates: list[StepUpdate] = []
    with FakeComfy() as server:
        (result,) = _engine(tmp_path, server).run(
            _request(mode="inpaint", init_image=init, mask=mask, mask_blur=2),
            on_step=updates.append,
        )
        (upload,) = server.uploads.values()
    from .fake_comfy import as_array

    alpha = as_array(upload)[..., 3]
    assert (alpha[30, 30], alpha[2, 2]) == (0, 255)  # LoadImage's MASK = 1 − alpha
    far = np.ones((64, 64), bool)
    far[16:48, 16:48] = False
    assert (result.image[far] == init[far]).all()
    # Exactly what Brushwork's own paste-back and seam repair make of the server's output.
    request = _request(mode="inpaint", init_image=init, mask=mask, mask_blur=2)
    served = np.empty((64, 64, 3), np.uint8)
    served[:] = RESULT_COLOUR
    assert (result.image == finish_inpaint(plan_inpaint(request), served)).all()
    assert not (result.image[32, 32] == init[32, 32]).all()
    assert {u.region for u in updates} == {(0, 0, 64, 64)}


def test_http_400_node_errors_are_reported_by_node(tmp_path) -> None:
    reply = {
        "error": {
            "type": "prompt_outputs_failed_validation",
            "message": "Prompt outputs failed validation",
        },
        "node_errors": {
            "10": {
                "class_type": "KSampler",
                "errors": [{"message": "Value not in list", "details": "sampler_name: 'x' not in"}],
            }
        },
    }
    with FakeComfy(prompt_reply=(400, reply)) as server, pytest.raises(RemoteError) as error:
        _engine(tmp_path, server).run(_request())
    assert "failed validation" in str(error.value)
    assert "node 10 (KSampler): sampler_name: 'x' not in" in str(error.value)
    assert not list(tmp_path.iterdir())


def test_a_server_without_a_core_node_or_the_model_is_refused_by_name(tmp_path) -> None:
    nodes = tuple(n for n in FakeComfy().nodes if n != "SetLatentNoiseMask")
    with FakeComfy(nodes=nodes) as server, pytest.raises(RemoteError, match="SetLatentNoiseMask"):
        _engine(tmp_path, server).run(_request())
    with FakeComfy() as server, pytest.raises(RemoteError) as error:
        _engine(tmp_path, server).run(_request(model="dreamshaper_8.safetensors"))
    assert "no checkpoint 'dreamshaper_8.safetensors'" in str(error.value)
    assert "tiny.safetensors" in str(error.value)  # what it has instead
    with pytest.raises(ModelError, match="name the checkpoint"):
        _engine(tmp_path, "http://127.0.0.1:9").run(_request(model=None))


@pytest.mark.parametrize(
    ("extras", "named"),
    [({"embeddings": ("/x/e.safetensors",)}, "Embeddings"), ({"vae": "/x/v.safetensors"}, "VAE"),
     ({"controls": (ControlUnit(np.zeros((8, 8, 3), np.uint8), "cn"),)}, "ControlNet units")],
)  # fmt: skip
def test_local_only_extras_are_refused_before_connecting(tmp_path, extras, named) -> None:
    """Sent as they are, the server would silently make a picture without them."""
    with pytest.raises(RequestError, match=f"{named}: not supported on a ComfyUI server"):
        _engine(tmp_path, "http://127.0.0.1:9").run(_request(**extras))


def test_a_branch_is_refused_before_connecting(tmp_path) -> None:
    """A server would make a whole new picture instead of continuing the recorded steps."""
    import numpy as np

    from pipeline.branching import BranchPoint

    point = BranchPoint(
        step=2, total=4, latents=np.zeros((1, 4, 8, 8), np.float32), scheduler_state={},
        generator_states=(), timesteps=np.arange(4), offset=0, schedule_steps=4,
        sampler="euler", steps=4, width=64, height=64, seed=11, model_name="m", model_hash="h",
    )  # fmt: skip
    with pytest.raises(RequestError, match="Branch from: not supported on a ComfyUI server"):
        _engine(tmp_path, "http://127.0.0.1:9").run(_request(branch=point))


def test_loras_and_tags_run_as_loraloaders_named_as_the_server_lists_them(tmp_path) -> None:
    loras = ("sub/style.safetensors", "ink.safetensors")
    request = _request(prompt="a cat <lora:ink:0.7>", loras=(("/home/me/style.safetensors", 0.5),),
                       clip_skip=2)  # fmt: skip
    with FakeComfy(loras=loras) as server:
        (result,) = _engine(tmp_path, server).run(request)
        graph = server.prompts[0]["prompt"]
    sent = [n["inputs"] for n in graph.values() if n["class_type"] == "LoraLoader"]
    assert [(s["lora_name"], s["strength_model"], s["strength_clip"]) for s in sent] == [
        ("sub/style.safetensors", 0.5, 0.5), ("ink.safetensors", 0.7, 0.7)]  # fmt: skip
    texts = [n["inputs"]["text"] for n in graph.values() if n["class_type"] == "CLIPTextEncode"]
    assert "<lora" not in texts[0] and texts[0].strip() == "a cat"
    assert read_image_info(result.path)["prompt"] == "a cat <lora:ink:0.7>"  # tags kept


def test_a_lora_the_server_lacks_is_refused_by_name_before_submitting(tmp_path) -> None:
    with FakeComfy(loras=("style.safetensors",)) as server, pytest.raises(RemoteError) as error:
        _engine(tmp_path, server).run(_request(prompt="a cat <lora:missing:0.8>"))
    assert f"LoRA 'missing' is not on server {server.url}; it has: style.safetensors" in str(
        error.value
    )
    assert server.prompts == [] and not list(tmp_path.iterdir())


def test_a_server_without_loraloader_is_refused_only_when_loras_are_used(tmp_path) -> None:
    nodes = tuple(n for n in FakeComfy().nodes if n != "LoraLoader")
    with FakeComfy(nodes=nodes, loras=()) as server:
        _engine(tmp_path, server).run(_request())
        with pytest.raises(RemoteError, match="not on server"):
            _engine(tmp_path, server).run(_request(loras=(("style", 1.0),)))


def test_execution_error_names_the_node_and_the_exception(tmp_path) -> None:
    with FakeComfy(fail_in_node="VAEDecode") as server, pytest.raises(RemoteError) as error:
        _engine(tmp_path, server).run(_request())
    assert "node VAEDecode: boom in the fake" in str(error.value)


def test_cancel_interrupts_the_running_job_and_removes_it_from_the_queue(tmp_path) -> None:
    cancel = threading.Event()

    def on_step(update: StepUpdate) -> None:
        if update.step == 2:
            cancel.set()

    with FakeComfy(step_delay=0.05) as server:
        with pytest.raises(Cancelled):
            _engine(tmp_path, server).run(_request(steps=50), on_step=on_step, cancel=cancel)
        assert server.interrupted.wait(2)
        assert server.deleted == [server.prompts[0]["id"]]
    assert not list(tmp_path.iterdir())


def test_a_dropped_socket_reconnects_and_the_job_finishes(tmp_path) -> None:
    updates: list[StepUpdate] = []
    with FakeComfy(drop_after_steps=2, lose_job=False, step_delay=0.05) as server:
        (result,) = _engine(tmp_path, server).run(_request(steps=6), on_step=updates.append)
        sockets = [r for r in server.requests if r[1] == "/ws"]
    assert len(sockets) == 2  # the same client id connected again
    assert (result.image == RESULT_COLOUR).all()


def test_a_server_that_loses_the_job_is_marked_down_and_another_runs_it(tmp_path) -> None:
    with FakeComfy(drop_after_steps=1, refuse_reconnect=True) as bad, FakeComfy() as good:
        engine = _engine(tmp_path, bad, good)
        bad.queue_remaining, good.queue_remaining = 0, 3  # the bad one is picked first
        (result,) = engine.run(_request())
        assert len(bad.prompts) == 1 and len(good.prompts) == 1
    assert engine.last_server == good.url and bad.url in engine.down
    assert any("run again on another server" in n for n in result.notes)


def test_jobs_go_to_the_server_with_the_shortest_queue(tmp_path) -> None:
    with FakeComfy() as busy, FakeComfy() as idle:
        busy.queue_remaining, idle.queue_remaining = 5, 1
        seen: list[str] = []
        engine = _engine(tmp_path, busy, idle)
        engine.on_server = seen.append
        engine.run(_request())
        assert seen == [idle.url] and not busy.prompts


def test_bad_urls_and_unreachable_servers_say_so(tmp_path) -> None:
    for bad in ("ftp://host", "localhost:8188", "http://", "http://h:99999", "http://u:p@h"):
        with pytest.raises(RequestError, match=r"server URL|URL"):
            RemoteEngine([bad], tmp_path)
    with FakeComfy() as server:
        url = server.url
    with pytest.raises(ServerDown, match=f"Cannot reach {url}"):
        _engine(tmp_path, url).run(_request())


def test_token_is_sent_as_bearer_and_a_wrong_one_is_named(tmp_path) -> None:
    with FakeComfy(token="s3cret") as server:
        (result,) = _engine(tmp_path, server, token="s3cret").run(_request())
        assert result.path.is_file()
        with pytest.raises(RemoteError, match="refused the token"):
            _engine(tmp_path, server, token="wrong").run(_request())
        with pytest.raises(RemoteError, match="needs a token"):
            _engine(tmp_path, server).run(_request())


def test_a_server_that_never_answers_times_out(tmp_path) -> None:
    sock, url = hanging_server()
    try:
        engine = RemoteEngine([url], tmp_path, timeouts=Timeouts(connect=1, request=1))
        with pytest.raises(ServerDown, match="did not answer within 1 s"):
            engine.run(_request())
    finally:
        sock.close()


def test_a_redirect_is_refused_not_followed(tmp_path) -> None:
    with FakeComfy(redirect_to="http://evil.example") as server, pytest.raises(RemoteError) as e:
        _engine(tmp_path, server).run(_request())
    assert "redirected" in str(e.value) and "evil.example" in str(e.value)
    assert len(server.requests) == 1


def test_an_oversized_frame_stops_the_job_with_a_message(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(client_module, "MAX_FRAME_BYTES", 2**16)
    frame = struct.pack(">II", 1, 1) + bytes(2**17)
    with FakeComfy(bad_frame=frame) as server, pytest.raises(RemoteError, match="size limit"):
        _engine(tmp_path, server).run(_request())


def test_malformed_frames_are_refused(tmp_path) -> None:
    with FakeComfy(bad_text="{not json") as server, pytest.raises(RemoteError, match="malformed"):
        _engine(tmp_path, server).run(_request())
    bad_preview = struct.pack(">II", 1, 1) + b"not an image"
    with FakeComfy(bad_frame=bad_preview) as server:
        (result,) = _engine(tmp_path, server).run(_request(), on_step=lambda u: None)
    assert (result.image == RESULT_COLOUR).all()  # the image is not lost over a bad preview
    assert any("preview" in n and "refused" in n for n in result.notes)


def test_a_result_of_the_wrong_size_is_refused(tmp_path) -> None:
    with FakeComfy(result_size_override=(8, 8)) as server, pytest.raises(RemoteError, match="8×8"):
        _engine(tmp_path, server).run(_request())


def test_a_sampler_without_equivalent_fails_before_connecting(tmp_path) -> None:
    with pytest.raises(RequestError, match="PNDM"):
        _engine(tmp_path, "http://127.0.0.1:9").run(_request(sampler="pndm"))


def test_the_hires_fix_is_refused_before_connecting(tmp_path) -> None:
    """The server's graph has no second pass: the PNG must not claim one."""
    with pytest.raises(RequestError, match="hires fix runs on this computer only"):
        _engine(tmp_path, "http://127.0.0.1:9").run(_request(hires_scale=2))
    assert not list(tmp_path.glob("*.png"))


def test_statuses_list_device_models_and_errors(tmp_path) -> None:
    with (
        FakeComfy(checkpoints=("a.safetensors", "b.ckpt")) as server,
        FakeComfy(token="t") as locked,
    ):
        statuses = _engine(tmp_path, server, locked).statuses()
    assert statuses[0].info is not None and statuses[0].info.checkpoints == (
        "a.safetensors",
        "b.ckpt",
    )
    assert statuses[0].info.device == "cpu"
    assert statuses[1].info is None and "needs a token" in (statuses[1].error or "")


def test_large_answers_are_read_whole(tmp_path) -> None:
    # A server with many models answers /object_info in many TCP chunks.
    names = tuple(f"model-{k:05}-{'x' * 40}.safetensors" for k in range(5000))
    with FakeComfy(checkpoints=names) as server:
        (status,) = _engine(tmp_path, server).statuses()
    assert status.info is not None and status.info.checkpoints == names


def test_a_sequence_recorded_from_a_real_comfyui_replays_to_a_finished_image(tmp_path) -> None:
    recorded = json.loads((Path(__file__).parent / "recorded" / "txt2img_2024.json").read_text())
    updates: list[StepUpdate] = []
    with FakeComfy(recorded=recorded) as server:
        request = _request(steps=2, seed=3, prompt="x", model="brushwork-tiny-sd15.safetensors")
        server.checkpoints = ("brushwork-tiny-sd15.safetensors",)
        (result,) = _engine(tmp_path, server).run(request, on_step=updates.append)
        assert server.prompts[0]["prompt"] == recorded["graph"]  # the same graph as recorded
    assert (result.image == RESULT_COLOUR).all()
    assert [(u.step, u.total, u.preview is not None) for u in updates] == [
        (1, 2, False),
        (1, 2, True),
        (2, 2, False),
        (2, 2, True),
    ]


def test_server_text_in_errors_cannot_drive_the_terminal(tmp_path) -> None:
    evil = "\x1b]0;pwned\x07\x1b[2J line\nbreak"
    reply = {"error": {"message": evil}, "node_errors": {}}
    with FakeComfy(prompt_reply=(400, reply)) as server, pytest.raises(RemoteError) as error:
        _engine(tmp_path, server).run(_request())
    message = str(error.value)
    assert "\x1b" not in message and "\n" not in message and "\x07" not in message
    assert "\\x1b]0;pwned" in message


def test_progress_of_nodes_other_than_the_sampler_is_not_counted_as_steps(tmp_path) -> None:
    updates: list[StepUpdate] = []
    with FakeComfy(decode_progress=True, previews=False) as server:
        _engine(tmp_path, server).run(_request(), on_step=updates.append)
    assert [(u.step, u.total) for u in updates] == [(1, 4), (2, 4), (3, 4), (4, 4)]

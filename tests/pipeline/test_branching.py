"""Branching from a step (issue 18 §3) with the bundled model: the real sampler continues from a
recorded step's latents, scheduler state and noise generators.

Bit-exact means `np.array_equal` of the decoded images and `torch.equal` of the step latents:
branching at step k with unchanged settings must repeat the original run exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from pipeline import Engine, GenerationRequest, RequestError
from pipeline.branching import StepRecorder
from pipeline.sampler_state import BranchingUnsupported, state_of
from pipeline.samplers import SAMPLERS

PROMPT = "a large red circle, blue background"
OTHER = "a small green square, yellow background"


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    torch.set_num_threads(1)  # same-seed runs are bit-identical only at one thread count
    engine = Engine(tmp_path_factory.mktemp("branching"), device="cpu")
    engine.load(None)
    return engine


def run(engine, request, recorder=None):
    """(images, per-step previews, step numbers reported, recorder)."""
    previews, steps = [], []

    def on_step(update):
        previews.append(update.preview)
        steps.append((update.step, update.total))

    results = engine.run(request, on_step=on_step, recorder=recorder)
    return [r.image for r in results], previews, steps, recorder


def recorded(engine, **changes):
    request = GenerationRequest(prompt=PROMPT, steps=8, seed=11, **changes)
    return request, run(engine, request, StepRecorder())


@pytest.mark.parametrize("sampler", ["euler", "euler_a", "dpmpp_2m", "heun"])
def test_branching_with_unchanged_settings_repeats_the_run_bit_for_bit(bundled, sampler):
    """Deterministic (Euler), ancestral (Euler a: noise from the generator each step),
    multistep (DPM++ 2M: earlier model outputs) and two-stage (Heun: half-step state)."""
    request, (images, previews, _steps, recorder) = recorded(bundled, sampler=sampler)
    total = recorder.points[0].total
    assert len(recorder.points) == total
    for k in (1, total // 2, total - 1):
        branch = run(bundled, request.replace(branch=recorder.point(k)), StepRecorder())
        assert np.array_equal(branch[0][0], images[0]), f"{sampler} from step {k}"
        assert branch[2][0] == (k + 1, total)  # progress counts on from the branch point
        for mine, theirs in zip(branch[3].points, recorder.points[k:], strict=True):
            assert torch.equal(mine.latents, theirs.latents)
        for mine, theirs in zip(branch[1], previews[k:], strict=True):
            assert np.array_equal(mine, theirs)


def test_every_sampler_continues_exactly(bundled):
    """All 16 samplers of the table, from the middle of the run; none needs refusing."""
    for sampler in (s.id for s in SAMPLERS):
        request, (images, _p, _s, recorder) = recorded(bundled, sampler=sampler)
        assert recorder.refusal is None, sampler
        k = recorder.points[0].total // 2
        branch = run(bundled, request.replace(branch=recorder.point(k)))
        assert np.array_equal(branch[0][0], images[0]), sampler


def test_a_changed_prompt_keeps_the_first_k_previews_and_changes_the_result(bundled):
    request, (images, previews, _steps, recorder) = recorded(bundled, sampler="euler_a")
    k = 3
    prefix = tuple(recorder.points[:k])
    changed = request.replace(prompt=OTHER, branch=recorder.point(k))
    branch_images, branch_previews, steps, branch_recorder = run(
        bundled, changed, StepRecorder(prefix=prefix)
    )
    # The branch's own record starts with the parent's k steps: identical by construction,
    # and the previews of those steps are the parent's (the app shows them from its record).
    assert [p.step for p in branch_recorder.points] == list(range(1, 9))
    assert steps[0] == (k + 1, 8)
    assert not np.array_equal(branch_images[0], images[0])
    assert not np.array_equal(branch_previews[0], previews[k])  # step k+1 already differs
    pairs = zip(branch_recorder.points[:k], recorder.points[:k], strict=True)
    assert all(torch.equal(a.latents, b.latents) for a, b in pairs)


def test_a_fresh_run_with_the_other_prompt_differs_from_the_branch(bundled):
    """The branch really continues the recorded latents: it is not a re-run with the new
    prompt from the same seed."""
    request, (_images, _p, _s, recorder) = recorded(bundled, sampler="euler")
    other = request.replace(prompt=OTHER)
    fresh = run(bundled, other)[0][0]
    branch = run(bundled, other.replace(branch=recorder.point(5)))[0][0]
    assert not np.array_equal(fresh, branch)


def test_the_solver_history_is_what_makes_dpmpp_2m_exact(bundled):
    """Without the recorded model outputs the continuation differs: the test above can fail."""
    request, (images, _p, _s, recorder) = recorded(bundled, sampler="dpmpp_2m")
    point = recorder.point(4)
    assert "model_outputs" in point.scheduler_state
    outputs = point.scheduler_state["model_outputs"]
    zeroed = [None if t is None else torch.zeros_like(t) for t in outputs]
    state = {**point.scheduler_state, "model_outputs": zeroed}
    stripped = dataclasses.replace(point, scheduler_state=state)
    branch = run(bundled, request.replace(branch=stripped))[0][0]
    assert not np.array_equal(branch, images[0])


def test_a_new_seed_changes_the_noise_of_the_remaining_steps_only(bundled):
    request, (images, _p, _s, recorder) = recorded(bundled, sampler="euler_a")
    branch = run(bundled, request.replace(seed=12, branch=recorder.point(6)))[0][0]
    assert not np.array_equal(branch, images[0])
    deterministic, (images_d, _p2, _s2, rec_d) = recorded(bundled, sampler="euler")
    same = run(bundled, deterministic.replace(seed=12, branch=rec_d.point(6)))[0][0]
    assert np.array_equal(same, images_d[0])  # Euler draws no noise after the start


def test_img2img_and_batches_continue_exactly(bundled):
    init = np.zeros((64, 64, 3), np.uint8)
    init[..., 2] = 200
    init[16:48, 16:48, 0] = 220
    request = GenerationRequest(
        prompt=PROMPT, mode="img2img", init_image=init, strength=0.6, steps=10, seed=3,
        sampler="euler_a",
    )  # fmt: skip
    images, _p, steps, recorder = run(bundled, request, StepRecorder())
    assert steps[-1] == (6, 6)  # strength 0.6 of 10 steps
    point = recorder.point(2)
    as_txt2img = GenerationRequest(prompt=PROMPT, steps=10, seed=3, branch=point)
    assert np.array_equal(run(bundled, as_txt2img)[0][0], images[0])
    batch = GenerationRequest(prompt=PROMPT, steps=6, seed=3, batch_size=2, sampler="euler_a")
    images, _p, _s, recorder = run(bundled, batch, StepRecorder())
    again = run(bundled, batch.replace(branch=recorder.point(3)))[0]
    assert all(np.array_equal(a, b) for a, b in zip(again, images, strict=True))


def test_mismatched_requests_are_refused_naming_the_mismatch(bundled, tiny_model_dir):
    request, (_i, _p, _s, recorder) = recorded(bundled, sampler="euler_a")
    point = recorder.point(4)
    for change, words in (
        ({"sampler": "ddim"}, "sampler euler_a; this request asks for ddim"),
        ({"steps": 9}, "steps 8; this request asks for 9"),
        ({"width": 128}, "width 64; this request asks for 128"),
        ({"batch_size": 2}, "batch_size 1"),
        ({"hires_scale": 2.0}, "hires fix"),
    ):
        with pytest.raises(RequestError, match=words):
            request.replace(branch=point, **change)
    with pytest.raises(RequestError, match="mode is txt2img, not img2img"):
        GenerationRequest(prompt="x", mode="img2img", init_image=np.zeros((64, 64, 3), np.uint8),
                          branch=point)  # fmt: skip
    with pytest.raises(RequestError, match="branch must be a step recorded by the engine"):
        GenerationRequest(prompt="x", branch={"step": 3})
    other_weights = dataclasses.replace(point, model_hash="0" * 64)  # e.g. fp16 then, fp32 now
    with pytest.raises(RequestError, match="loaded with other weights or another precision"):
        bundled.run(request.replace(branch=other_weights))
    other_model = request.replace(branch=point, model=str(tiny_model_dir))
    with pytest.raises(RequestError, match=r"made with the model brushwork-shapes .* the loaded"):
        bundled.run(other_model)
    with pytest.raises(RequestError, match="choose a step from 1 to 7"):
        recorder.point(8)


def test_inpaint_and_hires_runs_say_why_they_cannot_be_branched(bundled):
    image = np.zeros((64, 64, 3), np.uint8)
    mask = np.full((64, 64), 255, np.uint8)
    request = GenerationRequest(prompt=PROMPT, mode="inpaint", init_image=image, mask=mask,
                                steps=2, seed=1)  # fmt: skip
    recorder = StepRecorder()
    bundled.run(request, recorder=recorder)
    assert recorder.points == [] and "Inpaint runs cannot be branched" in recorder.refusal
    with pytest.raises(RequestError, match="Inpaint runs cannot be branched"):
        recorder.point(1)


def test_recording_stops_at_its_memory_cap_and_says_so(bundled):
    one = recorded(bundled, sampler="euler")[1][3].points[0].nbytes()
    recorder = StepRecorder(max_bytes=3 * one + one // 2)
    run(bundled, GenerationRequest(prompt=PROMPT, steps=8, seed=11, sampler="euler"), recorder)
    assert len(recorder.points) == 3
    assert "steps 1–3 only" in recorder.note
    with pytest.raises(RequestError, match="choose a step from 1 to 3"):
        recorder.point(5)


def test_a_sampler_state_that_cannot_be_copied_exactly_refuses_the_sampler_by_name():
    """E.g. a Brownian-tree noise sampler object (DPMSolverSDEScheduler): refused, never
    approximated. None of the table's samplers has one (test_every_sampler_continues_exactly)."""

    class Scheduler:
        pass

    real, fresh = Scheduler(), Scheduler()
    real.noise_sampler, fresh.noise_sampler = object(), None
    real._step_index, fresh._step_index = 3, None
    with pytest.raises(BranchingUnsupported, match="sampler x cannot be branched: its state "
                       "'noise_sampler' is a object"):  # fmt: skip
        state_of(real, fresh, "x")
    real.noise_sampler = None
    assert state_of(real, fresh, "x") == {"_step_index": 3}

"""Generate while a job runs queues it; the queue can be reordered, trimmed and batched."""

from gui.turns import pending_turns
from pipeline import GenerationRequest
from tests.fakes import FakeEngine


def prepare(window, prompt="a red circle", steps=3):
    window.panel.prompt.setPlainText(prompt)
    window.panel.steps.setValue(steps)
    window.panel.set_size(64, 64)


def wait_all(qtbot, window):
    """Every job ran, and what follows each result (its history row…) has run too."""
    qtbot.waitUntil(
        lambda: (
            window.controller.running_job == 0
            and window.queue.count() == 0
            and pending_turns(window) == 0
        ),
        timeout=20_000,
    )


def test_generate_while_running_queues_and_runs_in_order(qtbot, make_app, tmp_path):
    app, engine = make_app(FakeEngine(tmp_path, step_delay=0.02))
    window = app.window
    for prompt in ("first", "second", "third"):
        prepare(window, prompt, steps=5)
        window.generate()
    assert window.controller.running_job != 0 and window.queue.waiting_count() == 2
    assert window.queue_label.text() == "2 waiting"
    wait_all(qtbot, window)
    assert [r.prompt for r in engine.requests] == ["first", "second", "third"]
    assert len(window.history.paths()) == 3


def test_generate_pressed_20_times_quickly_runs_20_jobs_one_at_a_time(qtbot, make_app, tmp_path):
    app, engine = make_app(FakeEngine(tmp_path))
    window = app.window
    prepare(window, steps=1)
    for _ in range(20):
        window.generate()
    wait_all(qtbot, window)
    assert len(engine.requests) == 20 and len(set(window.history.paths())) == 20


def test_pending_jobs_can_be_removed_and_reordered(qtbot, make_app, tmp_path):
    app, engine = make_app(FakeEngine(tmp_path, step_delay=0.03))
    window = app.window
    for prompt in ("running", "a", "b", "c"):
        prepare(window, prompt, steps=10)
        window.generate()
    ids = window.queue.job_ids()
    window.queue.remove([ids[1]])  # drop "b"
    window.queue.move(ids[2], 0)  # "c" before "a"
    wait_all(qtbot, window)
    assert [r.prompt for r in engine.requests] == ["running", "c", "a"]


def test_batch_count_queues_jobs_with_successive_seeds(qtbot, make_app, tmp_path):
    app, engine = make_app(FakeEngine(tmp_path))
    window = app.window
    prepare(window)
    window.panel.random_seed.setChecked(False)
    window.panel.seed.setText("100")
    window.panel.batch_count.setValue(3)
    window.panel.batch_size.setValue(2)
    window.generate()
    wait_all(qtbot, window)
    assert [(r.seed, r.batch_size) for r in engine.requests] == [(100, 2), (102, 2), (104, 2)]


def test_cancel_stops_the_current_job_and_the_queue_goes_on(qtbot, make_app, tmp_path):
    app, engine = make_app(FakeEngine(tmp_path, step_delay=0.02))
    window = app.window
    prepare(window, "long", steps=300)
    window.generate()
    prepare(window, "next", steps=2)
    window.generate()
    qtbot.waitUntil(lambda: window.progress.value() >= 2, timeout=10_000)
    window.controller.cancel()
    wait_all(qtbot, window)
    assert engine.cancel_seen_at is not None
    assert [r.prompt for r in engine.requests] == ["long", "next"]
    assert window.controller.last_results[0].request.prompt == "next"


def test_clear_queue_empties_only_the_waiting_jobs(qtbot, make_app, tmp_path):
    app, engine = make_app(FakeEngine(tmp_path, step_delay=0.02))
    window = app.window
    for prompt in ("running", "x", "y"):
        prepare(window, prompt, steps=5)
        window.generate()
    window.queue.clear_all()
    wait_all(qtbot, window)
    assert [r.prompt for r in engine.requests] == ["running"]
    assert isinstance(window.controller.last_results[0].request, GenerationRequest)

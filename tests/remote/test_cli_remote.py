"""`generate --server` and `servers` against a fake ComfyUI: output, exit codes, escaping."""

from __future__ import annotations

from pathlib import Path

from pipeline.cli import main
from pipeline.metadata import read_image_info

from .fake_comfy import RESULT_COLOUR, FakeComfy, as_array

ARGS = ["generate", "--prompt", "x", "--width", "64", "--height", "64", "--steps", "3",
        "--seed", "21", "--model", "tiny.safetensors"]  # fmt: skip


def test_generate_on_a_server_prints_paths_and_seeds_like_a_local_run(tmp_path, capsys) -> None:
    with FakeComfy() as server:
        code = main([*ARGS, "--batch", "2", "--server", server.url, "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.strip().splitlines()
    assert [line.split("\t")[1] for line in lines] == ["seed=21", "seed=22"]
    path = Path(lines[0].split("\t")[0])
    assert path.parent == tmp_path and (as_array(path.read_bytes()) == RESULT_COLOUR).all()
    assert read_image_info(path)["model"] == "tiny.safetensors"
    assert "step 6/6" in err


def test_several_servers_say_where_the_job_ran(tmp_path, capsys) -> None:
    with FakeComfy() as busy, FakeComfy() as idle:
        busy.queue_remaining = 4
        code = main([*ARGS, "--server", busy.url, "--server", idle.url, "--out", str(tmp_path)])
    assert code == 0 and f"server: {idle.url}" in capsys.readouterr().err


def test_remote_errors_are_one_line_and_exit_2(tmp_path, capsys) -> None:
    with FakeComfy() as server:
        url = server.url
        no_model = [a for a in ARGS if a not in ("--model", "tiny.safetensors")]
        assert main([*no_model, "--server", url, "--out", str(tmp_path)]) == 2
        assert "--model names a checkpoint on the server" in capsys.readouterr().err
        assert main([*ARGS, "--server", url, "--device", "cpu"]) == 2
        assert "local runs only" in capsys.readouterr().err
    assert main([*ARGS, "--server", url, "--out", str(tmp_path)]) == 2  # now closed
    err = capsys.readouterr().err
    assert err.startswith(f"error: Cannot reach {url}") and err.count("\n") == 1
    assert main([*ARGS, "--server", "localhost:8188"]) == 2
    assert "server URL" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_servers_lists_status_device_and_models_escaped(capsys, monkeypatch) -> None:
    evil = "evil\x1b[2J\x07.safetensors"
    monkeypatch.setenv("BRUSHWORK_SERVER_TOKEN", "tok")
    with FakeComfy() as gone:
        gone_url = gone.url  # closed when the block ends: nobody listens there any more
    with FakeComfy(checkpoints=("a.safetensors", evil), token="tok") as server:
        code = main(["servers", server.url, gone_url])
    out = capsys.readouterr().out
    assert code == 2  # one is down
    assert f"{server.url}\tup\tcpu\tqueue 0" in out
    assert "  a.safetensors" in out and "\x1b" not in out and "\\x1b[2J\\x07" in out
    assert f"{gone_url}\tdown\tCannot reach" in out


def test_lora_on_a_server_runs_there_and_a_missing_one_is_one_error_line(tmp_path, capsys) -> None:
    with FakeComfy(loras=("styles/ink.safetensors",)) as server:
        run = [*ARGS, "--server", server.url, "--out", str(tmp_path)]
        assert main([*run, "--lora", "ink:0.6"]) == 0
        (lora,) = [n for n in server.prompts[0]["prompt"].values()
                   if n["class_type"] == "LoraLoader"]  # fmt: skip
        assert lora["inputs"]["lora_name"] == "styles/ink.safetensors"
        assert lora["inputs"]["strength_model"] == 0.6
        capsys.readouterr()
        assert main([*run, "--lora", "/home/me/paint.safetensors"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: LoRA '/home/me/paint.safetensors' is not on server")
    assert err.count("\n") == 1 and "styles/ink.safetensors" in err
    assert len(server.prompts) == 1

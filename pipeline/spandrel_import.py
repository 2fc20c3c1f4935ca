"""Importing spandrel (the upscale-model loader) without torchvision.

spandrel imports every architecture it knows when it is imported, and two of them, LaMa
(inpainting) and RestoreFormer (face restoration), import `torchvision.transforms.functional`
at module level. Neither is an upscaler, and the only torchvision wheels on PyPI are CUDA builds
that fail to import next to a CPU torch ("operator torchvision::nms does not exist"); letting pip
install one would also replace torch. So spandrel is installed with `--no-deps`, and where no
working torchvision exists a stand-in module answers those two imports for the duration of
spandrel's import only: it is removed from `sys.modules` right after, so transformers and
everything else still see no torchvision. Calling a stand-in function raises; Brushwork refuses
non-upscaler models before they could ever run.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from .errors import ModelError

_STAND_IN = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")


def import_spandrel() -> types.ModuleType:
    """spandrel, imported once; a clear ModelError when it is not installed."""
    if "spandrel" in sys.modules:
        return sys.modules["spandrel"]
    if not _torchvision_works():
        return _import_with_stand_in()
    return _import()


def _import() -> types.ModuleType:
    try:
        return importlib.import_module("spandrel")
    except ImportError as exc:
        raise ModelError(
            f"Upscale models need the spandrel package ({exc}); install it with "
            "`pip install --no-deps spandrel einops`."
        ) from None


def _torchvision_works() -> bool:
    try:
        importlib.import_module("torchvision.transforms.functional")
    except Exception:  # ImportError, or a CUDA build's RuntimeError next to a CPU torch
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]  # a half-imported package must not linger
        return False
    return True


def _import_with_stand_in() -> types.ModuleType:
    modules = {name: types.ModuleType(name) for name in _STAND_IN}
    functional = modules["torchvision.transforms.functional"]
    functional.InterpolationMode = types.SimpleNamespace(BILINEAR="bilinear", NEAREST="nearest")
    functional.rotate = functional.normalize = _needs_torchvision
    sys.modules.update(modules)
    try:
        return _import()
    finally:
        for name in _STAND_IN:
            if sys.modules.get(name) is modules[name]:
                del sys.modules[name]


def _needs_torchvision(*_args: Any, **_kwargs: Any) -> Any:
    raise ModelError("This model needs torchvision, which is not installed.")

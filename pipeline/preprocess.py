"""Preprocessors: the canvas or an image → a ControlNet's input image.

canny (OpenCV's edge detector), scribble (thresholded strokes of a paint layer: white lines on
black, what scribble ControlNets read) and soft edges (blurred gradient magnitude, what HED /
"softedge" ControlNets read) need nothing but OpenCV. depth and pose need controlnet-aux and
its detector weights; where either is missing they are unavailable, with a note saying why, and
never a crash. Every function takes and returns H×W×3 uint8.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import numpy as np

from .errors import RequestError

CANNY_LOW, CANNY_HIGH = 100, 200  # A1111's defaults
STROKE_DISTANCE = 60.0  # RGB distance from the background that counts as a painted stroke
MIN_STROKE_PIXELS = 4  # fewer is an empty scribble (a stray click), refused with a message
# Detector weights controlnet-aux would download (lllyasviel/Annotators): never fetched here.
_AUX_MODULES = {"depth": "MidasDetector", "pose": "OpenposeDetector"}
_AUX_REPO = "lllyasviel/Annotators"


def canny(image: np.ndarray) -> np.ndarray:
    import cv2

    edges = cv2.Canny(_gray(image), CANNY_LOW, CANNY_HIGH)
    return _rgb(edges)


def soft_edges(image: np.ndarray) -> np.ndarray:
    """Blurred Sobel gradient magnitude, scaled to 0-255: soft, thick edges like HED's."""
    import cv2

    gray = cv2.GaussianBlur(_gray(image).astype(np.float32), (0, 0), 1.5)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.hypot(gx, gy)
    peak = float(magnitude.max())
    if peak <= 0:
        return np.zeros_like(image)
    scaled = np.clip(magnitude / peak * 255.0 * 1.5, 0, 255)  # ×1.5: faint edges stay visible
    return _rgb(cv2.GaussianBlur(scaled, (0, 0), 1.0).astype(np.uint8))


def scribble(image: np.ndarray) -> np.ndarray:
    """Strokes painted on a plain background (or an RGBA layer's opaque pixels) as white on
    black. The background is the commonest border colour, so white, black or any canvas works.
    Raises RequestError when nothing was painted."""
    if image.ndim == 3 and image.shape[2] == 4:
        strokes = image[..., 3] >= 128
    else:
        rgb = image[..., :3].astype(np.float32)
        strokes = np.sqrt(((rgb - _border_colour(rgb)) ** 2).sum(-1)) > STROKE_DISTANCE
    if int(strokes.sum()) < MIN_STROKE_PIXELS:
        raise RequestError(
            "The scribble is empty: paint a few strokes (on a plain background, or on a "
            "transparent layer) where the shapes should go."
        )
    return _rgb(np.where(strokes, 255, 0).astype(np.uint8))


def _border_colour(rgb: np.ndarray) -> np.ndarray:
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).round().astype(np.int64)
    packed = (border[:, 0] << 16) | (border[:, 1] << 8) | border[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    top = int(values[counts.argmax()])
    return np.array([(top >> 16) & 255, (top >> 8) & 255, top & 255], dtype=np.float32)


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)


def _rgb(single: np.ndarray) -> np.ndarray:
    return np.repeat(single[..., None], 3, axis=2)


def unavailable_reason(module: str) -> str | None:
    """Why `module` cannot run on this machine now, or None when it can. depth and pose need
    controlnet-aux and its detector weights already in the Hugging Face cache: they are never
    downloaded behind the user's back."""
    if module in ("none", "scribble", "canny", "softedge"):
        return None if module in ("none", "scribble") or _has("cv2") else _NO_OPENCV
    if module not in _AUX_MODULES:
        return f"Unknown control type {module!r}."
    if not _has("controlnet_aux"):
        return (
            f"The {module} preprocessor needs the controlnet-aux package (pip install "
            "controlnet-aux); it is hidden until then. Use a ready-made control image with type "
            "'none' instead."
        )
    if not _aux_weights_cached():
        return (
            f"The {module} preprocessor needs detector weights from {_AUX_REPO}, which are not "
            "in the Hugging Face cache (they are not downloaded offline). Download them once "
            f"with `huggingface-cli download {_AUX_REPO}`, or use a ready-made control image."
        )
    return None


_NO_OPENCV = "Preprocessors need OpenCV (pip install opencv-python-headless)."


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _aux_weights_cached() -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(_AUX_REPO, "body_pose_model.pth")
    return isinstance(found, str)


def available_modules() -> tuple[str, ...]:
    """The control types that can run here (what the GUI offers)."""
    from .control import MODULES

    return tuple(m for m in MODULES if unavailable_reason(m) is None)


def _aux(module: str) -> Callable[[np.ndarray], np.ndarray]:
    def run(image: np.ndarray) -> np.ndarray:
        import controlnet_aux  # only reached when unavailable_reason said it can run
        from PIL import Image

        detector = getattr(controlnet_aux, _AUX_MODULES[module]).from_pretrained(_AUX_REPO)
        out = detector(Image.fromarray(image[..., :3]), output_type="pil")
        return np.asarray(out.convert("RGB").resize((image.shape[1], image.shape[0])))

    return run


def preprocess(module: str, image: np.ndarray) -> np.ndarray:
    """`image` as the ControlNet of `module` reads it; RequestError when it cannot be made."""
    reason = unavailable_reason(module)
    if reason is not None:
        raise RequestError(reason)
    steps: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "none": lambda array: np.ascontiguousarray(array[..., :3]),
        "canny": canny,
        "softedge": soft_edges,
        "scribble": scribble,
    }
    return steps[module](image) if module in steps else _aux(module)(image)

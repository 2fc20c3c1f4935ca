"""Seam repair for inpainting and a number that says how visible a seam is.

Generated content rarely meets the original with exactly the right colours: the model sees the
surroundings only through 8×-downscaled latents, and the VAE shifts colours a little. A1111's
"color correction" matches the whole result's histogram to the original (global, so it also
drags legitimately new colours); Poisson blending fixes the border exactly but needs a sparse
solver. We take the cheap middle road: measure the local colour offset across the border
(original just outside vs generated just inside), spread it smoothly into the mask, and fade it
out with depth. The deep inside of a large mask keeps the model's colours; the border matches.
"""

from __future__ import annotations

import numpy as np

from .masks import binary, box_blur, distance_to, feather_mask, paste_back


def local_mean(
    image: np.ndarray, support: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of `image` (H×W×C) over the `support` pixels of each (2r+1)² window, and a boolean
    map of where that window held any support pixel (the mean is 0 elsewhere)."""
    weight = support.astype(np.float64)
    total = box_blur(weight, radius)
    sums = box_blur(np.asarray(image, dtype=np.float64) * weight[..., None], radius)
    defined = total > 1e-6
    return sums / np.where(defined, total, 1.0)[..., None], defined


def correct_seam(
    original: np.ndarray,
    generated: np.ndarray,
    mask: np.ndarray,
    window: int = 8,
    depth: int = 24,
    feather: int = 0,
    generated_area: np.ndarray | None = None,
) -> np.ndarray:
    """The generated image with its colours matched to the original's around the mask.

    `feather` is the radius the result will be pasted back with (masks.feather_mask): the
    inside is matched to what it will really meet there, the blend of original and generated.
    `generated_area` (bool, default: the mask) is what the model really regenerated; the
    engine's is the mask widened to whole latent cells.

    Two corrections, each a smooth per-channel offset (so texture is never touched):

    1. Cast: outside the generated area the generated image should equal the original, so
       their local mean difference over a ring `window` px wide just outside it is a cast of
       this generation (the VAE's, mostly). It is spread over the whole region (windows of
       radius `depth`, the ring's overall mean where no window reaches) and removed everywhere,
       so the feathered band blends like with like.
    2. Border: the remaining jump at the border, pasted result just outside vs generated just
       inside. Each side's local mean (windows of radius `window`) of its first two 1-px rings is
       extrapolated to the border line (1.5 × ring1 − 0.5 × ring2): wider rings would mistake
       an ordinary gradient across the border for a jump. The difference is averaged over
       windows of radius `depth` into a smooth field (a cheap stand-in for a Poisson membrane)
       and added inside the mask with weight 1 at the border, falling smoothly to 0 at `depth`
       px inside, so deep inside a large mask the model's own colours stay.
    """
    masked = binary(mask)
    if not masked.any() or masked.all():
        return np.array(generated, dtype=np.uint8, copy=True)
    inside_depth = distance_to(~masked, depth)  # for masked pixels: how far from the border
    outside_depth = distance_to(masked, max(window, 2))
    area = masked if generated_area is None else np.asarray(generated_area, dtype=bool) | masked
    area_ring = ~area & (distance_to(area, window) <= window)
    cast = _cast(original, generated, area_ring, depth)
    uncast = np.asarray(generated, dtype=np.float64) + cast
    alpha = feather_mask(mask, feather)
    pasted = paste_back(original, np.clip(np.round(uncast), 0, 255).astype(np.uint8), alpha)
    outside_rings = ~masked & (outside_depth <= 2)
    outside, outside_ok = _border_value(pasted, outside_rings, outside_depth, window)
    inside, inside_ok = _border_value(uncast, masked & (inside_depth <= 2), inside_depth, window)
    offset_ok = masked & (inside_depth <= 1) & outside_ok & inside_ok
    field, field_ok = local_mean(outside - inside, offset_ok, depth)
    t = np.clip(1.0 - inside_depth / depth, 0.0, 1.0)
    weight = np.where(masked & field_ok, t * t * (3 - 2 * t), 0.0)
    corrected = uncast + weight[..., None] * field
    return np.clip(np.round(corrected), 0, 255).astype(np.uint8)


def _cast(original: np.ndarray, generated: np.ndarray, ring: np.ndarray, radius: int) -> np.ndarray:
    """Smooth per-pixel estimate of original − generated from the `ring` pixels."""
    difference = np.asarray(original, dtype=np.float64) - np.asarray(generated, dtype=np.float64)
    local, defined = local_mean(difference, ring, radius)
    overall = difference[ring].mean(axis=0) if ring.any() else np.zeros(difference.shape[-1])
    return np.where(defined[..., None], local, overall)


def _border_value(
    image: np.ndarray, side: np.ndarray, depth: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Local colour of one side, extrapolated from its two innermost rings to the border."""
    first, first_ok = local_mean(image, side & (depth <= 1), window)
    second, second_ok = local_mean(image, side & (depth > 1), window)
    value = np.where(second_ok[..., None], 1.5 * first - 0.5 * second, first)
    return value, first_ok


def seam_metric(image: np.ndarray, mask: np.ndarray, band: int = 3) -> float:
    """How visible the mask border is in `image`: lower is better, 0 for no jump at all.

    Definition: take all horizontally and vertically adjacent pixel pairs. `cross` is the mean
    RGB distance (Euclidean, 0…255 units) over pairs with one pixel in the mask and one outside
    (the jump across the border). `inside` / `outside` are the same mean over pairs lying wholly
    within `band` px inside / outside the border (the texture on each side). The metric is
    cross / (1 + (inside + outside) / 2): a border jump as large as the ordinary pixel-to-pixel
    variation next to it scores about 1 or less; a colour step on a flat area scores its size
    in grey levels. The 1 keeps flat areas from dividing by zero. No border → 0.
    """
    masked = binary(mask)
    pixels = np.asarray(image, dtype=np.float64)
    inner = masked & (distance_to(~masked, band) <= band)
    outer = ~masked & (distance_to(masked, band) <= band)
    sums = {"cross": [0.0, 0], "inside": [0.0, 0], "outside": [0.0, 0]}
    for axis in (0, 1):
        first, second = _pairs(masked, axis)
        diff = np.linalg.norm(_pairs(pixels, axis)[0] - _pairs(pixels, axis)[1], axis=-1)
        groups = {
            "cross": first != second,
            "inside": np.logical_and(*_pairs(inner, axis)),
            "outside": np.logical_and(*_pairs(outer, axis)),
        }
        for name, selected in groups.items():
            sums[name][0] += float(diff[selected].sum())
            sums[name][1] += int(selected.sum())
    mean = {name: total / count if count else 0.0 for name, (total, count) in sums.items()}
    return mean["cross"] / (1.0 + (mean["inside"] + mean["outside"]) / 2.0)


def _pairs(array: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The two members of every adjacent pair along `axis` (0: vertical, 1: horizontal)."""
    if axis == 0:
        return array[:-1], array[1:]
    return array[:, :-1], array[:, 1:]

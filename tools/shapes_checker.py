"""Independent checker for pictures of shapes: geometric analysis on the known palette.

It never uses the model: background = dominant border colour, foreground = pixels far from
it, then colour/size/position/kind come from the foreground's pixels, bounding box and a
template match against the renderer's own outlines. The same code is validated on
ground-truth renders (target >= 95% per attribute) before it is trusted to score the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapes_dataset as ds

_PAL_NAMES = list(ds.PALETTE)
_PAL = np.array([ds.PALETTE[n] for n in _PAL_NAMES], dtype=np.float32)
FG_DISTANCE = 60.0  # RGB distance from the background that counts as "shape"
SIZE_SPLIT = 22.0  # bbox extent in px: small shapes are 16-19 px, large 23-30 px


@dataclass
class Detection:
    """What the checker sees in one region of an image."""

    background: str
    colour: str | None = None
    shape: str | None = None
    size: str | None = None
    position: str | None = None
    area: int = 0
    outlined: bool | None = None  # only with analyse(..., outlines=True)


def nearest_colour(rgb: np.ndarray, palette: dict[str, tuple[int, int, int]] | None = None) -> str:
    """Palette name closest to an RGB triple (among ds.PALETTE unless another is given)."""
    names, pal = _palette(palette)
    return names[int(np.argmin(((pal - rgb) ** 2).sum(1)))]


def _palette(palette: dict[str, tuple[int, int, int]] | None) -> tuple[list[str], np.ndarray]:
    """Names and RGB array of a palette; None is the bundled model's own (the card's figures)."""
    if palette is None:
        return _PAL_NAMES, _PAL
    return list(palette), np.array(list(palette.values()), dtype=np.float32)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Largest 4-connected component of a boolean mask (flood fill, no scipy needed)."""
    h, w = mask.shape
    labels = np.zeros((h, w), dtype=np.int32)
    best, best_n, cur = 0, 0, 0
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if labels[y0, x0]:
            continue
        cur += 1
        stack = [(y0, x0)]
        labels[y0, x0] = cur
        n = 0
        while stack:
            y, x = stack.pop()
            n += 1
            for yy, xx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not labels[yy, xx]:
                    labels[yy, xx] = cur
                    stack.append((yy, xx))
        if n > best_n:
            best, best_n = cur, n
    return labels == best if best else np.zeros_like(mask)


# "Outlined" (the example LoRA's word): the shape's border encloses background. Rendered
# outlines and rings enclose 30% of their filled area; filled shapes enclose nothing, and
# those the model draws at most a few stray pixels.
OUTLINE_HOLE_FRACTION = 0.15


def _holes(comp: np.ndarray) -> np.ndarray:
    """Pixels outside the component that the image border cannot reach around it."""
    free = ~comp
    outside = np.zeros_like(comp)
    outside[0, :], outside[-1, :], outside[:, 0], outside[:, -1] = (
        free[0, :], free[-1, :], free[:, 0], free[:, -1],
    )  # fmt: skip
    while True:  # grow from the border through free pixels (4-connected) until nothing changes
        grown = outside.copy()
        grown[1:] |= outside[:-1]
        grown[:-1] |= outside[1:]
        grown[:, 1:] |= outside[:, :-1]
        grown[:, :-1] |= outside[:, 1:]
        grown &= free
        if (grown == outside).all():
            return free & ~outside
        outside = grown


def _classify_kind(
    comp: np.ndarray, cx: float, cy: float, extent: float, kinds: tuple[str, ...] = ds.SHAPES
) -> str:
    """Template match: the renderer's outline of each kind, fitted to the detected box."""
    # Fill holes inside the component's bbox would erase rings; compare raw masks instead.
    best, best_iou = "circle", -1.0
    ys, xs = np.nonzero(comp)
    for kind in kinds:
        for r_scale in (0.95, 1.0, 1.05):
            r = extent / 2 * r_scale
            if kind == "square":
                r = r / 0.9
            elif kind == "triangle":
                r = extent / 1.8 * r_scale  # height is 1.8 r
            elif kind == "diamond":
                r = r / ds.DIAMOND_HALF_DIAGONAL
            spec = ds.ShapeSpec(kind, "white", "small", "center", cx, cy, r)
            tmpl = ds.render_mask(spec)
            # align template bbox centre with the detection's bbox centre
            ty, tx = np.nonzero(tmpl)
            if len(ty) == 0:
                continue
            dy = round((ys.min() + ys.max()) / 2 - (ty.min() + ty.max()) / 2)
            dx = round((xs.min() + xs.max()) / 2 - (tx.min() + tx.max()) / 2)
            tmpl = np.roll(np.roll(tmpl, dy, 0), dx, 1)
            iou = (tmpl & comp).sum() / max(1, (tmpl | comp).sum())
            if iou > best_iou:
                best, best_iou = kind, iou
    return best


def analyse(
    img: np.ndarray,
    region: tuple[int, int, int, int] | None = None,
    outlines: bool = False,
    palette: dict[str, tuple[int, int, int]] | None = None,
    kinds: tuple[str, ...] = ds.SHAPES,
) -> Detection:
    """Detect background and the largest shape, optionally inside region (x0, y0, x1, y1).

    `outlines` (opt-in, so the model card's figures keep their meaning): also say whether the
    shape is outlined (encloses background); an outlined shape's kind is then matched with its
    holes filled, among the filled kinds (a ring counts as an outlined circle).

    `palette` (opt-in): name colours from this palette instead of ds.PALETTE, e.g.
    ds.FULL_PALETTE to recognise the brown LoRA's colour.

    `kinds` (opt-in): the shape kinds to choose among, e.g. ds.SHAPES + ds.CONCEPT_SHAPES to
    recognise the diamond LoRA's shape.

    Position uses the shape's bbox centre in full-image coordinates, nearest of the five
    anchors; size splits on the larger bbox side.
    """
    img = np.asarray(img, dtype=np.float32)[..., :3]
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    names, pal = _palette(palette)
    idx = ((border[:, None, :] - pal[None]) ** 2).sum(-1).argmin(1)
    winner = int(np.bincount(idx, minlength=len(names)).argmax())
    background = names[winner]
    bg_rgb = np.median(border[idx == winner], axis=0)
    fg = np.sqrt(((img - bg_rgb) ** 2).sum(-1)) > FG_DISTANCE
    if region is not None:
        x0, y0, x1, y1 = region
        keep = np.zeros_like(fg)
        keep[y0:y1, x0:x1] = True
        fg &= keep
    det = Detection(background=background)
    if fg.sum() < 6:
        return det
    comp = _largest_component(fg)
    ys, xs = np.nonzero(comp)
    det.area = int(comp.sum())
    # colour from the component's pixels that are far from edges (median is robust)
    det.colour = nearest_colour(np.median(img[comp], axis=0), palette)
    ext = float(max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1))
    det.size = "large" if ext >= SIZE_SPLIT else "small"
    cx, cy = (xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2
    det.position = min(
        ds.ANCHORS, key=lambda k: (ds.ANCHORS[k][0] - cx) ** 2 + (ds.ANCHORS[k][1] - cy) ** 2
    )
    if outlines:
        holes = _holes(comp)
        det.outlined = bool(holes.sum() >= OUTLINE_HOLE_FRACTION * (comp.sum() + holes.sum()))
        if det.outlined:
            # a thin border is mostly anti-aliased edge: its colour is in the pixels farthest
            # from the background
            dist = np.sqrt(((img[comp] - bg_rgb) ** 2).sum(-1))
            core = img[comp][dist >= np.percentile(dist, 75)]
            det.colour = nearest_colour(np.median(core, axis=0), palette)
            filled = tuple(k for k in ds.SHAPES if k != "ring")
            det.shape = _classify_kind(comp | holes, cx, cy, ext, filled)
            return det
    det.shape = _classify_kind(comp, cx, cy, ext, kinds)
    return det

"""Procedural, captioned shapes dataset for Brushwork's bundled model.

Everything is drawn with Pillow from a seeded RNG, so the training data is reproducible
bit-for-bit and nothing has to be downloaded (the bundled model must be rebuildable on an
offline machine). The same renderer is used by the evaluation checker to validate itself
on ground truth, which is why geometry and palette live here in one place.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 64
SUPERSAMPLE = 4  # draw at 4x and area-downsample: anti-aliased edges are easier to learn

# Well separated named colours, so both the model and the checker can tell them apart.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (245, 225, 40),
    "green": (40, 170, 60),
    "cyan": (40, 210, 225),
    "blue": (40, 80, 220),
    "purple": (140, 60, 190),
    "pink": (250, 150, 200),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
COLOURS: tuple[str, ...] = tuple(PALETTE)
# Colours the bundled model was never taught, for the example LoRAs (tools/train_lora.py
# --word brown). Kept apart from PALETTE so the model, its held-out split and its card keep
# their meaning; render(..., palette=FULL_PALETTE) and the checker's `palette` argument use it.
# Brown (110, 85, 45) is 111-119 RGB units from its neighbours green, black and red (PALETTE's
# closest pair, orange/yellow, is 87 apart), and of the browns tried it is the one the bundled
# VAE keeps best: its reconstructions of brown shapes read as brown in 73-81 of 100 (the
# checker, two samples; (120, 70, 30) in 58-60: the VAE turns it red). The misses are on pink
# and purple backgrounds (decoded black) and a few on orange (green): a limit of the VAE that
# no LoRA of the UNet lifts.
CONCEPT_PALETTE: dict[str, tuple[int, int, int]] = {"brown": (110, 85, 45)}
FULL_PALETTE: dict[str, tuple[int, int, int]] = {**PALETTE, **CONCEPT_PALETTE}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "ring")
# Shapes the bundled model was never taught, for the example LoRAs (tools/train_lora.py
# --word diamond): kept out of SHAPES for the same reason as CONCEPT_PALETTE. A diamond is a
# square standing on a corner. Its half-diagonal is 1.05 r: a square's area (its half-side is
# 0.9 r: 3.24 r²) would need 1.27 r, whose 20-24 px width for a *small* one crosses the
# checker's 22 px size split (1.1 r already read one small diamond of 40 as large); 1.05 r
# keeps them 16.8-20 px (small) and 27.3-31.5 px (large), about a circle's extent, with 68%
# of the square's area (2.2 r²).
CONCEPT_SHAPES: tuple[str, ...] = ("diamond",)
DIAMOND_HALF_DIAGONAL = 1.05
SIZES: tuple[str, ...] = ("small", "large")
POSITIONS: tuple[str, ...] = ("left", "right", "top", "bottom", "center")

# Anchor centres in pixels of the 64x64 image.
ANCHORS: dict[str, tuple[float, float]] = {
    "left": (16.0, 32.0),
    "right": (48.0, 32.0),
    "top": (32.0, 16.0),
    "bottom": (32.0, 48.0),
    "center": (32.0, 32.0),
}
POSITION_PHRASES: dict[str, str] = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
    "center": "in the center",
}
# Half-extent ("radius") ranges in pixels. Chosen so two large shapes on opposite sides
# never overlap, and small/large never overlap in extent (the checker splits at 22 px).
# Small shapes are 16-19 px across: at 12-16 px (the first dataset) the 4x VAE lost the
# points of small stars and the holes of small rings (checker on its reconstructions: 0% and
# 22%), so no UNet trained on its latents could draw them.
RADIUS_RANGE: dict[str, tuple[float, float]] = {"small": (8.0, 9.5), "large": (13.0, 15.0)}
JITTER = 2.0
# "outlined" (the example LoRA, tools/train_lora.py): a border 45% of the shape's inradius wide
# (2.3-6.8 px; a ring's is 45% of its radius), so every kind keeps 30% of its area as hole. A
# 35% border taught the LoRA no better and cost the base model 12 points of shape (measured).
# Stars (arms too thin to hollow at 64 px) and rings (already a border) are never outlined.
OUTLINE_WIDTH = 0.45
OUTLINE_SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
TWO_SHAPE_FRACTION = 0.2
OPPOSITE_PAIRS: tuple[tuple[str, str], ...] = (("left", "right"), ("top", "bottom"))

# Every word a caption can contain; the tokenizer gives each one a single token.
CAPTION_WORDS: tuple[str, ...] = (
    *COLOURS,
    *SHAPES,
    *SIZES,
    "a",
    "and",
    "on",
    "at",
    "in",
    "the",
    *POSITIONS,
    "background",
    ",",
)


@dataclass(frozen=True)
class ShapeSpec:
    """One shape: what it is, and where/how large it is drawn."""

    shape: str
    colour: str
    size: str
    position: str
    cx: float
    cy: float
    radius: float
    outlined: bool = False  # only the border drawn (the example LoRA's word; OUTLINE_SHAPES)


@dataclass(frozen=True)
class SceneSpec:
    """A full picture: background colour plus one or two shapes."""

    background: str
    shapes: tuple[ShapeSpec, ...]


def is_held_out(colour: str, shape: str, position: str) -> bool:
    """Whether a colour x shape x position triple is reserved for evaluation.

    Exactly one colour is held out for every (shape, position) pair, and because 3*s and 7*p
    are distinct mod 10 for the 5 shapes/positions, every colour still appears with every
    shape and with every position in training: only the *combination* is new at test time.
    """
    s = SHAPES.index(shape)
    p = POSITIONS.index(position)
    return COLOURS.index(colour) == (3 * s + 7 * p) % len(COLOURS)


def held_out_triples() -> list[tuple[str, str, str]]:
    """All (colour, shape, position) triples never drawn in training (25 of 250)."""
    return [(c, s, p) for s in SHAPES for p in POSITIONS for c in COLOURS if is_held_out(c, s, p)]


def shape_polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """Outline polygon of a filled shape (circle/ring handled separately by the renderer)."""
    if shape == "square":
        h = r * 0.9
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)]
    if shape == "diamond":
        d = r * DIAMOND_HALF_DIAGONAL
        return [(cx, cy - d), (cx + d, cy), (cx, cy + d), (cx - d, cy)]
    if shape == "star":
        pts = []
        for i in range(10):
            rad = r if i % 2 == 0 else r * 0.45
            ang = -np.pi / 2 + i * np.pi / 5
            pts.append((cx + rad * np.cos(ang), cy + rad * np.sin(ang) + r * 0.1))
        return pts
    raise ValueError(shape)


def _inset(points: list[tuple[float, float]], k: float, centre: tuple[float, float]):
    """The polygon scaled by k about centre (its incentre: the border keeps one width)."""
    return [(centre[0] + k * (x - centre[0]), centre[1] + k * (y - centre[1])) for x, y in points]


def draw_outline(draw: ImageDraw.ImageDraw, spec: ShapeSpec, fill, scale: float, hole) -> None:
    """An outlined circle, square or triangle: the shape with a smaller copy punched out."""
    cx, cy, r = spec.cx * scale, spec.cy * scale, spec.radius * scale
    k = 1 - OUTLINE_WIDTH  # the hole: the shape scaled by k about its incentre
    if spec.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        draw.ellipse([cx - k * r, cy - k * r, cx + k * r, cy + k * r], fill=hole)
        return
    outer = shape_polygon(spec.shape, cx, cy, r)
    if spec.shape == "square":
        centre = (cx, cy)
    elif spec.shape == "triangle":  # inradius = area / semi-perimeter = 1.8 r / (1 + √4.24)
        centre = (cx, cy + 0.8 * r - 1.8 * r / (1 + 4.24**0.5))
    else:
        raise ValueError(f"{spec.shape} cannot be outlined (only {', '.join(OUTLINE_SHAPES)})")
    draw.polygon(outer, fill=fill)
    draw.polygon(_inset(outer, k, centre), fill=hole)


def draw_shape(draw: ImageDraw.ImageDraw, spec: ShapeSpec, fill, scale: float, hole=None) -> None:
    """Draw one shape at `scale` times the nominal coordinates.

    `hole` is the colour punched into a ring or an outlined shape (the background, or 0 for
    masks).
    """
    if spec.outlined:
        draw_outline(draw, spec, fill, scale, hole)
        return
    cx, cy, r = spec.cx * scale, spec.cy * scale, spec.radius * scale
    if spec.shape in ("circle", "ring"):
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        if spec.shape == "ring":
            ri = r * 0.55
            draw.ellipse([cx - ri, cy - ri, cx + ri, cy + ri], fill=hole)
        return
    draw.polygon(shape_polygon(spec.shape, cx, cy, r), fill=fill)


def render(
    scene: SceneSpec, size: int = IMAGE_SIZE, palette: dict[str, tuple[int, int, int]] = PALETTE
) -> Image.Image:
    """Render a scene as an anti-aliased RGB image of `size` x `size`."""
    big = size * SUPERSAMPLE
    scale = big / IMAGE_SIZE
    bg = palette[scene.background]
    img = Image.new("RGB", (big, big), bg)
    draw = ImageDraw.Draw(img)
    for sh in scene.shapes:
        draw_shape(draw, sh, palette[sh.colour], scale, hole=bg)
    return img.resize((size, size), Image.BOX)


def render_mask(spec: ShapeSpec, size: int = IMAGE_SIZE) -> np.ndarray:
    """Boolean mask of one shape at `size` (the checker's template)."""
    big = size * SUPERSAMPLE
    img = Image.new("L", (big, big), 0)
    draw_shape(ImageDraw.Draw(img), spec, 255, big / IMAGE_SIZE, hole=0)
    return np.asarray(img.resize((size, size), Image.BOX)) >= 128


def _make_shape(rng: random.Random, colour: str, shape: str, size: str, position: str) -> ShapeSpec:
    ax, ay = ANCHORS[position]
    lo, hi = RADIUS_RANGE[size]
    return ShapeSpec(
        shape=shape,
        colour=colour,
        size=size,
        position=position,
        cx=ax + rng.uniform(-JITTER, JITTER),
        cy=ay + rng.uniform(-JITTER, JITTER),
        radius=rng.uniform(lo, hi),
    )


def _sample_shape(
    rng: random.Random, background: str, position: str, include_held_out: bool
) -> ShapeSpec:
    while True:
        colour = rng.choice(COLOURS)
        shape = rng.choice(SHAPES)
        if colour == background:
            continue
        if not include_held_out and is_held_out(colour, shape, position):
            continue
        return _make_shape(rng, colour, shape, rng.choice(SIZES), position)


def sample_scene(rng: random.Random, include_held_out: bool = False) -> SceneSpec:
    """Draw a random scene; training scenes never contain a held-out triple."""
    background = rng.choice(COLOURS)
    if rng.random() < TWO_SHAPE_FRACTION:
        positions = list(rng.choice(OPPOSITE_PAIRS))
        rng.shuffle(positions)
        shapes = tuple(_sample_shape(rng, background, p, include_held_out) for p in positions)
    else:
        shapes = (_sample_shape(rng, background, rng.choice(POSITIONS), include_held_out),)
    return SceneSpec(background=background, shapes=shapes)


def shape_phrase(sh: ShapeSpec, with_size: bool = True, with_position: bool = True) -> str:
    """'a large red circle on the left' with optional size/position words."""
    words = ["a"]
    if with_size:
        words.append(sh.size)
    words += [sh.colour, "outlined", sh.shape] if sh.outlined else [sh.colour, sh.shape]
    if with_position:
        words.append(POSITION_PHRASES[sh.position])
    return " ".join(words)


def caption(scene: SceneSpec, rng: random.Random | None = None) -> str:
    """Caption a scene. With an RNG, size and position words are sometimes dropped.

    Dropping them teaches the model short prompts such as "a red circle, blue background"
    (the app's typical first prompt) without losing the fully specified form.
    """
    if len(scene.shapes) == 1:
        sh = scene.shapes[0]
        with_size = rng is None or rng.random() >= 0.25
        with_pos = rng is None or rng.random() >= 0.25
        body = shape_phrase(sh, with_size, with_pos)
    else:
        with_size = rng is None or rng.random() >= 0.25
        body = " and ".join(shape_phrase(sh, with_size, True) for sh in scene.shapes)
    return f"{body}, {scene.background} background"


def scene_from_words(
    colour: str,
    shape: str,
    size: str,
    position: str,
    background: str,
    rng: random.Random | None = None,
) -> SceneSpec:
    """Ground-truth scene for an explicit prompt (used by the checker's self-test)."""
    rng = rng or random.Random(0)
    return SceneSpec(background, (_make_shape(rng, colour, shape, size, position),))


def iter_samples(seed: int, include_held_out: bool = False) -> Iterator[tuple[Image.Image, str]]:
    """Endless deterministic stream of (image, caption) pairs for a given seed."""
    rng = random.Random(seed)
    while True:
        scene = sample_scene(rng, include_held_out)
        yield render(scene), caption(scene, rng)


def sample_batch(
    rng: random.Random, n: int, include_held_out: bool = False
) -> tuple[np.ndarray, list[SceneSpec]]:
    """n rendered scenes as a uint8 array (n, 64, 64, 3) plus their specs."""
    scenes = [sample_scene(rng, include_held_out) for _ in range(n)]
    arr = np.stack([np.asarray(render(s)) for s in scenes])
    return arr, scenes


def is_concept_held_out(shape: str, position: str) -> bool:
    """One position per shape kind (circle left, star right, square top, ring bottom, triangle
    center) is never drawn in a concept colour in training: the concept LoRA's evaluation."""
    return (SHAPES.index(shape) + 2 * POSITIONS.index(position)) % 5 == 0


def concept_colour_scene(rng: random.Random, colour: str) -> SceneSpec:
    """An ordinary training scene with one shape recoloured in a CONCEPT_PALETTE colour (never
    a held-out shape × position pair); render it with FULL_PALETTE."""
    return redraw_one(rng, lambda sh: is_concept_held_out(sh.shape, sh.position), colour=colour)


def redraw_one(rng: random.Random, held_out: Callable[[ShapeSpec], bool], **change) -> SceneSpec:
    """An ordinary training scene with one of its shapes, never a held-out one, changed
    (`change`: ShapeSpec fields); the example LoRAs' concept pictures."""
    while True:
        scene = sample_scene(rng)
        ks = [k for k, sh in enumerate(scene.shapes) if not held_out(sh)]
        if ks:
            k = rng.choice(ks)
            shapes = list(scene.shapes)
            shapes[k] = replace(shapes[k], **change)
            return replace(scene, shapes=tuple(shapes))


def is_diamond_held_out(colour: str, position: str) -> bool:
    """One position per colour is never drawn as a diamond in training (red left, orange
    right, …, pink bottom, white left…): every position twice, each with two colours. The
    diamond LoRA's evaluation prompts are exactly these pairs."""
    return POSITIONS.index(position) == COLOURS.index(colour) % len(POSITIONS)


def concept_shape_scene(rng: random.Random, shape: str) -> SceneSpec:
    """An ordinary training scene with one shape redrawn as a CONCEPT_SHAPES kind (never a
    held-out colour × position pair): "a small red diamond at the top, cyan background"."""
    return redraw_one(rng, lambda sh: is_diamond_held_out(sh.colour, sh.position), shape=shape)

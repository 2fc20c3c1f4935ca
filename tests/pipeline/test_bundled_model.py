"""The bundled model through the engine, with assertions on what it paints.

Colours are judged by hue dominance (a pixel is "red" when its red channel leads both others by
60), because the model's colours are close to but darker than the training palette. The model
gets backgrounds and shape colours right most of the time, not always (its card has the
figures), so content tests look at several seeds and ask for a clear majority.
"""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipeline import Engine, GenerationRequest, bundled_model_dir

YELLOW, GREEN = (245, 225, 40), (40, 170, 60)  # training palette, for drawn init images


def red(pixels: np.ndarray) -> np.ndarray:
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    return (r > g + 60) & (r > b + 60)


def blue(pixels: np.ndarray) -> np.ndarray:
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    return (b > r + 60) & (b > g + 40)


def yellow(pixels: np.ndarray) -> np.ndarray:
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    return (r > b + 100) & (g > b + 100)


def green(pixels: np.ndarray) -> np.ndarray:
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    return (g > r + 50) & (g > b + 30)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("bundled"), device="cpu")
    engine.load(None)
    return engine


def make(engine, prompt, seed=1, **changes):
    fields = dict(prompt=prompt, width=64, height=64, steps=20, guidance=5.0, seed=seed,
                  sampler="euler")  # fmt: skip
    return engine.run(GenerationRequest(**{**fields, **changes}))[0].image


def test_the_default_model_is_the_bundled_one_and_fits_the_size_budget(shapes):
    assert shapes.model.source.name == "brushwork-shapes"
    size = sum(f.stat().st_size for f in bundled_model_dir().rglob("*") if f.is_file())
    assert size <= 25 * 1024**2


def test_a_red_circle_on_blue_is_mostly_blue_with_a_red_region(shapes):
    images = [make(shapes, "a large red circle, blue background", seed) for seed in range(1, 6)]
    good = [blue(i).mean() > 0.5 and 0.03 < red(i).mean() < 0.4 for i in images]
    assert sum(good) >= 4, good
    # Without the words, neither colour is there: the prompt, not chance, paints them.
    other = make(shapes, "a large white ring, green background", 1)
    assert blue(other).mean() < 0.1 and red(other).mean() < 0.01


def test_the_same_seed_reproduces_the_image_and_another_seed_differs(shapes):
    prompt = "a small green star, yellow background"
    first, again, other = (make(shapes, prompt, s) for s in (5, 5, 6))
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_previews_get_closer_to_the_final_image(shapes):
    updates = []
    result = shapes.run(
        GenerationRequest(prompt="a large yellow square on the left, purple background",
                          width=64, height=64, steps=20, guidance=5.0, seed=4, sampler="euler"),
        on_step=updates.append,
    )[0]  # fmt: skip
    side = updates[0].preview.shape[0]
    final = np.asarray(Image.fromarray(result.image).resize((side, side), Image.Resampling.BOX))

    def distance(update):
        return np.abs(update.preview.astype(int) - final.astype(int)).mean()

    first, middle, last = distance(updates[0]), distance(updates[9]), distance(updates[-1])
    assert last < middle < first
    assert last < 50  # a linear map of 4 latent channels is a rough but recognisable preview


def drawn_square() -> np.ndarray:
    image = Image.new("RGB", (64, 64), GREEN)
    ImageDraw.Draw(image).rectangle((18, 18, 46, 46), fill=YELLOW)
    return np.asarray(image)


def test_img2img_keeps_the_canvas_at_low_strength_and_repaints_at_high(shapes):
    init = drawn_square()
    kept = make(shapes, "a large yellow square in the center, green background",
                mode="img2img", init_image=init, strength=0.3)  # fmt: skip
    assert np.abs(kept.astype(int) - init.astype(int)).mean() < 25
    repainted = make(shapes, "a small red circle, blue background", mode="img2img",
                     init_image=init, strength=1.0)  # fmt: skip
    assert blue(repainted).mean() > 0.4 and green(repainted).mean() < 0.1


def test_inpainting_the_right_half_follows_the_prompt_and_keeps_the_left(shapes):
    # A different shape on the same background: the model only knows one background per image.
    base = make(shapes, "a large red circle, blue background", seed=1)
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 32:] = 255
    results = [
        make(shapes, "a large yellow square on the right, blue background", seed=seed,
             mode="inpaint", init_image=base, mask=mask, strength=1.0)
        for seed in (8, 9)
    ]  # fmt: skip
    for result in results:
        assert np.array_equal(result[:, :28], base[:, :28])  # outside mask + 4 px band: kept
        assert yellow(result[:, 32:]).mean() > yellow(base[:, 32:]).mean()
    assert max(yellow(r[:, 32:]).mean() for r in results) > 0.15

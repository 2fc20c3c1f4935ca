"""Draws resources/icons/brushwork.png (the app icon): a brush stroke over a gradient tile."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

SIZE = 256


def draw_icon() -> Image.Image:
    tile = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    gradient = Image.linear_gradient("L").resize((SIZE, SIZE))
    colour = Image.merge(
        "RGB",
        (
            gradient.point(lambda v: 60 + v // 3),
            gradient.point(lambda v: 90),
            Image.new("L", (SIZE, SIZE), 200),
        ),
    )
    mask = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(mask).rounded_rectangle((8, 8, SIZE - 8, SIZE - 8), radius=48, fill=255)
    tile.paste(colour, mask=mask)
    stroke = Image.new("L", (SIZE, SIZE), 0)
    pen = ImageDraw.Draw(stroke)
    points = [
        (56 + t * 1.4, 180 - 90 * (t / 100) ** 0.7 + 12 * ((t % 50) / 50)) for t in range(101)
    ]
    for (x, y), width in zip(points, range(34, 0, -1), strict=False):
        pen.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    pen.line(points, fill=255, width=10)
    stroke = stroke.filter(ImageFilter.GaussianBlur(1.2))
    tile.paste((250, 196, 80, 255), mask=Image.composite(stroke, Image.new("L", stroke.size), mask))
    return tile


if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "resources" / "icons" / "brushwork.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    draw_icon().save(target)
    print(target)

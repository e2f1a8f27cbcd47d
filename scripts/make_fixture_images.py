"""Regenerate the sample images in fixtures/images/ (deterministically: same Pillow, same bytes).

Every image is the same 64x48 drawing (a sky-blue background, a red rectangle, a yellow disc
and a green triangle), saved as PNG, JPEG, lossless WebP and a 16-colour GIF, plus
``truncated.png``: the first half of the PNG, a file that starts like an image but does not
decode. Nothing time- or machine-dependent goes into the files (no EXIF, no timestamps).

    python scripts/make_fixture_images.py [--out DIR]
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 64, 48
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "fixtures" / "images"


def drawing() -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), (135, 206, 235))
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 6, 26, 30), fill=(220, 40, 40))
    draw.ellipse((34, 4, 58, 28), fill=(250, 210, 30))
    draw.polygon([(10, 44), (32, 22), (54, 44)], fill=(40, 160, 60))
    return image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def render_all() -> dict[str, bytes]:
    """File name -> bytes of every fixture image."""
    image = drawing()
    png = encode(image, "PNG")
    return {
        "shapes.png": png,
        "shapes.jpg": encode(image, "JPEG", quality=90),
        # Lossless, so the pixels (not only the size) are the drawing's exactly.
        "shapes.webp": encode(image, "WEBP", lossless=True),
        "shapes.gif": encode(image.quantize(colors=16, dither=Image.Dither.NONE), "GIF"),
        "truncated.png": png[: len(png) // 2],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in render_all().items():
        (args.out / name).write_bytes(data)
        print(f"{args.out / name} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

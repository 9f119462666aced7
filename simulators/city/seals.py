"""Seal impressions (印影) for the simulated seal registry: a red ring with the name in IPAex Mincho.

A registered seal is a picture of a physical seal, so it is drawn once per name and kept small
(96×96 px): a full load of a few thousand registrations stays fast and light.
"""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from simulators.city.glyphs import MINCHO

SEAL_SIZE = 96
_RED = (200, 30, 30, 255)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(MINCHO), size)


@lru_cache(maxsize=512)
def seal_image_png(text: str) -> bytes:
    """A round seal with ``text`` written top to bottom (one to four characters); PNG bytes."""
    chars = list(text)[:4]
    if not chars:
        raise ValueError("a seal needs at least one character")
    image = Image.new("RGBA", (SEAL_SIZE, SEAL_SIZE), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    margin, ring = 3, 5
    draw.ellipse((margin, margin, SEAL_SIZE - margin, SEAL_SIZE - margin), outline=_RED, width=ring)
    inner = SEAL_SIZE - 2 * (margin + ring) - 6
    centre = SEAL_SIZE / 2
    if len(chars) == 4:
        # Four characters: two columns, read right column first, as seals are carved.
        size = inner // 2
        font = _font(size)
        cells = [(centre + size / 2, centre - size / 2), (centre + size / 2, centre + size / 2)]
        cells += [(centre - size / 2, centre - size / 2), (centre - size / 2, centre + size / 2)]
        for char, (x, y) in zip(chars, cells, strict=True):
            draw.text((x, y), char, font=font, fill=_RED, anchor="mm")
    else:
        # One to three characters in a vertical column; a single character fills the ring.
        size = int(inner * (0.72 if len(chars) == 1 else 1.0) / (1 if len(chars) == 1 else len(chars)))
        font = _font(size)
        top = centre - size * len(chars) / 2 + size / 2
        for index, char in enumerate(chars):
            draw.text((centre, top + index * size), char, font=font, fill=_RED, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()

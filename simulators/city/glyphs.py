"""Which characters the embedded certificate font can draw (外字 detection for the simulator)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from reportlab.pdfbase.ttfonts import TTFont

FONT_DIR = Path(__file__).resolve().parent.parent.parent / "certificates" / "fonts"
MINCHO = FONT_DIR / "ipaexm.ttf"


@lru_cache(maxsize=4)
def font_codepoints(path: str = str(MINCHO)) -> frozenset[int]:
    """The code points a TrueType font maps to a glyph (its cmap), read once per process."""
    return frozenset(TTFont("glyph-check", path).face.charToGlyph)


def characters_missing(text: str, *, path: str = str(MINCHO)) -> set[str]:
    """The characters of ``text`` the font lacks (spaces count as printable)."""
    known = font_codepoints(path)
    return {char for char in text if not char.isspace() and ord(char) not in known}

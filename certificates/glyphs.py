"""The embedded fonts and the 外字 check (SPEC §2, DOMAIN "national standard layouts").

ReportLab draws a character missing from a TrueType font as the font's notdef box without any error,
so a certificate could silently print a wrong name. The renderer therefore refuses any text with a
character outside the fonts' character maps; the kiosk tells the resident to ask at the counter.

The fonts are parsed and registered once per process (module-level, behind a lock): that is read-only
state shared safely between requests, and parsing the 8 MB font files per request would be slow.
(ReportLab keeps each PDF's glyph subset inside the TTFont, in a WeakKeyDictionary keyed by that
PDF's document object: per request, and dropped with it.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reportlab import rl_config
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_DIR = Path(__file__).resolve().parent / "fonts"
MINCHO = "IPAexMincho"  # body text, as certificates are printed
GOTHIC = "IPAexGothic"  # titles, labels and numbers
_FONT_FILES = {MINCHO: "ipaexm.ttf", GOTHIC: "ipaexg.ttf"}


class UnprintableCharacterError(ValueError):
    """Text holds characters the embedded fonts lack (外字).

    The message gives only how many characters: the text itself, and even its code points, may be
    personal data (a name) and exceptions reach logs.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        super().__init__(f"{count} character(s) are not in the embedded font (外字)")


@dataclass(frozen=True)
class _FontSet:
    printable: frozenset[str]


_lock = threading.Lock()
_fonts: _FontSet | None = None


def fonts_ready() -> frozenset[str]:
    """Register the fonts with ReportLab once and return the characters every one of them can draw."""
    global _fonts
    if _fonts is None:
        with _lock:
            if _fonts is None:
                printable: frozenset[str] | None = None
                for name, filename in _FONT_FILES.items():
                    font = TTFont(name, str(FONT_DIR / filename))
                    pdfmetrics.registerFont(font)
                    chars = frozenset(chr(cp) for cp, glyph in font.face.charToGlyph.items() if glyph)
                    printable = chars if printable is None else printable & chars
                assert printable is not None
                # Binary (Flate only) streams: ASCII85 on top makes every certificate 25% larger and
                # costs more time than all the drawing. A process-wide, constant setting.
                rl_config.useA85 = 0
                _fonts = _FontSet(printable=printable)
    return _fonts.printable


def characters_missing_from_font(text: str) -> set[str]:
    """The characters of ``text`` that the embedded fonts cannot draw; an empty set means printable."""
    return set(text) - fonts_ready()


def ensure_printable(texts: Iterable[str]) -> None:
    """Raise UnprintableCharacterError unless every character of every text is in the fonts."""
    printable = fonts_ready()
    missing: set[str] = set()
    for text in texts:
        missing |= set(text) - printable
    if missing:
        raise UnprintableCharacterError(len(missing))

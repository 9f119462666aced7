"""My Numbers out of a quarantined record before it is stored (SPEC §5, §6).

A quarantined record is kept for a clerk to act on, so everything else of it stays as received; a My
Number found anywhere in it is replaced by ``MY_NUMBER_MARKER`` and counted, so that the clerk sees
that one was there. Where a My Number is looked for:

- the value of any field whose name says My Number (``my_number``, ``my-number``, ``MyNumber``,
  ``my_no``, ``kojin_bango``, ``kojin-bangou``, 個人番号, マイナンバー, also in full-width letters),
  at any depth, whatever the value is: a value meant to be a My Number whose check digit is wrong is
  most likely a mistyped one, still eleven of the person's twelve digits;
- any other string, key or number, at any depth, and the texts stored beside the record (its key,
  the reason it was quarantined): a run of 12 digits (any decimal digits, ASCII or full-width among
  them) that passes the My Number check digit, also written in three groups of four separated by
  whitespace (a few characters of it), a dash of any kind (hyphen, minus, ー, －, en and em dash,
  ...), ``.`` or ``・``. A 12-digit run that fails the check is kept: it cannot be anyone's My Number,
  nine in ten 12-digit numbers fail, and the clerk needs the record's amounts and codes as they came;
- an integer of 11 or 12 digits whose 12-digit zero-padded form passes the check: a My Number that
  begins with 0 loses that digit when a program writes it as a JSON number.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from residents.my_number import my_number_is_valid

MY_NUMBER_MARKER = "[個人番号削除]"

# Matched on the NFKC form of the name, so full-width letters count too. ``no`` only as a whole
# word ending (my_no, myNo, my_no_old), so that my_notes or my_nonce are not taken for one.
_MY_NUMBER_FIELD = re.compile(
    r"my[\W_]*n(?:umber|o(?![a-z]))|kojin[\W_]*bang|個人番号|マイ[\W_]*ナンバー", re.IGNORECASE
)
# Every dash-like character: Unicode's dash punctuation (category Pd: hyphen-minus, hyphen,
# non-breaking hyphen, figure, en and em dash, horizontal bar, 〜, ゠, －, ...) and the characters that
# look like one but are classed otherwise (minus sign, the katakana prolonged sound mark ー and its
# half-width form, hyphen bullet, modifier, superscript, subscript and heavy minus).
_DASHES = (
    "\u002d\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2e17\u2e1a\u2e3a\u2e3b"
    "\u2e40\u2e5d\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d\U00010ead"
    "\u2212\u30fc\uff70\u2043\u02d7\u207b\u208b\u2796"
)
_DOTS = ".\uff0e\u30fb\uff65\u00b7\u2027"  # . ． ・ ･ · ‧
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"  # soft hyphen, zero-width characters
_DIGIT = r"\d"  # any decimal digit: ASCII, full-width and the other scripts' (unicodedata.digit reads them)
# Between two groups of four: a few whitespace or invisible characters (tab, full-width space, two
# spaces...) around at most one dash or dot. Bounded, so that digits far apart are not joined.
_GAP = rf"[\s{_INVISIBLE}]{{0,3}}"
_SEPARATOR = rf"{_GAP}(?:[{re.escape(_DASHES + _DOTS)}]{_GAP})?"
# A lookahead, so that every position is a candidate: a 12-digit run that fails the check does not
# hide a My Number starting in its second group ("5555 1234 5678 9018").
_TWELVE_DIGITS = re.compile(
    rf"(?<!{_DIGIT})(?=(({_DIGIT}{{4}}){_SEPARATOR}({_DIGIT}{{4}}){_SEPARATOR}({_DIGIT}{{4}}))(?!{_DIGIT}))"
)


def my_number_field(name: str) -> bool:
    """Whether a field of this name holds a My Number, whatever its value."""
    return bool(_MY_NUMBER_FIELD.search(unicodedata.normalize("NFKC", name)))


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.digit(char)) for char in text)


class _Redactor:
    def __init__(self) -> None:
        self.removed = 0

    def text(self, value: str) -> str:
        pieces: list[str] = []
        end = 0
        for match in _TWELVE_DIGITS.finditer(value):
            start = match.start()
            if start < end:  # inside a My Number already replaced
                continue
            if my_number_is_valid(_ascii_digits("".join(match.groups()[1:]))):
                self.removed += 1
                pieces += [value[end:start], MY_NUMBER_MARKER]
                end = start + len(match.group(1))
        if not pieces:
            return value
        pieces.append(value[end:])
        return "".join(pieces)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return self.number(value)
        if isinstance(value, float):
            return self.number(int(value)) if value.is_integer() else value
        if isinstance(value, dict):
            return self.mapping(value)
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value

    def number(self, value: int) -> Any:
        if 10**10 <= value < 10**12 and my_number_is_valid(f"{value:012d}"):
            self.removed += 1
            return MY_NUMBER_MARKER
        return value

    def mapping(self, value: dict[Any, Any]) -> dict[Any, Any]:
        clean: dict[Any, Any] = {}
        for key, item in value.items():
            name = self.text(key) if isinstance(key, str) else key
            if isinstance(key, str) and my_number_field(key) and item not in (None, "", MY_NUMBER_MARKER):
                self.removed += 1
                item = MY_NUMBER_MARKER
            else:
                item = self.value(item)
            while name in clean:  # two keys that were My Numbers: both kept, told apart
                name = f"{name}*"
            clean[name] = item
        return clean


def my_numbers_redact(value: Any) -> tuple[Any, int]:
    """``value`` (JSON-like: dicts, lists, strings, numbers) with every My Number replaced by
    ``MY_NUMBER_MARKER``, and how many were replaced. The input is not changed."""
    redactor = _Redactor()
    clean = redactor.value(value)
    return clean, redactor.removed


def my_numbers_redact_text(text: str) -> tuple[str, int]:
    """``text`` with every My Number in it replaced by ``MY_NUMBER_MARKER``, and how many were
    replaced: for the texts stored beside a quarantined record (its key, its reason)."""
    redactor = _Redactor()
    clean = redactor.text(text)
    return clean, redactor.removed

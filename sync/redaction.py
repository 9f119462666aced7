"""My Numbers out of a quarantined record before it is stored (SPEC §5, §6).

A quarantined record is kept for a clerk to act on, so everything else of it stays as received; a My
Number found anywhere in it is replaced by ``MY_NUMBER_MARKER`` and counted, so that the clerk sees
that one was there. Where a My Number is looked for:

- the value of any field whose name says My Number (``my_number``, ``kojin_bango``, 個人番号,
  マイナンバー), at any depth, whatever the value is: a value meant to be a My Number whose check digit
  is wrong is most likely a mistyped one, still eleven of the person's twelve digits;
- any other string, key or number, at any depth: a run of 12 digits (ASCII or full-width, also
  written 4-4-4 with hyphens or spaces) that passes the My Number check digit. A 12-digit run that
  fails the check is kept: it cannot be anyone's My Number, nine in ten 12-digit numbers fail, and the
  clerk needs the record's amounts and codes as they came;
- an integer of 11 or 12 digits whose 12-digit zero-padded form passes the check: a My Number that
  begins with 0 loses that digit when a program writes it as a JSON number.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from residents.my_number import my_number_is_valid

MY_NUMBER_MARKER = "[個人番号削除]"

_MY_NUMBER_FIELD = re.compile(r"my_?number|kojin_?bango|個人番号|マイナンバー", re.IGNORECASE)
_DIGIT = "[0-9０-９]"
_SEPARATOR = "[-‐－ 　]?"
_TWELVE_DIGITS = re.compile(
    rf"(?<!{_DIGIT})({_DIGIT}{{4}}){_SEPARATOR}({_DIGIT}{{4}}){_SEPARATOR}({_DIGIT}{{4}})(?!{_DIGIT})"
)


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.digit(char)) for char in text)


class _Redactor:
    def __init__(self) -> None:
        self.removed = 0

    def text(self, value: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if my_number_is_valid(_ascii_digits("".join(match.groups()))):
                self.removed += 1
                return MY_NUMBER_MARKER
            return match.group(0)

        return _TWELVE_DIGITS.sub(replace, value)

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
            if isinstance(key, str) and _MY_NUMBER_FIELD.search(key) and item not in (None, ""):
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

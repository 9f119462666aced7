"""My Number (個人番号) check digit, as 行政手続における特定の個人を識別するための番号の利用等に関する法律
施行令 第8条 defines it: with P(n) the n-th digit from the right before the check digit and
Q(n) = n + 1 for n ≤ 6, n − 5 for n ≥ 7, the check digit is 11 − (Σ P(n)Q(n) mod 11), or 0 when
that remainder is 0 or 1."""

from __future__ import annotations


def my_number_check_digit(first_eleven: str) -> int:
    """The check digit for the first 11 digits: with P(n) the n-th digit from the right (n = 1..11)
    and Q(n) = n+1 for n <= 6, n-5 for n >= 7, it is 11 - (sum P(n)Q(n) mod 11), or 0 when the
    remainder is 0 or 1."""
    if len(first_eleven) != 11 or not first_eleven.isascii() or not first_eleven.isdigit():
        raise ValueError("expected 11 ASCII digits")
    total = 0
    for n, char in enumerate(reversed(first_eleven), start=1):
        q = n + 1 if n <= 6 else n - 5
        total += int(char) * q
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def my_number_is_valid(value: object) -> bool:
    """12 ASCII digits whose last digit is the right check digit."""
    if not isinstance(value, str) or len(value) != 12 or not value.isascii() or not value.isdigit():
        return False
    return my_number_check_digit(value[:11]) == int(value[11])

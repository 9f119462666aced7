"""Japanese era dates (和暦) as printed on certificates: "令和8年11月26日", "平成元年1月8日".

Digits are Arabic, as on the certificates issued from the standardised core systems (not 漢数字).
Each era begins on the day of its accession (改元日); the day before belongs to the previous era, so
1989-01-07 is 昭和64年1月7日 and 1989-01-08 is 平成元年1月8日.
"""

from __future__ import annotations

from datetime import date

# (first day, name), newest first so the lookup stops at the first era that has begun.
_ERAS: tuple[tuple[date, str], ...] = (
    (date(2019, 5, 1), "令和"),
    (date(1989, 1, 8), "平成"),
    (date(1926, 12, 25), "昭和"),
    (date(1912, 7, 30), "大正"),
    (date(1868, 1, 25), "明治"),
)


def wareki_year(d: date) -> tuple[str, int]:
    """The era name and the year within it (1 = 元年)."""
    for start, name in _ERAS:
        if d >= start:
            return name, d.year - start.year + 1
    # Dates before 1868-01-25 (the register still holds a few very old birth dates): the lunisolar
    # calendar of the time is not reconstructed; such dates are printed as 明治元年, as the core
    # systems do.
    return "明治", 1


def _year_text(year: int) -> str:
    return "元" if year == 1 else str(year)


def wareki_date(d: date) -> str:
    """ "令和8年11月26日"; the first year of an era is written 元年."""
    era, year = wareki_year(d)
    return f"{era}{_year_text(year)}年{d.month}月{d.day}日"


def wareki_year_label(year: int) -> str:
    """A whole (fiscal or calendar) year as "令和8": "令和8年度", "令和7年分".

    A year in which the era changed is named after the new era (2019 is 令和元年度, 1989 is 平成元年分),
    the usage of the tax offices and of the cities' certificates.
    """
    era, era_year = wareki_year(date(year, 12, 31))
    return f"{era}{_year_text(era_year)}"


def wareki_date_with_western_year(d: date) -> str:
    """ "昭和60年(1985年)4月1日": the era date with the western year beside it, as the clerks' screens
    show dates (the era year alone is ambiguous across an era change, the western one is what other
    systems and residents' papers often give)."""
    era, year = wareki_year(d)
    return f"{era}{_year_text(year)}年({d.year}年){d.month}月{d.day}日"

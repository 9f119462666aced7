from datetime import date

import pytest

from saga_konbini.wareki import wareki_date, wareki_year_label


@pytest.mark.parametrize(
    ("day", "printed"),
    [
        (date(1868, 1, 25), "明治元年1月25日"),
        (date(1912, 7, 29), "明治45年7月29日"),
        (date(1912, 7, 30), "大正元年7月30日"),
        (date(1926, 12, 24), "大正15年12月24日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
        (date(1927, 1, 1), "昭和2年1月1日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2020, 1, 1), "令和2年1月1日"),
        (date(2026, 11, 26), "令和8年11月26日"),
    ],
)
def test_era_boundaries_are_printed_as_on_certificates(day, printed):
    assert wareki_date(day) == printed


def test_dates_before_meiji_are_printed_as_meiji_first_year():
    assert wareki_date(date(1868, 1, 1)) == "明治元年1月1日"
    assert wareki_date(date(1867, 12, 31)) == "明治元年12月31日"


@pytest.mark.parametrize(
    ("year", "label"),
    [
        (2026, "令和8"),
        (2025, "令和7"),
        (2019, "令和元"),
        (2018, "平成30"),
        (1989, "平成元"),
        (1988, "昭和63"),
    ],
)
def test_year_in_which_the_era_changed_takes_the_new_era(year, label):
    assert wareki_year_label(year) == label

"""Synthetic certificates (fictitious Saga residents) for the sample pictures, the benchmark and tests.

Built directly as documents, without the database. The My Numbers are fictitious but carry valid
check digits; every name, address and amount is invented.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date

from certificates.documents import (
    AmountLine,
    CertificateDocument,
    InkanContent,
    JuminhyoContent,
    NozeiContent,
    NozeiLine,
    PrintedPerson,
    ShotokuKazeiContent,
)
from certificates.glyphs import FONT_DIR

SAMPLE_ISSUED_ON = date(2026, 11, 26)
_ADDRESS = "佐賀県佐賀市城内二丁目3番45号"


def sample_person(
    resident_id: int,
    name: str,
    kana: str,
    birth: date,
    sex: str,
    relationship: str,
    *,
    my_number: str | None = None,
    address: str = _ADDRESS,
) -> PrintedPerson:
    return PrintedPerson(
        resident_id=resident_id,
        name=name,
        name_kana=kana,
        birth_date=birth,
        sex=sex,
        relationship=relationship,
        address=address,
        became_resident_on=date(2015, 4, 1) if birth < date(2015, 4, 1) else birth,
        address_since=date(2019, 5, 7),
        previous_address="福岡県福岡市中央区天神一丁目8番1号" if birth < date(2015, 4, 1) else "",
        honseki="佐賀県佐賀市松原一丁目2番" if relationship else "",
        hittosha="佐賀　太郎" if relationship else "",
        my_number=my_number,
    )


SAMPLE_HOUSEHOLD: tuple[PrintedPerson, ...] = (
    sample_person(
        101, "佐賀　太郎", "サガ　タロウ", date(1978, 3, 14), "男", "世帯主", my_number="123456789018"
    ),
    sample_person(102, "佐賀　花子", "サガ　ハナコ", date(1981, 11, 2), "女", "妻", my_number="234567890121"),
    sample_person(
        103, "佐賀　翔太", "サガ　ショウタ", date(2009, 6, 21), "男", "子", my_number="345678901234"
    ),
    sample_person(104, "佐賀　結衣", "サガ　ユイ", date(2019, 5, 1), "女", "子", my_number="456789012346"),
    sample_person(105, "佐賀　ふみ", "サガ　フミ", date(1947, 1, 9), "女", "母", my_number="567890123457"),
    sample_person(
        106, "佐賀　健一", "サガ　ケンイチ", date(1989, 1, 7), "男", "弟", my_number="678901234562"
    ),
)


def sample_juminhyo(
    *,
    persons: tuple[PrintedPerson, ...] = SAMPLE_HOUSEHOLD[:4],
    scope: str = "all",
    show_all_options: bool = True,
    certificate_number: str = "41201-2611-000123",
    check_code: str = "7KQ3-M9XA",
    specimen: bool = True,
    household_address: str = _ADDRESS,
) -> CertificateDocument:
    if not show_all_options:
        persons = tuple(replace(p, relationship="", honseki="", hittosha="", my_number=None) for p in persons)
    return CertificateDocument(
        cert_type="juminhyo",
        certificate_number=certificate_number,
        check_code=check_code,
        issued_on=SAMPLE_ISSUED_ON,
        specimen=specimen,
        content=JuminhyoContent(
            scope=scope,
            household_address=household_address,
            head_name="佐賀　太郎" if show_all_options else "",
            show_relationship=show_all_options,
            show_honseki=show_all_options,
            show_my_number=show_all_options,
            persons=persons,
        ),
    )


def sample_seal_png(family_name: str = "佐賀") -> bytes:
    """A round red seal impression with the family name set vertically, as a transparent PNG."""
    from PIL import Image, ImageDraw, ImageFont

    size = 300
    image = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    red = (200, 30, 35, 255)
    draw.ellipse((12, 12, size - 12, size - 12), outline=red, width=14)
    font = ImageFont.truetype(str(FONT_DIR / "ipaexm.ttf"), 104)
    for index, char in enumerate(family_name[:2]):
        draw.text((size / 2, 92 + index * 116), char, font=font, fill=red, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def sample_inkan(*, specimen: bool = True, seal_png: bytes | None = None) -> CertificateDocument:
    holder = replace(SAMPLE_HOUSEHOLD[0], relationship="", honseki="", hittosha="", my_number=None)
    return CertificateDocument(
        cert_type="inkan",
        certificate_number="41201-2611-000124",
        check_code="3PWD-2HCE",
        issued_on=SAMPLE_ISSUED_ON,
        specimen=specimen,
        content=InkanContent(
            holder=holder,
            registration_number="412-0045817",
            seal_image_png=seal_png if seal_png is not None else sample_seal_png(),
        ),
    )


def sample_shotoku_kazei(*, specimen: bool = True) -> CertificateDocument:
    holder = replace(SAMPLE_HOUSEHOLD[0], relationship="", honseki="", hittosha="", my_number=None)
    # Income of 2025 taxed in FY2026: salary 6,000,000 yen → 給与所得 4,360,000 (2025 給与所得控除:
    # 20% + 440,000 yen for 3.6M–6.6M yen); 基礎控除 430,000 (住民税, from FY2021); 10% rate.
    incomes = (AmountLine("給与所得", 4_360_000), AmountLine("雑所得", 120_000))
    deductions = (
        AmountLine("社会保険料控除", 890_000),
        AmountLine("生命保険料控除", 70_000),
        AmountLine("配偶者控除", 330_000),
        AmountLine("扶養控除", 780_000),
        AmountLine("基礎控除", 430_000),
    )
    total_income = sum(line.amount for line in incomes)
    total_deductions = sum(line.amount for line in deductions)
    taxable = total_income - total_deductions
    municipal, prefectural = taxable * 6 // 100, taxable * 4 // 100
    return CertificateDocument(
        cert_type="shotoku_kazei",
        certificate_number="41201-2611-000125",
        check_code="Q8RN-5TZB",
        issued_on=SAMPLE_ISSUED_ON,
        specimen=specimen,
        content=ShotokuKazeiContent(
            holder=holder,
            fiscal_year=2026,
            incomes=incomes,
            total_income=total_income,
            deductions=deductions,
            total_deductions=total_deductions,
            taxable_income=taxable,
            municipal_income_levy=municipal,
            municipal_per_capita=3_000,
            prefectural_income_levy=prefectural,
            prefectural_per_capita=1_500,
            total_tax=municipal + prefectural + 4_500,
        ),
    )


def sample_nozei(*, specimen: bool = True) -> CertificateDocument:
    holder = replace(SAMPLE_HOUSEHOLD[0], relationship="", honseki="", hittosha="", my_number=None)
    return CertificateDocument(
        cert_type="nozei",
        certificate_number="41201-2611-000126",
        check_code="H4VC-8LKM",
        issued_on=SAMPLE_ISSUED_ON,
        specimen=specimen,
        content=NozeiContent(
            holder=holder,
            fiscal_year=2026,
            lines=(
                NozeiLine("個人市県民税", 192_500, 144_400, 48_100),
                NozeiLine("固定資産税", 118_300, 118_300, 0),
                NozeiLine("軽自動車税", 10_800, 10_800, 0),
            ),
        ),
    )


def sample_payload(document: CertificateDocument) -> str:
    """A stand-in for the signed compact payload (the issuing service signs the real one), of a
    realistic length so that the 2D code has its real size."""
    body = f"SK1.{document.cert_type}.{document.certificate_number}.{document.issued_on:%Y%m%d}"
    return body + "." + "x" * max(0, 360 - len(body))

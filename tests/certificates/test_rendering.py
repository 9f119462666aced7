"""The PDFs themselves: what is printed (and what never is), fonts, copies, pages and payloads."""

import io
import re
import subprocess
from dataclasses import replace
from typing import Any, cast

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from certificates.documents import InkanContent, format_my_number
from certificates.glyphs import UnprintableCharacterError
from certificates.rendering import RenderCopy, read_verification_payloads, render_certificate_pdf
from certificates.rendering.frame import PAGE_H, QR_SIZE, QR_X, QR_Y, qr_modules
from certificates.rendering.samples import (
    SAMPLE_HOUSEHOLD,
    sample_inkan,
    sample_juminhyo,
    sample_nozei,
    sample_payload,
    sample_person,
    sample_seal_png,
    sample_shotoku_kazei,
)


def _render(*documents):
    return render_certificate_pdf(
        copies=[RenderCopy(document=d, verification_payload=sample_payload(d)) for d in documents]
    )


def _page_texts(pdf):
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def _text(pdf):
    return "\n".join(_page_texts(pdf))


def test_each_certificate_type_prints_its_holder_and_certification():
    expectations = {
        "juminhyo": (sample_juminhyo(), "この写しは、世帯全員の住民票の原本と相違ないことを証明する。"),
        "inkan": (sample_inkan(), "この写しは、登録されている印影と相違ないことを証明する。"),
        "shotoku_kazei": (sample_shotoku_kazei(), "上記のとおり証明します。"),
        "nozei": (sample_nozei(), "上記のとおり証明します。"),
    }
    for document, statement in expectations.values():
        text = _text(_render(document))
        assert "佐賀　太郎" in text
        assert statement in text
        assert "令和8年11月26日" in text
        assert "佐賀市長　坂井　英隆" in text
        assert "コンビニ交付" in text


def test_selected_members_are_certified_as_part_of_the_household():
    text = _text(_render(sample_juminhyo(scope="selected", persons=SAMPLE_HOUSEHOLD[:1])))
    assert "この写しは、世帯の一部の住民票の原本と相違ないことを証明する。" in text
    assert "世帯全員" not in text


def test_two_documents_for_different_people_do_not_cross_over():
    other = sample_person(201, "鍋島　直子", "ナベシマ　ナオコ", SAMPLE_HOUSEHOLD[1].birth_date, "女", "")
    first = _text(_render(sample_juminhyo(persons=SAMPLE_HOUSEHOLD[:2], show_all_options=False)))
    second = _text(
        _render(
            sample_juminhyo(
                persons=(other,), show_all_options=False, household_address="佐賀県佐賀市久保田町新田1番"
            )
        )
    )
    assert "佐賀　太郎" in first and "佐賀　花子" in first
    assert "鍋島　直子" not in first and "ナベシマ" not in first
    assert "久保田町" not in first
    assert "鍋島　直子" in second and "佐賀県佐賀市久保田町新田1番" in second
    assert "佐賀　太郎" not in second and "佐賀　花子" not in second and "サガ" not in second
    assert "城内" not in second


def test_money_is_printed_with_separators_and_yen():
    text = _text(_render(sample_nozei()))
    for amount in ("192,500円", "144,400円", "48,100円", "321,600円", "0円"):
        assert amount in text
    text = _text(_render(sample_shotoku_kazei()))
    assert "4,480,000円" in text
    assert "令和8年度（令和7年分所得）" in text


def test_every_font_is_embedded_as_a_subset():
    pdf = _render(sample_juminhyo(), sample_inkan(), sample_shotoku_kazei(), sample_nozei())
    reader = PdfReader(io.BytesIO(pdf))
    # Every font dictionary in the file, pages' and forms' alike (not only those a page lists).
    fonts: dict[str, Any] = {}
    for number in range(1, int(cast(Any, reader.trailer["/Size"]))):
        obj: Any = reader.get_object(number)
        if isinstance(obj, DictionaryObject) and obj.get("/Type") == "/Font":
            fonts[str(obj["/BaseFont"])] = obj
    assert {re.sub(r"^/[A-Z]{6}\+", "", name) for name in fonts} == {"IPAexMincho", "IPAexGothic"}
    for base_font, font in fonts.items():
        assert re.fullmatch(r"/[A-Z]{6}\+IPAex(Mincho|Gothic)", base_font), base_font
        descriptor = font["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor
        assert len(descriptor["/FontFile2"].get_object().get_data()) > 1000


def test_my_number_is_printed_only_when_asked():
    with_numbers = _text(_render(sample_juminhyo(show_all_options=True)))
    without = _text(_render(sample_juminhyo(show_all_options=False)))
    for person in SAMPLE_HOUSEHOLD[:4]:
        assert person.my_number is not None
        assert format_my_number(person.my_number) in with_numbers
        assert format_my_number(person.my_number) not in without
        assert person.my_number[:4] not in without.replace(" ", "")
    assert "個人番号" in without  # the item is there, left blank


def test_refused_characters_produce_no_pdf_and_no_personal_data_in_the_error():
    gaiji = replace(SAMPLE_HOUSEHOLD[0], name="𠮷野　太郎")
    document = sample_juminhyo(persons=(gaiji, *SAMPLE_HOUSEHOLD[1:2]))
    with pytest.raises(UnprintableCharacterError) as caught:
        _render(sample_nozei(), document)
    assert "𠮷" not in str(caught.value)
    assert "太郎" not in str(caught.value)


def test_unprinted_items_do_not_make_a_certificate_unprintable():
    inkan = sample_inkan()
    assert isinstance(inkan.content, InkanContent)
    holder = replace(inkan.content.holder, previous_address="𠮷野町1番")
    pdf = _render(replace(inkan, content=replace(inkan.content, holder=holder)))
    assert "佐賀　太郎" in _text(pdf)


def test_copies_each_carry_their_own_number_on_every_page():
    first = sample_juminhyo(
        persons=SAMPLE_HOUSEHOLD, certificate_number="41201-2611-000201", check_code="AAAA-1111"
    )
    second = sample_juminhyo(
        persons=SAMPLE_HOUSEHOLD, certificate_number="41201-2611-000202", check_code="BBBB-2222"
    )
    pages = _page_texts(_render(first, second))
    assert len(pages) == 4
    for text in pages[:2]:
        assert "41201-2611-000201" in text and "AAAA-1111" in text
        assert "41201-2611-000202" not in text
    for text in pages[2:]:
        assert "41201-2611-000202" in text and "BBBB-2222" in text
        assert "41201-2611-000201" not in text


def test_six_person_household_takes_two_numbered_sheets():
    pages = _page_texts(_render(sample_juminhyo(persons=SAMPLE_HOUSEHOLD)))
    assert len(pages) == 2
    assert "1/2" in pages[0] and "2/2" not in pages[0]
    assert "2/2" in pages[1]
    assert "（次葉に続く）" in pages[0]
    assert "証明する。" not in pages[0]
    assert "証明する。" in pages[1]
    # By フリガナ: the head's name is also printed as 世帯主 and 筆頭者 on both sheets.
    for person in SAMPLE_HOUSEHOLD[:4]:
        assert person.name_kana in pages[0] and person.name_kana not in pages[1]
    for person in SAMPLE_HOUSEHOLD[4:]:
        assert person.name_kana in pages[1] and person.name_kana not in pages[0]


def test_four_persons_fit_on_one_sheet():
    assert len(_page_texts(_render(sample_juminhyo()))) == 1


def test_payloads_read_back_in_order():
    documents = [sample_nozei(), sample_juminhyo(), sample_inkan()]
    copies = [
        RenderCopy(document=d, verification_payload=f"SK1.payload-{i}.sig") for i, d in enumerate(documents)
    ]
    pdf = render_certificate_pdf(copies=copies)
    assert read_verification_payloads(pdf) == ["SK1.payload-0.sig", "SK1.payload-1.sig", "SK1.payload-2.sig"]


def test_specimen_mark_only_when_asked():
    assert "見本" in _text(_render(sample_nozei(specimen=True)))
    assert "見本" not in _text(_render(sample_nozei(specimen=False)))


def test_payload_must_be_ascii():
    with pytest.raises(ValueError):
        RenderCopy(document=sample_nozei(), verification_payload="署名")
    with pytest.raises(ValueError):
        render_certificate_pdf(copies=[])


def test_qr_modules_decode_to_the_payload():
    payload = sample_payload(sample_juminhyo())
    rows = qr_modules(payload)
    quiet = 4
    size = len(rows) + 2 * quiet
    image = Image.new("L", (size, size), 255)
    image.paste(Image.frombytes("L", (len(rows), len(rows)), b"".join(rows)), (quiet, quiet))
    image = image.resize((size * 4, size * 4), Image.Resampling.NEAREST)
    decoded = zxingcpp.read_barcodes(image)
    assert [barcode.text for barcode in decoded] == [payload]


def test_printed_2d_code_of_every_page_holds_its_own_copys_payload(tmp_path):
    # Rasterised as a printer would, 地紋 and all; pdftoppm is a CI requirement (.ci/run).
    first = sample_juminhyo(persons=SAMPLE_HOUSEHOLD, certificate_number="41201-2611-000301")
    second = sample_nozei()
    payloads = ["SK1.first-copy." + "a" * 300, "SK1.second-copy." + "b" * 300]
    pdf = render_certificate_pdf(
        copies=[
            RenderCopy(document=first, verification_payload=payloads[0]),
            RenderCopy(document=second, verification_payload=payloads[1]),
        ]
    )
    (tmp_path / "c.pdf").write_bytes(pdf)
    # Only the code's corner is rasterised (the whole page is the same work, only slower).
    scale = 200 / 72
    crop = {
        "-x": (QR_X - 10) * scale,
        "-y": (PAGE_H - QR_Y - QR_SIZE - 10) * scale,
        "-W": (QR_SIZE + 20) * scale,
        "-H": (QR_SIZE + 20) * scale,
    }
    crop_args = [str(item) for option, value in crop.items() for item in (option, round(value))]
    subprocess.run(
        ["pdftoppm", "-r", "200", *crop_args, "-gray", "-png", "c.pdf", "page"], cwd=tmp_path, check=True
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 3
    found = []
    for page in pages:
        with Image.open(page) as image:
            found.append([barcode.text for barcode in zxingcpp.read_barcodes(image)])
    assert found == [[payloads[0]], [payloads[0]], [payloads[1]]]


def test_long_addresses_and_names_are_printed_whole():
    long_address = (
        "北海道札幌市中央区北一条西二丁目1番地の2　札幌市中央区役所前ビルディング第三号館十二階1203号室"
    )
    person = replace(
        SAMPLE_HOUSEHOLD[0], previous_address=long_address, name="佐賀　寿限無寿限無五劫の擦り切れ海砂利水魚"
    )
    text = _text(_render(sample_juminhyo(persons=(person,))))
    flattened = text.replace("\n", "")
    assert long_address in flattened
    assert "佐賀　寿限無寿限無五劫の擦り切れ海砂利水魚" in flattened


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "LA", "L", "P", "1"])
def test_seal_images_of_any_png_mode_are_printed_on_white(mode):
    seal = Image.open(io.BytesIO(sample_seal_png())).convert(mode)
    png = io.BytesIO()
    seal.save(png, format="PNG")
    document = sample_inkan(seal_png=png.getvalue())
    reader = PdfReader(io.BytesIO(_render(document)))
    images = reader.pages[0].images
    assert len(images) == 1
    assert images[0].image is not None
    assert images[0].image.size == seal.size
    # Losslessly: every pixel of the PDF's image is the seal's, on white.
    flat = Image.new("RGB", seal.size, (255, 255, 255))
    rgba = seal.convert("RGBA")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    assert images[0].image.convert("RGB").tobytes() == flat.tobytes()
    # Flattened onto the box's white: no transparency mask to mis-print on a kiosk printer.
    assert "/SMask" not in cast(Any, images[0].indirect_reference).get_object()


def _pdftotext(pdf: bytes, tmp_path) -> str:
    """The text as poppler's pdftotext reads it: an independent reader of what is printed."""
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True)
    return re.sub(r"\s+", "", done.stdout)


def _nozei_of(fiscal_year: int, *tax_items: str) -> Any:
    document = sample_nozei()
    content = cast(Any, document.content)
    lines = tuple(replace(content.lines[0], tax_item=item) for item in tax_items)
    return replace(document, content=replace(content, fiscal_year=fiscal_year, lines=lines))


FOREST_TAX_NOTE = "個人市県民税の額には森林環境税(国税)を含みます。"


@pytest.mark.parametrize(
    ("fiscal_year", "era_year"),
    [(2024, "令和6年度"), (2026, "令和8年度")],
)
def test_nozei_says_its_resident_tax_includes_the_forest_environment_tax(tmp_path, fiscal_year, era_year):
    text = _pdftotext(_render(_nozei_of(fiscal_year, "個人市県民税", "固定資産税")), tmp_path)

    assert era_year in text
    assert FOREST_TAX_NOTE in text
    # The remark comes after the amounts and before the end of the items.
    assert text.index("合計") < text.index(FOREST_TAX_NOTE) < text.index("以下余白")


@pytest.mark.parametrize(
    ("fiscal_year", "tax_items"),
    [
        (2023, ("個人市県民税", "固定資産税")),  # 令和5年度: the national tax was not collected yet
        (2019, ("個人市県民税",)),
        (2026, ("固定資産税", "軽自動車税")),  # no resident tax on this certificate
    ],
)
def test_nozei_has_no_forest_tax_remark_where_it_does_not_apply(tmp_path, fiscal_year, tax_items):
    text = _pdftotext(_render(_nozei_of(fiscal_year, *tax_items)), tmp_path)

    assert "森林環境税" not in text
    assert "以下余白" in text

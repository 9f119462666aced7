from datetime import date

import pytest

from certificates.documents import (
    CertificateDocument,
    InkanContent,
    JuminhyoContent,
    NozeiContent,
    ShotokuKazeiContent,
    document_printable_text,
    format_my_number,
    inkan_document,
    juminhyo_document,
    nozei_document,
    shotoku_kazei_document,
    yen,
)
from residents.models import Household, Resident
from tests.certificates.factories import (
    ResidentFactory,
    SealRegistrationFactory,
    TaxAssessmentFactory,
    TaxPaymentFactory,
    member_of,
    valid_my_number,
)

pytestmark = pytest.mark.django_db

NUMBER = "41201-2611-000001"
CHECK = "ABCD-EFGH"
ISSUED_ON = date(2026, 11, 26)


def _juminhyo(
    household: Household,
    members: list[Resident],
    *,
    scope: str = "all",
    show_relationship: bool = False,
    show_honseki: bool = False,
    show_my_number: bool = False,
) -> CertificateDocument:
    return juminhyo_document(
        household=household,
        members=members,
        scope=scope,
        show_relationship=show_relationship,
        show_honseki=show_honseki,
        show_my_number=show_my_number,
        certificate_number=NUMBER,
        check_code=CHECK,
        issued_on=ISSUED_ON,
        specimen=False,
    )


def _juminhyo_content(document: CertificateDocument) -> JuminhyoContent:
    assert isinstance(document.content, JuminhyoContent)
    return document.content


def _numbered() -> dict[str, str]:
    return {"certificate_number": NUMBER, "check_code": CHECK}


def test_money_is_printed_with_thousands_separators_and_yen():
    assert yen(1_234_567) == "1,234,567円"
    assert yen(0) == "0円"
    assert yen(-15_000) == "△15,000円"


def test_my_number_is_grouped_by_four():
    assert format_my_number("123456789018") == "1234 5678 9018"


def test_juminhyo_prints_the_head_first_and_leaves_options_out_by_default():
    head = ResidentFactory.create(my_number=valid_my_number(1))
    spouse = member_of(head, given_name="花子")
    document = _juminhyo(head.household, [spouse, head])

    assert [p.resident_id for p in _juminhyo_content(document).persons] == [head.pk, spouse.pk]
    assert document.subject_resident_ids() == frozenset({head.pk, spouse.pk})
    for person in _juminhyo_content(document).persons:
        assert person.relationship == ""
        assert person.honseki == ""
        assert person.hittosha == ""
        assert person.my_number is None
    assert _juminhyo_content(document).head_name == ""
    assert _juminhyo_content(document).persons[1].sex == "女"
    assert _juminhyo_content(document).persons[0].previous_address == head.previous_address


def test_juminhyo_options_print_relationship_honseki_and_decrypted_my_number():
    head = ResidentFactory.create(my_number=valid_my_number(2))
    spouse = member_of(head, my_number=valid_my_number(3))
    document = _juminhyo(
        head.household, [head, spouse], show_relationship=True, show_honseki=True, show_my_number=True
    )

    printed_head, printed_spouse = _juminhyo_content(document).persons
    assert printed_head.relationship == "世帯主"
    assert printed_spouse.relationship == "妻"
    assert printed_head.honseki == head.honseki
    assert printed_head.hittosha == head.hittosha
    assert printed_head.my_number == valid_my_number(2)
    assert printed_spouse.my_number == valid_my_number(3)
    assert _juminhyo_content(document).head_name == head.full_name
    assert format_my_number(valid_my_number(3)) in document_printable_text(document)


def test_selected_members_still_name_the_head_of_household():
    head = ResidentFactory.create()
    spouse = member_of(head, given_name="花子")
    document = _juminhyo(head.household, [spouse], scope="selected", show_relationship=True)

    assert [p.resident_id for p in _juminhyo_content(document).persons] == [spouse.pk]
    assert _juminhyo_content(document).head_name == head.full_name
    assert head.pk not in document.subject_resident_ids()


def test_resident_code_is_never_part_of_the_document():
    head = ResidentFactory.create(resident_code="R777000111")
    document = _juminhyo(
        head.household, [head], show_relationship=True, show_honseki=True, show_my_number=True
    )
    assert not any("R777000111" in text for text in document_printable_text(document))
    assert "R777000111" not in repr(document)


def test_juminhyo_refuses_a_person_of_another_household_and_an_unknown_scope():
    holder = ResidentFactory.create()
    stranger = ResidentFactory.create()
    with pytest.raises(ValueError):
        _juminhyo(holder.household, [holder, stranger])
    with pytest.raises(ValueError):
        _juminhyo(holder.household, [holder], scope="everyone")
    with pytest.raises(ValueError):
        _juminhyo(holder.household, [])


def test_inkan_prints_the_registration_and_not_the_previous_address():
    holder = ResidentFactory.create(previous_address="東京都千代田区霞が関一丁目1番1号")
    registration = SealRegistrationFactory.create(resident=holder, registration_number="S0001234")
    document = inkan_document(
        holder=holder, registration=registration, specimen=True, issued_on=ISSUED_ON, **_numbered()
    )

    texts = document_printable_text(document)
    assert isinstance(document.content, InkanContent)
    assert document.content.registration_number == "S0001234"
    assert document.content.seal_image_png == bytes(registration.seal_image_png)
    assert "S0001234" in texts
    assert holder.full_name in texts
    assert holder.previous_address not in texts
    assert document.specimen is True


def test_inkan_refuses_another_residents_registration():
    holder = ResidentFactory.create()
    registration = SealRegistrationFactory.create()
    with pytest.raises(ValueError):
        inkan_document(
            holder=holder, registration=registration, specimen=False, issued_on=ISSUED_ON, **_numbered()
        )


def test_shotoku_kazei_prints_the_address_of_1_january_and_labels_the_kinds():
    holder = ResidentFactory.create(address="佐賀県佐賀市兵庫北三丁目1番1号")
    assessment = TaxAssessmentFactory.create(resident=holder, address_on_jan1="佐賀県佐賀市大財一丁目2番3号")
    document = shotoku_kazei_document(
        holder=holder, assessment=assessment, specimen=False, issued_on=ISSUED_ON, **_numbered()
    )

    content = document.content
    assert isinstance(content, ShotokuKazeiContent)
    assert content.holder.address == "佐賀県佐賀市大財一丁目2番3号"
    assert content.income_year == 2025
    assert [(line.label, line.amount) for line in content.incomes] == [("給与所得", 3_560_000)]
    assert [line.label for line in content.deductions] == ["基礎控除", "社会保険料控除"]
    texts = document_printable_text(document)
    assert "3,560,000円" in texts
    assert "248,000円" in texts
    assert "佐賀県佐賀市兵庫北三丁目1番1号" not in texts


def test_nozei_keeps_one_line_per_item_and_refuses_other_years():
    holder = ResidentFactory.create()
    tax = TaxPaymentFactory.create(resident=holder, assessed=100_000, paid=60_000, unpaid=40_000)
    car = TaxPaymentFactory.create(
        resident=holder, tax_item="軽自動車税", assessed=10_800, paid=10_800, unpaid=0
    )
    document = nozei_document(
        holder=holder,
        fiscal_year=2026,
        payments=[tax, car],
        specimen=False,
        issued_on=ISSUED_ON,
        **_numbered(),
    )

    assert isinstance(document.content, NozeiContent)
    assert [line.tax_item for line in document.content.lines] == ["個人市県民税", "軽自動車税"]
    assert document.content.total_unpaid == 40_000
    assert "110,800円" in document_printable_text(document)

    older = TaxPaymentFactory.create(resident=holder, fiscal_year=2025)
    with pytest.raises(ValueError):
        nozei_document(
            holder=holder,
            fiscal_year=2026,
            payments=[tax, older],
            specimen=False,
            issued_on=ISSUED_ON,
            **_numbered(),
        )

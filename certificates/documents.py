"""What a certificate prints, decided once, as plain frozen dataclasses (SPEC §2).

The builders read mirror rows and choose every printed item here, so the renderers only lay out what
they are given and cannot print anything else by accident (the 住民票コード, a member not requested,
a My Number that was not asked for). The documents hold no ORM objects: they can cross into the
renderer, the signer and the verification payload without touching the database again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from certificates.options import JUMINHYO_SCOPES
from certificates.wareki import wareki_date, wareki_year_label

if TYPE_CHECKING:
    from residents.models import Household, Resident, SealRegistration, TaxAssessment, TaxPayment


_SEX_PRINTED = {"male": "男", "female": "女"}

# Labels for the income and deduction kinds of the feed (SPEC §5 gives them as {kind: yen}). The core
# system may send the Japanese term itself; an unknown kind is printed as sent rather than dropped, so
# the listed amounts always add up to the printed total.
INCOME_LABELS: dict[str, str] = {
    "salary": "給与所得",
    "business": "営業等所得",
    "agriculture": "農業所得",
    "real_estate": "不動産所得",
    "interest": "利子所得",
    "dividend": "配当所得",
    "pension": "公的年金等に係る雑所得",
    "misc": "雑所得",
    "miscellaneous": "雑所得",
    "occasional": "一時所得",
    "capital_gains": "譲渡所得",
    "retirement": "退職所得",
}
DEDUCTION_LABELS: dict[str, str] = {
    "basic": "基礎控除",
    "social_insurance": "社会保険料控除",
    "small_enterprise": "小規模企業共済等掛金控除",
    "life_insurance": "生命保険料控除",
    "earthquake_insurance": "地震保険料控除",
    "spouse": "配偶者控除",
    "spouse_special": "配偶者特別控除",
    "dependent": "扶養控除",
    "dependents": "扶養控除",
    "disability": "障害者控除",
    "widow": "寡婦控除",
    "single_parent": "ひとり親控除",
    "working_student": "勤労学生控除",
    "medical": "医療費控除",
    "medical_expenses": "医療費控除",
    "casualty": "雑損控除",
}


@dataclass(frozen=True)
class PrintedPerson:
    """One person as printed on a certificate; "" means the item is not shown."""

    resident_id: int  # internal id: never printed; used for the subject check and the audit
    name: str
    name_kana: str
    birth_date: date
    sex: str  # "男" / "女"
    relationship: str
    address: str
    became_resident_on: date
    address_since: date
    previous_address: str
    honseki: str
    hittosha: str
    my_number: str | None  # None unless 個人番号 was requested and allowed


@dataclass(frozen=True)
class JuminhyoContent:
    """住民票の写し, 世帯連記式: the household's persons in print order (世帯主 first)."""

    scope: str  # "all" (世帯全員) | "selected" (世帯の一部)
    household_address: str
    head_name: str  # 世帯主 as printed; "" unless show_relationship
    show_relationship: bool
    show_honseki: bool
    show_my_number: bool
    persons: tuple[PrintedPerson, ...]


@dataclass(frozen=True)
class InkanContent:
    """印鑑登録証明書."""

    holder: PrintedPerson
    registration_number: str
    seal_image_png: bytes


@dataclass(frozen=True)
class AmountLine:
    label: str
    amount: int  # yen


@dataclass(frozen=True)
class ShotokuKazeiContent:
    """所得課税証明書 for fiscal year N (income of calendar year N−1, address as of 1 January N)."""

    holder: PrintedPerson  # holder.address is the address as of 1 January of the fiscal year
    fiscal_year: int
    incomes: tuple[AmountLine, ...]
    total_income: int
    deductions: tuple[AmountLine, ...]
    total_deductions: int
    taxable_income: int
    municipal_income_levy: int
    municipal_per_capita: int
    prefectural_income_levy: int
    prefectural_per_capita: int
    total_tax: int

    @property
    def income_year(self) -> int:
        return self.fiscal_year - 1


@dataclass(frozen=True)
class NozeiLine:
    tax_item: str
    assessed: int
    paid: int
    unpaid: int


@dataclass(frozen=True)
class NozeiContent:
    """納税証明書 for one fiscal year."""

    holder: PrintedPerson
    fiscal_year: int
    lines: tuple[NozeiLine, ...]

    @property
    def total_assessed(self) -> int:
        return sum(line.assessed for line in self.lines)

    @property
    def total_paid(self) -> int:
        return sum(line.paid for line in self.lines)

    @property
    def total_unpaid(self) -> int:
        return sum(line.unpaid for line in self.lines)


Content = JuminhyoContent | InkanContent | ShotokuKazeiContent | NozeiContent


@dataclass(frozen=True)
class CertificateDocument:
    """One copy of one certificate."""

    cert_type: str  # "juminhyo" | "inkan" | "shotoku_kazei" | "nozei"
    certificate_number: str  # 交付番号, printed on every page
    check_code: str  # printed next to the number
    issued_on: date
    specimen: bool  # draws 「見本」
    content: Content

    def __post_init__(self) -> None:
        expected = {
            "juminhyo": JuminhyoContent,
            "inkan": InkanContent,
            "shotoku_kazei": ShotokuKazeiContent,
            "nozei": NozeiContent,
        }.get(self.cert_type)
        if expected is None:
            raise ValueError(f"unknown certificate type {self.cert_type!r}")
        if not isinstance(self.content, expected):
            raise ValueError(f"{self.cert_type} needs {expected.__name__}")
        if not self.certificate_number or not self.check_code:
            raise ValueError("a certificate needs its number and check code")

    @property
    def persons(self) -> tuple[PrintedPerson, ...]:
        if isinstance(self.content, JuminhyoContent):
            return self.content.persons
        return (self.content.holder,)

    def subject_resident_ids(self) -> frozenset[int]:
        """The persons whose data is printed."""
        return frozenset(person.resident_id for person in self.persons)


def yen(amount: int) -> str:
    """Money as printed: "1,234,567円"; a negative amount (損失) as "△1,234円", the tax offices' sign."""
    if amount < 0:
        return f"△{-amount:,}円"
    return f"{amount:,}円"


def format_my_number(my_number: str) -> str:
    """12 digits in groups of four, as on the 個人番号カード: "1234 5678 9012"."""
    return f"{my_number[0:4]} {my_number[4:8]} {my_number[8:12]}"


# --- builders --------------------------------------------------------------------------------


def _printed_person(
    resident: Resident,
    *,
    relationship: str = "",
    honseki: str = "",
    hittosha: str = "",
    my_number: str | None = None,
    address: str | None = None,
) -> PrintedPerson:
    return PrintedPerson(
        resident_id=resident.pk,
        name=resident.full_name,
        name_kana=resident.full_name_kana,
        birth_date=resident.birth_date,
        sex=_SEX_PRINTED[resident.sex],
        relationship=relationship,
        address=resident.address if address is None else address,
        became_resident_on=resident.became_resident_on,
        address_since=resident.address_since,
        previous_address=resident.previous_address,
        honseki=honseki,
        hittosha=hittosha,
        my_number=my_number,
    )


def _decrypted_my_number(resident: Resident) -> str:
    # Imported here: decryption needs the keyring (settings) only when a My Number is asked for.
    from residents.crypto import my_number_decrypt

    return my_number_decrypt(resident.my_number_encrypted, resident_code=resident.resident_code)


def _head_name(household: Household, members: Sequence[Resident]) -> str:
    for member in members:
        if member.resident_code == household.head_resident_code:
            return member.full_name
    # The head was not selected for printing (scope "selected"): the 世帯主 is still named, as on
    # every 住民票, but none of the head's other data is printed.
    from residents.models import Resident

    head = Resident.objects.filter(resident_code=household.head_resident_code).first()
    return head.full_name if head is not None else ""


def juminhyo_document(
    *,
    household: Household,
    members: Sequence[Resident],
    scope: str,
    show_relationship: bool,
    show_honseki: bool,
    show_my_number: bool,
    certificate_number: str,
    check_code: str,
    issued_on: date,
    specimen: bool,
) -> CertificateDocument:
    """住民票の写し of ``members`` (already checked by eligibility), the 世帯主 first, then as given."""
    if scope not in JUMINHYO_SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    if not members:
        raise ValueError("a 住民票 needs at least one person")
    if any(member.household_id != household.pk for member in members):
        raise ValueError("every printed person must belong to the household")
    ordered = sorted(members, key=lambda m: m.resident_code != household.head_resident_code)
    persons = tuple(
        _printed_person(
            member,
            relationship=member.relationship if show_relationship else "",
            honseki=member.honseki if show_honseki else "",
            hittosha=member.hittosha if show_honseki else "",
            my_number=_decrypted_my_number(member) if show_my_number else None,
        )
        for member in ordered
    )
    content = JuminhyoContent(
        scope=scope,
        household_address=household.address,
        head_name=_head_name(household, ordered) if show_relationship else "",
        show_relationship=show_relationship,
        show_honseki=show_honseki,
        show_my_number=show_my_number,
        persons=persons,
    )
    return CertificateDocument(
        cert_type="juminhyo",
        certificate_number=certificate_number,
        check_code=check_code,
        issued_on=issued_on,
        specimen=specimen,
        content=content,
    )


def inkan_document(
    *,
    holder: Resident,
    registration: SealRegistration,
    certificate_number: str,
    check_code: str,
    issued_on: date,
    specimen: bool,
) -> CertificateDocument:
    """印鑑登録証明書 of the holder's (active) registration."""
    if registration.resident_id != holder.pk:
        raise ValueError("the seal registration belongs to another resident")
    content = InkanContent(
        holder=_printed_person(holder),
        registration_number=registration.registration_number,
        seal_image_png=bytes(registration.seal_image_png),
    )
    return CertificateDocument(
        cert_type="inkan",
        certificate_number=certificate_number,
        check_code=check_code,
        issued_on=issued_on,
        specimen=specimen,
        content=content,
    )


def _amount_lines(amounts: dict[str, int], labels: dict[str, str]) -> tuple[AmountLine, ...]:
    return tuple(
        AmountLine(label=labels.get(kind, kind), amount=int(value)) for kind, value in amounts.items()
    )


def shotoku_kazei_document(
    *,
    holder: Resident,
    assessment: TaxAssessment,
    certificate_number: str,
    check_code: str,
    issued_on: date,
    specimen: bool,
) -> CertificateDocument:
    """所得課税証明書 of one fiscal year; the address printed is the one of 1 January (賦課期日)."""
    if assessment.resident_id != holder.pk:
        raise ValueError("the tax assessment belongs to another resident")
    content = ShotokuKazeiContent(
        holder=_printed_person(holder, address=assessment.address_on_jan1),
        fiscal_year=assessment.fiscal_year,
        incomes=_amount_lines(assessment.income, INCOME_LABELS),
        total_income=assessment.total_income,
        deductions=_amount_lines(assessment.deductions, DEDUCTION_LABELS),
        total_deductions=assessment.total_deductions,
        taxable_income=assessment.taxable_income,
        municipal_income_levy=assessment.municipal_income_levy,
        municipal_per_capita=assessment.municipal_per_capita,
        prefectural_income_levy=assessment.prefectural_income_levy,
        prefectural_per_capita=assessment.prefectural_per_capita,
        total_tax=assessment.total_tax,
    )
    return CertificateDocument(
        cert_type="shotoku_kazei",
        certificate_number=certificate_number,
        check_code=check_code,
        issued_on=issued_on,
        specimen=specimen,
        content=content,
    )


def nozei_document(
    *,
    holder: Resident,
    fiscal_year: int,
    payments: Sequence[TaxPayment],
    certificate_number: str,
    check_code: str,
    issued_on: date,
    specimen: bool,
) -> CertificateDocument:
    """納税証明書 of one fiscal year: one line per tax item, in the order given."""
    if not payments:
        raise ValueError("a 納税証明書 needs at least one tax item")
    if any(p.resident_id != holder.pk or p.fiscal_year != fiscal_year for p in payments):
        raise ValueError("every tax item must be the holder's, of the requested fiscal year")
    content = NozeiContent(
        holder=_printed_person(holder),
        fiscal_year=fiscal_year,
        lines=tuple(
            NozeiLine(tax_item=p.tax_item, assessed=p.assessed, paid=p.paid, unpaid=p.unpaid)
            for p in payments
        ),
    )
    return CertificateDocument(
        cert_type="nozei",
        certificate_number=certificate_number,
        check_code=check_code,
        issued_on=issued_on,
        specimen=specimen,
        content=content,
    )


# --- printable text --------------------------------------------------------------------------


def _juminhyo_person_text(person: PrintedPerson) -> list[str]:
    # The 世帯連記式 prints the address once, for the household (content.household_address).
    texts = [
        person.name,
        person.name_kana,
        wareki_date(person.birth_date),
        person.sex,
        wareki_date(person.became_resident_on),
        wareki_date(person.address_since),
        person.previous_address,
        person.relationship,
        person.honseki,
        person.hittosha,
    ]
    if person.my_number is not None:
        texts.append(format_my_number(person.my_number))
    return texts


def document_printable_text(document: CertificateDocument) -> list[str]:
    """Every data-dependent string that the renderer will draw, and nothing it will not draw.

    Used for the 外字 check before anything is drawn (an item that is not printed, such as the 転入前住所
    on a 印鑑登録証明書, must not make it unprintable). The fixed labels are tested once against the
    font; empty strings are left out.
    """
    content = document.content
    texts = [document.certificate_number, document.check_code, wareki_date(document.issued_on)]
    if isinstance(content, JuminhyoContent):
        texts += [content.household_address, content.head_name]
        for person in content.persons:
            texts += _juminhyo_person_text(person)
    elif isinstance(content, InkanContent):
        holder = content.holder
        texts += [holder.name, wareki_date(holder.birth_date), holder.address, content.registration_number]
    elif isinstance(content, ShotokuKazeiContent):
        holder = content.holder
        texts += [holder.name, wareki_date(holder.birth_date), holder.sex, holder.address]
        texts += [wareki_year_label(content.fiscal_year), wareki_year_label(content.income_year)]
        for line in (*content.incomes, *content.deductions):
            texts += [line.label, yen(line.amount)]
        texts += [
            yen(amount)
            for amount in (
                content.total_income,
                content.total_deductions,
                content.taxable_income,
                content.municipal_income_levy,
                content.municipal_per_capita,
                content.prefectural_income_levy,
                content.prefectural_per_capita,
                content.total_tax,
            )
        ]
    else:
        texts += [content.holder.name, content.holder.address]
        texts.append(wareki_year_label(content.fiscal_year))
        for nozei_line in content.lines:
            texts += [
                nozei_line.tax_item,
                yen(nozei_line.assessed),
                yen(nozei_line.paid),
                yen(nozei_line.unpaid),
            ]
        texts += [yen(content.total_assessed), yen(content.total_paid), yen(content.total_unpaid)]
    return [text for text in texts if text]

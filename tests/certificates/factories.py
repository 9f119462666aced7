"""factory_boy factories for the mirror (residents app) and the certificates app's own rows.

Other engineers' tests import these. Defaults describe the SPEC §4 ``ok`` scenario: an active adult
with a valid, encrypted My Number; seal and tax rows are created only when a test asks for them.
"""

from __future__ import annotations

import base64
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import factory
from django.utils import timezone

from certificates.models import Fee, IssuanceStop
from residents.crypto import my_number_encrypt
from residents.models import CardLink, Household, Resident, SealRegistration, TaxAssessment, TaxPayment
from residents.my_number import my_number_check_digit

# A tiny valid PNG (1x1, red): the seal image of a registration.
SEAL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def valid_my_number(n: int) -> str:
    """A 12-digit My Number with a valid check digit, distinct for each ``n``."""
    first_eleven = f"{(n * 7919 + 10_000_000_000) % 100_000_000_000:011d}"
    return first_eleven + str(my_number_check_digit(first_eleven))


class HouseholdFactory(factory.django.DjangoModelFactory[Household]):
    class Meta:
        model = Household

    household_code = factory.Sequence(lambda n: f"H{n:08d}")
    address = factory.Sequence(lambda n: f"佐賀県佐賀市松原{n % 4 + 1}丁目{n % 20 + 1}番{n % 9 + 1}号")
    # The head is set by ResidentFactory for the first member when left empty.
    head_resident_code = ""


class ResidentFactory(factory.django.DjangoModelFactory[Resident]):
    class Meta:
        model = Resident
        skip_postgeneration_save = True

    class Params:
        my_number = factory.Sequence(valid_my_number)

    resident_code = factory.Sequence(lambda n: f"R{n:09d}")
    household = factory.SubFactory(HouseholdFactory)
    family_name = "佐賀"
    given_name = factory.Iterator(["太郎", "花子", "一郎", "陽子", "健太", "美咲"])
    family_name_kana = "サガ"
    given_name_kana = factory.Iterator(["タロウ", "ハナコ", "イチロウ", "ヨウコ", "ケンタ", "ミサキ"])
    birth_date = date(1980, 4, 2)
    sex = "male"
    relationship = "世帯主"
    address = factory.LazyAttribute(lambda o: o.household.address)
    became_resident_on = factory.LazyAttribute(lambda o: max(o.birth_date, date(2005, 4, 1)))
    address_since = factory.LazyAttribute(lambda o: o.became_resident_on)
    previous_address = "福岡県福岡市中央区天神1丁目1番1号"
    honseki = "佐賀県佐賀市城内1丁目1番"
    hittosha = "佐賀　太郎"
    my_number_encrypted = factory.LazyAttribute(
        lambda o: my_number_encrypt(o.my_number, resident_code=o.resident_code)
    )
    status = "active"
    status_changed_on = None
    adult_ward = False
    support_measure = False
    pending_change = False
    synced_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def _head(obj: Resident, create: bool, extracted: object, **kwargs: object) -> None:
        # The first member of a household made here becomes its head (世帯主).
        if create and not obj.household.head_resident_code:
            obj.household.head_resident_code = obj.resident_code
            obj.household.save(update_fields=["head_resident_code"])


def member_of(holder: Resident, **kwargs: object) -> Resident:
    """Another member of the holder's household (a spouse, by default)."""
    defaults: dict[str, object] = {
        "household": holder.household,
        "relationship": "妻",
        "sex": "female",
        "birth_date": date(1982, 8, 15),
    }
    defaults.update(kwargs)
    return ResidentFactory.create(**defaults)


class SealRegistrationFactory(factory.django.DjangoModelFactory[SealRegistration]):
    class Meta:
        model = SealRegistration

    registration_number = factory.Sequence(lambda n: f"S{n:07d}")
    resident = factory.SubFactory(ResidentFactory)
    seal_image_png = SEAL_PNG
    registered_on = date(2010, 5, 10)
    status = "active"
    abolished_on = None
    synced_at = factory.LazyFunction(timezone.now)


class TaxAssessmentFactory(factory.django.DjangoModelFactory[TaxAssessment]):
    """A declared salary earner's assessment (令和8年度 rules are not modelled: fixed amounts)."""

    class Meta:
        model = TaxAssessment

    resident = factory.SubFactory(ResidentFactory)
    fiscal_year = 2026
    address_on_jan1 = factory.LazyAttribute(lambda o: o.resident.address)
    declared = True
    income = factory.LazyFunction(lambda: {"salary": 3_560_000})
    total_income = 3_560_000
    deductions = factory.LazyFunction(lambda: {"basic": 430_000, "social_insurance": 700_000})
    total_deductions = 1_130_000
    taxable_income = 2_430_000
    municipal_income_levy = 145_800
    municipal_per_capita = 3_500
    prefectural_income_levy = 97_200
    prefectural_per_capita = 1_500
    total_tax = 248_000
    released_on = None
    synced_at = factory.LazyFunction(timezone.now)


class TaxPaymentFactory(factory.django.DjangoModelFactory[TaxPayment]):
    class Meta:
        model = TaxPayment

    resident = factory.SubFactory(ResidentFactory)
    fiscal_year = 2026
    tax_item = "個人市県民税"
    assessed = 248_000
    paid = 248_000
    unpaid = 0
    synced_at = factory.LazyFunction(timezone.now)


class CardLinkFactory(factory.django.DjangoModelFactory[CardLink]):
    class Meta:
        model = CardLink

    issuer = "OU=JPKI for user authentication,O=JPKI (TEST),C=JP"
    serial = factory.Sequence(lambda n: f"{n + 4096:x}")
    resident = factory.SubFactory(ResidentFactory)
    active_from = date(2024, 4, 1)
    synced_at = factory.LazyFunction(timezone.now)


class IssuanceStopFactory(factory.django.DjangoModelFactory[IssuanceStop]):
    class Meta:
        model = IssuanceStop

    resident_code = factory.Sequence(lambda n: f"R{n:09d}")
    reason = "本人からの申出"
    until = None
    created_by = None
    created_at = factory.LazyFunction(timezone.now)
    lifted_at = None


class FeeFactory(factory.django.DjangoModelFactory[Fee]):
    class Meta:
        model = Fee

    cert_type = "juminhyo"
    amount_yen = 200
    effective_from = date(2020, 4, 1)


def jst(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """An aware datetime in Japan time, for injected clocks."""
    return datetime(year, month, day, hour, minute, tzinfo=timezone.get_fixed_timezone(timedelta(hours=9)))


def signing_dir_for_tests(tmp_path_factory: Any) -> Path:
    """One issuing key per test session (and xdist worker), never the developer's var/signing."""
    return Path(tmp_path_factory.getbasetemp()) / "issuing-key"

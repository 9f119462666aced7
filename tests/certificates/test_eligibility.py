"""SPEC §2 eligibility, rule by rule, with an injected clock (Japan time)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from certificates.eligibility import Offer, age_on, offers_for_holder
from residents.models import Resident
from sync.models import Batch, QuarantinedRecord, ResidentBlock
from tests.certificates.factories import (
    CardLinkFactory,
    FeeFactory,
    IssuanceStopFactory,
    ResidentFactory,
    SealRegistrationFactory,
    TaxAssessmentFactory,
    TaxPaymentFactory,
    jst,
    member_of,
)

pytestmark = pytest.mark.django_db

NOW = jst(2026, 11, 26)


def _ok_holder(**kwargs: object) -> Resident:
    """The SPEC §4 ``ok`` scenario: a household of two, a seal, three years of tax records."""
    holder = ResidentFactory.create(**kwargs)
    member_of(holder)
    SealRegistrationFactory.create(resident=holder)
    for year in (2024, 2025, 2026):
        TaxAssessmentFactory.create(resident=holder, fiscal_year=year)
        TaxPaymentFactory.create(resident=holder, fiscal_year=year)
    return holder


def _by_type(offers: list[Offer]) -> dict[str, Offer]:
    return {offer.type: offer for offer in offers}


def _block(resident: Resident) -> None:
    batch = Batch.objects.create(
        number=7, kind="delta", status="applied", received_at=timezone.now(), finished_at=timezone.now()
    )
    record = QuarantinedRecord.objects.create(
        batch=batch, line_number=1, op="upsert", entity="resident", key=resident.resident_code,
        reason_code="bad_date", reason="生年月日が不正",
    )  # fmt: skip
    ResidentBlock.objects.create(resident_code=resident.resident_code, quarantined_record=record)


def test_ok_holder_gets_all_four_types_in_spec_order():
    holder = _ok_holder()
    offers = offers_for_holder(holder=holder, now=NOW)
    assert [o.type for o in offers] == ["juminhyo", "inkan", "shotoku_kazei", "nozei"]
    assert all(o.available and o.unavailable_code is None and o.reason is None for o in offers)
    assert all(o.fee == 200 and o.max_copies == 10 for o in offers)
    by_type = _by_type(offers)
    assert by_type["juminhyo"].members[0].resident_id == holder.pk
    assert len(by_type["juminhyo"].members) == 2
    assert by_type["shotoku_kazei"].fiscal_years == (2026, 2025, 2024)
    assert by_type["nozei"].fiscal_years == (2026, 2025, 2024)


@pytest.mark.parametrize(
    ("cert_type", "tables_not_read"),
    [
        ("juminhyo", {"residents_sealregistration", "residents_taxassessment", "residents_taxpayment"}),
        ("inkan", {"residents_taxassessment", "residents_taxpayment"}),
        ("shotoku_kazei", {"residents_sealregistration", "residents_taxpayment"}),
        ("nozei", {"residents_sealregistration"}),
    ],
)
def test_deciding_one_type_reads_only_its_rows_and_decides_as_for_all_four(cert_type, tables_not_read):
    """Issuance re-checks the one type it issues: the same decision, without the other types' reads."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from certificates.eligibility import holder_eligibility

    holder = _ok_holder()
    everything = holder_eligibility(holder=holder, now=NOW)
    with CaptureQueriesContext(connection) as queries:
        one = holder_eligibility(holder=holder, now=NOW, cert_types=(cert_type,))

    assert one.offers == (everything.offer(cert_type),)
    read = " ".join(query["sql"] for query in queries.captured_queries)
    assert not [table for table in tables_not_read if table in read]
    if cert_type == "juminhyo":
        assert one.members == everything.members
    if cert_type == "inkan":
        assert one.registration == everything.registration
    if cert_type == "shotoku_kazei":
        assert one.assessments == everything.assessments
    if cert_type == "nozei":
        assert one.payments == everything.payments


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("moving_out", "holder_moving_out"),
        ("moved_out", "holder_moved_out"),
        ("deceased", "holder_deceased"),
        ("erased", "holder_erased"),
    ],
)
def test_holder_who_is_not_an_active_resident_is_refused_everything(status, reason):
    # moving_out counts even before the move date: status_changed_on lies in the future here.
    holder = _ok_holder(status=status, status_changed_on=date(2026, 12, 10))
    offers = offers_for_holder(holder=holder, now=NOW)
    assert all(not o.available for o in offers)
    assert {o.unavailable_code for o in offers} == {"NOT_AVAILABLE_AT_KIOSK"}
    assert {o.reason for o in offers} == {reason}
    assert all(o.members == () and o.fiscal_years == () for o in offers)


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        ({"adult_ward": True}, "adult_ward"),
        ({"support_measure": True}, "support_measure"),
        ({"pending_change": True}, "pending_change"),
    ],
)
def test_sensitive_holder_flags_refuse_with_the_generic_code(flags, reason):
    holder = _ok_holder(**flags)
    offers = offers_for_holder(holder=holder, now=NOW)
    assert {(o.available, o.unavailable_code, o.reason) for o in offers} == {
        (False, "NOT_AVAILABLE_AT_KIOSK", reason)
    }


def test_age_counts_from_the_birthday_itself():
    assert age_on(date(2011, 11, 26), date(2026, 11, 25)) == 14
    assert age_on(date(2011, 11, 26), date(2026, 11, 26)) == 15
    # Born on 29 February: a year older from 1 March in common years.
    assert age_on(date(2012, 2, 29), date(2027, 2, 28)) == 14
    assert age_on(date(2012, 2, 29), date(2027, 3, 1)) == 15


def test_fifteenth_birthday_boundary():
    holder = _ok_holder(birth_date=date(2011, 11, 26))
    day_before = offers_for_holder(holder=holder, now=jst(2026, 11, 25, 22, 59))
    assert {o.reason for o in day_before} == {"under_15"}
    birthday = offers_for_holder(holder=holder, now=jst(2026, 11, 26, 6, 30))
    assert all(o.available for o in birthday)


def test_the_day_is_the_japan_date_not_utc():
    holder = _ok_holder(birth_date=date(2011, 11, 26))
    # 2026-11-25 15:30 UTC is already 00:30 on the 26th in Japan: the 15th birthday.
    utc_now = jst(2026, 11, 26, 0, 30).astimezone(timezone.get_fixed_timezone(0))
    assert utc_now.date() == date(2026, 11, 25)
    assert all(o.available for o in offers_for_holder(holder=holder, now=utc_now))


def test_naive_clock_is_rejected():
    holder = _ok_holder()
    with pytest.raises(ValueError, match="aware"):
        offers_for_holder(holder=holder, now=NOW.replace(tzinfo=None))


def test_clerk_stop_refuses_until_its_end_date_and_not_after_lifting():
    holder = _ok_holder()
    stop = IssuanceStopFactory.create(resident_code=holder.resident_code, until=date(2026, 11, 26))
    assert {o.reason for o in offers_for_holder(holder=holder, now=NOW)} == {"clerk_stop"}
    # The end date is inclusive: from the next day on the stop no longer applies.
    assert all(o.available for o in offers_for_holder(holder=holder, now=jst(2026, 11, 27)))
    stop.until = None
    stop.save()
    assert {o.reason for o in offers_for_holder(holder=holder, now=jst(2027, 1, 4))} == {"clerk_stop"}
    stop.lifted_at = timezone.now()
    stop.save()
    assert all(o.available for o in offers_for_holder(holder=holder, now=NOW))


def test_another_residents_stop_does_not_apply():
    holder = _ok_holder()
    IssuanceStopFactory.create(resident_code="R999999999")
    assert all(o.available for o in offers_for_holder(holder=holder, now=NOW))


def test_card_linked_today_is_refused_and_linked_yesterday_is_fine():
    holder = _ok_holder()
    today_link = CardLinkFactory.create(resident=holder, active_from=date(2026, 11, 26))
    offers = offers_for_holder(holder=holder, now=NOW, card_link=today_link)
    assert {(o.unavailable_code, o.reason) for o in offers} == {
        ("NOT_AVAILABLE_AT_KIOSK", "card_linked_today")
    }
    future_link = CardLinkFactory.create(resident=holder, active_from=date(2026, 12, 1))
    assert {o.reason for o in offers_for_holder(holder=holder, now=NOW, card_link=future_link)} == {
        "card_linked_today"
    }
    yesterday_link = CardLinkFactory.create(resident=holder, active_from=date(2026, 11, 25))
    assert all(o.available for o in offers_for_holder(holder=holder, now=NOW, card_link=yesterday_link))


def test_sync_blocked_holder_is_refused():
    holder = _ok_holder()
    _block(holder)
    assert {o.reason for o in offers_for_holder(holder=holder, now=NOW)} == {"sync_blocked"}


def test_released_sync_block_no_longer_refuses():
    holder = _ok_holder()
    _block(holder)
    ResidentBlock.objects.update(released_at=timezone.now())
    assert all(o.available for o in offers_for_holder(holder=holder, now=NOW))


def test_gaiji_in_the_holders_name_refuses_with_the_generic_code():
    holder = _ok_holder(family_name="𠮷田")
    offers = offers_for_holder(holder=holder, now=NOW)
    assert {(o.unavailable_code, o.reason) for o in offers} == {("NOT_AVAILABLE_AT_KIOSK", "gaiji")}


def test_household_with_a_member_moving_out_refuses_juminhyo_only():
    holder = _ok_holder()
    member_of(holder, status="moving_out", status_changed_on=date(2026, 12, 20))
    offers = _by_type(offers_for_holder(holder=holder, now=NOW))
    assert offers["juminhyo"].available is False
    assert offers["juminhyo"].unavailable_code == "NOT_AVAILABLE_AT_KIOSK"
    assert offers["juminhyo"].reason == "household_moving_out"
    assert offers["juminhyo"].members == ()
    assert offers["inkan"].available and offers["shotoku_kazei"].available and offers["nozei"].available


def test_household_with_a_pending_change_refuses_juminhyo():
    holder = _ok_holder()
    member_of(holder, pending_change=True, support_measure=True)
    juminhyo = _by_type(offers_for_holder(holder=holder, now=NOW))["juminhyo"]
    # Even a member who is never printed (support measure) makes the household's 住民票 wait.
    assert (juminhyo.available, juminhyo.reason) == (False, "household_pending_change")


def test_household_with_a_sync_blocked_member_refuses_juminhyo():
    holder = _ok_holder()
    _block(member_of(holder, relationship="子", birth_date=date(2010, 1, 1)))
    offers = _by_type(offers_for_holder(holder=holder, now=NOW))
    assert (offers["juminhyo"].available, offers["juminhyo"].reason) == (False, "household_sync_blocked")
    assert offers["inkan"].available


def test_members_under_support_measure_and_removed_members_are_never_offered():
    holder = _ok_holder()
    hidden = member_of(holder, given_name="秘子", support_measure=True)
    gone = [
        member_of(holder, given_name=f"元{i}", status=status)
        for i, status in enumerate(["moved_out", "deceased", "erased"])
    ]
    child = member_of(holder, given_name="次郎", relationship="子", birth_date=date(2015, 5, 5))
    juminhyo = _by_type(offers_for_holder(holder=holder, now=NOW))["juminhyo"]
    assert juminhyo.available
    ids = [m.resident_id for m in juminhyo.members]
    assert ids[0] == holder.pk  # the head first
    assert child.pk in ids
    assert hidden.pk not in ids
    assert not {g.pk for g in gone} & set(ids)
    assert len(ids) == 3
    assert juminhyo.members[0].name == holder.full_name


def test_gaiji_in_a_printable_members_name_refuses_juminhyo_only():
    holder = _ok_holder()
    member_of(holder, given_name="𠮷子")
    offers = _by_type(offers_for_holder(holder=holder, now=NOW))
    assert (offers["juminhyo"].available, offers["juminhyo"].reason) == (False, "gaiji_member")
    assert offers["inkan"].available


def test_gaiji_in_a_hidden_members_name_does_not_matter():
    holder = _ok_holder()
    member_of(holder, given_name="𠮷子", support_measure=True)
    assert _by_type(offers_for_holder(holder=holder, now=NOW))["juminhyo"].available


def test_no_seal_registration():
    holder = ResidentFactory.create()
    inkan = _by_type(offers_for_holder(holder=holder, now=NOW))["inkan"]
    assert (inkan.available, inkan.unavailable_code, inkan.reason) == (
        False,
        "SEAL_NOT_REGISTERED",
        "seal_not_registered",
    )


def test_abolished_seal_registration_is_not_certified():
    holder = ResidentFactory.create()
    SealRegistrationFactory.create(resident=holder, status="abolished", abolished_on=date(2026, 3, 1))
    inkan = _by_type(offers_for_holder(holder=holder, now=NOW))["inkan"]
    assert (inkan.available, inkan.unavailable_code, inkan.reason) == (
        False,
        "SEAL_NOT_REGISTERED",
        "seal_abolished",
    )


def test_new_registration_after_an_abolished_one_is_offered():
    holder = ResidentFactory.create()
    SealRegistrationFactory.create(resident=holder, status="abolished", abolished_on=date(2020, 3, 1))
    SealRegistrationFactory.create(resident=holder)
    assert _by_type(offers_for_holder(holder=holder, now=NOW))["inkan"].available


def test_fiscal_year_is_offered_from_june_first():
    holder = ResidentFactory.create()
    for year in (2023, 2024, 2025, 2026):
        TaxAssessmentFactory.create(resident=holder, fiscal_year=year)
    may_31 = _by_type(offers_for_holder(holder=holder, now=jst(2026, 5, 31, 22)))
    assert may_31["shotoku_kazei"].fiscal_years == (2025, 2024, 2023)
    june_1 = _by_type(offers_for_holder(holder=holder, now=jst(2026, 6, 1, 6, 30)))
    # Only the latest three released years: 2023 drops out when 2026 is released.
    assert june_1["shotoku_kazei"].fiscal_years == (2026, 2025, 2024)


def test_configured_number_of_tax_years(settings):
    settings.KONBINI_TAX_YEARS_OFFERED = 2
    holder = ResidentFactory.create()
    for year in (2024, 2025, 2026):
        TaxAssessmentFactory.create(resident=holder, fiscal_year=year)
        TaxPaymentFactory.create(resident=holder, fiscal_year=year)
    offers = _by_type(offers_for_holder(holder=holder, now=NOW))
    assert offers["shotoku_kazei"].fiscal_years == (2026, 2025)
    assert offers["nozei"].fiscal_years == (2026, 2025)


def test_explicit_release_date_wins_over_june_first():
    holder = ResidentFactory.create()
    TaxAssessmentFactory.create(resident=holder, fiscal_year=2026, released_on=date(2026, 6, 15))
    TaxAssessmentFactory.create(resident=holder, fiscal_year=2025)
    june_10 = _by_type(offers_for_holder(holder=holder, now=jst(2026, 6, 10)))["shotoku_kazei"]
    assert june_10.fiscal_years == (2025,)
    june_15 = _by_type(offers_for_holder(holder=holder, now=jst(2026, 6, 15)))["shotoku_kazei"]
    assert june_15.fiscal_years == (2026, 2025)


def test_undeclared_year_is_not_offered_and_none_left_is_no_tax_record():
    holder = ResidentFactory.create()
    TaxAssessmentFactory.create(resident=holder, fiscal_year=2026, declared=False)
    shotoku = _by_type(offers_for_holder(holder=holder, now=NOW))["shotoku_kazei"]
    assert (shotoku.available, shotoku.unavailable_code, shotoku.reason) == (
        False,
        "NO_TAX_RECORD",
        "tax_not_declared",
    )
    TaxAssessmentFactory.create(resident=holder, fiscal_year=2025)
    assert _by_type(offers_for_holder(holder=holder, now=NOW))["shotoku_kazei"].fiscal_years == (2025,)


def test_no_assessment_and_no_payment_is_no_tax_record():
    holder = ResidentFactory.create()
    TaxAssessmentFactory.create(resident=holder, fiscal_year=2020)  # outside the offered years
    TaxPaymentFactory.create(resident=holder, fiscal_year=2020)
    offers = _by_type(offers_for_holder(holder=holder, now=NOW))
    for cert_type in ("shotoku_kazei", "nozei"):
        assert (offers[cert_type].available, offers[cert_type].unavailable_code) == (False, "NO_TAX_RECORD")
        assert offers[cert_type].reason == "no_tax_record"


def test_nozei_offers_the_years_with_payment_records():
    holder = ResidentFactory.create()
    TaxPaymentFactory.create(resident=holder, fiscal_year=2025, tax_item="個人市県民税")
    TaxPaymentFactory.create(resident=holder, fiscal_year=2025, tax_item="固定資産税")
    TaxPaymentFactory.create(resident=holder, fiscal_year=2024, tax_item="軽自動車税")
    nozei = _by_type(offers_for_holder(holder=holder, now=NOW))["nozei"]
    assert (nozei.available, nozei.fiscal_years) == (True, (2025, 2024))


def test_fees_follow_the_latest_rule_in_force(settings):
    settings.KONBINI_DEFAULT_FEE_YEN = 250
    holder = _ok_holder()
    FeeFactory.create(cert_type="juminhyo", amount_yen=300, effective_from=date(2020, 4, 1))
    FeeFactory.create(cert_type="juminhyo", amount_yen=150, effective_from=date(2026, 4, 1))
    FeeFactory.create(cert_type="juminhyo", amount_yen=999, effective_from=date(2027, 4, 1))  # not yet
    offers = _by_type(offers_for_holder(holder=holder, now=NOW))
    assert offers["juminhyo"].fee == 150
    assert offers["inkan"].fee == 250  # no Fee row: the default


def test_offers_take_a_handful_of_queries(django_assert_max_num_queries):
    holder = _ok_holder()
    for i in range(4):
        member_of(holder, given_name=f"子{i}", relationship="子", birth_date=date(2000 + i, 1, 1))
    holder = Resident.objects.get(pk=holder.pk)
    with django_assert_max_num_queries(8):
        offers = offers_for_holder(holder=holder, now=NOW + timedelta(minutes=1))
    assert len(_by_type(offers)["juminhyo"].members) == 6

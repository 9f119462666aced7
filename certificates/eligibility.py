"""Who may get which certificate at the kiosk: the one policy of SPEC §2.

``holder_eligibility`` loads what it needs in a handful of queries and decides every offer at
once; ``offers_for_holder`` is its kiosk-facing view, and ``certificate_issue`` re-runs it inside
the issuance transaction and prints from the very rows it checked.

Codes and reasons: an unavailable offer carries the code the kiosk may see (SPEC §3) and the true
reason for the audit log. Anything that could reveal a sensitive fact (a support measure, a move-out,
a death, a clerk's stop, a sync problem, even 外字 in a name) is the generic NOT_AVAILABLE_AT_KIOSK.

Dates are Japan dates: ``now`` is an aware datetime (the clock is a parameter, for tests and for
one consistent "today" through a request) converted to Asia/Tokyo.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from certificates.errors import NO_TAX_RECORD, NOT_AVAILABLE_AT_KIOSK, SEAL_NOT_REGISTERED
from certificates.glyphs import characters_missing_from_font
from certificates.models import CertType, Fee, IssuanceStop
from certificates.options import MAX_COPIES
from residents.holds import resident_codes_held
from residents.models import CardLink, Household, Resident, SealRegistration, TaxAssessment, TaxPayment

JST = ZoneInfo("Asia/Tokyo")
MINIMUM_AGE = 15  # SPEC §2: under-15s are sent to the counter
CERT_TYPE_ORDER: tuple[str, ...] = tuple(CertType.values)  # SPEC §2 order

# Members whose data a 住民票 may show: the household as it is now. Removed members (消除者:
# moved out, deceased, erased) are never printed (SPEC §2).
CURRENT_STATUSES = (Resident.Status.ACTIVE, Resident.Status.MOVING_OUT)
_HOLDER_STATUS_REASONS = {
    Resident.Status.MOVING_OUT: "holder_moving_out",
    Resident.Status.MOVED_OUT: "holder_moved_out",
    Resident.Status.DECEASED: "holder_deceased",
    Resident.Status.ERASED: "holder_erased",
}


@dataclass(frozen=True)
class OfferMember:
    resident_id: int
    name: str


@dataclass(frozen=True)
class Offer:
    type: str
    available: bool
    unavailable_code: str | None
    reason: str | None  # the true reason: for the audit log only, never for the kiosk
    fee: int
    max_copies: int
    members: tuple[OfferMember, ...] = ()  # juminhyo only: the household as it may be printed
    fiscal_years: tuple[int, ...] = ()  # tax types only, latest first


@dataclass(frozen=True)
class HolderEligibility:
    """The decision and the rows it was made from (printing uses exactly these rows)."""

    today: date
    holder: Resident
    household: Household
    offers: tuple[Offer, ...]
    members: tuple[Resident, ...] = ()  # the printable members, in offer order
    registration: SealRegistration | None = None
    assessments: dict[int, TaxAssessment] = field(default_factory=dict)  # offered years only
    payments: dict[int, tuple[TaxPayment, ...]] = field(default_factory=dict)  # offered years only

    def offer(self, cert_type: str) -> Offer:
        for offer in self.offers:
            if offer.type == cert_type:
                return offer
        raise KeyError(cert_type)


def japan_today(now: datetime) -> date:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(JST).date()


def age_on(birth_date: date, day: date) -> int:
    """Age in completed years on ``day``.

    年齢計算ニ関スル法律 and 民法第143条: a person gains a year at the end of the day before the
    birthday (24:00 of that day is the same instant as 0:00 of the birthday). For a whole day, as
    eligibility is decided, that is the simple rule "a year older from the birthday on". Someone born
    on 29 February gains the year at the end of 28 February in common years, i.e. from 1 March on,
    which the tuple comparison below also gives.
    """
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def tax_release_date(fiscal_year: int, released_on: date | None = None) -> date:
    """A fiscal year's certificates are available from its release date, by default 1 June (SPEC §2)."""
    return released_on or date(fiscal_year, 6, 1)


def fee_for_types(today: date) -> dict[str, int]:
    """The fee per copy of each type on ``today``: the latest Fee in force, else the default."""
    fees = {cert_type: settings.KONBINI_DEFAULT_FEE_YEN for cert_type in CERT_TYPE_ORDER}
    seen: set[str] = set()
    rows = Fee.objects.filter(effective_from__lte=today).order_by("cert_type", "-effective_from")
    for cert_type, amount in rows.values_list("cert_type", "amount_yen"):
        if cert_type not in seen:
            seen.add(cert_type)
            fees[cert_type] = amount
    return fees


def _unprintable(texts: Iterable[str]) -> bool:
    return any(characters_missing_from_font(text) for text in texts if text)


def _person_texts(resident: Resident) -> list[str]:
    # What every certificate prints of a person; optional items (本籍, 続柄) are checked at issuance.
    return [resident.full_name, resident.full_name_kana, resident.address]


def _holder_refusal(
    *, holder: Resident, today: date, card_link: CardLink | None, stopped: bool, blocked: bool
) -> str | None:
    """The first holder-level reason to refuse every type, or None."""
    if holder.status in _HOLDER_STATUS_REASONS:
        # 転出届 filed counts even before the move date (SPEC §2).
        return _HOLDER_STATUS_REASONS[Resident.Status(holder.status)]
    if age_on(holder.birth_date, today) < MINIMUM_AGE:
        return "under_15"
    if holder.adult_ward:
        return "adult_ward"
    if holder.support_measure:
        return "support_measure"
    if stopped:
        return "clerk_stop"
    if holder.pending_change:
        return "pending_change"
    if card_link is not None and card_link.active_from >= today:
        # New cards, PIN resets and move-ins are usable from the next day (SPEC §2).
        return "card_linked_today"
    if blocked:
        # A quarantined feed record concerns this person: the mirror may be wrong (SPEC §5).
        return "sync_blocked"
    if _unprintable(_person_texts(holder)):
        return "gaiji"
    return None


def _juminhyo_offer(
    *, household: Household, current: Sequence[Resident], blocked_codes: set[str], fee: int
) -> tuple[Offer, tuple[Resident, ...]]:
    def refused(reason: str) -> tuple[Offer, tuple[Resident, ...]]:
        return _unavailable(CertType.JUMINHYO, NOT_AVAILABLE_AT_KIOSK, reason, fee), ()

    # The whole household is refused when anyone in it is moving out or changing (SPEC §2): the
    # certificate would show a household that is about to be different.
    if any(m.status == Resident.Status.MOVING_OUT for m in current):
        return refused("household_moving_out")
    if any(m.pending_change for m in current):
        return refused("household_pending_change")
    if any(m.resident_code in blocked_codes for m in current):
        return refused("household_sync_blocked")
    # Members under a support measure are never offered nor printed: their very presence in the
    # household must not show (SPEC §2).
    printable = tuple(m for m in current if not m.support_measure)
    if _unprintable(
        [household.address, *(t for m in printable for t in (*_person_texts(m), m.previous_address))]
    ):
        return refused("gaiji_member")
    members = tuple(OfferMember(resident_id=m.pk, name=m.full_name) for m in printable)
    offer = Offer(
        type=CertType.JUMINHYO,
        available=True,
        unavailable_code=None,
        reason=None,
        fee=fee,
        max_copies=MAX_COPIES,
        members=members,
    )
    return offer, printable


def _inkan_offer(
    *, registrations: Sequence[SealRegistration], fee: int
) -> tuple[Offer, SealRegistration | None]:
    active = next((r for r in registrations if r.status == SealRegistration.Status.ACTIVE), None)
    if active is None:
        reason = "seal_abolished" if registrations else "seal_not_registered"
        return _unavailable(CertType.INKAN, SEAL_NOT_REGISTERED, reason, fee), None
    return _available(CertType.INKAN, fee), active


def _latest_released_year(today: date, assessments: Sequence[TaxAssessment]) -> int:
    default = today.year if today >= tax_release_date(today.year) else today.year - 1
    released = [a.fiscal_year for a in assessments if tax_release_date(a.fiscal_year, a.released_on) <= today]
    return max([default, *released])


def _shotoku_offer(
    *, today: date, window: range, assessments: Sequence[TaxAssessment], fee: int
) -> tuple[Offer, dict[int, TaxAssessment]]:
    in_window = [
        a
        for a in assessments
        if a.fiscal_year in window and tax_release_date(a.fiscal_year, a.released_on) <= today
    ]
    # No assessment: not resident on 1 January of that year. Undeclared (未申告): no certificate.
    offered = {a.fiscal_year: a for a in in_window if a.declared}
    if not offered:
        reason = "tax_not_declared" if in_window else "no_tax_record"
        return _unavailable(CertType.SHOTOKU_KAZEI, NO_TAX_RECORD, reason, fee), {}
    years = tuple(sorted(offered, reverse=True))
    return _available(CertType.SHOTOKU_KAZEI, fee, fiscal_years=years), offered


def _nozei_offer(
    *, window: range, payments: Sequence[TaxPayment], fee: int
) -> tuple[Offer, dict[int, tuple[TaxPayment, ...]]]:
    by_year: dict[int, list[TaxPayment]] = {}
    for payment in payments:
        if payment.fiscal_year in window:
            by_year.setdefault(payment.fiscal_year, []).append(payment)
    if not by_year:
        return _unavailable(CertType.NOZEI, NO_TAX_RECORD, "no_tax_record", fee), {}
    years = tuple(sorted(by_year, reverse=True))
    return _available(CertType.NOZEI, fee, fiscal_years=years), {y: tuple(p) for y, p in by_year.items()}


def _available(cert_type: str, fee: int, *, fiscal_years: tuple[int, ...] = ()) -> Offer:
    return Offer(
        type=cert_type,
        available=True,
        unavailable_code=None,
        reason=None,
        fee=fee,
        max_copies=MAX_COPIES,
        fiscal_years=fiscal_years,
    )


def _unavailable(cert_type: str, code: str, reason: str, fee: int) -> Offer:
    return Offer(
        type=cert_type, available=False, unavailable_code=code, reason=reason, fee=fee, max_copies=MAX_COPIES
    )


def holder_eligibility(
    *,
    holder: Resident,
    now: datetime,
    card_link: CardLink | None = None,
    cert_types: Collection[str] = CERT_TYPE_ORDER,
) -> HolderEligibility:
    """Decide the offers of ``cert_types`` (all four by default) for ``holder`` at ``now`` (SPEC §2),
    with the rows to print from; ``offers`` holds those types only, in SPEC order.

    Reads fresh rows for everything but the holder itself (the caller passes a row it just read;
    ``certificate_issue`` re-reads it inside its transaction, for the one type it issues: the seal
    and tax rows are read only for the types that need them).
    """
    today = japan_today(now)
    fees = fee_for_types(today)
    stopped = any(
        stop.is_active_on(today)
        for stop in IssuanceStop.objects.filter(resident_code=holder.resident_code, lifted_at__isnull=True)
    )
    # The household row is read fresh, with its current members in the same statement (the
    # mirror's PROTECT foreign key guarantees it exists; alone when nobody in it is current).
    current = list(
        Resident.objects.filter(household_id=holder.household_id, status__in=CURRENT_STATUSES).select_related(
            "household"
        )
    )
    household = current[0].household if current else Household.objects.get(pk=holder.household_id)
    current.sort(key=lambda m: (m.resident_code != household.head_resident_code, m.birth_date, m.pk))
    codes = sorted({holder.resident_code, *(m.resident_code for m in current)})
    blocked_codes = resident_codes_held(resident_codes=codes)

    refusal = _holder_refusal(
        holder=holder,
        today=today,
        card_link=card_link,
        stopped=stopped,
        blocked=holder.resident_code in blocked_codes,
    )
    asked = [t for t in CERT_TYPE_ORDER if t in cert_types]
    if refusal is not None:
        offers = tuple(_unavailable(t, NOT_AVAILABLE_AT_KIOSK, refusal, fees[t]) for t in asked)
        return HolderEligibility(today=today, holder=holder, household=household, offers=offers)

    decided: dict[str, Offer] = {}
    members: tuple[Resident, ...] = ()
    if CertType.JUMINHYO in asked:
        decided[CertType.JUMINHYO], members = _juminhyo_offer(
            household=household, current=current, blocked_codes=blocked_codes, fee=fees[CertType.JUMINHYO]
        )
    registration = None
    if CertType.INKAN in asked:
        decided[CertType.INKAN], registration = _inkan_offer(
            registrations=list(
                SealRegistration.objects.filter(resident_id=holder.pk).defer("seal_image_png")
            ),
            fee=fees[CertType.INKAN],
        )
    offered_assessments: dict[int, TaxAssessment] = {}
    offered_payments: dict[int, tuple[TaxPayment, ...]] = {}
    if CertType.SHOTOKU_KAZEI in asked or CertType.NOZEI in asked:
        # Both tax certificates offer the same years, set by the latest released assessment.
        assessments = list(TaxAssessment.objects.filter(resident_id=holder.pk))
        latest = _latest_released_year(today, assessments)
        window = range(latest - settings.KONBINI_TAX_YEARS_OFFERED + 1, latest + 1)
        decided[CertType.SHOTOKU_KAZEI], offered_assessments = _shotoku_offer(
            today=today, window=window, assessments=assessments, fee=fees[CertType.SHOTOKU_KAZEI]
        )
        if CertType.NOZEI in asked:
            payments = list(TaxPayment.objects.filter(resident_id=holder.pk).order_by("fiscal_year", "pk"))
            decided[CertType.NOZEI], offered_payments = _nozei_offer(
                window=window, payments=payments, fee=fees[CertType.NOZEI]
            )
    return HolderEligibility(
        today=today,
        holder=holder,
        household=household,
        offers=tuple(decided[t] for t in asked),
        members=members,
        registration=registration,
        assessments=offered_assessments,
        payments=offered_payments,
    )


def offers_for_holder(*, holder: Resident, now: datetime, card_link: CardLink | None = None) -> list[Offer]:
    """The four offers, in SPEC §2 order, for the kiosk's menu (``reason`` is for the audit only).

    ``card_link`` is the link through which the holder authenticated: a link active only from today
    refuses everything (SPEC §2).
    """
    return list(holder_eligibility(holder=holder, now=now, card_link=card_link).offers)

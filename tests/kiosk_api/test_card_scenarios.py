"""Every card scenario of SPEC §4, end to end through the kiosk API: card → offers → issuance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, cast

import pytest

from audit.models import AuditEvent
from certificates.models import IssuanceRecord, IssuanceStop
from residents.models import Resident, SealRegistration, TaxAssessment, TaxPayment
from tests.certificates.factories import ResidentFactory
from tests.kiosk_api.cards import NOW, Pki, authenticate, error_code, issue, ok_holder, signed_in

pytestmark = pytest.mark.django_db

GENERIC = "NOT_AVAILABLE_AT_KIOSK"
ALL_OK: dict[str, str | None] = {"juminhyo": None, "inkan": None, "shotoku_kazei": None, "nozei": None}
ALL_REFUSED: dict[str, str | None] = dict.fromkeys(ALL_OK, GENERIC)
REQUESTS = {
    "juminhyo": {"type": "juminhyo", "copies": 1, "options": {"scope": "all"}},
    "inkan": {"type": "inkan", "copies": 1, "options": {}},
    "shotoku_kazei": {"type": "shotoku_kazei", "copies": 1, "options": {"fiscal_year": 2026}},
    "nozei": {"type": "nozei", "copies": 1, "options": {"fiscal_year": 2026}},
}


def _holder(**kwargs: Any) -> Resident:
    return ok_holder(**kwargs)


def _update(**fields: Any) -> Callable[[Resident], None]:
    def apply(holder: Resident) -> None:
        Resident.objects.filter(pk=holder.pk).update(**fields)

    return apply


def _single(holder: Resident) -> None:
    holder.household.members.exclude(pk=holder.pk).delete()


def _no_seal(holder: Resident) -> None:
    SealRegistration.objects.filter(resident=holder).delete()


def _seal_abolished(holder: Resident) -> None:
    SealRegistration.objects.filter(resident=holder).update(
        status="abolished", abolished_on=date(2025, 1, 10)
    )


def _clerk_stop(holder: Resident) -> None:
    IssuanceStop.objects.create(resident_code=holder.resident_code, reason="本人申出", created_at=NOW)


def _household_pending(holder: Resident) -> None:
    holder.household.members.exclude(pk=holder.pk).update(pending_change=True)


def _no_tax(holder: Resident) -> None:
    TaxAssessment.objects.filter(resident=holder).delete()
    TaxPayment.objects.filter(resident=holder).delete()


# scenario -> (change to the ok holder, expected unavailable code per type)
OFFER_SCENARIOS: dict[str, tuple[Callable[[Resident], None] | None, dict[str, str | None]]] = {
    "ok": (None, ALL_OK),
    "ok_single": (_single, ALL_OK),
    "no_seal": (_no_seal, {**ALL_OK, "inkan": "SEAL_NOT_REGISTERED"}),
    "seal_abolished": (_seal_abolished, {**ALL_OK, "inkan": "SEAL_NOT_REGISTERED"}),
    "moving_out": (_update(status="moving_out"), ALL_REFUSED),
    "moved_out": (_update(status="moved_out"), ALL_REFUSED),
    "deceased": (_update(status="deceased"), ALL_REFUSED),
    "support_measure": (_update(support_measure=True), ALL_REFUSED),
    "clerk_stop": (_clerk_stop, ALL_REFUSED),
    "pending_change": (_update(pending_change=True), ALL_REFUSED),
    "household_pending_change": (_household_pending, {**ALL_OK, "juminhyo": GENERIC}),
    "no_tax_record": (_no_tax, {**ALL_OK, "shotoku_kazei": "NO_TAX_RECORD", "nozei": "NO_TAX_RECORD"}),
    "under_15": (_update(birth_date=date(2015, 4, 2), became_resident_on=date(2015, 4, 2)), ALL_REFUSED),
    "adult_ward": (_update(adult_ward=True), ALL_REFUSED),
    "gaiji": (_update(family_name="𠮷田"), ALL_REFUSED),
}


@pytest.mark.parametrize("scenario", sorted(OFFER_SCENARIOS))
def test_offer_scenarios(api, pki: Pki, scenario: str):
    change, expected = OFFER_SCENARIOS[scenario]
    holder = _holder()
    card = pki.card(holder)
    if change is not None:
        change(holder)
    session_id, body = signed_in(api, card)
    shown = {offer["type"]: offer["unavailable_code"] for offer in body["offers"]}
    assert shown == expected
    for offer in body["offers"]:
        assert offer["available"] is (offer["unavailable_code"] is None)
    # Asking for a refused type anyway gets the same code and issues nothing.
    for index, (cert_type, code) in enumerate(sorted(expected.items())):
        if code is None:
            continue
        response = issue(api, session_id, REQUESTS[cert_type], key=f"{scenario}-{index}")
        assert (response.status_code, error_code(response)) == (403, code)
    assert not IssuanceRecord.objects.exists()
    if scenario == "ok_single":
        assert len(body["offers"][0]["members"]) == 1


def test_ok_scenario_issues_every_type(api, pki: Pki):
    session_id, _ = signed_in(api, pki.card(_holder()))
    for index, body in enumerate(REQUESTS.values()):
        response = issue(api, session_id, body, key=f"k{index}")
        assert response.status_code == 201, response.content
    assert IssuanceRecord.objects.count() == 4


def test_refusal_reason_is_audited_but_never_shown(api, pki: Pki):
    holder = _holder()
    card = pki.card(holder)
    Resident.objects.filter(pk=holder.pk).update(support_measure=True)
    _session_id, body = signed_in(api, card)
    assert "support" not in str(body)
    shown = AuditEvent.objects.get(action="kiosk.offers_shown")
    assert {o["reason"] for o in shown.payload["offers"]} == {"support_measure"}


def test_linked_today_scenario(api, pki: Pki):
    card = pki.card(_holder(), active_from=NOW.date())
    _session_id, body = signed_in(api, card)
    assert {offer["unavailable_code"] for offer in body["offers"]} == {GENERIC}


@pytest.mark.parametrize(
    ("scenario", "status", "code"),
    [
        ("expired_cert", 401, "CERTIFICATE_EXPIRED"),
        ("revoked_cert", 401, "CERTIFICATE_REVOKED"),
        ("unlinked_cert", 403, "CARD_NOT_REGISTERED"),
        ("untrusted_cert", 401, "CERTIFICATE_UNTRUSTED"),
    ],
)
def test_certificate_scenarios(api, pki: Pki, scenario: str, status: int, code: str):
    holder = cast(Resident, ResidentFactory())
    if scenario == "expired_cert":
        card = pki.card(holder, issued_on=date(2019, 5, 1))
    elif scenario == "revoked_cert":
        card = pki.card(holder)
        pki.revoke(card)
    elif scenario == "unlinked_cert":
        card = pki.card(holder, link=False)
    else:
        card = pki.card(holder, ca=pki.other)
    response = authenticate(api, card)
    assert (response.status_code, error_code(response)) == (status, code)
    event = AuditEvent.objects.get(action="kiosk.authenticate")
    assert event.outcome == "refused" and event.resident_ids == []

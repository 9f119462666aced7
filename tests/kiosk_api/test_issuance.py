"""Issuance, document, completion and end of session through HTTP (SPEC §3)."""

from __future__ import annotations

import hashlib
import io
import threading
from datetime import timedelta
from typing import cast

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pypdf import PdfReader

from audit.models import AuditEvent
from certificates.models import IssuanceRecord
from certificates.rendering import read_verification_payloads
from kiosk_api.models import KioskIssuance, StoredDocument
from residents.models import Resident
from tests.certificates.factories import ResidentFactory, member_of
from tests.kiosk_api.cards import BASE, error_code, issue, ok_holder, signed_in

pytestmark = pytest.mark.django_db

INKAN = {"type": "inkan", "copies": 1, "options": {}}


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def test_full_flow_issue_fetch_print_end(api, pki):
    holder = ok_holder()
    session_id, _offers = signed_in(api, pki.card(holder))
    response = issue(api, session_id, {"type": "inkan", "copies": 2, "options": {}})
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"issuance_id", "certificate_numbers", "fee_total", "document_url", "sha256"}
    assert len(body["certificate_numbers"]) == 2
    assert body["fee_total"] == 400
    assert body["document_url"] == f"{BASE}issuances/{body['issuance_id']}/document"

    document = api.get(body["document_url"])
    assert document.status_code == 200
    assert document["Content-Type"] == "application/pdf"
    pdf = document.content
    assert hashlib.sha256(pdf).hexdigest() == body["sha256"]
    assert holder.family_name in _text(pdf) and holder.given_name in _text(pdf)
    assert len(read_verification_payloads(pdf)) == 2
    assert AuditEvent.objects.filter(action="kiosk.document_fetched", outcome="success").count() == 1

    done = api.post(f"{BASE}issuances/{body['issuance_id']}/complete", {"outcome": "printed"}, format="json")
    assert (done.status_code, done.json()) == (200, {"status": "printed"})
    assert IssuanceRecord.objects.get().status == "printed"

    gone = api.get(body["document_url"])
    assert (gone.status_code, error_code(gone)) == (410, "DOCUMENT_GONE")
    assert StoredDocument.objects.count() == 0
    assert KioskIssuance.objects.get().sha256 == body["sha256"]
    assert api.delete(f"{BASE}sessions/{session_id}").status_code == 204


def test_the_stored_document_is_encrypted(api, pki):
    holder = ok_holder()
    session_id, _ = signed_in(api, pki.card(holder))
    body = issue(api, session_id, INKAN).json()
    stored = bytes(StoredDocument.objects.get().ciphertext)
    pdf = api.get(body["document_url"]).content
    assert not stored.startswith(b"%PDF") and pdf[:200] not in stored


def test_failed_print_voids_the_issuance_and_no_fee_is_due(api, pki):
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    body = issue(api, session_id, INKAN).json()
    done = api.post(f"{BASE}issuances/{body['issuance_id']}/complete", {"outcome": "failed"}, format="json")
    assert done.json() == {"status": "voided"}
    assert IssuanceRecord.objects.get().status == "voided"
    assert error_code(api.get(body["document_url"])) == "DOCUMENT_GONE"
    # Reporting the same outcome again changes nothing; the other outcome is refused.
    again = api.post(f"{BASE}issuances/{body['issuance_id']}/complete", {"outcome": "failed"}, format="json")
    assert again.json() == {"status": "voided"}
    other = api.post(f"{BASE}issuances/{body['issuance_id']}/complete", {"outcome": "printed"}, format="json")
    assert (other.status_code, error_code(other)) == (422, "INVALID_REQUEST")
    assert IssuanceRecord.objects.get().status == "voided"


def test_ending_the_session_voids_what_was_not_printed(api, pki):
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    body = issue(api, session_id, INKAN).json()
    assert api.delete(f"{BASE}sessions/{session_id}").status_code == 204
    assert IssuanceRecord.objects.get().status == "voided"
    assert StoredDocument.objects.count() == 0
    gone = api.get(body["document_url"])
    assert gone.status_code in {404, 410}


def test_an_expired_session_abandons_its_unprinted_issuance(api, pki, clock):
    from audit.services import Actor
    from kiosk_api.services import session_sweep

    session_id, _ = signed_in(api, pki.card(ok_holder()))
    issue(api, session_id, INKAN)
    clock.shift(timedelta(seconds=181))
    from django.utils import timezone

    assert session_sweep(now=timezone.now(), actor=Actor.job("sweep")) == 1
    assert IssuanceRecord.objects.get().status == "voided"
    assert StoredDocument.objects.count() == 0
    voided = AuditEvent.objects.get(action="certificate.voided")
    assert (voided.actor_kind, voided.actor_id) == ("job", "sweep")
    # Idempotent: a second run finds nothing left to abandon.
    assert session_sweep(now=timezone.now(), actor=Actor.job("sweep")) == 0


def _kept_alive_for_800_seconds(api, clock, document_url: str) -> None:
    """A call every 100 s: the idle expiry (180 s) never strikes."""
    for _ in range(8):
        clock.shift(timedelta(seconds=100))
        assert api.get(document_url).status_code == 200


def test_a_session_kept_alive_by_calls_expires_15_minutes_after_its_start(api, pki, clock, settings):
    assert settings.KONBINI_SESSION_MAX_SECONDS == 900
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    body = issue(api, session_id, INKAN).json()
    _kept_alive_for_800_seconds(api, clock, body["document_url"])
    clock.shift(timedelta(seconds=100))  # 900 s after the start, 100 s after the last call
    for response in (
        api.get(body["document_url"]),
        api.get(f"{BASE}sessions/{session_id}/access-history"),
        issue(api, session_id, INKAN, key="key-2"),
        api.post(f"{BASE}issuances/{body['issuance_id']}/complete", {"outcome": "printed"}, format="json"),
    ):
        assert (response.status_code, error_code(response)) == (410, "SESSION_EXPIRED")
    # Handled as the idle expiry handles it: the unprinted issuance is voided, its document dropped.
    assert IssuanceRecord.objects.get().status == "voided"
    assert StoredDocument.objects.count() == 0
    voided = AuditEvent.objects.get(action="certificate.voided")
    assert voided.reason == "session_expired" and voided.payload["kiosk_issuance"] == body["issuance_id"]


def test_the_sweep_abandons_a_session_past_its_absolute_lifetime(api, pki, clock):
    from django.utils import timezone

    from audit.services import Actor
    from kiosk_api.services import session_sweep

    session_id, _ = signed_in(api, pki.card(ok_holder()))
    body = issue(api, session_id, INKAN).json()
    _kept_alive_for_800_seconds(api, clock, body["document_url"])
    clock.shift(timedelta(seconds=50))
    # 850 s: idle for 50 s only, and within its lifetime.
    assert session_sweep(now=timezone.now(), actor=Actor.job("sweep")) == 0
    clock.shift(timedelta(seconds=51))
    # 901 s: its idle expiry is still 130 s ahead, but its lifetime is over.
    assert session_sweep(now=timezone.now(), actor=Actor.job("sweep")) == 1
    assert IssuanceRecord.objects.get().status == "voided"
    assert StoredDocument.objects.count() == 0


def test_the_absolute_lifetime_is_a_setting(api, pki, clock, settings):
    settings.KONBINI_SESSION_MAX_SECONDS = 300
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    body = issue(api, session_id, INKAN).json()
    for _ in range(2):
        clock.shift(timedelta(seconds=100))
        assert api.get(body["document_url"]).status_code == 200
    clock.shift(timedelta(seconds=101))
    response = api.get(body["document_url"])
    assert (response.status_code, error_code(response)) == (410, "SESSION_EXPIRED")


def test_same_key_same_body_returns_the_same_issuance(api, pki):
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    first = issue(api, session_id, INKAN, key="abc")
    second = issue(api, session_id, INKAN, key="abc")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert IssuanceRecord.objects.count() == 1 and KioskIssuance.objects.count() == 1


def test_same_key_other_body_is_refused(api, pki):
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    issue(api, session_id, INKAN, key="abc")
    response = issue(api, session_id, {"type": "inkan", "copies": 2, "options": {}}, key="abc")
    assert (response.status_code, error_code(response)) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert IssuanceRecord.objects.count() == 1


def test_a_refusal_is_kept_for_its_key(api, pki):
    holder = ResidentFactory()  # no seal registration
    session_id, _ = signed_in(api, pki.card(holder))
    first = issue(api, session_id, INKAN, key="k")
    second = issue(api, session_id, INKAN, key="k")
    assert error_code(first) == error_code(second) == "SEAL_NOT_REGISTERED"
    assert first.status_code == 403
    assert AuditEvent.objects.filter(action="certificate.refused", reason="seal_not_registered").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_identical_requests_at_the_same_instant_make_one_issuance(api, pki):
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    # Both requests claim the key at the very same instant: only the unique index keeps the
    # second one from issuing again (its INSERT waits for the first's commit, then inserts nothing).
    barrier = threading.Barrier(2)
    results: list[tuple[int, dict]] = []

    def call() -> None:
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=api._credentials["HTTP_AUTHORIZATION"])
        barrier.wait()
        response = issue(client, session_id, INKAN, key="same-instant")
        results.append((response.status_code, response.json()))
        connection.close()

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [status for status, _ in results] == [201, 201]
    assert results[0][1] == results[1][1]
    assert IssuanceRecord.objects.count() == 1
    assert KioskIssuance.objects.count() == 1


def test_juminhyo_selected_members_by_member_ref(api, pki):
    holder = ok_holder()
    spouse = holder.household.members.exclude(pk=holder.pk).get()
    session_id, body = signed_in(api, pki.card(holder))
    refs = {m["name"]: m["member_ref"] for m in body["offers"][0]["members"]}
    response = issue(
        api,
        session_id,
        {
            "type": "juminhyo",
            "copies": 1,
            "options": {"scope": "selected", "members": [refs[spouse.full_name]]},
        },
    )
    assert response.status_code == 201, response.content
    record = IssuanceRecord.objects.get()
    assert record.printed_resident_ids == [spouse.pk]
    text = _text(api.get(response.json()["document_url"]).content)
    assert spouse.given_name in text and holder.given_name not in text


def test_member_ref_of_another_session_is_invalid(api, pki):
    holder = ok_holder()
    card = pki.card(holder)
    _s1, first = signed_in(api, card)
    session_id, _ = signed_in(api, card)
    foreign_ref = first["offers"][0]["members"][0]["member_ref"]
    response = issue(
        api,
        session_id,
        {"type": "juminhyo", "copies": 1, "options": {"scope": "selected", "members": [foreign_ref]}},
    )
    assert (response.status_code, error_code(response)) == (422, "INVALID_REQUEST")
    assert "options.members" in response.json()["error"]["fields"]
    assert IssuanceRecord.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"type": "inkan", "copies": 0},
        {"type": "inkan", "copies": 11},
        {"type": "passport", "copies": 1},
        {"type": "inkan", "copies": 1, "options": {"fiscal_year": 2026}},
        {"type": "nozei", "copies": 1, "options": {}},
        {"type": "nozei", "copies": 1, "options": {"fiscal_year": True}},
        {"type": "juminhyo", "copies": 1, "options": {"scope": "some"}},
        {"type": "juminhyo", "copies": 1, "options": {"show_my_number": "yes"}},
        {"type": "juminhyo", "copies": 1, "options": {"scope": "selected", "members": []}},
    ],
)
def test_invalid_requests_are_refused_with_fields(api, pki, body):
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    response = issue(api, session_id, body)
    assert (response.status_code, error_code(response)) == (422, "INVALID_REQUEST")
    assert response.json()["error"]["fields"]
    assert IssuanceRecord.objects.count() == 0


def test_missing_idempotency_key_is_invalid(api, pki):
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    response = api.post(f"{BASE}sessions/{session_id}/issuances", INKAN, format="json")
    assert (response.status_code, error_code(response)) == (422, "INVALID_REQUEST")
    assert "Idempotency-Key" in response.json()["error"]["fields"]


def test_issuance_before_authentication_is_refused(api):
    session_id = api.post(f"{BASE}sessions").json()["session_id"]
    response = issue(api, session_id, INKAN)
    assert (response.status_code, error_code(response)) == (409, "SESSION_NOT_AUTHENTICATED")


def test_no_tax_record_and_a_year_not_offered(api, pki):
    session_id, _ = signed_in(api, pki.card(ResidentFactory()))
    response = issue(api, session_id, {"type": "nozei", "copies": 1, "options": {"fiscal_year": 2026}})
    assert (response.status_code, error_code(response)) == (403, "NO_TAX_RECORD")
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    response = issue(
        api, session_id, {"type": "shotoku_kazei", "copies": 1, "options": {"fiscal_year": 2019}}, key="k2"
    )
    assert (response.status_code, error_code(response)) == (422, "INVALID_REQUEST")


def test_another_terminal_cannot_fetch_or_complete(api, other_api, pki):
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    body = issue(api, session_id, INKAN).json()
    fetch = other_api.get(body["document_url"])
    assert (fetch.status_code, error_code(fetch)) == (404, "SESSION_NOT_FOUND")
    complete = other_api.post(
        f"{BASE}issuances/{body['issuance_id']}/complete", {"outcome": "printed"}, format="json"
    )
    assert complete.status_code == 404
    assert IssuanceRecord.objects.get().status == "issued"


def test_the_door_refuses_a_document_whose_subject_is_not_of_this_session(api, pki):
    """Even if a record were altered to name someone else, the PDF never leaves (SPEC §3)."""
    holder = ok_holder()
    stranger = cast(Resident, ResidentFactory())
    session_id, _ = signed_in(api, pki.card(holder))
    body = issue(api, session_id, INKAN).json()
    KioskIssuance.objects.filter(pk=body["issuance_id"]).update(subject_resident_ids=[stranger.pk])
    response = api.get(body["document_url"])
    assert (response.status_code, error_code(response)) == (403, "NOT_AVAILABLE_AT_KIOSK")
    assert IssuanceRecord.objects.get().status == "voided"
    assert StoredDocument.objects.count() == 0
    assert AuditEvent.objects.filter(action="kiosk.document_fetched", reason="subject_mismatch").exists()


def test_juminhyo_of_all_members_prints_only_the_household(api, pki):
    holder = ok_holder()
    hidden = member_of(holder, support_measure=True, given_name="秘子")
    session_id, body = signed_in(api, pki.card(holder))
    assert hidden.full_name not in [m["name"] for m in body["offers"][0]["members"]]
    response = issue(api, session_id, {"type": "juminhyo", "copies": 1, "options": {"scope": "all"}})
    assert response.status_code == 201
    text = _text(api.get(response.json()["document_url"]).content)
    assert "秘子" not in text
    assert hidden.pk not in KioskIssuance.objects.get().subject_resident_ids


def test_query_counts_of_hot_endpoints_are_pinned(api, pki):
    """Every kiosk call is on the hot path of a queue of residents: its queries must not creep up.

    Counted inside the test transaction, where each call's own transaction (one commit per call in
    production) is a savepoint pair: the production count is each figure minus two. The call's audit
    events are inserted and chained in one statement before its commit (no seal after it). Issuance
    re-checks only the requested type: an 印鑑登録証明書 reads no tax rows.
    """
    card = pki.card(ok_holder())

    def count(call):
        with CaptureQueriesContext(connection) as queries:
            response = call()
        assert response.status_code < 300, response.content
        return len(queries), response

    started, session = count(lambda: api.post(f"{BASE}sessions"))
    session = session.json()
    authenticated, _ = count(
        lambda: api.post(
            f"{BASE}sessions/{session['session_id']}/authenticate",
            {"certificate": card.certificate_b64, "signature": card.sign(session["challenge"])},
            format="json",
        )
    )
    issued, body = count(lambda: issue(api, session["session_id"], INKAN))
    body = body.json()
    fetched, _ = count(lambda: api.get(body["document_url"]))
    completed, _ = count(
        lambda: api.post(
            f"{BASE}issuances/{body['issuance_id']}/complete", {"outcome": "printed"}, format="json"
        )
    )
    ended, _ = count(lambda: api.delete(f"{BASE}sessions/{session['session_id']}"))
    assert {
        "start": started,
        "authenticate": authenticated,
        "issue": issued,
        "fetch": fetched,
        "complete": completed,
        "end": ended,
    } == {
        "start": 7,
        # The CRL is loaded by the refresh job before the first kiosk call, never inside it.
        "authenticate": 16,
        # One of them reads which signing key is active: a rotation reaches every process at once.
        "issue": 18,
        "fetch": 6,
        "complete": 8,
        "end": 5,
    }


def test_access_history_after_authentication(api, pki):
    holder = ok_holder()
    session_id = api.post(f"{BASE}sessions").json()["session_id"]
    before = api.get(f"{BASE}sessions/{session_id}/access-history")
    assert (before.status_code, error_code(before)) == (409, "SESSION_NOT_AUTHENTICATED")
    session_id, _ = signed_in(api, pki.card(holder))
    issue(api, session_id, INKAN)
    response = api.get(f"{BASE}sessions/{session_id}/access-history")
    assert response.status_code == 200
    entries = response.json()
    assert entries and all(set(entry) == {"at", "accessor", "action"} for entry in entries)
    # The terminal's own accesses show by role, never by the terminal's or a clerk's name.
    assert {entry["accessor"] for entry in entries} == {"コンビニ交付"}
    assert "1号機" not in response.content.decode()
    assert AuditEvent.objects.filter(action="kiosk.access_history_viewed", resident_ids=[holder.pk]).exists()

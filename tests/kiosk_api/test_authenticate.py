"""Terminals, sessions and card authentication through HTTP (SPEC §3, §4)."""

from __future__ import annotations

import base64
from datetime import date, timedelta

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from kiosk_api.models import KioskSession, Terminal
from kiosk_api.services import terminal_revoke, terminal_rotate_token, terminal_suspend
from tests.kiosk_api.cards import BASE, NOW, authenticate, error_code, ok_holder, signed_in, start

pytestmark = pytest.mark.django_db


def test_start_returns_a_32_byte_challenge_that_expires_in_60_seconds(api):
    body = start(api)
    assert len(base64.b64decode(body["challenge"])) == 32
    session = KioskSession.objects.get(pk=body["session_id"])
    assert session.challenge_expires_at - session.created_at == timedelta(seconds=60)
    assert AuditEvent.objects.filter(action="kiosk.session_started", outcome="success").count() == 1


def test_two_sessions_get_different_challenges(api):
    assert start(api)["challenge"] != start(api)["challenge"]


def test_call_without_token_is_terminal_unauthorized(anonymous):
    response = anonymous.post(f"{BASE}sessions")
    assert response.status_code == 401
    assert error_code(response) == "TERMINAL_UNAUTHORIZED"
    assert response.json()["error"]["message"].startswith("端末の認証")
    assert KioskSession.objects.count() == 0


def test_unknown_token_is_terminal_unauthorized(anonymous):
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer skt_not-a-real-token")
    response = anonymous.post(f"{BASE}sessions")
    assert (response.status_code, error_code(response)) == (401, "TERMINAL_UNAUTHORIZED")


def test_suspended_terminal_is_told_so_and_reactivation_restores_it(api, terminal):
    terminal_suspend(terminal_id=terminal.pk, actor=Actor.job("test"))
    response = api.post(f"{BASE}sessions")
    assert (response.status_code, error_code(response)) == (403, "TERMINAL_SUSPENDED")
    from kiosk_api.services import terminal_reactivate

    terminal_reactivate(terminal_id=terminal.pk, actor=Actor.job("test"))
    assert api.post(f"{BASE}sessions").status_code == 201


def test_revoked_terminal_is_simply_unauthorized(api, terminal):
    terminal_revoke(terminal_id=terminal.pk, actor=Actor.job("test"))
    response = api.post(f"{BASE}sessions")
    assert (response.status_code, error_code(response)) == (401, "TERMINAL_UNAUTHORIZED")


def test_rotated_token_replaces_the_old_one(api, terminal, anonymous):
    _terminal, new_token = terminal_rotate_token(terminal_id=terminal.pk, actor=Actor.job("test"))
    assert api.post(f"{BASE}sessions").status_code == 401
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {new_token}")
    assert anonymous.post(f"{BASE}sessions").status_code == 201


def test_token_is_stored_only_as_its_hash_and_never_audited(terminal_and_token):
    terminal, token = terminal_and_token
    assert token not in {terminal.token_hash, terminal.token_prefix}
    assert terminal.token_prefix == token[:12]
    for event in AuditEvent.objects.filter(action__startswith="terminal."):
        assert token not in str(event.payload)


def test_last_seen_is_written_at_most_once_a_minute(api, terminal, clock):
    start(api)
    first = Terminal.objects.get(pk=terminal.pk).last_seen_at
    assert first is not None
    start(api)
    assert Terminal.objects.get(pk=terminal.pk).last_seen_at == first
    clock.shift(timedelta(seconds=61))
    start(api)
    later = Terminal.objects.get(pk=terminal.pk).last_seen_at
    assert later is not None and later > first


def test_ok_card_authenticates_and_gets_four_offers_in_spec_order(api, pki):
    holder = ok_holder()
    card = pki.card(holder)
    _session_id, body = signed_in(api, card)
    assert body["holder"] == {"name": holder.full_name}
    offers = body["offers"]
    assert [o["type"] for o in offers] == ["juminhyo", "inkan", "shotoku_kazei", "nozei"]
    assert all(o["available"] and o["unavailable_code"] is None for o in offers)
    common = {"type", "available", "unavailable_code", "fee", "max_copies", "label_local"}
    assert set(offers[0]) == common | {"members"}
    assert set(offers[1]) == common
    assert offers[2]["fiscal_years"] == [2026, 2025, 2024]
    assert [m["name"] for m in offers[0]["members"]] == [
        m.full_name for m in holder.household.members.order_by("birth_date")
    ]
    # member_ref is opaque: it is not an internal id.
    assert all(not m["member_ref"].isdigit() for m in offers[0]["members"])
    success = AuditEvent.objects.get(action="kiosk.authenticate", outcome="success")
    assert success.resident_ids == [holder.pk]
    assert AuditEvent.objects.filter(action="kiosk.offers_shown").count() == 1


def test_member_refs_differ_between_sessions(api, pki):
    card = pki.card(ok_holder())
    _s1, first = signed_in(api, card)
    _s2, second = signed_in(api, card)
    refs = lambda body: {m["member_ref"] for m in body["offers"][0]["members"]}  # noqa: E731
    assert refs(first).isdisjoint(refs(second))


def test_challenge_is_single_use(api, pki):
    card = pki.card(ok_holder())
    session = start(api)
    assert authenticate(api, card, session).status_code == 200
    again = authenticate(api, card, session)
    assert (again.status_code, error_code(again)) == (409, "CHALLENGE_USED")
    refused = AuditEvent.objects.get(action="kiosk.authenticate", outcome="refused")
    assert refused.reason == "challenge_used"


def test_failed_attempt_also_uses_the_challenge(api, pki):
    card = pki.card(ok_holder())
    session = start(api)
    bad = api.post(
        f"{BASE}sessions/{session['session_id']}/authenticate",
        {"certificate": card.certificate_b64, "signature": base64.b64encode(b"x" * 256).decode()},
        format="json",
    )
    assert error_code(bad) == "SIGNATURE_INVALID"
    assert error_code(authenticate(api, card, session)) == "CHALLENGE_USED"


def test_challenge_expires_after_60_seconds(api, pki, clock):
    card = pki.card(ok_holder())
    session = start(api)
    clock.shift(timedelta(seconds=61))
    response = authenticate(api, card, session)
    assert (response.status_code, error_code(response)) == (410, "SESSION_EXPIRED")


def test_session_expires_180_seconds_after_the_last_call_and_slides(api, pki, clock):
    card = pki.card(ok_holder())
    session_id, _body = signed_in(api, card)
    history_url = f"{BASE}sessions/{session_id}/issuances"
    clock.shift(timedelta(seconds=170))
    # A call within 180 s keeps the session alive (this one is refused for its body, not the session).
    assert error_code(api.post(history_url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k")) == "INVALID_REQUEST"
    clock.shift(timedelta(seconds=170))
    assert error_code(api.post(history_url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k")) == "INVALID_REQUEST"
    clock.shift(timedelta(seconds=181))
    response = api.post(history_url, {"type": "inkan", "copies": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert (response.status_code, error_code(response)) == (410, "SESSION_EXPIRED")


def test_another_terminals_session_is_not_found(api, other_api, pki):
    card = pki.card(ok_holder())
    session = start(api)
    response = authenticate(other_api, card, session)
    assert (response.status_code, error_code(response)) == (404, "SESSION_NOT_FOUND")
    ended = other_api.delete(f"{BASE}sessions/{session['session_id']}")
    assert (ended.status_code, error_code(ended)) == (404, "SESSION_NOT_FOUND")
    # ... and the owner's session is still open, its challenge unused.
    assert authenticate(api, card, session).status_code == 200


def test_unknown_and_malformed_session_ids_are_not_found(api, pki):
    card = pki.card(ok_holder())
    for session_id in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        response = authenticate(
            api, card, {"session_id": session_id, "challenge": base64.b64encode(b"0" * 32).decode()}
        )
        assert (response.status_code, error_code(response)) == (404, "SESSION_NOT_FOUND")


def test_ended_session_is_gone(api, pki):
    session = start(api)
    assert api.delete(f"{BASE}sessions/{session['session_id']}").status_code == 204
    response = api.delete(f"{BASE}sessions/{session['session_id']}")
    assert (response.status_code, error_code(response)) == (404, "SESSION_NOT_FOUND")
    assert AuditEvent.objects.filter(action="kiosk.session_ended").count() == 1


def _post_auth(api, certificate: str, signature: str):
    session = start(api)
    return api.post(
        f"{BASE}sessions/{session['session_id']}/authenticate",
        {"certificate": certificate, "signature": signature},
        format="json",
    )


@pytest.mark.parametrize("certificate", ["not base64!", base64.b64encode(b"not a certificate").decode()])
def test_malformed_certificate(api, pki, certificate):
    response = _post_auth(api, certificate, base64.b64encode(b"sig").decode())
    assert (response.status_code, error_code(response)) == (400, "CERTIFICATE_MALFORMED")
    assert AuditEvent.objects.get(action="kiosk.authenticate").reason == "certificate_malformed"


def test_untrusted_ca_is_refused(api, pki):
    card = pki.card(ok_holder(), ca=pki.other)
    response = authenticate(api, card)
    assert (response.status_code, error_code(response)) == (401, "CERTIFICATE_UNTRUSTED")


def test_lookalike_ca_with_the_trusted_name_is_refused(api, pki, tmp_path):
    from simulators import jpki as jpki_sim

    # Same subject as the JPKI test CA, another key: only the signature can tell them apart.
    impostor = jpki_sim._ca_load_or_create(
        pki_dir=tmp_path / "impostor",
        name=jpki_sim.JPKI_TEST_CA_NAME,
        cert_file="ca.pem",
        key_file="ca.key",
        crl_file=None,
        now=pki.ca.certificate.not_valid_before_utc + timedelta(days=2),
    )
    card = pki.card(ok_holder(), ca=impostor)
    response = authenticate(api, card)
    assert (response.status_code, error_code(response)) == (401, "CERTIFICATE_UNTRUSTED")
    assert AuditEvent.objects.get(action="kiosk.authenticate").reason == "issuer_not_trusted"


def test_expired_certificate(api, pki):
    # Issued in 2019 for a 1980-04-02 birthday: valid until 2024-04-02.
    card = pki.card(ok_holder(), issued_on=date(2019, 5, 1))
    response = authenticate(api, card)
    assert (response.status_code, error_code(response)) == (401, "CERTIFICATE_EXPIRED")


def test_revoked_certificate(api, pki):
    card = pki.card(ok_holder())
    pki.revoke(card)
    response = authenticate(api, card)
    assert (response.status_code, error_code(response)) == (401, "CERTIFICATE_REVOKED")


def test_signature_by_another_key(api, pki):
    holder = ok_holder()
    card = pki.card(holder)
    thief = pki.card(None)
    session = start(api)
    response = api.post(
        f"{BASE}sessions/{session['session_id']}/authenticate",
        {"certificate": card.certificate_b64, "signature": thief.sign(session["challenge"])},
        format="json",
    )
    assert (response.status_code, error_code(response)) == (401, "SIGNATURE_INVALID")
    assert KioskSession.objects.get(pk=session["session_id"]).resident_id is None


def test_unlinked_certificate(api, pki):
    card = pki.card(ok_holder(), link=False)
    response = authenticate(api, card)
    assert (response.status_code, error_code(response)) == (403, "CARD_NOT_REGISTERED")


def test_validation_error_lists_fields(api):
    session = start(api)
    response = api.post(f"{BASE}sessions/{session['session_id']}/authenticate", {}, format="json")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert set(error["fields"]) == {"certificate", "signature"}


def test_refusals_name_no_person_and_no_secret(api, pki):
    holder = ok_holder()
    card = pki.card(holder, link=False)
    response = authenticate(api, card)
    assert holder.full_name not in response.content.decode()
    event = AuditEvent.objects.get(action="kiosk.authenticate")
    assert event.outcome == "refused" and event.reason == "card_not_linked"
    assert "signature" not in event.payload and "challenge" not in event.payload


def test_revocation_check_fails_closed_when_the_crl_is_stale(api, pki, clock, settings):
    from kiosk_api.models import KioskAlert

    card = pki.card(ok_holder())
    clock.shift(timedelta(days=31))  # the CRL published at NOW is current for 30 days
    response = authenticate(api, card)
    assert (response.status_code, error_code(response)) == (503, "REVOCATION_CHECK_UNAVAILABLE")
    assert KioskAlert.objects.filter(kind="crl_stale", cleared_at__isnull=True).exists()


@pytest.fixture
def queued_refreshes(monkeypatch) -> list[str]:
    """The refresh job's queue, recorded instead of sent to the broker."""
    from django.core.cache import cache

    from kiosk_api.crl import _REFRESH_QUEUED_KEY
    from kiosk_api.tasks import crl_refresh_task

    cache.delete(_REFRESH_QUEUED_KEY)
    queued: list[str] = []
    monkeypatch.setattr(crl_refresh_task, "delay", lambda: queued.append("crl_refresh_task"))
    return queued


def test_a_stale_crl_is_never_refreshed_inside_a_kiosk_request(
    api, pki, clock, queued_refreshes, django_capture_on_commit_callbacks
):
    from kiosk_api.models import CrlSnapshot
    from simulators import jpki as jpki_sim

    card = pki.card(ok_holder())
    clock.shift(timedelta(days=31))
    # A fresh CRL is already published at the source: the request still does not fetch it.
    jpki_sim.crl_publish(ca=pki.ca, now=NOW + timedelta(days=31))
    stale = CrlSnapshot.objects.get(issuer=pki.ca.issuer_rfc4514).this_update
    with django_capture_on_commit_callbacks(execute=True):
        responses = [authenticate(api, card) for _ in range(3)]
    assert {(r.status_code, error_code(r)) for r in responses} == {(503, "REVOCATION_CHECK_UNAVAILABLE")}
    assert CrlSnapshot.objects.get(issuer=pki.ca.issuer_rfc4514).this_update == stale
    # A burst of refused requests queues one refresh, not one each.
    assert queued_refreshes == ["crl_refresh_task"]
    # The background job brings the fresh list, and the same card is served again.
    pki.crl_load()
    assert CrlSnapshot.objects.get(issuer=pki.ca.issuer_rfc4514).this_update > stale
    assert authenticate(api, card).status_code == 200


def test_a_missing_crl_queues_a_refresh_and_answers_503(
    api, pki, queued_refreshes, django_capture_on_commit_callbacks
):
    from kiosk_api.models import CrlSnapshot, KioskAlert

    CrlSnapshot.objects.all().delete()
    card = pki.card(ok_holder())
    with django_capture_on_commit_callbacks(execute=True):
        response = authenticate(api, card)
    assert (response.status_code, error_code(response)) == (503, "REVOCATION_CHECK_UNAVAILABLE")
    assert AuditEvent.objects.get(action="kiosk.authenticate").reason == "crl_missing"
    assert KioskAlert.objects.filter(kind="crl_stale", cleared_at__isnull=True).exists()
    assert queued_refreshes == ["crl_refresh_task"]
    assert not CrlSnapshot.objects.exists()


def _bad_signature(api, card):
    session = start(api)
    return api.post(
        f"{BASE}sessions/{session['session_id']}/authenticate",
        {"certificate": card.certificate_b64, "signature": base64.b64encode(b"x" * 256).decode()},
        format="json",
    )


def test_bad_signatures_lock_the_terminal(api, other_api, pki, settings):
    settings.KONBINI_AUTH_FAILURES_PER_TERMINAL = 2
    settings.KONBINI_AUTH_FAILURES_PER_CERTIFICATE = 100
    for _ in range(2):
        # A fresh card each time: only the terminal's count can stop the third one.
        assert error_code(_bad_signature(api, pki.card(ok_holder()))) == "SIGNATURE_INVALID"
    response = authenticate(api, pki.card(ok_holder()))
    assert (response.status_code, error_code(response)) == (429, "RATE_LIMITED")
    assert AuditEvent.objects.filter(reason="auth_failures_per_terminal").count() == 1
    assert authenticate(other_api, pki.card(ok_holder())).status_code == 200


def test_untrusted_certificates_and_reused_challenges_count_against_the_terminal(api, pki, settings):
    settings.KONBINI_AUTH_FAILURES_PER_TERMINAL = 3
    assert error_code(authenticate(api, pki.card(ok_holder(), ca=pki.other))) == "CERTIFICATE_UNTRUSTED"
    assert error_code(_post_auth(api, "not base64!", "c2ln")) == "CERTIFICATE_MALFORMED"
    card = pki.card(ok_holder())
    session = start(api)
    assert _bad_signature_in(api, card, session) == "SIGNATURE_INVALID"
    # That was the third: even a valid card is refused at this terminal now.
    response = authenticate(api, pki.card(ok_holder()))
    assert (response.status_code, error_code(response)) == (429, "RATE_LIMITED")


def test_reused_challenge_counts_against_the_terminal(api, pki, settings):
    settings.KONBINI_AUTH_FAILURES_PER_TERMINAL = 2
    card = pki.card(ok_holder())
    session = start(api)
    assert authenticate(api, card, session).status_code == 200
    for _ in range(2):
        assert error_code(authenticate(api, card, session)) == "CHALLENGE_USED"
    response = authenticate(api, pki.card(ok_holder()))
    assert (response.status_code, error_code(response)) == (429, "RATE_LIMITED")


def _bad_signature_in(api, card, session) -> str:
    response = api.post(
        f"{BASE}sessions/{session['session_id']}/authenticate",
        {"certificate": card.certificate_b64, "signature": base64.b64encode(b"x" * 256).decode()},
        format="json",
    )
    return error_code(response)


def test_an_expired_card_tried_again_and_again_never_locks_the_terminal(api, pki, settings):
    settings.KONBINI_AUTH_FAILURES_PER_TERMINAL = 3
    settings.KONBINI_AUTH_FAILURES_PER_CERTIFICATE = 100
    expired = pki.card(ok_holder(), issued_on=date(2019, 5, 1))
    for _ in range(4):  # N + 1 tries at one terminal
        assert error_code(authenticate(api, expired)) == "CERTIFICATE_EXPIRED"
    # The terminal still serves a valid card.
    assert authenticate(api, pki.card(ok_holder())).status_code == 200


def test_revoked_and_unlinked_cards_never_lock_the_terminal(api, pki, settings):
    settings.KONBINI_AUTH_FAILURES_PER_TERMINAL = 2
    revoked = pki.card(ok_holder())
    pki.revoke(revoked)
    unlinked = pki.card(ok_holder(), link=False)
    for _ in range(3):
        assert error_code(authenticate(api, revoked)) == "CERTIFICATE_REVOKED"
        assert error_code(authenticate(api, unlinked)) == "CARD_NOT_REGISTERED"
    assert authenticate(api, pki.card(ok_holder())).status_code == 200


def test_an_expired_card_is_limited_per_certificate(api, pki, settings):
    settings.KONBINI_AUTH_FAILURES_PER_TERMINAL = 3
    settings.KONBINI_AUTH_FAILURES_PER_CERTIFICATE = 3
    expired = pki.card(ok_holder(), issued_on=date(2019, 5, 1))
    for _ in range(3):
        assert error_code(authenticate(api, expired)) == "CERTIFICATE_EXPIRED"
    response = authenticate(api, expired)
    assert (response.status_code, error_code(response)) == (429, "RATE_LIMITED")
    assert AuditEvent.objects.filter(reason="auth_failures_per_certificate").count() == 1
    # ... and only that certificate: the terminal serves another card.
    assert authenticate(api, pki.card(ok_holder())).status_code == 200


def test_text_from_a_certificate_never_breaks_the_audit_log():
    from kiosk_api.services import audit_text

    assert audit_text("CN=123456789012,O=JPKI") == "CN=[数字省略],O=JPKI"
    assert audit_text("O=JPKI (TEST),C=JP") == "O=JPKI (TEST),C=JP"
    assert len(audit_text("x" * 500)) == 200

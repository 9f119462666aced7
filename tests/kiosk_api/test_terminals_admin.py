"""Terminal registration by command and admin, clerk actions, and the CRL refresh (SPEC §3, §4, §7)."""

from __future__ import annotations

import io
import logging
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.services import Actor
from kiosk_api.crl import CrlRefreshError, crl_refresh
from kiosk_api.models import CrlSnapshot, KioskAlert, Terminal
from kiosk_api.services import terminal_register, terminal_revoke
from kiosk_api.tasks import crl_refresh_task
from simulators import jpki as jpki_sim
from staff import roles
from tests.kiosk_api.cards import BASE, NOW

pytestmark = pytest.mark.django_db


def test_register_terminal_prints_the_token_on_its_last_line(anonymous):
    out = io.StringIO()
    call_command("register_terminal", name="3号機", chain="ローソン", store="L-0003", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    terminal = Terminal.objects.get()
    assert (terminal.chain, terminal.store_code, terminal.status) == ("lawson", "L-0003", "active")
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert anonymous.post(f"{BASE}sessions").status_code == 201
    event = AuditEvent.objects.get(action="terminal.registered")
    assert token not in str(event.payload)


def test_register_terminal_refuses_an_unknown_chain():
    with pytest.raises(CommandError, match="チェーン"):
        call_command("register_terminal", name="x", chain="walmart", store="1", stdout=io.StringIO())
    assert not Terminal.objects.exists()


@pytest.fixture
def supervisor_client(client, settings):
    """A 係長: the role that registers terminals and rotates their tokens (staff/roles.py)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    groups = roles.roles_ensure()
    supervisor = User.objects.create_user("kakaricho", password="a-long-supervisor-password", is_staff=True)
    supervisor.groups.set([groups[roles.SUPERVISOR]])
    client.force_login(supervisor)
    return client


CHANGELIST = "/admin/kiosk_api/terminal/"
_SHOWN_TOKEN = re.compile(r'<code class="terminal-token">(skt_[A-Za-z0-9_-]+)</code>')


def _tokens_shown(response) -> list[str]:
    return _SHOWN_TOKEN.findall(response.content.decode())


def _stored_messages(client) -> list[str]:
    """What the messages framework keeps for the next page (its cookie, then the session)."""
    request = RequestFactory().get("/")
    request.COOKIES = {name: morsel.value for name, morsel in client.cookies.items()}
    request.session = client.session
    return [str(message) for message in FallbackStorage(request)]


def _assert_shown_once_and_kept_nowhere(client, response, token: str, caplog) -> None:
    # Shown on the answer to the POST itself: not a redirect, so never in a Location either.
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert token not in str(response.cookies)  # every Set-Cookie header of the response
    assert token not in str(client.cookies)
    assert all(token not in str(session.get_decoded()) for session in Session.objects.all())
    assert all(token not in message for message in _stored_messages(client))
    assert token not in caplog.text
    # The next pages show it no more.
    assert token not in client.get(CHANGELIST).content.decode()
    terminal = Terminal.objects.get(token_prefix=token[:12])
    assert token not in client.get(f"{CHANGELIST}{terminal.pk}/change/").content.decode()


def test_admin_registration_shows_the_token_once_on_its_own_page(supervisor_client, anonymous, caplog):
    caplog.set_level(logging.DEBUG)
    response = supervisor_client.post(
        f"{CHANGELIST}add/", {"name": "4号機", "chain": "familymart", "store_code": "F-4"}
    )
    [token] = _tokens_shown(response)
    terminal = Terminal.objects.get()
    assert token.startswith("skt_") and terminal.token_prefix == token[:12]
    assert "4号機" in response.content.decode()
    _assert_shown_once_and_kept_nowhere(supervisor_client, response, token, caplog)
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert anonymous.post(f"{BASE}sessions").status_code == 201
    event = AuditEvent.objects.get(action="terminal.registered")
    assert (event.actor_kind, event.actor_label) == ("clerk", "kakaricho")
    assert event.source == "127.0.0.1" and event.request_id
    assert token not in str(event.payload)


def test_admin_rotation_shows_each_new_token_once(supervisor_client, terminal, api, anonymous, caplog):
    caplog.set_level(logging.DEBUG)
    second, _ = terminal_register(name="5号機", chain="lawson", store_code="L-5", actor=Actor.job("test"))
    revoked, _ = terminal_register(name="6号機", chain="lawson", store_code="L-6", actor=Actor.job("test"))
    terminal_revoke(terminal_id=revoked.pk, actor=Actor.job("test"))

    response = supervisor_client.post(
        CHANGELIST,
        {"action": "rotate_selected", "_selected_action": [terminal.pk, second.pk, revoked.pk]},
    )
    tokens = _tokens_shown(response)
    assert len(tokens) == 2
    assert {t[:12] for t in tokens} == set(
        Terminal.objects.filter(pk__in=[terminal.pk, second.pk]).values_list("token_prefix", flat=True)
    )
    assert "廃止された端末のトークンは更新できません" in response.content.decode()  # 6号機, on the same page
    for token in tokens:
        _assert_shown_once_and_kept_nowhere(supervisor_client, response, token, caplog)
        anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert anonymous.post(f"{BASE}sessions").status_code == 201
    assert api.post(f"{BASE}sessions").status_code == 401  # the old token died with the rotation
    events = AuditEvent.objects.filter(action="terminal.token_rotated")
    assert sorted(e.payload["terminal"] for e in events) == sorted([terminal.pk, second.pk])
    assert {(e.actor_label, e.source) for e in events} == {("kakaricho", "127.0.0.1")}


def test_rotating_only_revoked_terminals_goes_back_to_the_list(supervisor_client, terminal):
    terminal_revoke(terminal_id=terminal.pk, actor=Actor.job("test"))
    response = supervisor_client.post(
        CHANGELIST, {"action": "rotate_selected", "_selected_action": [terminal.pk]}, follow=True
    )
    assert response.redirect_chain[-1][0] == CHANGELIST
    assert "廃止された端末のトークンは更新できません" in response.content.decode()
    assert not _tokens_shown(response)


def test_admin_actions_suspend_rotate_and_revoke(supervisor_client, terminal, api):
    url = CHANGELIST
    supervisor_client.post(url, {"action": "suspend_selected", "_selected_action": [terminal.pk]})
    assert Terminal.objects.get().status == "suspended"
    assert api.post(f"{BASE}sessions").status_code == 403
    supervisor_client.post(url, {"action": "reactivate_selected", "_selected_action": [terminal.pk]})
    response = supervisor_client.post(url, {"action": "rotate_selected", "_selected_action": [terminal.pk]})
    assert len(_tokens_shown(response)) == 1
    assert api.post(f"{BASE}sessions").status_code == 401  # the old token died with the rotation
    supervisor_client.post(url, {"action": "revoke_selected", "_selected_action": [terminal.pk]})
    assert Terminal.objects.get().status == "revoked"
    actions = set(AuditEvent.objects.filter(action__startswith="terminal.").values_list("action", flat=True))
    assert {
        "terminal.suspended",
        "terminal.reactivated",
        "terminal.token_rotated",
        "terminal.revoked",
    } <= actions


def test_crl_refresh_stores_the_revoked_serials(pki, settings):
    jpki_sim.certificate_revoke(ca=pki.ca, serial=0xABC, now=NOW)
    crl_refresh_task.apply()
    snapshot = CrlSnapshot.objects.get(issuer=pki.ca.issuer_rfc4514)
    assert _serials(snapshot) == ["abc"] and snapshot.revoked_count == 1
    assert snapshot.issuer == pki.ca.issuer_rfc4514


def _serials(snapshot: CrlSnapshot) -> list[str]:
    return sorted(snapshot.revoked_serials.values_list("serial", flat=True))


def test_a_newer_crl_replaces_the_revoked_serials_and_each_is_looked_up_alone(pki):
    from kiosk_api.crl import crl_card_revoked

    jpki_sim._crl_write(ca=pki.ca, revoked={0xA1: NOW, 0xB2: NOW}, crl_number=5, now=NOW)
    crl_refresh(sources=[str(pki.ca.crl_path)], now=NOW)
    later = NOW + timedelta(hours=1)
    # The next CRL drops an entry (its certificate expired) and adds another.
    jpki_sim._crl_write(ca=pki.ca, revoked={0xB2: NOW, 0xC3: later}, crl_number=6, now=later)
    crl_refresh(sources=[str(pki.ca.crl_path)], now=later)

    snapshot = CrlSnapshot.objects.get(issuer=pki.ca.issuer_rfc4514)
    assert _serials(snapshot) == ["b2", "c3"] and snapshot.revoked_count == 2
    with CaptureQueriesContext(connection) as queries:
        answers = [
            crl_card_revoked(anchor=pki.ca.certificate, serial=serial, now=later)
            for serial in ("a1", "b2", "c3", "d4")
        ]
    assert answers == [False, True, True, False]
    assert len(queries) == 4  # one indexed lookup per card, never the whole list


def test_crl_signed_by_another_ca_is_refused_and_alerted(pki, settings, tmp_path):
    forged = jpki_sim.TestCA(
        certificate=pki.ca.certificate,  # the trusted CA's name ...
        private_key=pki.other.private_key,  # ... but another key
        cert_path=pki.ca.cert_path,
        key_path=pki.ca.key_path,
        crl_path=tmp_path / "forged.crl",
    )
    before = CrlSnapshot.objects.get(issuer=pki.ca.issuer_rfc4514)  # the fixture's, loaded by the job
    jpki_sim._crl_write(ca=forged, revoked={}, crl_number=99, now=NOW + timedelta(hours=1))
    with pytest.raises(CrlRefreshError):
        crl_refresh(sources=[str(tmp_path / "forged.crl")], now=NOW + timedelta(hours=1))
    assert CrlSnapshot.objects.get(issuer=pki.ca.issuer_rfc4514).this_update == before.this_update
    assert KioskAlert.objects.filter(kind="crl_invalid", cleared_at__isnull=True).exists()


def test_an_older_crl_never_replaces_a_newer_one(pki, tmp_path):
    older = tmp_path / "older.crl"
    older.write_bytes(pki.ca.crl_path.read_bytes())  # published at NOW by the fixture
    jpki_sim.certificate_revoke(ca=pki.ca, serial=0xDEF, now=NOW + timedelta(hours=1))
    crl_refresh(sources=[str(pki.ca.crl_path)], now=NOW + timedelta(hours=1))
    crl_refresh(sources=[str(older)], now=NOW + timedelta(hours=2))
    assert _serials(CrlSnapshot.objects.get(issuer=pki.ca.issuer_rfc4514)) == ["def"]


def test_editing_a_terminal_in_the_admin_is_audited_with_old_and_new_values(
    supervisor_client, terminal, settings
):
    settings.KONBINI_TRUSTED_PROXIES = ["10.9.8.7/32"]
    response = supervisor_client.post(
        f"/admin/kiosk_api/terminal/{terminal.pk}/change/",
        {"name": "1号機(入口側)", "chain": "seven_eleven", "store_code": "S-0009"},
        REMOTE_ADDR="10.9.8.7",
        HTTP_X_FORWARDED_FOR="203.0.113.42",
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    terminal.refresh_from_db()
    assert (terminal.name, terminal.store_code) == ("1号機(入口側)", "S-0009")
    event = AuditEvent.objects.get(action="terminal.updated")
    assert event.payload == {
        "terminal": terminal.pk,
        "changed": {"name": ["1号機", "1号機(入口側)"], "store_code": ["S-0001", "S-0009"]},
    }
    assert (event.actor_kind, event.source, event.request_id) == (
        "clerk",
        "203.0.113.42",
        response["X-Request-ID"],
    )
    # The edit leaves the token alone: the terminal still works.
    assert Terminal.objects.get(pk=terminal.pk).token_hash == terminal.token_hash


def test_saving_a_terminal_unchanged_records_nothing(supervisor_client, terminal):
    supervisor_client.post(
        f"/admin/kiosk_api/terminal/{terminal.pk}/change/",
        {"name": "1号機", "chain": "seven_eleven", "store_code": "S-0001"},
    )
    assert not AuditEvent.objects.filter(action="terminal.updated").exists()

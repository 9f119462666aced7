"""Terminal registration by command and admin, clerk actions, and the CRL refresh (SPEC §3, §4, §7)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from kiosk_api import jpki_sim
from kiosk_api.crl import CrlRefreshError, crl_refresh
from kiosk_api.models import CrlSnapshot, KioskAlert, Terminal
from kiosk_api.tasks import crl_refresh_task
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
def clerk_client(client):
    clerk = User.objects.create_superuser("clerk", "clerk@example.jp", "a-long-clerk-password")
    client.force_login(clerk)
    return client


def test_admin_registration_shows_the_token_once(clerk_client, anonymous):
    response = clerk_client.post(
        "/admin/kiosk_api/terminal/add/", {"name": "4号機", "chain": "familymart", "store_code": "F-4"}
    )
    assert response.status_code == 302
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    token = next(m for m in messages if "トークン" in m).rsplit(": ", 1)[1]
    terminal = Terminal.objects.get()
    assert token.startswith("skt_") and terminal.token_prefix == token[:12]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert anonymous.post(f"{BASE}sessions").status_code == 201
    assert AuditEvent.objects.get(action="terminal.registered").actor_kind == "clerk"


def test_admin_actions_suspend_rotate_and_revoke(clerk_client, terminal, api):
    url = "/admin/kiosk_api/terminal/"
    clerk_client.post(url, {"action": "suspend_selected", "_selected_action": [terminal.pk]})
    assert Terminal.objects.get().status == "suspended"
    assert api.post(f"{BASE}sessions").status_code == 403
    clerk_client.post(url, {"action": "reactivate_selected", "_selected_action": [terminal.pk]})
    response = clerk_client.post(url, {"action": "rotate_selected", "_selected_action": [terminal.pk]})
    assert any("トークン" in str(m) for m in get_messages(response.wsgi_request))
    assert api.post(f"{BASE}sessions").status_code == 401  # the old token died with the rotation
    clerk_client.post(url, {"action": "revoke_selected", "_selected_action": [terminal.pk]})
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
    snapshot = CrlSnapshot.objects.get()
    assert _serials(snapshot) == ["abc"] and snapshot.revoked_count == 1
    assert snapshot.issuer == pki.ca.issuer_rfc4514


def _serials(snapshot: CrlSnapshot) -> list[str]:
    return sorted(snapshot.revoked_serials.values_list("serial", flat=True))


def test_a_newer_crl_replaces_the_revoked_serials_and_each_is_looked_up_alone(pki):
    from kiosk_api.crl import crl_card_revoked

    jpki_sim._crl_write(ca=pki.ca, revoked={0xA1: NOW, 0xB2: NOW}, crl_number=5, now=NOW)
    crl_refresh(source=str(pki.ca.crl_path), now=NOW)
    later = NOW + timedelta(hours=1)
    # The next CRL drops an entry (its certificate expired) and adds another.
    jpki_sim._crl_write(ca=pki.ca, revoked={0xB2: NOW, 0xC3: later}, crl_number=6, now=later)
    crl_refresh(source=str(pki.ca.crl_path), now=later)

    snapshot = CrlSnapshot.objects.get()
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
    jpki_sim._crl_write(ca=forged, revoked={}, crl_number=99, now=NOW)
    with pytest.raises(CrlRefreshError):
        crl_refresh(source=str(tmp_path / "forged.crl"), now=NOW)
    assert not CrlSnapshot.objects.exists()
    assert KioskAlert.objects.filter(kind="crl_invalid", cleared_at__isnull=True).exists()


def test_an_older_crl_never_replaces_a_newer_one(pki, tmp_path):
    older = tmp_path / "older.crl"
    older.write_bytes(pki.ca.crl_path.read_bytes())  # published at NOW by the fixture
    jpki_sim.certificate_revoke(ca=pki.ca, serial=0xDEF, now=NOW + timedelta(hours=1))
    crl_refresh(source=str(pki.ca.crl_path), now=NOW + timedelta(hours=1))
    crl_refresh(source=str(older), now=NOW + timedelta(hours=2))
    assert _serials(CrlSnapshot.objects.get()) == ["def"]

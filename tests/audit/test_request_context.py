"""True client addresses (SPEC §9, KONBINI_TRUSTED_PROXIES): one helper for audit events, rate
limits, /verify/, /metrics and login lockouts; a spoofed X-Forwarded-For from an untrusted peer is
ignored."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.request_context import client_address
from audit.request_scope import request_scope, request_source_current
from audit.services import Actor
from kiosk_api.services import terminal_reactivate
from staff import roles
from tests.certificates.records import kiosk_record, terminal_for

PROXY = "172.28.0.10"


def _address(remote: str, forwarded: str | None = None) -> str:
    extra: dict[str, Any] = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.KONBINI_TRUSTED_PROXIES = []
    assert _address("198.51.100.4", "203.0.113.9") == "198.51.100.4"


def test_behind_a_trusted_proxy_the_client_is_the_forwarded_address(settings):
    settings.KONBINI_TRUSTED_PROXIES = [f"{PROXY}/32"]
    assert _address(PROXY, "203.0.113.9") == "203.0.113.9"


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored(settings):
    settings.KONBINI_TRUSTED_PROXIES = [f"{PROXY}/32"]
    assert _address("198.51.100.4", "10.0.0.1") == "198.51.100.4"


def test_the_right_most_untrusted_address_wins_over_what_the_client_wrote(settings):
    # The client sent "X-Forwarded-For: 10.0.0.1"; our proxy appended the address it saw.
    settings.KONBINI_TRUSTED_PROXIES = [f"{PROXY}/32"]
    assert _address(PROXY, "10.0.0.1, 203.0.113.9") == "203.0.113.9"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right(settings):
    settings.KONBINI_TRUSTED_PROXIES = [f"{PROXY}/32", "192.0.2.0/24"]
    assert _address(PROXY, "10.0.0.1, 203.0.113.9, 192.0.2.5") == "203.0.113.9"


def test_garbage_from_the_proxy_is_not_believed(settings):
    settings.KONBINI_TRUSTED_PROXIES = [f"{PROXY}/32"]
    assert _address(PROXY, "203.0.113.9, not-an-address") == PROXY


def test_only_trusted_hops_gives_the_left_most(settings):
    settings.KONBINI_TRUSTED_PROXIES = ["192.0.2.0/24", f"{PROXY}/32"]
    assert _address(PROXY, "192.0.2.7") == "192.0.2.7"
    assert _address(PROXY, "") == PROXY


def test_ipv6_and_mapped_ipv4(settings):
    settings.KONBINI_TRUSTED_PROXIES = ["2001:db8::/64"]
    assert _address("2001:db8::1", "[2001:db8:1::5]") == "2001:db8:1::5"
    assert _address("::ffff:203.0.113.9") == "203.0.113.9"


def test_a_malformed_setting_stops_start_up():
    code = "import django; django.setup()"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={
            "DJANGO_SETTINGS_MODULE": "saga_konbini.settings",
            "KONBINI_TRUSTED_PROXIES": "172.28.0.10/32,proxy.local",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "KONBINI_TRUSTED_PROXIES" in result.stderr and "proxy.local" in result.stderr


@pytest.mark.django_db
def test_verify_rate_limit_counts_the_true_client_not_the_proxy(client, settings):
    """Two residents behind the one proxy have a limit each; one of them hitting it leaves the other
    served, and the audit event names the true address."""
    settings.KONBINI_TRUSTED_PROXIES = [f"{PROXY}/32"]
    settings.VERIFY_RATE_LIMIT_PER_MINUTE = 2
    form = {"number": "41201-2026-00000001", "check_code": "ABCD"}

    def post(forwarded: str) -> int:
        return client.post("/verify/", form, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded).status_code

    assert [post("203.0.113.1") for _ in range(3)] == [200, 200, 429]
    assert post("203.0.113.2") == 200
    sources = set(AuditEvent.objects.filter(action="verify.lookup").values_list("source", flat=True))
    assert sources == {"203.0.113.1", "203.0.113.2"}


@pytest.mark.django_db
def test_verify_ignores_a_spoofed_header_from_an_untrusted_peer(client, settings):
    """Rotating X-Forwarded-For does not escape the limit when the peer is no trusted proxy."""
    settings.KONBINI_TRUSTED_PROXIES = [f"{PROXY}/32"]
    settings.VERIFY_RATE_LIMIT_PER_MINUTE = 2
    form = {"number": "41201-2026-00000001", "check_code": "ABCD"}
    codes = [
        client.post(
            "/verify/", form, REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}"
        ).status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]
    assert set(AuditEvent.objects.values_list("source", flat=True)) == {"198.51.100.4"}


def test_metrics_allow_list_applies_to_the_true_client(client, settings):
    """Behind the proxy, /metrics is judged by the forwarded client, not by the proxy's address."""
    settings.KONBINI_TRUSTED_PROXIES = ["127.0.0.1/32"]
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1/32"]
    outside = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert outside.status_code == 403


def _staff(username: str, role: str):
    user = get_user_model().objects.create_user(username, password="x" * 12, is_staff=True)
    user.groups.set([roles.roles_ensure()[role]])
    return user


@pytest.mark.django_db
def test_staff_actions_deep_in_services_record_the_true_address_and_request_id(client, settings):
    """A void and a terminal suspension through the admin, and a refused reactivation: each event
    says from where and under which request, though no caller passed them down to the service."""
    settings.KONBINI_TRUSTED_PROXIES = [f"{PROXY}/32"]
    behind = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "203.0.113.77"}
    terminal = terminal_for("lawson")
    record = kiosk_record(terminal=terminal, at=timezone.now())
    client.force_login(_staff("kakaricho", roles.SUPERVISOR))
    void = {
        "action": "void_selected",
        "_selected_action": [record.pk],
        "confirm": "yes",
        "reason": "二重交付",
    }
    client.post(
        reverse("admin:certificates_issuancerecord_changelist"), void, HTTP_X_REQUEST_ID="void-1", **behind
    )
    suspend = {"action": "suspend_selected", "_selected_action": [terminal.pk]}
    client.post(
        reverse("admin:kiosk_api_terminal_changelist"), suspend, HTTP_X_REQUEST_ID="suspend-1", **behind
    )
    # A view that forgot its check: the service refuses, and the refusal says from where too.
    with request_scope(source="203.0.113.78", request_id="forged-1"), pytest.raises(PermissionDenied):
        terminal_reactivate(terminal_id=terminal.pk, actor=Actor.user(_staff("madoguchi", roles.CLERK)))

    done = AuditEvent.objects.filter(action__in=["certificate.voided", "terminal.suspended"])
    assert {e.action: (e.source, e.request_id) for e in done} == {
        "certificate.voided": ("203.0.113.77", "void-1"),
        "terminal.suspended": ("203.0.113.77", "suspend-1"),
    }
    refused = AuditEvent.objects.get(outcome=AuditEvent.Outcome.REFUSED, action="terminal.reactivated")
    assert (refused.source, refused.request_id) == ("203.0.113.78", "forged-1")


def test_outside_a_request_events_have_no_address():
    with request_scope(source="203.0.113.1", request_id="r"):
        pass
    assert request_source_current() == ""

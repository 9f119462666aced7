"""django-axes locks out by user name and, separately, by the true client address (SPEC §9):
a wrong TOTP code counts as a failed login exactly like a wrong password."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client

from staff import roles
from tests.staff.conftest import code_now, device_of, make_user, sign_in

pytestmark = pytest.mark.django_db

PROXY = "172.28.0.10"


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_wrong_codes_with_the_right_password_lock_the_account(client, settings, otp_required):
    clerk = make_user("madoguchi", roles.CLERK)
    device = device_of(clerk)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "madoguchi", code=_wrong(code_now(device))).status_code == 200
    assert sign_in(client, "madoguchi", code=_wrong(code_now(device))).status_code == 429
    # Locked: the right password and the right code are refused too, from another address as well.
    device.refresh_from_db()
    device.throttle_reset()
    elsewhere = Client(REMOTE_ADDR="198.51.100.77")
    assert sign_in(elsewhere, "madoguchi", code=code_now(device)).status_code == 429
    assert "_auth_user_id" not in elsewhere.session


def test_a_missing_code_counts_as_a_failure_when_codes_are_required(client, settings, otp_required):
    make_user("madoguchi", roles.CLERK)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "madoguchi").status_code == 200
    assert sign_in(client, "madoguchi").status_code == 429


def test_the_code_is_not_kept_with_the_failed_attempt(client, otp_required):
    clerk = make_user("madoguchi", roles.CLERK)
    wrong = _wrong(code_now(device_of(clerk)))
    sign_in(client, "madoguchi", code=wrong)
    attempt = AccessAttempt.objects.get()
    assert wrong not in attempt.post_data and "staff-test-password-1" not in attempt.post_data


def test_behind_our_proxy_a_locked_out_address_does_not_lock_out_its_neighbours(settings, otp_required):
    settings.KONBINI_TRUSTED_PROXIES = [f"{PROXY}/32"]
    clerk = make_user("madoguchi", roles.CLERK)
    attacker = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.66")
    # Different user names each time: only the address counter can reach the limit.
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(attacker, f"guess-{attempt}", password="wrong-password-1").status_code == 200
    assert sign_in(attacker, "guess-last", password="wrong-password-1").status_code == 429
    # The attacker's address is locked, even for a real account with its right code...
    assert sign_in(attacker, "madoguchi", code=code_now(device_of(clerk))).status_code == 429
    # ...but a clerk at another address behind the same proxy signs in.
    neighbour = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.67")
    assert sign_in(neighbour, "madoguchi", code=code_now(device_of(clerk))).status_code == 302
    assert AccessAttempt.objects.filter(ip_address="203.0.113.66").exists()
    assert not AccessAttempt.objects.filter(ip_address=PROXY).exists()


def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored(settings, otp_required):
    settings.KONBINI_TRUSTED_PROXIES = [f"{PROXY}/32"]
    clerk = make_user("madoguchi", roles.CLERK)
    peer = "198.51.100.9"  # not our proxy: whatever it writes in X-Forwarded-For is its own invention

    def from_peer(n: int) -> Client:
        return Client(REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(from_peer(attempt), f"guess-{attempt}", password="wrong-password-1").status_code == 200
    assert sign_in(from_peer(50), "guess-last", password="wrong-password-1").status_code == 429
    # Rotating the header does not escape the lockout of the peer's own address.
    assert sign_in(from_peer(99), "madoguchi", code=code_now(device_of(clerk))).status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {peer}

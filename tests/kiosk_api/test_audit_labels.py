"""What the auditors' list calls the end of a kiosk issuance: a print only when it was printed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone

from audit.services import Actor
from kiosk_api.services import session_sweep
from oversight.views import AUDITOR_GROUP
from tests.kiosk_api.cards import BASE, issue, ok_holder, signed_in

pytestmark = pytest.mark.django_db

INKAN = {"type": "inkan", "copies": 1, "options": {}}


@pytest.fixture
def auditors_list(client):
    auditor = User.objects.create_user("kansa", is_staff=True)
    auditor.groups.add(Group.objects.get_or_create(name=AUDITOR_GROUP)[0])
    client.force_login(auditor)

    def events_of(action: str) -> str:
        response = client.get(reverse("audit:search"), {"action": action})
        assert response.status_code == 200
        return response.content.decode().split("<tbody", 1)[-1]

    return events_of


def test_a_session_sweeps_void_is_not_called_a_print(api, pki, clock, auditors_list):
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    assert issue(api, session_id, INKAN).status_code == 201
    clock.shift(timedelta(seconds=181))

    assert session_sweep(now=timezone.now(), actor=Actor.job("sweep")) == 1

    rows = auditors_list("certificate.voided")
    assert "証明書の交付取消(時間切れ)" in rows
    assert "印刷" not in rows
    assert "証明書の印刷" not in auditors_list("certificate.printed")


def test_printed_failed_and_abandoned_issuances_each_get_their_own_label(api, pki, auditors_list):
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    printed = issue(api, session_id, INKAN, key="key-1").json()
    failed = issue(api, session_id, INKAN, key="key-2").json()
    assert issue(api, session_id, INKAN, key="key-3").status_code == 201
    for body, outcome in ((printed, "printed"), (failed, "failed")):
        url = f"{BASE}issuances/{body['issuance_id']}/complete"
        assert api.post(url, {"outcome": outcome}, format="json").status_code == 200
    assert api.delete(f"{BASE}sessions/{session_id}").status_code == 204

    assert auditors_list("certificate.printed").count("証明書の印刷") == 1
    voids = auditors_list("certificate.voided")
    assert voids.count("証明書の交付取消(端末で出力できず)") == 1
    assert voids.count("証明書の交付取消(受け取られずに利用終了)") == 1
    assert "印刷" not in voids

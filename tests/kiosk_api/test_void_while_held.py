"""A clerk's void of an issuance that a kiosk still holds: the issuance has one state (SPEC §3)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from certificates.models import IssuanceRecord, IssuedCertificateNumber
from kiosk_api.models import StoredDocument
from residents.models import Resident
from staff import roles
from tests.kiosk_api.cards import BASE, error_code, issue, ok_holder, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def supervisor_client(settings) -> Client:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = get_user_model().objects.create_user("kakaricho", password="x" * 12, is_staff=True)
    user.groups.set([roles.roles_ensure()[roles.SUPERVISOR]])
    client = Client()
    client.force_login(user)
    return client


def _void_in_the_admin(client: Client, record: IssuanceRecord) -> None:
    response = client.post(
        reverse("admin:certificates_issuancerecord_changelist"),
        {"action": "void_selected", "_selected_action": [record.pk], "confirm": "yes", "reason": "誤交付"},
        follow=True,
    )
    assert "1件の交付を取り消しました。" in response.content.decode()


def test_a_supervisors_void_closes_the_kiosks_copy(api, pki, supervisor_client):
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    body = issue(api, session_id, {"type": "inkan", "copies": 1, "options": {}}).json()
    assert api.get(body["document_url"]).status_code == 200
    record = IssuanceRecord.objects.get()

    _void_in_the_admin(supervisor_client, record)

    assert StoredDocument.objects.count() == 0  # dropped in the void's own transaction
    fetched = api.get(body["document_url"])
    assert (fetched.status_code, error_code(fetched)) == (410, "DOCUMENT_GONE")
    complete_url = f"{BASE}issuances/{body['issuance_id']}/complete"
    for outcome in ("printed", "failed"):
        completed = api.post(complete_url, {"outcome": outcome}, format="json")
        assert (completed.status_code, error_code(completed)) == (409, "ISSUANCE_VOIDED")
    record.refresh_from_db()
    assert (record.status, record.void_reason) == ("voided", "誤交付")
    assert not AuditEvent.objects.filter(action="certificate.printed").exists()
    # Ending the session finds nothing left to void.
    assert api.delete(f"{BASE}sessions/{session_id}").status_code == 204
    assert AuditEvent.objects.filter(action="certificate.voided").count() == 1

    number = IssuedCertificateNumber.objects.get(issuance=record)
    answer = Client().post(
        reverse("certificates:verify"), {"number": number.number, "check_code": number.check_code}
    )
    assert answer.context["answer"].status == "voided" and "無効" in answer.content.decode()


def test_a_void_after_the_print_is_no_concern_of_the_kiosk(api, pki, supervisor_client):
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    body = issue(api, session_id, {"type": "inkan", "copies": 1, "options": {}}).json()
    complete_url = f"{BASE}issuances/{body['issuance_id']}/complete"
    assert api.post(complete_url, {"outcome": "printed"}, format="json").json() == {"status": "printed"}

    _void_in_the_admin(supervisor_client, IssuanceRecord.objects.get())

    again = api.post(complete_url, {"outcome": "printed"}, format="json")
    assert (again.status_code, error_code(again)) == (409, "ISSUANCE_VOIDED")
    assert error_code(api.get(body["document_url"])) == "DOCUMENT_GONE"


def test_a_holder_removed_from_the_mirror_since_authentication_is_refused(api, pki):
    holder = ok_holder()
    session_id, _ = signed_in(api, pki.card(holder))
    Resident.objects.filter(pk=holder.pk).delete()  # a full reload without this person
    refused = issue(api, session_id, {"type": "inkan", "copies": 1, "options": {}})
    assert (refused.status_code, error_code(refused)) == (403, "NOT_AVAILABLE_AT_KIOSK")
    event = AuditEvent.objects.get(action="kiosk.issuance_refused")
    assert event.reason == "holder_or_card_gone"
    assert not IssuanceRecord.objects.exists()

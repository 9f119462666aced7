"""Smartphone certificates (スマホ用電子証明書, SPEC §4, §5, §6) through the kiosk API over HTTP.

The phone's certificate comes from a CA of its own, trusted through configuration beside the card's,
with its own CRL; a resident may hold a card and a phone, each revoked on its own; the audit says
which one was used, and so does the holder's access history.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent
from kiosk_api.models import CrlSnapshot, KioskAlert
from kiosk_api.tasks import crl_refresh_task
from oversight.views import AUDITOR_GROUP
from residents.models import CardLink, Resident
from simulators import jpki as jpki_sim
from tests.kiosk_api.cards import BASE, Pki, authenticate, card_link_of, error_code, ok_holder, signed_in
from tests.sync import feedutil as fu

pytestmark = pytest.mark.django_db


def _authentications() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="kiosk.authenticate").order_by("pk"))


def test_smartphone_ok_authenticates_and_the_audit_and_history_name_the_phone(api, pki: Pki, client):
    holder = ok_holder()
    phone = pki.card(holder, credential="smartphone")
    assert card_link_of(phone).credential == "smartphone"
    assert card_link_of(phone).issuer == pki.phone.issuer_rfc4514 != pki.ca.issuer_rfc4514

    session_id, body = signed_in(api, phone)

    assert body["holder"]["name"] == holder.full_name
    assert all(offer["available"] for offer in body["offers"])
    event = _authentications()[-1]
    assert event.outcome == "success" and event.resident_ids == [holder.pk]
    assert event.payload["credential"] == "smartphone"
    assert event.payload["card_link"] == card_link_of(phone).pk
    # The holder's own access history says how they identified themselves.
    history = api.get(f"{BASE}sessions/{session_id}/access-history").json()
    assert "スマートフォンによる本人確認" in {entry["action"] for entry in history}
    # So does the auditors' search at /audit/.
    auditor = User.objects.create_user("kansa", password="kansa-password-123", is_staff=True)
    auditor.groups.add(Group.objects.get_or_create(name=AUDITOR_GROUP)[0])
    client.force_login(auditor)
    page = client.get(
        reverse("audit:search"), {"resident": holder.resident_code, "action": "kiosk.authenticate"}
    )
    assert page.status_code == 200
    assert "スマートフォンによる本人確認" in page.content.decode()


def test_a_resident_holds_a_card_and_a_phone_and_each_is_recorded_as_itself(api, pki: Pki):
    holder = ok_holder()
    card = pki.card(holder)
    phone = pki.card(holder, credential="smartphone")
    assert set(CardLink.objects.filter(resident=holder).values_list("credential", flat=True)) == {
        "card",
        "smartphone",
    }
    card_session, _ = signed_in(api, card)
    signed_in(api, phone)
    assert [e.payload["credential"] for e in _authentications()] == ["card", "smartphone"]
    history = api.get(f"{BASE}sessions/{card_session}/access-history").json()
    actions = [entry["action"] for entry in history]
    assert "マイナンバーカードによる本人確認" in actions and "スマートフォンによる本人確認" in actions


def test_smartphone_revoked_while_the_card_still_works(api, pki: Pki):
    holder = ok_holder()
    card = pki.card(holder)
    phone = pki.card(holder, credential="smartphone")
    pki.revoke(phone)  # at the smartphone CA, then loaded by the refresh job

    phone_serial = jpki_sim.serial_hex(phone.certificate.serial_number)
    phone_crl = CrlSnapshot.objects.get(issuer=pki.phone.issuer_rfc4514)
    assert list(phone_crl.revoked_serials.values_list("serial", flat=True)) == [phone_serial]
    assert not CrlSnapshot.objects.get(issuer=pki.ca.issuer_rfc4514).revoked_serials.exists()

    response = authenticate(api, phone)
    assert (response.status_code, error_code(response)) == (401, "CERTIFICATE_REVOKED")
    assert _authentications()[-1].reason == "certificate_revoked"
    assert _authentications()[-1].payload["issuer"] == pki.phone.issuer_rfc4514
    _session, body = signed_in(api, card)
    assert body["holder"]["name"] == holder.full_name
    assert _authentications()[-1].payload["credential"] == "card"


def test_a_revoked_card_leaves_the_phone_working(api, pki: Pki):
    holder = ok_holder()
    card = pki.card(holder)
    phone = pki.card(holder, credential="smartphone")
    pki.revoke(card)
    assert error_code(authenticate(api, card)) == "CERTIFICATE_REVOKED"
    assert signed_in(api, phone)[1]["holder"]["name"] == holder.full_name


def test_a_phone_whose_ca_is_not_trusted_is_refused_and_the_card_is_not(api, pki: Pki, settings):
    holder = ok_holder()
    card = pki.card(holder)
    phone = pki.card(holder, credential="smartphone")
    # Configuration trusts the card's CA only: the phone's certificate, linked or not, is refused.
    settings.KONBINI_TRUSTED_CA_FILES = [Path(pki.ca.cert_path)]
    response = authenticate(api, phone)
    assert (response.status_code, error_code(response)) == (401, "CERTIFICATE_UNTRUSTED")
    assert _authentications()[-1].reason == "issuer_not_trusted"
    assert signed_in(api, card)[1]["holder"]["name"] == holder.full_name


def test_a_phone_signed_by_a_look_alike_of_the_smartphone_ca_is_refused(api, pki: Pki, tmp_path: Path):
    holder = ok_holder()
    look_alike = jpki_sim.TestCA(
        certificate=pki.phone.certificate,  # the trusted smartphone CA's name ...
        private_key=pki.other.private_key,  # ... but another key
        cert_path=tmp_path / "x.pem",
        key_path=tmp_path / "x.key",
        crl_path=None,
    )
    forged = pki.card(holder, ca=look_alike, credential="smartphone")
    response = authenticate(api, forged)
    assert (response.status_code, error_code(response)) == (401, "CERTIFICATE_UNTRUSTED")


def test_each_ca_has_its_own_crl_a_missing_phone_crl_stops_phones_only(api, pki: Pki, settings):
    holder = ok_holder()
    card = pki.card(holder)
    phone = pki.card(holder, credential="smartphone")
    CrlSnapshot.objects.filter(issuer=pki.phone.issuer_rfc4514).delete()
    # The phone CA's list cannot be read: the job keeps the card CA's and says which source failed.
    Path(settings.KONBINI_CRL_SOURCES[1]).unlink()
    crl_refresh_task.apply()

    response = authenticate(api, phone)
    assert (response.status_code, error_code(response)) == (503, "REVOCATION_CHECK_UNAVAILABLE")
    assert signed_in(api, card)[1]["holder"]["name"] == holder.full_name
    invalid = KioskAlert.objects.get(kind="crl_invalid", cleared_at__isnull=True)
    assert "jpki-test-smartphone-ca.crl" in invalid.message
    stale = KioskAlert.objects.get(kind="crl_stale", cleared_at__isnull=True)
    assert pki.phone.issuer_rfc4514 in stale.message and pki.ca.issuer_rfc4514 not in stale.message

    # The smartphone CA publishes again: the next run clears both alerts and phones work again.
    jpki_sim.crl_publish(ca=pki.phone)
    crl_refresh_task.apply(throw=True)
    assert not KioskAlert.objects.filter(cleared_at__isnull=True).exists()
    assert signed_in(api, phone)[1]["holder"]["name"] == holder.full_name


def test_a_feed_record_without_credential_links_a_card(api, pki: Pki, settings):
    """SPEC §5: a card_link without "credential" (a core system older than the field) is a card's."""
    inbox = Path(settings.SYNC_INBOX_DIR)
    card = pki.card(None, link=False)
    phone = pki.card(None, link=False, credential="smartphone")
    lines = fu.family("H001", ("R001", "R002"))
    legacy = fu.card_link(
        jpki_sim.serial_hex(card.certificate.serial_number), "R001", issuer=pki.ca.issuer_rfc4514
    )
    assert "credential" not in legacy
    lines.append(fu.upsert("card_link", legacy))
    phone_link = fu.card_link(
        jpki_sim.serial_hex(phone.certificate.serial_number),
        "R001",
        issuer=pki.phone.issuer_rfc4514,
        credential="smartphone",
    )
    lines.append(fu.upsert("card_link", phone_link))
    fu.write_batch(inbox, 1, lines, kind="full")
    call_command("sync_run")

    holder = Resident.objects.get(resident_code="R001")
    assert card_link_of(card).credential == "card" and card_link_of(phone).credential == "smartphone"
    signed_in(api, card)
    signed_in(api, phone)
    assert [(e.resident_ids, e.payload["credential"]) for e in _authentications()] == [
        ([holder.pk], "card"),
        ([holder.pk], "smartphone"),
    ]

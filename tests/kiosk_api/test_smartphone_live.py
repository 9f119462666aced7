"""Live, over real HTTP with the command-line kiosk: one resident's card and phone both issue; the
phone is then revoked at the smartphone CA, the refresh job loads that CA's new CRL, and only the
card still works (SPEC §4: a lost phone is revoked without touching the card)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from audit.services import Actor
from certificates.models import IssuanceRecord
from kiosk_api.services import terminal_register
from kiosk_api.tasks import crl_refresh_task
from simulators import jpki as jpki_sim
from tests.kiosk_api.cards import Pki
from tests.kiosk_api.live import card_file, distinct_holder, pdf_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _kiosk(server: str, token_file: Path, card: Path, credential: str, out: Path) -> None:
    call_command(
        "kiosk",
        server=server,
        token_file=str(token_file),
        card=str(card),
        credential=credential,
        pin="1234",
        type="inkan",
        out=str(out),
        outcome="printed",
        stdout=StringIO(),
    )


def test_card_and_phone_both_issue_then_the_revoked_phone_stops_and_the_card_goes_on(
    live_server, pki: Pki, tmp_path: Path
):
    holder = distinct_holder(6)
    card_dir, phone_dir = tmp_path / "card", tmp_path / "phone"
    card_dir.mkdir()
    phone_dir.mkdir()
    card_path = card_file(card_dir, pki.card(holder), holder)
    phone = pki.card(holder, credential="smartphone")
    phone_path = card_file(phone_dir, phone, holder, credential="smartphone")
    _terminal, token = terminal_register(
        name="1号機", chain="lawson", store_code="L-1", actor=Actor.job("test")
    )
    token_file = tmp_path / "terminal.json"
    token_file.write_text(json.dumps({"token": token}), encoding="utf-8")

    _kiosk(live_server.url, token_file, card_path, "card", tmp_path / "by-card.pdf")
    _kiosk(live_server.url, token_file, phone_path, "smartphone", tmp_path / "by-phone.pdf")
    for name in ("by-card.pdf", "by-phone.pdf"):
        assert holder.family_name in pdf_text((tmp_path / name).read_bytes())
    assert IssuanceRecord.objects.filter(status="printed").count() == 2

    # The phone is lost: the smartphone CA revokes it and republishes its CRL; the server learns
    # it from the periodic refresh job, as in production.
    serial = jpki_sim.serial_hex(phone.certificate.serial_number)
    call_command("core_sim", "revoke", "--serial", serial, "--credential", "smartphone", stdout=StringIO())
    crl_refresh_task.apply(throw=True)

    with pytest.raises(CommandError, match="CERTIFICATE_REVOKED"):
        _kiosk(live_server.url, token_file, phone_path, "smartphone", tmp_path / "refused.pdf")
    assert not (tmp_path / "refused.pdf").exists()
    _kiosk(live_server.url, token_file, card_path, "card", tmp_path / "card-again.pdf")
    assert holder.family_name in pdf_text((tmp_path / "card-again.pdf").read_bytes())
    assert IssuanceRecord.objects.filter(status="printed").count() == 3

    # The audit says which credential each visit used, and why the phone was refused.
    authentications = AuditEvent.objects.filter(action="kiosk.authenticate").order_by("pk")
    assert [(e.outcome, e.payload.get("credential"), e.reason) for e in authentications] == [
        ("success", "card", ""),
        ("success", "smartphone", ""),
        ("refused", None, "certificate_revoked"),
        ("success", "card", ""),
    ]


def test_the_kiosk_refuses_a_phone_file_when_the_card_was_chosen(pki: Pki, tmp_path: Path, db):
    holder = distinct_holder(7)
    phone_path = card_file(
        tmp_path, pki.card(holder, credential="smartphone"), holder, credential="smartphone"
    )
    token_file = tmp_path / "terminal.json"
    token_file.write_text(json.dumps({"token": "x"}), encoding="utf-8")
    # Refused before the PIN and before any call: nothing listens on this port.
    with pytest.raises(CommandError, match="スマートフォンの電子証明書です"):
        call_command(
            "kiosk",
            server="http://127.0.0.1:9",
            token_file=str(token_file),
            card=str(phone_path),
            credential="card",
            pin="1234",
        )
    assert "pin_failures" not in json.loads(phone_path.read_text(encoding="utf-8"))

"""SPEC §5: a card link names its credential, the My Number card's or the smartphone's certificate
(スマホ用電子証明書); a record without the field is a card's (a core system older than the field)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from residents.models import CardLink
from sync.models import QuarantinedRecord
from sync.selectors import resident_codes_sync_blocked
from tests.sync import feedutil as fu

pytestmark = pytest.mark.django_db

PHONE_ISSUER = "CN=JPKI for smartphone user authentication,OU=JPKI for smartphone,O=JPKI (TEST),C=JP"


def _phone_link(serial: str, resident_code: str, **changes: object) -> dict[str, object]:
    return fu.card_link(
        serial, resident_code, **{"issuer": PHONE_ISSUER, "credential": "smartphone", **changes}
    )


def _links(resident_code: str) -> set[tuple[str, str, str]]:
    return set(
        CardLink.objects.filter(resident__resident_code=resident_code).values_list(
            "issuer", "serial", "credential"
        )
    )


@pytest.fixture
def inbox(settings) -> Path:
    inbox = Path(settings.SYNC_INBOX_DIR)
    # A full load: the family's card links carry no "credential" (fu.card_link leaves it out), the
    # smartphone's does, and one card link says "card" outright.
    lines = fu.family("H001", ("R001", "R002"))
    lines.append(fu.upsert("card_link", _phone_link("5a", "R001")))
    lines.append(fu.upsert("card_link", fu.card_link("c0de", "R002", credential="card")))
    fu.write_batch(inbox, 1, lines, kind="full")
    call_command("sync_run")
    return inbox


def test_a_full_load_keeps_each_link_s_credential_and_a_missing_field_means_card(inbox):
    assert _links("R001") == {
        (fu.ISSUER, "1f", "card"),  # no "credential" in the record
        (PHONE_ISSUER, "5a", "smartphone"),
    }
    assert _links("R002") == {(fu.ISSUER, "2f", "card"), (fu.ISSUER, "c0de", "card")}
    assert not QuarantinedRecord.objects.exists()


def test_deleting_the_smartphone_link_leaves_the_card_link(inbox):
    fu.write_batch(inbox, 2, [fu.delete("card_link", f"{PHONE_ISSUER}:5a")])
    call_command("sync_run")
    assert _links("R001") == {(fu.ISSUER, "1f", "card")}


def test_a_delta_adds_a_smartphone_link_beside_the_card_and_can_change_a_link_s_credential(inbox):
    fu.write_batch(
        inbox,
        2,
        [
            fu.upsert("card_link", _phone_link("6b", "R002")),
            fu.upsert("card_link", fu.card_link("c0de", "R002", credential="smartphone")),
        ],
    )
    call_command("sync_run")
    assert _links("R002") == {
        (fu.ISSUER, "2f", "card"),
        (fu.ISSUER, "c0de", "smartphone"),
        (PHONE_ISSUER, "6b", "smartphone"),
    }


@pytest.mark.parametrize("credential", ["watch", "", None, 1, "Smartphone"])
def test_an_unknown_credential_is_quarantined_and_blocks_its_resident(inbox, credential):
    fu.write_batch(
        inbox,
        2,
        [
            fu.upsert("card_link", _phone_link("7c", "R002", credential=credential)),
            fu.upsert("card_link", _phone_link("8d", "R001")),
        ],
    )
    call_command("sync_run")
    record = QuarantinedRecord.objects.get()
    assert record.reason_code == "invalid_choice" and "電子証明書の種類" in record.reason
    assert "R002" in resident_codes_sync_blocked(resident_codes=["R002"])
    assert not CardLink.objects.filter(serial="7c").exists()
    # The rest of the batch applied.
    assert (PHONE_ISSUER, "8d", "smartphone") in _links("R001")

"""End to end: ``seed_demo`` fills the mirror through the sync service, ``core_sim changes`` follows."""

from __future__ import annotations

import json
from datetime import date, datetime
from io import StringIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.services import Actor
from certificates.eligibility import holder_eligibility
from certificates.models import IssuanceStop
from kiosk_api.auth import token_hash
from kiosk_api.models import CrlSnapshot, Terminal
from residents.crypto import my_number_decrypt
from residents.models import CardLink, Household, Resident, SealRegistration, TaxAssessment, TaxPayment
from simulators.city.population import SCENARIOS, population_generate
from simulators.jpki import crl_load, smartphone_ca_load_or_create, test_ca_load_or_create
from sync.models import Batch, QuarantinedRecord
from sync.services import sync_run

JST = ZoneInfo("Asia/Tokyo")

TODAY = date(2026, 11, 27)

pytestmark = pytest.mark.django_db


@pytest.mark.slow
def test_seed_demo_then_core_sim_changes_apply_cleanly(settings, tmp_path: Path) -> None:
    settings.KONBINI_PKI_DIR = tmp_path / "pki"
    settings.KONBINI_TRUSTED_CA_FILES = [
        tmp_path / "pki" / "jpki-test-ca.pem",
        tmp_path / "pki" / "jpki-test-smartphone-ca.pem",
    ]
    cards = tmp_path / "cards"
    inbox = Path(settings.SYNC_INBOX_DIR)
    out = StringIO()
    call_command(
        "seed_demo",
        "--residents",
        "120",
        "--cards",
        str(cards),
        "--seed",
        "5",
        "--today",
        TODAY.isoformat(),
        stdout=out,
    )
    # The full batch lies in the archive, applied whole.
    assert (inbox / "archive" / "0000000001.jsonl").is_file()
    assert (inbox / "archive" / "0000000001.manifest.json").is_file()
    assert not list(inbox.glob("*.jsonl"))
    batch = Batch.objects.get(number=1)
    assert batch.status == Batch.Status.APPLIED and batch.kind == "full"
    assert batch.records_quarantined == 0 and not QuarantinedRecord.objects.exists()

    # A demo terminal is registered and its token written, readable by the owner only (SPEC §7).
    token_file = cards / "terminal.json"
    assert token_file.stat().st_mode & 0o077 == 0
    token = json.loads(token_file.read_text(encoding="utf-8"))["token"]
    assert Terminal.objects.get(token_hash=token_hash(token)).status == Terminal.Status.ACTIVE

    # The mirror holds exactly the generated world (the generator is deterministic).
    world = population_generate(residents=120, seed=5, today=TODAY)
    assert Resident.objects.count() == len(world.residents())
    assert Household.objects.count() == len(world.households)
    assert SealRegistration.objects.count() == len(world.seals)
    assert TaxAssessment.objects.count() == len(world.tax_records)
    assert TaxPayment.objects.count() == len(world.payments)
    assert CardLink.objects.count() == sum(1 for c in world.cards if c.linked and c.ca == "test")
    phones = [c for c in world.cards if c.credential == "smartphone"]
    assert CardLink.objects.filter(credential="smartphone").count() == sum(1 for c in phones if c.linked) > 0
    person = world.residents()[0]
    stored = Resident.objects.get(resident_code=person.resident_code)
    assert (
        my_number_decrypt(stored.my_number_encrypted, resident_code=stored.resident_code) == person.my_number
    )

    # A card file per card, every scenario among them; the clerk_stop holder is stopped.
    files = [json.loads(p.read_text(encoding="utf-8")) for p in cards.glob("*.json") if p != token_file]
    assert len(files) == len(world.cards)
    assert set(SCENARIOS) <= {f["scenario"] for f in files}
    stop_holder = next(f["resident_code"] for f in files if f["scenario"] == "clerk_stop")
    assert IssuanceStop.objects.filter(resident_code=stop_holder, lifted_at__isnull=True).count() == 1
    assert (settings.KONBINI_PKI_DIR / "jpki-test-ca.crl").is_file()
    # ... and loaded into the server by the seed, each CA's own: kiosk requests never load them
    # themselves, so the demo's first card and phone must find them there.
    card_crl = CrlSnapshot.objects.get(
        issuer=test_ca_load_or_create(pki_dir=settings.KONBINI_PKI_DIR).issuer_rfc4514
    )
    assert card_crl.revoked_count == sum(1 for c in world.cards if c.revoked and c.credential == "card") > 0
    phone_ca = smartphone_ca_load_or_create(pki_dir=settings.KONBINI_PKI_DIR)
    phone_crl = CrlSnapshot.objects.get(issuer=phone_ca.issuer_rfc4514)
    assert phone_crl.revoked_count == sum(1 for c in phones if c.revoked) > 0
    summary = out.getvalue()
    assert "CRLs loaded" in summary
    assert "ok" in summary and "0 件保留" in summary

    _scenarios_match_the_eligibility_policy(files)

    # A day of changes, consistent with the mirror: applied by sync_run with nothing quarantined.
    protected = {f["resident_code"] for f in files if f["scenario"] != "other"}
    before = {r.resident_code: r.synced_at for r in Resident.objects.filter(resident_code__in=protected)}
    changes = ["changes", "--count", "40", "--seed", "9", "--today", TODAY.isoformat(), "--cards", str(cards)]
    call_command("core_sim", *changes, stdout=StringIO())
    result = sync_run(actor=Actor.job("test"))
    assert [o.number for o in result.applied] == [2]
    assert result.applied[0].kind == "delta" and result.applied[0].records_quarantined == 0
    assert not QuarantinedRecord.objects.exists()
    assert Resident.objects.count() > len(world.residents())  # births and moves in
    for household in Household.objects.all():
        heads = household.members.filter(relationship="世帯主")
        assert [h.resident_code for h in heads] == [household.head_resident_code]
    # The demo's scenario card holders were left alone.
    after = {r.resident_code: r.synced_at for r in Resident.objects.filter(resident_code__in=protected)}
    assert after == before


# SPEC §2 / §4: what each scenario's holder may get, by the certificates app's own policy. The
# certificate-level scenarios (expired, revoked, unlinked, untrusted) are refused before eligibility
# is asked, so their data must be as good as ok's.
_ALL = ("juminhyo", "inkan", "shotoku_kazei", "nozei")
_REFUSED_WHOLE = {
    "moving_out", "moved_out", "deceased", "support_measure", "clerk_stop", "pending_change",
    "under_15", "adult_ward", "gaiji", "linked_today",
}  # fmt: skip
_EXPECTED_UNAVAILABLE: dict[str, dict[str, str]] = {
    "ok": {},
    "ok_single": {},
    "no_seal": {"inkan": "SEAL_NOT_REGISTERED"},
    "seal_abolished": {"inkan": "SEAL_NOT_REGISTERED"},
    "no_tax_record": {"shotoku_kazei": "NO_TAX_RECORD", "nozei": "NO_TAX_RECORD"},
    "household_pending_change": {"juminhyo": "NOT_AVAILABLE_AT_KIOSK"},
    "expired_cert": {},
    "revoked_cert": {},
    "unlinked_cert": {},
    "untrusted_cert": {},
    # The phone's holder is an ok holder; a revoked phone is refused before eligibility is asked.
    "smartphone_ok": {},
    "smartphone_revoked": {},
    **{label: dict.fromkeys(_ALL, "NOT_AVAILABLE_AT_KIOSK") for label in _REFUSED_WHOLE},
}


def _scenarios_match_the_eligibility_policy(files: list[dict[str, Any]]) -> None:
    now = datetime.combine(TODAY, datetime.min.time(), tzinfo=JST).replace(hour=12)
    seen: set[str] = set()
    for card in files:
        label = card["scenario"]
        if label not in _EXPECTED_UNAVAILABLE:
            continue
        holder = Resident.objects.get(resident_code=card["resident_code"])
        link = CardLink.objects.filter(resident=holder).order_by("-active_from").first()
        decision = holder_eligibility(holder=holder, now=now, card_link=link)
        unavailable = {o.type: o.unavailable_code for o in decision.offers if not o.available}
        assert unavailable == _EXPECTED_UNAVAILABLE[label], (
            label,
            [(o.type, o.reason) for o in decision.offers],
        )
        if label == "ok_single":
            assert len(decision.offer("juminhyo").members) == 1
        if label == "ok":
            assert len(decision.offer("juminhyo").members) >= 2
            assert len(decision.offer("shotoku_kazei").fiscal_years) == 3
        seen.add(label)
    assert seen == set(SCENARIOS)


@pytest.mark.parametrize(
    ("command", "arguments", "message"),
    [
        ("seed_demo", ["--residents", "0", "--cards", "x"], "--residents"),
        ("seed_demo", ["--residents", "10", "--cards", "x", "--today", "2026-13-01"], "--today"),
        ("core_sim", ["changes", "--count", "-1"], "--count"),
        ("core_sim", ["changes", "--count", "1", "--today", "yesterday"], "--today"),
        ("core_sim", ["revoke", "--serial", "xyz"], "--serial"),
    ],
)
def test_bad_arguments_are_refused_and_change_nothing(
    settings, tmp_path: Path, command: str, arguments: list[str], message: str
) -> None:
    settings.KONBINI_PKI_DIR = tmp_path / "pki"
    with pytest.raises(CommandError, match=message):
        call_command(command, *arguments, stdout=StringIO())
    assert not list(Path(settings.SYNC_INBOX_DIR).iterdir())
    assert not Resident.objects.exists()
    assert not (tmp_path / "pki").exists()


@pytest.mark.parametrize(
    ("command", "arguments"),
    [
        ("seed_demo", ["--residents", "10", "--cards", "x"]),
        ("core_sim", ["changes", "--count", "1"]),
        ("core_sim", ["revoke", "--serial", "0ABC"]),
        ("core_sim", ["crl"]),
    ],
)
def test_demo_commands_refuse_production(
    settings, tmp_path: Path, command: str, arguments: list[str]
) -> None:
    settings.PRODUCTION = True
    settings.KONBINI_PKI_DIR = tmp_path / "pki"
    with pytest.raises(CommandError, match="not for production"):
        call_command(command, *arguments, stdout=StringIO())
    assert not list(Path(settings.SYNC_INBOX_DIR).iterdir())
    assert not Resident.objects.exists() and not Terminal.objects.exists()
    assert not (tmp_path / "pki").exists()


def test_core_sim_revoke_puts_the_serial_in_the_crl(settings, tmp_path: Path) -> None:
    settings.KONBINI_PKI_DIR = tmp_path / "pki"
    out = StringIO()
    call_command("core_sim", "revoke", "--serial", "0ABC", stdout=out)
    ca = test_ca_load_or_create(pki_dir=settings.KONBINI_PKI_DIR)
    assert crl_load(ca=ca).get_revoked_certificate_by_serial_number(0xABC) is not None
    assert "abc" in out.getvalue()


def test_reseeding_revokes_the_previous_demo_terminal(tmp_path: Path) -> None:
    from audit.services import Actor
    from simulators.city.seeding import demo_terminal_register

    actor = Actor.job("seed_demo")
    first = json.loads(demo_terminal_register(cards_dir=tmp_path, actor=actor).read_text())["token"]
    second = json.loads(demo_terminal_register(cards_dir=tmp_path, actor=actor).read_text())["token"]
    assert first != second
    assert Terminal.objects.get(token_hash=token_hash(first)).status == Terminal.Status.REVOKED
    assert Terminal.objects.get(token_hash=token_hash(second)).status == Terminal.Status.ACTIVE


def test_core_sim_revokes_a_smartphone_at_the_smartphone_ca_only(settings, tmp_path: Path) -> None:
    settings.KONBINI_PKI_DIR = tmp_path / "pki"
    out = StringIO()
    call_command("core_sim", "revoke", "--serial", "0BCD", "--credential", "smartphone", stdout=out)
    phone_ca = smartphone_ca_load_or_create(pki_dir=settings.KONBINI_PKI_DIR)
    card_ca = test_ca_load_or_create(pki_dir=settings.KONBINI_PKI_DIR)
    assert crl_load(ca=phone_ca).get_revoked_certificate_by_serial_number(0xBCD) is not None
    assert crl_load(ca=card_ca).get_revoked_certificate_by_serial_number(0xBCD) is None
    assert "bcd (smartphone)" in out.getvalue()

"""Simulated card files (SPEC §4): one per scenario, checked the way a kiosk would use them."""

from __future__ import annotations

import base64
import json
import multiprocessing
import stat
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from simulators.city.cards import CARD_FORMAT, card_file_write, card_files_clear, card_pin_try
from simulators.city.population import SCENARIOS, World, population_generate
from simulators.city.seeding import cards_issue
from simulators.jpki import (
    JST,
    crl_load,
    other_ca_load_or_create,
    smartphone_ca_load_or_create,
    test_ca_load_or_create,
)

TODAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path, Path]:
    world = population_generate(residents=10, seed=21, today=TODAY)
    base = tmp_path_factory.mktemp("cards")
    pki, cards_dir = base / "pki", base / "cards"
    planted = [c for c in world.cards if c.planted]
    cards_issue(
        cards=planted,
        cards_dir=cards_dir,
        ca=test_ca_load_or_create(pki_dir=pki),
        smartphone_ca=smartphone_ca_load_or_create(pki_dir=pki),
        other_ca=other_ca_load_or_create(pki_dir=pki),
    )
    return world, pki, cards_dir


def _cards(cards_dir: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(cards_dir.glob("*.json")):
        content = json.loads(path.read_text(encoding="utf-8"))
        out.setdefault(content["scenario"], content)
    return out


def test_a_card_file_for_every_scenario(issued: tuple[World, Path, Path]) -> None:
    _world, _pki, cards_dir = issued
    assert set(SCENARIOS) <= set(_cards(cards_dir))


def test_card_file_format_and_private_permissions(issued: tuple[World, Path, Path]) -> None:
    world, _pki, cards_dir = issued
    plans = {c.card_id: c for c in world.cards}
    for path in cards_dir.glob("*.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        card = json.loads(path.read_text(encoding="utf-8"))
        assert set(card) == {
            "format",
            "card_id",
            "scenario",
            "resident_code",
            "holder",
            "pin",
            "certificate",
            "private_key",
            "credential",
        }
        assert card["format"] == CARD_FORMAT
        assert card["credential"] == plans[card["card_id"]].credential
        assert set(card["holder"]) == {"name", "birth_date"}
        assert len(card["pin"]) == 4 and card["pin"].isdigit()
        plan = plans[card["card_id"]]
        assert card["resident_code"] == plan.resident_code
        assert card["holder"] == {"name": plan.holder_name, "birth_date": plan.birth_date.isoformat()}
        assert path.name == f"{card['scenario']}-{card['card_id']}.json"


def test_the_pin_decrypts_the_key_and_the_key_signs_for_the_certificate(
    issued: tuple[World, Path, Path],
) -> None:
    _world, _pki, cards_dir = issued
    card = _cards(cards_dir)["ok"]
    assert card["private_key"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises((ValueError, TypeError)):
        serialization.load_pem_private_key(card["private_key"].encode(), password=None)
    wrong = f"{(int(card['pin']) + 1) % 10000:04d}".encode()
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(card["private_key"].encode(), password=wrong)
    key = serialization.load_pem_private_key(card["private_key"].encode(), password=card["pin"].encode())
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    cert = x509.load_pem_x509_certificate(card["certificate"].encode())
    assert cert.public_key() == key.public_key()
    challenge = base64.b64decode(base64.b64encode(b"\x01" * 32))
    signature = key.sign(challenge, padding.PKCS1v15(), hashes.SHA256())
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())


def test_certificates_hold_no_personal_data_and_live_until_the_fifth_birthday(
    issued: tuple[World, Path, Path],
) -> None:
    world, pki, cards_dir = issued
    plans = {c.card_id: c for c in world.cards}
    ca = test_ca_load_or_create(pki_dir=pki)
    for card in _cards(cards_dir).values():
        cert = x509.load_pem_x509_certificate(card["certificate"].encode())
        plan = plans[card["card_id"]]
        assert [a.oid for a in cert.subject] == [NameOID.COUNTRY_NAME, NameOID.COMMON_NAME]
        common_name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert isinstance(common_name, str)
        assert card["holder"]["name"] not in common_name and card["resident_code"] not in common_name
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical and usage.value.digital_signature
        assert cert.serial_number == plan.serial
        assert cert.not_valid_before_utc.astimezone(JST).date() == plan.issued_on
        assert cert.not_valid_after_utc.astimezone(JST).date() == plan.expires_on
        assert plan.expires_on.year - plan.issued_on.year in (4, 5)
        assert plan.expires_on.month == plan.birth_date.month
        if card["scenario"] == "untrusted_cert":
            assert cert.issuer != ca.certificate.subject
        elif card["credential"] == "smartphone":
            # A phone's certificate comes from the smartphone CA, never the card's.
            cert.verify_directly_issued_by(smartphone_ca_load_or_create(pki_dir=pki).certificate)
        else:
            cert.verify_directly_issued_by(ca.certificate)


def test_scenario_certificates_are_expired_revoked_or_current_as_labelled(
    issued: tuple[World, Path, Path],
) -> None:
    _world, pki, cards_dir = issued
    cards = _cards(cards_dir)
    now = datetime.combine(TODAY, datetime.min.time(), tzinfo=JST).astimezone(UTC)
    expired = x509.load_pem_x509_certificate(cards["expired_cert"]["certificate"].encode())
    assert expired.not_valid_after_utc < now
    current = x509.load_pem_x509_certificate(cards["ok"]["certificate"].encode())
    assert current.not_valid_before_utc <= now < current.not_valid_after_utc
    crl = crl_load(ca=test_ca_load_or_create(pki_dir=pki))
    revoked = x509.load_pem_x509_certificate(cards["revoked_cert"]["certificate"].encode())
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(current.serial_number) is None
    under_15 = x509.load_pem_x509_certificate(cards["under_15"]["certificate"].encode())
    assert under_15.not_valid_before_utc <= now < under_15.not_valid_after_utc


def test_clearing_removes_only_card_files(tmp_path: Path) -> None:
    tmp_path = tmp_path / "cards"
    tmp_path.mkdir()
    (tmp_path / "terminal.json").write_text(json.dumps({"token": "x"}), encoding="utf-8")
    (tmp_path / "ok-SAGA-1.json").write_text(json.dumps({"format": CARD_FORMAT}), encoding="utf-8")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    assert card_files_clear(directory=tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.json", "terminal.json"]


def _read_card(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _wrong_pins_until_locked(path: Path, pin: str, barrier: Any, tries: Any) -> None:
    """One kiosk hammering one card with a wrong PIN until it is locked; reports its counted tries."""
    barrier.wait()
    counted = 0
    while True:
        attempt = card_pin_try(path=path, pin=pin, read=_read_card)
        if not attempt.was_locked:
            counted += 1
        if attempt.locked:
            break
    tries.put(counted)


def test_concurrent_wrong_pins_allow_exactly_three_tries_in_total(
    issued: tuple[World, Path, Path], tmp_path: Path
) -> None:
    _world, _pki, cards_dir = issued
    card = _cards(cards_dir)["ok"]
    path = card_file_write(
        directory=tmp_path, card={k: v for k, v in card.items() if k not in {"locked", "pin_failures"}}
    )
    wrong = "1111" if card["pin"] != "1111" else "2222"
    # Real processes, released together: without the lock two of them read "0 tries" and both
    # write "1", and the card allows more than three.
    context = multiprocessing.get_context("fork")
    kiosks = 6
    barrier, tries = context.Barrier(kiosks), context.Queue()
    workers = [
        context.Process(target=_wrong_pins_until_locked, args=(path, wrong, barrier, tries))
        for _ in range(kiosks)
    ]
    for worker in workers:
        worker.start()
    counted = [tries.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sum(counted) == 3, counted
    stored = _read_card(path)
    assert (stored["pin_failures"], stored["locked"]) == (3, True)
    # Locked for good: even the right PIN is not tried any more.
    after = card_pin_try(path=path, pin=card["pin"], read=_read_card)
    assert (after.key, after.was_locked) == (None, True)
    # Written atomically: no temporary file is left beside the card.
    assert not list(tmp_path.glob("*.tmp"))


def test_a_right_pin_opens_the_card_and_resets_the_count(
    issued: tuple[World, Path, Path], tmp_path: Path
) -> None:
    _world, _pki, cards_dir = issued
    card = _cards(cards_dir)["ok"]
    path = card_file_write(directory=tmp_path, card={**card, "pin_failures": 2})
    wrong = card_pin_try(path=path, pin="12a4", read=_read_card)
    assert (wrong.key, wrong.locked) == (None, True)  # the third wrong entry locks
    path = card_file_write(directory=tmp_path, card={**card, "pin_failures": 2, "locked": False})
    opened = card_pin_try(path=path, pin=card["pin"], read=_read_card)
    assert opened.key is not None and _read_card(path)["pin_failures"] == 0


def test_a_smartphone_is_revoked_at_its_own_ca_and_its_holder_s_card_is_not(
    issued: tuple[World, Path, Path],
) -> None:
    world, pki, cards_dir = issued
    cards = _cards(cards_dir)
    phone_crl = crl_load(ca=smartphone_ca_load_or_create(pki_dir=pki))
    card_crl = crl_load(ca=test_ca_load_or_create(pki_dir=pki))
    for label, revoked in (("smartphone_ok", False), ("smartphone_revoked", True)):
        phone = cards[label]
        assert phone["credential"] == "smartphone"
        serial = x509.load_pem_x509_certificate(phone["certificate"].encode()).serial_number
        assert (phone_crl.get_revoked_certificate_by_serial_number(serial) is not None) is revoked
        assert card_crl.get_revoked_certificate_by_serial_number(serial) is None
        # The same holder has a card file of their own, labelled ok, whose certificate is not revoked.
        holder_cards = [
            json.loads(p.read_text(encoding="utf-8"))
            for p in cards_dir.glob("*.json")
            if json.loads(p.read_text(encoding="utf-8"))["resident_code"] == phone["resident_code"]
        ]
        card = next(c for c in holder_cards if c["credential"] == "card")
        assert card["scenario"] == "ok"
        card_serial = x509.load_pem_x509_certificate(card["certificate"].encode()).serial_number
        assert card_crl.get_revoked_certificate_by_serial_number(card_serial) is None
    assert all(
        c.credential == "card"
        for c in world.cards
        if c.scenario not in ("smartphone_ok", "smartphone_revoked", "other")
    )

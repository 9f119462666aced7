"""Simulated My Number cards as JSON files (SPEC §4).

``{"format": "saga-konbini-card/1", "card_id", "scenario", "resident_code", "holder": {"name",
"birth_date"}, "pin", "certificate": PEM, "private_key": PEM PKCS#8 encrypted with the PIN,
"credential": "card"|"smartphone"}``. A smartphone's file stands for the certificate carried in the
phone (スマホ用電子証明書): issued by the smartphone CA, unlocked by its own PIN like a card.

An RSA 2048 key takes 50–100 ms to generate, so cards are made in a pool of worker processes, one per
core. Workers are spawned (not forked): they import only this module, ``simulators.jpki`` and
``cryptography``, and never share the parent's database connection.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from simulators.jpki import RSA_KEY_BITS, TestCA, user_certificate_issue
from simulators.kiosk_client import CardKey, WrongPin, card_key_unlock

if TYPE_CHECKING:  # workers import this module: keep the population generator out of them
    from simulators.city.population import CardPlan

CARD_FORMAT = "saga-konbini-card/1"
PIN_TRIES = 3  # SPEC §4: the card locks after three wrong PINs
_PIN_SHAPE = re.compile(r"[0-9]{4}")


@dataclass(frozen=True)
class CardJob:
    """Everything a worker needs for one card; the CA travels as PEM (pickled to the worker)."""

    card_id: str
    scenario: str
    resident_code: str
    holder_name: str
    birth_date: date
    pin: str
    serial: int
    common_name: str
    issued_on: date
    ca_cert_pem: bytes
    ca_key_pem: bytes
    credential: str = "card"


@lru_cache(maxsize=4)
def _ca_from_pem(cert_pem: bytes, key_pem: bytes) -> TestCA:
    # Parsed once per worker process and CA: immutable key material, not request state.
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    cert = x509.load_pem_x509_certificate(cert_pem)
    return TestCA(certificate=cert, private_key=key, cert_path=Path(), key_path=Path(), crl_path=None)


def card_build(job: CardJob) -> dict[str, Any]:
    """Generate the card's key pair and certificate; return the card file's content."""
    ca = _ca_from_pem(job.ca_cert_pem, job.ca_key_pem)
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    certificate = user_certificate_issue(
        ca=ca,
        public_key=key.public_key(),
        birth_date=job.birth_date,
        issued_on=job.issued_on,
        serial=job.serial,
        common_name=job.common_name,
    )
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(job.pin.encode("ascii")),
    )
    return {
        "format": CARD_FORMAT,
        "card_id": job.card_id,
        "scenario": job.scenario,
        "resident_code": job.resident_code,
        "holder": {"name": job.holder_name, "birth_date": job.birth_date.isoformat()},
        "pin": job.pin,
        "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "private_key": encrypted.decode("ascii"),
        "credential": job.credential,
    }


def card_file_name(*, scenario: str, card_id: str) -> str:
    # The scenario leads the name so that a demo operator can pick "an ok card" at a glance.
    return f"{scenario}-{card_id}.json"


def card_file_write(*, directory: Path, card: dict[str, Any]) -> Path:
    """Write one card file atomically, readable by its owner only (it holds a PIN and a key)."""
    path = directory / card_file_name(scenario=card["scenario"], card_id=card["card_id"])
    tmp = directory / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(card, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
    os.replace(tmp, path)
    return path


@contextmanager
def _card_locked(path: Path) -> Iterator[None]:
    """An exclusive lock on one card file, held by whoever reads, counts and writes its PIN tries.

    The lock is on a file beside the card, not on the card itself: the card is rewritten by
    ``os.replace``, which swaps the file, so a lock on the card would stay on the old file while
    the next reader opens the new one.
    """
    lock_path = path.with_name(f".{path.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _card_rewrite(path: Path, card: dict[str, Any]) -> None:
    """Write the card back atomically (temp file, flushed, then renamed), owner-only: it holds a
    PIN and a key, and a half-written file must never lose the lock state."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(card, ensure_ascii=False, indent=1) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class PinTry:
    """The outcome of one PIN entry on a card file."""

    key: CardKey | None  # the unlocked key; None for a wrong PIN or a locked card
    was_locked: bool  # locked before this entry: the PIN was not even tried
    locked: bool  # locked now (before, or by this entry)
    remaining: int  # wrong PINs left before the card locks


def card_pin_try(*, path: Path, pin: str, read: Callable[[Path], dict[str, Any]]) -> PinTry:
    """Enter ``pin`` on the card file at ``path`` (SPEC §4: three wrong PINs lock the card).

    The count lives in the card file, and two kiosks (or two browser tabs) may enter PINs on one
    card at the same time: the read, the count and the write happen under an exclusive lock, so two
    concurrent wrong PINs count as two, never as one (which would allow more than three tries).
    ``read`` loads and checks the card (each simulator reports a bad file in its own words).
    """
    with _card_locked(path):
        card = read(path)
        if card.get("locked"):
            return PinTry(key=None, was_locked=True, locked=True, remaining=0)
        failures = int(card.get("pin_failures", 0))
        try:
            if not _PIN_SHAPE.fullmatch(pin):
                raise WrongPin
            key = card_key_unlock(card, pin)
        except WrongPin:
            failures += 1
            card["pin_failures"] = failures
            locked = failures >= PIN_TRIES
            if locked:
                card["locked"] = True
            _card_rewrite(path, card)
            return PinTry(key=None, was_locked=False, locked=locked, remaining=max(0, PIN_TRIES - failures))
        if failures:
            card["pin_failures"] = 0  # a right PIN resets the count, as on the real card
            _card_rewrite(path, card)
        return PinTry(key=key, was_locked=False, locked=False, remaining=PIN_TRIES)


def card_files_clear(*, directory: Path) -> int:
    """Remove the card files of an earlier run (only files in this card format), so a directory
    never mixes cards whose links a new full batch has replaced."""
    removed = 0
    for path in directory.glob("*.json"):
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(content, dict) and content.get("format") == CARD_FORMAT:
            path.unlink()
            removed += 1
    return removed


def cards_build(
    *,
    jobs: list[CardJob],
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterable[dict[str, Any]]:
    """Build the cards, in a process pool when there are enough of them; yields in job order."""
    total = len(jobs)
    workers = workers or os.cpu_count() or 1
    if total < 8 or workers == 1:
        for done, job in enumerate(jobs, start=1):
            yield card_build(job)
            if progress:
                progress(done, total)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        chunk = max(1, min(32, total // (workers * 4)))
        for done, card in enumerate(pool.map(card_build, jobs, chunksize=chunk), start=1):
            yield card
            if progress:
                progress(done, total)


def card_jobs(
    *, cards: list[CardPlan], ca: TestCA, other_ca: TestCA, smartphone_ca: TestCA | None = None
) -> list[CardJob]:
    """One job per planned card, each carrying the PEM of the CA that signs it: ``ca`` for cards,
    ``smartphone_ca`` for phones, ``other_ca`` for the untrusted ones."""

    def job(card: CardPlan) -> CardJob:
        signer = ca
        if card.ca == "other":
            signer = other_ca
        elif card.credential == "smartphone":
            if smartphone_ca is None:
                raise ValueError("a smartphone certificate needs the smartphone CA")
            signer = smartphone_ca
        return CardJob(
            card_id=card.card_id,
            scenario=card.scenario,
            resident_code=card.resident_code,
            holder_name=card.holder_name,
            birth_date=card.birth_date,
            pin=card.pin,
            serial=card.serial,
            common_name=card.common_name,
            issued_on=card.issued_on,
            ca_cert_pem=signer.certificate_pem(),
            ca_key_pem=signer.private_key_pem(),
            credential=card.credential,
        )

    return [job(card) for card in cards]

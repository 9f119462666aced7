"""The demo seed (SPEC §7 ``seed_demo``): a population, the test PKI, card files and a full batch,
applied through the sync service like any batch from the core system."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.utils import timezone

from audit.services import Actor
from certificates.models import IssuanceStop
from certificates.services import issuance_stop_create
from kiosk_api.auth import token_hash
from kiosk_api.crl import CrlRefreshError, crl_refresh
from kiosk_api.models import Terminal
from kiosk_api.services import terminal_register, terminal_revoke
from simulators.city.cards import card_file_write, card_files_clear, card_jobs, cards_build
from simulators.city.feed_writer import WrittenBatch, batch_write
from simulators.city.population import CardPlan, World, population_generate
from simulators.jpki import (
    TestCA,
    crl_publish,
    other_ca_load_or_create,
    smartphone_ca_load_or_create,
    test_ca_load_or_create,
)
from sync.services import SyncRunResult, sync_run

CLERK_STOP_REASON = "デモ用の交付停止(シナリオ clerk_stop: 窓口で本人確認が必要)"
DEMO_TERMINAL = {
    "name": "デモ端末(佐賀駅前店)",
    "chain": Terminal.Chain.SEVEN_ELEVEN,
    "store_code": "DEMO-41201",
}


class SeedError(Exception):
    """The seed could not be completed (the batch was not applied); the message says why."""


@dataclass
class SeedResult:
    world: World
    batch: WrittenBatch
    card_files: list[Path] = field(default_factory=list)
    cards_removed: int = 0
    revoked_serials: list[int] = field(default_factory=list)
    sync: SyncRunResult | None = None
    stops_created: int = 0
    terminal_file: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase
    crl_loaded: bool = False  # the CAs' CRLs are in the server, ready for the first kiosk call


def cards_issue(
    *,
    cards: list[CardPlan],
    cards_dir: Path,
    ca: TestCA,
    smartphone_ca: TestCA,
    other_ca: TestCA,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Issue certificates and write card files for ``cards``; revoke those planned as revoked, each
    at the CA that issued it (a phone's at the smartphone CA, so its holder's card stays valid)."""
    cards_dir.mkdir(parents=True, exist_ok=True)
    jobs = card_jobs(cards=cards, ca=ca, other_ca=other_ca, smartphone_ca=smartphone_ca)
    paths = [
        card_file_write(directory=cards_dir, card=content)
        for content in cards_build(jobs=jobs, progress=progress)
    ]
    for issuer, credential in ((ca, "card"), (smartphone_ca, "smartphone")):
        revoked = tuple(
            card.serial
            for card in cards
            if card.revoked and card.ca == "test" and card.credential == credential
        )
        # Publishing also refreshes the CRL's next update, so the server's CRL refresh stays happy.
        crl_publish(ca=issuer, revoke_serials=revoked)
    return paths


def clerk_stops_apply(*, resident_codes: list[str], actor: Actor) -> int:
    """A clerk's 交付停止 for each ``clerk_stop`` holder, unless one is already open."""
    created = 0
    for code in resident_codes:
        if IssuanceStop.objects.filter(resident_code=code, lifted_at__isnull=True).exists():
            continue
        issuance_stop_create(resident_code=code, reason=CLERK_STOP_REASON, until=None, actor=actor)
        created += 1
    return created


def demo_seed(
    *,
    residents: int,
    seed: int,
    today: date,
    cards_dir: Path,
    inbox: Path,
    pki_dir: Path,
    actor: Actor,
    progress: Callable[[int, int], None] | None = None,
) -> SeedResult:
    """Generate the world, the test CAs and card files, write a full batch and apply it."""
    clock = time.monotonic()
    seconds: dict[str, float] = {}

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.monotonic()
        seconds[phase] = now - clock
        clock = now

    world = population_generate(residents=residents, seed=seed, today=today)
    lap("population")
    ca = test_ca_load_or_create(pki_dir=pki_dir)
    smartphone_ca = smartphone_ca_load_or_create(pki_dir=pki_dir)
    other_ca = other_ca_load_or_create(pki_dir=pki_dir)
    cards_dir.mkdir(parents=True, exist_ok=True)
    removed = card_files_clear(directory=cards_dir)
    paths = cards_issue(
        cards=world.cards,
        cards_dir=cards_dir,
        ca=ca,
        smartphone_ca=smartphone_ca,
        other_ca=other_ca,
        progress=progress,
    )
    lap("cards")
    records = world.feed_records(issuer=ca.issuer_rfc4514, smartphone_issuer=smartphone_ca.issuer_rfc4514)
    batch = batch_write(inbox=inbox, kind="full", records=records)
    lap("batch_write")
    result = SeedResult(
        world=world,
        batch=batch,
        card_files=paths,
        cards_removed=removed,
        revoked_serials=[c.serial for c in world.cards if c.revoked],
        seconds=seconds,
    )
    result.sync = sync_run(actor=actor)
    lap("sync_run")
    applied = {outcome.number for outcome in result.sync.applied}
    if batch.number not in applied:
        raise SeedError(
            f"連携バッチ {batch.number:010d} が適用されませんでした / the batch was not applied: "
            f"{result.sync.message or result.sync.stopped}"
        )
    result.stops_created = clerk_stops_apply(resident_codes=world.clerk_stops, actor=actor)
    result.terminal_file = demo_terminal_register(cards_dir=cards_dir, actor=actor)
    # Kiosk requests never load a CRL themselves (the periodic job does, first after one beat):
    # load the two just published now, so the demo's first card and phone are checked against them.
    assert ca.crl_path is not None and smartphone_ca.crl_path is not None
    try:
        crl_refresh(sources=[str(ca.crl_path), str(smartphone_ca.crl_path)], now=timezone.now())
        result.crl_loaded = True
    except CrlRefreshError:
        # The server does not trust these CAs (other KONBINI_TRUSTED_CA_FILES): an alert is open,
        # and the seed itself is still complete.
        result.crl_loaded = False
    return result


def demo_terminal_register(*, cards_dir: Path, actor: Actor) -> Path:
    """Register the demo kiosk terminal and write its token to ``cards_dir/terminal.json`` (SPEC §7).

    A re-seed revokes the terminal of the previous token file first, so only one demo terminal is live.
    """
    token_file = cards_dir / "terminal.json"
    if token_file.exists():
        previous = json.loads(token_file.read_text(encoding="utf-8")).get("token", "")
        terminal = Terminal.objects.filter(token_hash=token_hash(previous)).first() if previous else None
        if terminal is not None and terminal.status != Terminal.Status.REVOKED:
            terminal_revoke(terminal_id=terminal.pk, actor=actor)
    _, token = terminal_register(actor=actor, **DEMO_TERMINAL)
    # The token is a credential: readable by its owner only, written whole or not at all.
    temporary = token_file.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"token": token}, handle)
    temporary.replace(token_file)
    return token_file

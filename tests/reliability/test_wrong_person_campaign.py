"""The wrong-person campaign: what went wrong in Yokohama, Kawasaki and Takamatsu in 2023 and 2024
(one applicant's certificate printed for another; a program written for one server run on several).

Two gunicorn instances (deploy/gunicorn.conf.py) share one database; 32 kiosks, each a thread with
its own terminal and resident, spread their calls over both instances at random. At least 3,000
issuances, with injected client timeouts (the request sent in full, the connection closed before
the answer: the issuance and the document fetch), retries with the same Idempotency-Key, and failed
prints. Every PDF is checked against its holder (the signed payload of every copy, and the text);
every issuance has its audit events; ``audit_verify`` passes; /metrics of both instances agree.
"""

from __future__ import annotations

import io
import os
import random
import threading
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families
from pypdf import PdfReader

from audit.checkpoints import checkpoint_create
from audit.models import AuditEvent
from certificates.models import IssuanceRecord
from certificates.rendering import read_verification_payloads
from certificates.signing import payload_verify
from kiosk_api.models import KioskIssuance
from simulators.kiosk_client import KioskApiError, KioskClient
from tests.reliability.live import (
    FAMILY_NAMES,
    REQUESTS,
    Kiosk,
    abandon,
    app_environment,
    gunicorn_servers,
    kiosks_create,
    metrics_of,
)

KIOSKS = 32
ISSUANCES = int(os.environ.get("PROOF_CAMPAIGN_ISSUANCES", "3000"))
PER_SESSION = 2
TIMEOUT_RATE = 0.12  # of issue calls and of document fetches
FAILED_PRINT_RATE = 0.1
API = "/api/kiosk/v1/"


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    issued: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    abandoned_issues: int = 0
    abandoned_fetches: int = 0
    replays_checked: int = 0
    mismatches: list[str] = field(default_factory=list)
    issuance_ids: dict[int, int] = field(default_factory=dict)  # issuance_id -> kiosk index
    issue_calls: int = 0

    def take(self) -> bool:
        with self.lock:
            if self.issued >= ISSUANCES:
                return False
            self.issued += 1
            return True


def _check_document(
    kiosk: Kiosk, cert_type: str, pdf: bytes, numbers: list[str], in_use: set[str]
) -> list[str]:
    """Everything wrong with this PDF for this holder (empty when it is theirs and only theirs)."""
    problems = []
    payloads = [payload_verify(token) for token in read_verification_payloads(pdf)]
    if [p.get("n") for p in payloads] != numbers:
        problems.append(f"payload numbers {[p.get('n') for p in payloads]} != {numbers}")
    names = {str(person[0]) for payload in payloads for person in payload.get("p", [])}
    expected = set(kiosk.household_names) if cert_type == "juminhyo" else {kiosk.holder.full_name}
    if names != expected:
        problems.append(f"payload persons {sorted(names)} != {sorted(expected)}")
    text = "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)
    family = kiosk.holder.family_name
    if family not in text:
        problems.append(f"holder's family name {family} not in the text")
    others = {name for name in in_use - {family} if name in text}
    if others:
        problems.append(f"other holders' names in the text: {sorted(others)}")
    return [f"kiosk {kiosk.index} {cert_type}: {p}" for p in problems]


def _kiosk_run(kiosk: Kiosk, urls: list[str], tally: Tally, in_use: set[str], seed: int) -> None:
    rng = random.Random(seed)
    clients = [KioskClient(url, kiosk.token, timeout=120) for url in urls]

    def any_client() -> KioskClient:
        return rng.choice(clients)

    visit = 0
    while True:
        visit += 1
        session = any_client().session_start()
        sid = session["session_id"]
        any_client().authenticate(sid, kiosk.card, session["challenge"])
        for slot in range(PER_SESSION):
            if not tally.take():
                any_client().session_end(sid)
                return
            cert_type, options = REQUESTS[(kiosk.index + visit + slot) % len(REQUESTS)]
            key = f"k{kiosk.index}-{visit}-{slot}"
            copies = 2 if visit % 5 == 0 else 1  # mostly one copy: CI has two cores for all of it
            body = {"type": cert_type, "copies": copies, "options": options}
            if rng.random() < TIMEOUT_RATE:
                abandon(
                    rng.choice(urls),
                    "POST",
                    f"{API}sessions/{sid}/issuances",
                    token=kiosk.token,
                    body=body,
                    headers={"Idempotency-Key": key},
                )
                with tally.lock:
                    tally.abandoned_issues += 1
                    tally.issue_calls += 1
            issuance = any_client().issue(sid, cert_type=cert_type, copies=copies, options=options, key=key)
            with tally.lock:
                tally.issue_calls += 1
            if rng.random() < 0.25:
                # A retry after an answer was received must also give the very same issuance.
                again = any_client().issue(sid, cert_type=cert_type, copies=copies, options=options, key=key)
                with tally.lock:
                    tally.issue_calls += 1
                    tally.replays_checked += 1
                    if again != issuance:
                        tally.mismatches.append(f"kiosk {kiosk.index}: replay {again} != {issuance}")
            if rng.random() < TIMEOUT_RATE:
                path = urllib.parse.urlsplit(str(issuance["document_url"])).path
                abandon(rng.choice(urls), "GET", path, token=kiosk.token)
                with tally.lock:
                    tally.abandoned_fetches += 1
            pdf = any_client().document(issuance)  # raises on a SHA-256 mismatch
            problems = _check_document(kiosk, cert_type, pdf, list(issuance["certificate_numbers"]), in_use)
            outcome = "failed" if rng.random() < FAILED_PRINT_RATE else "printed"
            status = any_client().complete(int(issuance["issuance_id"]), outcome)["status"]
            expected_status = "voided" if outcome == "failed" else "printed"
            if status != expected_status:
                problems.append(f"kiosk {kiosk.index}: complete({outcome}) answered {status}")
            with tally.lock:
                tally.mismatches.extend(problems)
                tally.outcomes[expected_status] += 1
                tally.issuance_ids[int(issuance["issuance_id"])] = kiosk.index
        any_client().session_end(sid)


def _sample_sum(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_wrong_person_campaign(tmp_path: Path, settings):
    seed = int(os.environ.get("PROOF_SEED", random.SystemRandom().randrange(1 << 30)))
    print(f"PROOF_SEED={seed}")
    settings.KONBINI_SIGNING_DIR = tmp_path / "signing"
    kiosks = kiosks_create(KIOSKS, pki_dir=tmp_path / "pki", settings=settings)
    in_use = set(FAMILY_NAMES[:KIOSKS])
    tally = Tally()
    env = app_environment(tmp_path, settings)
    started = time.monotonic()

    with gunicorn_servers(2, env, tmp_path) as servers:
        urls = [server.url for server in servers]
        with ThreadPoolExecutor(max_workers=KIOSKS) as pool:
            futures = [
                pool.submit(_kiosk_run, kiosk, urls, tally, in_use, seed + kiosk.index) for kiosk in kiosks
            ]
            errors: list[str] = []
            for future in futures:
                try:
                    future.result(timeout=3600)
                except KioskApiError as exc:
                    errors.append(f"{exc.status} {exc.code}: {exc.message}")
        scraped = [metrics_of(url) for url in urls]
    print(
        f"campaign: {tally.issued} issuances in {time.monotonic() - started:.0f}s; {dict(tally.outcomes)}; "
        f"abandoned issue calls {tally.abandoned_issues}, fetches {tally.abandoned_fetches}"
    )

    assert errors == [], errors[:10]
    assert tally.mismatches == [], tally.mismatches[:20]
    assert tally.issued == ISSUANCES and sum(tally.outcomes.values()) == ISSUANCES
    assert tally.abandoned_issues > 0 and tally.abandoned_fetches > 0 and tally.outcomes["voided"] > 0

    # Exactly one issuance per idempotency key: retries after abandoned answers created nothing.
    assert KioskIssuance.objects.count() == ISSUANCES
    records = IssuanceRecord.objects.all()
    assert records.count() == ISSUANCES
    assert Counter(records.values_list("status", flat=True)) == Counter(tally.outcomes)
    holder_of = {k.index: k.holder.pk for k in kiosks}
    by_record = dict(KioskIssuance.objects.values_list("pk", "issuance_record_id"))
    record_holder = dict(records.values_list("pk", "holder_resident_id"))
    for kiosk_issuance_id, kiosk_index in tally.issuance_ids.items():
        record_id = by_record[kiosk_issuance_id]
        assert record_id is not None and record_holder[record_id] == holder_of[kiosk_index]

    # Every issuance has its audit events: issued, then printed or voided, with its numbers.
    issued_events = Counter(
        n
        for numbers in AuditEvent.objects.filter(action="certificate.issued").values_list(
            "certificate_numbers", flat=True
        )
        for n in numbers
    )
    completed = Counter(
        AuditEvent.objects.filter(action__in=["certificate.printed", "certificate.voided"]).values_list(
            "action", flat=True
        )
    )
    all_numbers = [
        n for numbers in KioskIssuance.objects.values_list("certificate_numbers", flat=True) for n in numbers
    ]
    assert len(all_numbers) == len(set(all_numbers))
    assert all(issued_events[n] == 1 for n in all_numbers) and sum(issued_events.values()) == len(all_numbers)
    assert completed == Counter(
        {"certificate.printed": tally.outcomes["printed"], "certificate.voided": tally.outcomes["voided"]}
    )

    assert checkpoint_create() is not None
    call_command("audit_verify", checkpoint_dir=settings.AUDIT_CHECKPOINT_DIR)  # CommandError on a break

    # Both instances' /metrics: the same database figures, and between them every issue call timed.
    for text in scraped:
        assert _sample_sum(text, "konbini_issuances", status="printed") == tally.outcomes["printed"]
        assert _sample_sum(text, "konbini_issuances", status="voided") == tally.outcomes["voided"]
    timed = sum(
        _sample_sum(text, "konbini_http_request_duration_seconds_count", route="kiosk_api:issuance-create")
        for text in scraped
    )
    assert timed == tally.issue_calls

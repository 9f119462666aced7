"""Audit log benchmarks, each against a baseline measured in the same run (PostgreSQL).

    DATABASE_URL=postgres://... KONBINI_VAR_DIR=$(mktemp -d) .venv/bin/python bench/audit.py \
        [--issuances 40] [--events 1000000]

(a) Cost of auditing per issuance: ``certificates.services.certificate_issue`` (re-check, number,
    render, sign, self-check, record) timed with auditing, and with ``audit_record`` replaced by a
    no-op (the "without" arm), interleaved round by round so that machine load hits both arms
    alike. The "with" arm pays everything auditing costs the request: the event insert in the
    issuance's transaction and the after-commit seal of the chain. Target: at most +5 %.
(b) ``audit_verify`` throughput over ``--events`` events (default 1,000,000) inserted with COPY,
    the chain computed here exactly as the sealer does. Baseline: streaming the same rows with
    the same keyset query and no checking at all. Also reports the peak memory (bounded: the
    verifier reads in chunks).

(c) RFC 6962 consistency proofs over the same ``--events`` events: the checkpoint job's time to
    store the Merkle subtree hashes, then the time and size of proofs between random pairs of tree
    sizes (what a witness asks for). Baseline: one primary-key read of one chain link, the
    cheapest query there is. Targets: under 5 ms and at most 40 hashes per proof.

It creates and drops its own database (Django's test database for DATABASE_URL): it never touches
the developer's data.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saga_konbini.settings")
# Measured as deployed: with DEBUG on, Django records every SQL statement it runs.
os.environ.setdefault("DJANGO_DEBUG", "0")


def _setup() -> Any:
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("bench/audit.py needs PostgreSQL: set DATABASE_URL")
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    return old_name


def _teardown(old_name: Any) -> None:
    from django.db import connection

    connection.creation.destroy_test_db(old_name, verbosity=0)


# --- (a) cost of auditing per issuance -------------------------------------------------------


def bench_issuance(*, issuances: int) -> None:
    from django.conf import settings

    import certificates.services as certificate_services
    from audit.models import AuditEvent, AuditPending
    from audit.services import Actor
    from certificates.options import IssueRequest
    from certificates.services import certificate_issue
    from tests.certificates.factories import (
        ResidentFactory,
        SealRegistrationFactory,
        TaxAssessmentFactory,
        TaxPaymentFactory,
        jst,
        member_of,
    )

    settings.KONBINI_SIGNING_DIR = Path(tempfile.mkdtemp(prefix="bench-audit-signing-"))
    holders = []
    for _ in range(8):
        holder = ResidentFactory.create()
        member_of(holder)
        SealRegistrationFactory.create(resident=holder)
        TaxAssessmentFactory.create(resident=holder, fiscal_year=2026)
        TaxPaymentFactory.create(resident=holder, fiscal_year=2026)
        holders.append(holder)
    kiosk = Actor(kind="terminal", id="1", label="bench")
    now = jst(2026, 11, 26)
    request = IssueRequest(cert_type="juminhyo", copies=1)
    real_audit_record = certificate_services.audit_record

    def no_audit(**kwargs: Any) -> Any:
        return None

    def issue_once(index: int) -> float:
        started = time.perf_counter()
        certificate_issue(
            holder=holders[index % len(holders)],
            request=request,
            actor=kiosk,
            terminal_label="bench",
            now=now,
        )
        return time.perf_counter() - started

    for index in range(4):  # warm-up: fonts, keys, caches, connection
        issue_once(index)
    timings: dict[str, list[float]] = {"with": [], "without": []}
    rounds = max(1, issuances // 4)
    for round_index in range(rounds):
        # Alternate which arm goes first, so that drift in machine load is shared.
        arms = ("with", "without") if round_index % 2 == 0 else ("without", "with")
        for arm in arms:
            certificate_services.audit_record = real_audit_record if arm == "with" else no_audit
            try:
                for index in range(4):
                    timings[arm].append(issue_once(index))
            finally:
                certificate_services.audit_record = real_audit_record
    with_ms = statistics.median(timings["with"]) * 1000
    without_ms = statistics.median(timings["without"]) * 1000
    print("(a) cost of auditing per issuance (certificate_issue, 住民票 1 copy)")
    print(f"    issuances per arm: {len(timings['with'])}")
    print(f"    without auditing (baseline): median {without_ms:8.2f} ms")
    print(f"    with auditing:               median {with_ms:8.2f} ms")
    print(
        f"    ratio with/without: {with_ms / without_ms:.3f}"
        f"  ({(with_ms / without_ms - 1) * 100:+.1f} %, target ≤ +5 %)"
    )
    # The same cost measured directly: a transaction with one audit event (insert, commit,
    # after-commit seal) against the same transaction without it, interleaved.
    from django.db import connection, transaction

    from audit.services import audit_record

    def one(with_event: bool) -> float:
        started = time.perf_counter()
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            if with_event:
                audit_record(
                    actor=kiosk, action="bench.audit", resident_ids=[holders[0].pk], payload={"n": 1}
                )
        return time.perf_counter() - started

    direct: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(50):
        for with_event in (True, False):
            for _ in range(4):
                direct[with_event].append(one(with_event))
    audit_ms = (statistics.median(direct[True]) - statistics.median(direct[False])) * 1000
    print(f"    direct: one audited transaction costs +{audit_ms:.2f} ms over the same transaction")
    print(f"            ({len(direct[True])} each), i.e. {audit_ms / without_ms * 100:.1f} % of one issuance")
    chained = AuditEvent.objects.filter(action="certificate.issued").count()
    print(f"    events recorded: {chained}, left pending after the run: {AuditPending.objects.count()}")


# --- (b) audit_verify throughput ---------------------------------------------------------------


EVENT_COLUMNS = (
    "id, occurred_at, actor_kind, actor_id, actor_label, action, outcome, reason, resident_ids, "
    "certificate_numbers, source, request_id, payload"
)


def _copy_events(total: int, *, batch: int = 50_000) -> None:
    """COPY ``total`` events with their resident rows and chain links, hashed like the sealer."""
    from django.db import connection

    from audit.chain import GENESIS_HASH, event_canonical_bytes, link_hash

    start = datetime(2026, 4, 1, tzinfo=UTC)
    prev = GENESIS_HASH
    sealed_at = datetime.now(UTC)
    raw = connection.connection
    assert raw is not None
    for first in range(1, total + 1, batch):
        events, subjects, links = io.StringIO(), io.StringIO(), io.StringIO()
        for n in range(first, min(first + batch, total + 1)):
            occurred = start + timedelta(seconds=n)
            resident = n % 50_000 + 1
            actions = ("kiosk.issuance_created", "kiosk.authenticate", "sync.batch_applied")
            row = (
                n,
                occurred,
                "terminal",
                str(n % 40 + 1),
                f"端末 {n % 40 + 1}",
                actions[n % 3],
                "success",
                "",
                [resident],
                [f"41201-2026-{n:08d}"],
                "10.0.0.1",
                f"req-{n}",
                {"type": "juminhyo", "copies": 1, "session": f"s{n}"},
            )
            current = link_hash(prev_hash=prev, canonical=event_canonical_bytes(seq=n, row=row))
            json_cells = [json.dumps(row[8]), json.dumps(row[9]), json.dumps(row[12], ensure_ascii=False)]
            cells = [str(n), occurred.isoformat(), *map(str, row[2:8]), *json_cells[:2], row[10], row[11]]
            cells.append(json_cells[2])
            events.write("\t".join(c.replace("\\", "\\\\") for c in cells) + "\n")
            subjects.write(f"{n}\t{resident}\n")
            links.write(f"{n}\t{n}\t{prev}\t{current}\t{sealed_at.isoformat()}\n")
            prev = current
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY audit_auditevent ({EVENT_COLUMNS}) FROM STDIN") as copy:
                copy.write(events.getvalue())
            with cursor.copy("COPY audit_auditeventresident (event_id, resident_id) FROM STDIN") as copy:
                copy.write(subjects.getvalue())
            with cursor.copy(
                "COPY audit_auditchainlink (seq, event_id, prev_hash, hash, sealed_at) FROM STDIN"
            ) as copy:
                copy.write(links.getvalue())
        raw.commit()
    with raw.cursor() as cursor:
        cursor.execute("SELECT setval('audit_auditevent_id_seq', %s)", [total])
        cursor.execute("INSERT INTO audit_auditchainhead (id, seq, hash) VALUES (1, %s, %s)", [total, prev])
        cursor.execute("ANALYZE")
    raw.commit()


def bench_verify(*, total: int) -> None:
    from django.conf import settings

    from audit.chain import chain_links
    from audit.verification import chain_verify

    settings.AUDIT_CHECKPOINT_DIR = Path(tempfile.mkdtemp(prefix="bench-audit-checkpoints-"))
    started = time.perf_counter()
    _copy_events(total)
    loaded = time.perf_counter() - started
    print(f"(b) audit_verify throughput over {total:,} events (loaded with COPY in {loaded:.1f} s)")

    started = time.perf_counter()
    streamed = sum(len(chunk) for chunk in chain_links())
    baseline = time.perf_counter() - started
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    report = chain_verify()
    elapsed = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert streamed == total and report.ok and report.events_checked == total, report.first_break
    print(
        f"    baseline, streaming the rows unchecked: {baseline:7.1f} s  ({total / baseline:10,.0f} events/s)"
    )
    print(
        f"    audit_verify (hashes, index rows, ...): {elapsed:7.1f} s  ({total / elapsed:10,.0f} events/s)"
    )
    print(f"    ratio verify/stream: {elapsed / baseline:.2f}")
    print(f"    peak RSS: {rss_before / 1024:.0f} MiB before, {rss_after / 1024:.0f} MiB after verifying")


def bench_proofs(*, total: int, pairs: int = 200) -> None:
    import random

    from audit.checkpoints import checkpoint_create
    from audit.models import AuditChainLink, AuditMerkleNode
    from audit.transparency import consistency_proof_between

    started = time.perf_counter()
    checkpoint = checkpoint_create()
    signed = time.perf_counter() - started
    assert checkpoint is not None and checkpoint.tree_size == total
    nodes = AuditMerkleNode.objects.count()
    print(f"(c) consistency proofs over {total:,} events")
    print(f"    first checkpoint, subtree hashes stored: {signed:.1f} s ({nodes:,} subtree rows)")
    rng = random.Random(6962)
    sizes = [sorted((rng.randint(1, total), rng.randint(1, total))) for _ in range(pairs)]
    proof_times, lengths = [], []
    for first, second in sizes:
        started = time.perf_counter()
        proof = consistency_proof_between(first=first, second=second)
        proof_times.append(time.perf_counter() - started)
        lengths.append(len(proof))
    read_times = []
    for first, _ in sizes:
        started = time.perf_counter()
        AuditChainLink.objects.filter(seq=first).values_list("hash", flat=True).first()
        read_times.append(time.perf_counter() - started)
    proof_ms = sorted(t * 1000 for t in proof_times)
    read_ms = sorted(t * 1000 for t in read_times)
    p95 = int(len(proof_ms) * 0.95)
    print(
        f"    proof: median {statistics.median(proof_ms):.2f} ms, p95 {proof_ms[p95]:.2f} ms, "
        f"max {proof_ms[-1]:.2f} ms; hashes per proof: median {statistics.median(lengths):.0f}, "
        f"max {max(lengths)}"
    )
    print(f"    baseline, one chain link by primary key: median {statistics.median(read_ms):.2f} ms")
    print(f"    ratio proof/read (median): {statistics.median(proof_ms) / statistics.median(read_ms):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issuances", type=int, default=40, help="issuances per arm for (a)")
    parser.add_argument("--events", type=int, default=1_000_000, help="events for (b); 0 skips (b)")
    parser.add_argument("--skip-issuance", action="store_true", help="run (b) only")
    options = parser.parse_args()
    old_name = _setup()
    try:
        if not options.skip_issuance:
            bench_issuance(issuances=options.issuances)
        if options.events > 0:
            from django.db import connection, transaction

            tables = (
                "audit_auditevent, audit_auditeventresident, audit_auditchainlink, audit_auditpending, "
                "audit_auditchainhead, audit_auditcheckpoint, audit_auditmerklenode"
            ).split(", ")
            # (a) left its own events behind; (b) starts from an empty log. The bench owns its
            # database (it created it), and only the owner may switch the append-only triggers off.
            with transaction.atomic(), connection.cursor() as cursor:
                for table in tables:
                    cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
                cursor.execute(f"TRUNCATE {', '.join(tables)}")
                for table in tables:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            bench_verify(total=options.events)
            bench_proofs(total=options.events)
    finally:
        _teardown(old_name)


if __name__ == "__main__":
    main()

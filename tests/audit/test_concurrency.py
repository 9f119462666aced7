"""16 writers × 1,000 events on separate PostgreSQL connections: one chain, no gap, no fork."""

import threading

import pytest
from django.db import connection, connections, transaction

from audit.chain import chain_seal
from audit.models import AuditChainHead, AuditChainLink, AuditEvent, AuditPending
from audit.services import Actor, audit_record
from audit.verification import chain_verify

WRITERS = 16
EVENTS_PER_WRITER = 1000


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_leave_one_chain_without_gaps_or_forks():
    assert connection.vendor == "postgresql", "this test needs PostgreSQL row locks: set DATABASE_URL"
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            start.wait()
            actor = Actor.job(f"writer-{number}")
            for n in range(EVENTS_PER_WRITER):
                with transaction.atomic():
                    audit_record(
                        actor=actor, action="test.concurrent", resident_ids=[number], payload={"n": n}
                    )
        except Exception as exc:  # noqa: BLE001 -- any failure in a writer must fail the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]

    expected = WRITERS * EVENTS_PER_WRITER
    # Every after-commit sealer has run: nothing may be left for a later seal.
    assert chain_seal() == 0
    assert not AuditPending.objects.exists()
    assert AuditEvent.objects.count() == expected
    seqs = list(AuditChainLink.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, expected + 1))  # no gap, no duplicate
    assert AuditChainLink.objects.values("event_id").distinct().count() == expected  # each event once
    assert AuditChainHead.objects.get().seq == expected
    report = chain_verify()
    assert report.ok, report.first_break
    assert report.events_checked == expected
    # Each writer's events keep their own order along the chain.
    for number in (0, WRITERS - 1):
        ns = list(
            AuditChainLink.objects.filter(event__actor_id=f"writer-{number}")
            .order_by("seq")
            .values_list("event__payload__n", flat=True)
        )
        assert ns == list(range(EVENTS_PER_WRITER))

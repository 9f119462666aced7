import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection, connections, transaction

from audit.chain import GENESIS_HASH, chain_seal, event_canonical_bytes
from audit.checkpoints import checkpoint_create
from audit.models import (
    AuditChainHead,
    AuditChainLink,
    AuditEvent,
    AuditEventResident,
    AuditLogImmutableError,
    AuditPending,
)
from audit.services import Actor, AuditPayloadError, audit_record

pytestmark = pytest.mark.django_db


def test_events_are_chained_in_order_after_commit(record_events):
    events = record_events(3)

    links = list(AuditChainLink.objects.order_by("seq"))
    assert [link.seq for link in links] == [1, 2, 3]
    assert [link.event_id for link in links] == [event.pk for event in events]
    assert links[0].prev_hash == GENESIS_HASH
    assert links[1].prev_hash == links[0].hash
    assert AuditChainHead.objects.get().seq == 3
    assert not AuditPending.objects.exists()


def test_event_waits_in_the_pending_queue_until_its_transaction_commits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = audit_record(actor=Actor.system(), action="test.pending")
        audit_record(actor=Actor.system(), action="test.pending")
    assert AuditPending.objects.filter(event=event).exists()
    assert not AuditChainLink.objects.exists()
    # One sealer per transaction, however many events it wrote.
    assert len(callbacks) == 1


def test_link_hash_covers_the_documented_canonical_form(record_events):
    (event,) = record_events(1, resident_ids=(5, 2))
    link = AuditChainLink.objects.get(event=event)
    expected = {
        "v": 1,
        "seq": 1,
        "event_id": event.pk,
        "occurred_at": event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_kind": "job",
        "actor_id": "test",
        "actor_label": "test",
        "action": "kiosk.issue",
        "outcome": "success",
        "reason": "",
        "resident_ids": [2, 5],
        "certificate_numbers": ["C-0000"],
        "source": "",
        "request_id": "",
        "payload": {"cert_type": "juminhyo", "n": 0},
    }
    canonical = json.dumps(expected, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert link.hash == hashlib.sha256(bytes.fromhex(GENESIS_HASH) + canonical).hexdigest()


def test_canonical_time_is_utc_with_six_fraction_digits():
    row: tuple[Any, ...] = (
        1,
        datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
        "job",
        "x",
        "x",
        "a",
        "success",
        "",
        [],
        [],
        "",
        "",
        {},
    )
    assert b'"occurred_at":"2026-11-26T09:00:00.000000Z"' in event_canonical_bytes(seq=1, row=row)


def test_resident_index_rows_are_written_for_each_resident(record_events):
    (event,) = record_events(1, resident_ids=(3, 3, 8))
    assert sorted(AuditEventResident.objects.filter(event=event).values_list("resident_id", flat=True)) == [
        3,
        8,
    ]
    assert event.resident_ids == [3, 8]


def test_rolled_back_transaction_leaves_no_event_and_no_gap(record_events):
    record_events(1)
    try:
        with transaction.atomic():
            audit_record(actor=Actor.system(), action="test.rolled_back")
            raise RuntimeError("the act failed")
    except RuntimeError:
        pass
    record_events(1)
    assert list(AuditChainLink.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2]
    assert not AuditEvent.objects.filter(action="test.rolled_back").exists()


def test_sealer_chains_events_left_pending_by_a_dead_writer(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        audit_record(actor=Actor.system(), action="test.orphan")
    assert chain_seal() == 1
    assert chain_seal() == 0
    assert AuditChainHead.objects.get().seq == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"my_number": "x"},
        {"pin": "1234"},
        {"access_token": "abc"},
        {"nested": {"document_text": "x"}},
        {"items": [{"kojinBango": "x"}]},
        {"note": "番号 123456789012 を確認"},
    ],
)
def test_payload_with_personal_data_is_refused_and_nothing_is_written(payload):
    with pytest.raises(AuditPayloadError):
        audit_record(actor=Actor.system(), action="test.redaction", payload=payload)
    assert not AuditEvent.objects.exists()


def test_payload_error_message_does_not_echo_the_value():
    with pytest.raises(AuditPayloadError) as excinfo:
        audit_record(actor=Actor.system(), action="test.redaction", payload={"note": "123456789012"})
    assert "123456789012" not in str(excinfo.value)


def test_models_refuse_updates_and_deletes(record_events):
    (event,) = record_events(1)
    event.action = "changed"
    with pytest.raises(AuditLogImmutableError):
        event.save()
    with pytest.raises(AuditLogImmutableError):
        event.delete()
    with pytest.raises(AuditLogImmutableError):
        AuditEvent.objects.filter(pk=event.pk).update(action="changed")
    with pytest.raises(AuditLogImmutableError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditLogImmutableError):
        AuditChainLink.objects.all().delete()
    with pytest.raises(AuditLogImmutableError):
        AuditEventResident.objects.filter(event=event).update(resident_id=1)
    assert AuditEvent.objects.get(pk=event.pk).action == "kiosk.issue"


REFUSED_STATEMENTS = [
    "UPDATE audit_auditevent SET action = 'changed'",
    "DELETE FROM audit_auditevent",
    "UPDATE audit_auditchainlink SET hash = 'x'",
    "DELETE FROM audit_auditchainlink",
    "DELETE FROM audit_auditeventresident",
    "UPDATE audit_auditcheckpoint SET root_hash = 'x'",
    "DELETE FROM audit_auditcheckpoint",
    "TRUNCATE audit_auditevent CASCADE",
    "TRUNCATE audit_auditeventresident",
    "TRUNCATE audit_auditchainlink",
    "TRUNCATE audit_auditcheckpoint",
    "DELETE FROM audit_auditchainhead",
    "UPDATE audit_auditchainhead SET seq = 0",
]


@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
def test_postgresql_refuses_changes_to_the_log_even_to_the_owner():
    """Committed rows, raw SQL, each statement in its own transaction: every one is refused by the
    triggers, even to the owner of the tables (a DBA's slip; the application's role is refused
    before the triggers, tests/audit/test_database_roles.py)."""
    assert connection.vendor == "postgresql", "these tests exercise PostgreSQL triggers: set DATABASE_URL"
    for n in range(2):
        audit_record(actor=Actor.system(), action="test.committed", resident_ids=[n])
    assert checkpoint_create() is not None  # so the checkpoint table has a row to refuse changing
    owner = connections["owner"]
    for statement in REFUSED_STATEMENTS:
        with pytest.raises(Exception, match="audit") as excinfo, transaction.atomic(using="owner"):
            with owner.cursor() as cursor:
                cursor.execute(statement)
        assert "refused" in str(excinfo.value) or "forward" in str(excinfo.value), statement
    assert AuditEvent.objects.count() == 2
    assert AuditChainLink.objects.count() == 2
    assert AuditChainHead.objects.get().seq == 2


def test_orm_path_used_on_sqlite_builds_the_same_verifiable_chain(monkeypatch, record_events):
    """CI runs PostgreSQL; the ORM inserts and writes (SQLite) must give the same chain."""
    from audit import chain, services
    from audit.verification import chain_verify

    record_events(2)
    monkeypatch.setattr(services, "_insert_postgresql", services._insert_orm)
    monkeypatch.setattr(chain, "_write_links_postgresql", chain._write_links_orm)
    events = record_events(3, resident_ids=(4, 1))

    assert [link.seq for link in AuditChainLink.objects.order_by("seq")] == [1, 2, 3, 4, 5]
    assert sorted(
        AuditEventResident.objects.filter(event=events[0]).values_list("resident_id", flat=True)
    ) == [1, 4]
    assert not AuditPending.objects.exists()
    assert chain_verify().ok


def test_verifier_query_reads_the_columns_the_canonical_form_covers():
    from audit.chain import _CHAIN_SQL, EVENT_FIELDS

    selected = _CHAIN_SQL.split("SELECT", 1)[1].split("FROM", 1)[0]
    columns = [column.strip().split(".", 1)[1] for column in selected.split(",")]
    assert columns == ["seq", "prev_hash", "hash", *EVENT_FIELDS]


@pytest.mark.django_db(transaction=True)
def test_sealing_after_real_commits_chains_each_transaction_at_once():
    """Outside a test transaction the after-commit sealer takes its two-round-trip path."""
    from audit.verification import chain_verify

    first = audit_record(actor=Actor.system(), action="test.autocommit")  # creates the head row
    with transaction.atomic():
        second = audit_record(actor=Actor.system(), action="test.autocommit", resident_ids=[3])
        third = audit_record(actor=Actor.system(), action="test.autocommit", payload={"k": [1, 2]})
        assert AuditPending.objects.filter(event__in=[second, third]).count() == 2  # not before commit

    assert not AuditPending.objects.exists()
    links = list(AuditChainLink.objects.order_by("seq").values_list("seq", "event_id"))
    assert links == [(1, first.pk), (2, second.pk), (3, third.pk)]
    assert connection.get_autocommit() and not connection.in_atomic_block
    assert chain_verify().ok


@pytest.mark.django_db(transaction=True)
def test_a_database_gone_right_after_commit_defers_the_sealing_instead_of_failing_the_request(monkeypatch):
    from django.db import OperationalError

    from audit import chain
    from audit.models import AuditPending
    from audit.services import Actor, audit_record

    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(chain, "chain_seal", database_gone)
    event = audit_record(actor=Actor.job("test"), action="test.deferred")  # its commit runs the callback

    assert AuditPending.objects.filter(event_id=event.pk).exists()  # still queued, not lost
    monkeypatch.undo()
    chain.chain_seal()
    assert not AuditPending.objects.filter(event_id=event.pk).exists()


def test_sealer_reads_its_batch_by_primary_key_however_long_the_log_grows():
    """The seal runs after every audited commit; it must not scan the whole (ever growing) log."""
    from audit.chain import _SEAL_READ_SKIP_SQL

    assert connection.vendor == "postgresql", "this test reads PostgreSQL's plan: set DATABASE_URL"
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (occurred_at, actor_kind, actor_id, actor_label, action, outcome,"
            " reason, resident_ids, certificate_numbers, source, request_id, payload)"
            " SELECT now(), 'job', 'bench', 'bench', 'test.bulk', 'success', '', '[]', '[]', '', '', '{}'"
            " FROM generate_series(1, 20000)"
        )
        cursor.execute(
            "INSERT INTO audit_auditpending (event_id)"
            " SELECT id FROM audit_auditevent ORDER BY id DESC LIMIT 2"
        )
        read_statement = _SEAL_READ_SKIP_SQL.strip().split(";")[-1]
        cursor.execute("EXPLAIN " + read_statement, [2000])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "audit_auditevent_pkey" in plan, plan
    assert "Seq Scan on audit_auditevent" not in plan, plan

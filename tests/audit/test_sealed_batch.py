"""Events chained in their own transaction, in one statement before its commit (audit/sealed_batch.py)."""

import pytest
from django.db import connection, transaction

from audit.models import AuditChainHead, AuditChainLink, AuditEvent, AuditEventResident, AuditPending
from audit.sealed_batch import audit_sealed_batch
from audit.services import Actor, audit_record
from audit.verification import chain_verify

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement path is PostgreSQL's"),
]


def _head() -> tuple[int, str]:
    head = AuditChainHead.objects.get(pk=1)
    return head.seq, head.hash


def test_a_batch_is_inserted_and_chained_before_the_commit_and_verifies(tmp_path):
    audit_record(actor=Actor.system(), action="test.before")  # sealed after its commit; makes the head
    with transaction.atomic(), audit_sealed_batch() as batch:
        first = audit_record(actor=Actor.system(), action="test.batch", resident_ids=[7, 3])
        second = audit_record(
            actor=Actor.job("テスト"),
            action="test.batch",
            payload={"名前": "佐賀", "n": [1, {"b": 2, "a": None}]},
        )
        assert not AuditEvent.objects.filter(action="test.batch").exists()  # nothing until the flush
        batch.flush()
        # Chained inside the transaction, before its commit: nothing is left for a sealer.
        assert not AuditPending.objects.exists()
        assert _head()[0] == 3
    links = list(AuditChainLink.objects.order_by("seq").values_list("seq", "event_id"))
    assert links[1:] == [(2, first.pk), (3, second.pk)]
    assert sorted(
        AuditEventResident.objects.filter(event_id=first.pk).values_list("resident_id", flat=True)
    ) == [
        3,
        7,
    ]
    report = chain_verify(checkpoint_dir=tmp_path)
    assert report.first_break is None and report.pending == 0


def test_a_rolled_back_batch_leaves_neither_events_nor_links_and_the_head_unmoved():
    audit_record(actor=Actor.system(), action="test.before")
    before = _head()
    with pytest.raises(RuntimeError), transaction.atomic(), audit_sealed_batch() as batch:
        audit_record(actor=Actor.system(), action="test.batch")
        batch.flush()
        raise RuntimeError("the act failed after its events were written")
    assert _head() == before
    assert not AuditEvent.objects.filter(action="test.batch").exists()
    assert AuditChainLink.objects.count() == before[0]


def test_what_postgresql_would_store_differently_goes_to_the_sealer_and_still_verifies(tmp_path):
    audit_record(actor=Actor.system(), action="test.before")
    with transaction.atomic(), audit_sealed_batch() as batch:
        # jsonb keeps 1e+20 as a numeric that reads back as an int: hashed after reading it back.
        audit_record(actor=Actor.system(), action="test.batch", payload={"ratio": 1e20})
        batch.flush()
        assert AuditPending.objects.count() == 1
    assert not AuditPending.objects.exists()  # sealed after the commit
    assert chain_verify(checkpoint_dir=tmp_path).first_break is None


def test_without_a_head_row_the_batch_waits_for_the_sealer(tmp_path):
    assert not AuditChainHead.objects.exists()
    with transaction.atomic(), audit_sealed_batch() as batch:
        audit_record(actor=Actor.system(), action="test.batch")
        batch.flush()
    assert _head()[0] == 1 and not AuditPending.objects.exists()
    assert chain_verify(checkpoint_dir=tmp_path).first_break is None


def test_an_event_inside_a_rolled_back_savepoint_is_not_chained_for_an_act_that_never_happened(tmp_path):
    audit_record(actor=Actor.system(), action="test.before")
    with transaction.atomic(), audit_sealed_batch() as batch:
        kept = audit_record(actor=Actor.system(), action="test.kept")
        with pytest.raises(RuntimeError), transaction.atomic():
            audit_record(actor=Actor.system(), action="test.undone")
            raise RuntimeError("the inner act failed and was caught")
        batch.flush()
    assert not AuditEvent.objects.filter(action="test.undone").exists()
    assert AuditChainLink.objects.filter(event_id=kept.pk).exists()
    assert chain_verify(checkpoint_dir=tmp_path).first_break is None


def test_a_transaction_doomed_to_roll_back_refuses_an_event_loudly():
    from django.db.transaction import TransactionManagementError

    audit_record(actor=Actor.system(), action="test.before")
    with transaction.atomic(), audit_sealed_batch():
        transaction.set_rollback(True)
        with pytest.raises(TransactionManagementError):
            audit_record(actor=Actor.system(), action="test.lost")


def test_a_text_field_given_as_a_number_is_hashed_as_stored(tmp_path):
    audit_record(actor=Actor.system(), action="test.before")
    event = None
    with transaction.atomic(), audit_sealed_batch() as batch:
        event = audit_record(actor=Actor.system(), action="test.batch")
        event.actor_id = 42  # stored as the text "42"
        batch.flush()
        assert AuditPending.objects.filter(event_id=event.pk).exists()  # left to the sealer
    assert chain_verify(checkpoint_dir=tmp_path).first_break is None

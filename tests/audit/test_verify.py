import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.checkpoints import checkpoint_create
from audit.models import AuditCheckpoint
from audit.verification import chain_verify
from tests.audit.conftest import AS_OWNER, owner_sql, triggers_disabled

pytestmark = pytest.mark.django_db

EVENT_TABLES = (
    "audit_auditevent",
    "audit_auditeventresident",
    "audit_auditchainlink",
    "audit_auditchainhead",
    "audit_auditcheckpoint",
)


def run_verify() -> tuple[int, str]:
    """Run the command as the shell does: its exit status and what it printed."""
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + err.getvalue() + str(exc)
    return 0, out.getvalue()


def reset_head(seq: int) -> None:
    owner_sql(
        "UPDATE audit_auditchainhead SET seq = %s,"
        " hash = (SELECT hash FROM audit_auditchainlink WHERE seq = %s)",
        (seq, seq),
    )


def test_intact_log_verifies_with_exit_zero(record_events):
    record_events(4)
    checkpoint_create()
    record_events(3)
    checkpoint_create()
    record_events(2)  # after the last checkpoint: still chained and checked

    status, output = run_verify()

    assert status == 0, output
    assert "9 件" in output
    report = chain_verify()
    assert report.ok and report.checkpoints_checked == 2 and report.events_checked == 9


@AS_OWNER
def test_event_edited_behind_the_applications_back_is_found(record_events):
    events = record_events(5)
    checkpoint_create()
    with triggers_disabled("audit_auditevent"):
        owner_sql("UPDATE audit_auditevent SET actor_label = 'someone else' WHERE id = %s", (events[2].pk,))

    status, output = run_verify()

    assert status != 0
    assert "event_altered" in output and "seq=3" in output
    assert f"イベントID {events[2].pk}" in output


@AS_OWNER
def test_payload_edit_is_found_even_before_any_checkpoint(record_events):
    events = record_events(3)
    with triggers_disabled("audit_auditevent"):
        owner_sql("UPDATE audit_auditevent SET payload = '{\"n\": 99}' WHERE id = %s", (events[1].pk,))
    report = chain_verify()
    assert report.first_break is not None
    assert (report.first_break.code, report.first_break.seq) == ("event_altered", 2)


@AS_OWNER
def test_removed_resident_index_row_is_found(record_events):
    events = record_events(3, resident_ids=(11,))
    with triggers_disabled("audit_auditeventresident"):
        owner_sql("DELETE FROM audit_auditeventresident WHERE event_id = %s", (events[0].pk,))
    report = chain_verify()
    assert report.first_break is not None
    assert (report.first_break.code, report.first_break.seq) == ("subjects_altered", 1)


@AS_OWNER
def test_rewritten_chain_without_the_key_fails_at_the_checkpoint(record_events):
    """A DBA recomputes every hash after an edit: the chain holds, the signed root does not."""
    events = record_events(3)
    checkpoint_create()
    from audit.chain import EVENT_FIELDS, GENESIS_HASH, event_canonical_bytes, link_hash
    from audit.models import AuditEvent

    with triggers_disabled("audit_auditevent", "audit_auditchainlink", "audit_auditchainhead"):
        owner_sql("UPDATE audit_auditevent SET reason = 'forged' WHERE id = %s", (events[0].pk,))
        prev = GENESIS_HASH
        for seq, event in enumerate(events, start=1):
            row = AuditEvent.objects.filter(pk=event.pk).values_list(*EVENT_FIELDS).get()
            current = link_hash(prev_hash=prev, canonical=event_canonical_bytes(seq=seq, row=row))
            owner_sql(
                "UPDATE audit_auditchainlink SET prev_hash = %s, hash = %s WHERE seq = %s",
                (prev, current, seq),
            )
            prev = current
        owner_sql("UPDATE audit_auditchainhead SET hash = %s", (prev,))

    report = chain_verify()
    assert report.first_break is not None
    assert report.first_break.code == "checkpoint_root_mismatch"
    assert report.first_break.seq == 3


@AS_OWNER
def test_removed_tail_is_found(record_events):
    record_events(6)
    checkpoint_create()
    with triggers_disabled(*EVENT_TABLES):
        owner_sql(
            "DELETE FROM audit_auditeventresident WHERE event_id IN "
            "(SELECT event_id FROM audit_auditchainlink WHERE seq > 4)"
        )
        owner_sql("CREATE TEMP TABLE gone AS SELECT event_id FROM audit_auditchainlink WHERE seq > 4")
        owner_sql("DELETE FROM audit_auditchainlink WHERE seq > 4")
        owner_sql("DELETE FROM audit_auditevent WHERE id IN (SELECT event_id FROM gone)")
        reset_head(4)

    status, output = run_verify()

    assert status != 0
    assert "tail_removed" in output and "seq=5" in output


@AS_OWNER
def test_removed_tail_with_its_database_checkpoint_is_found_by_the_file(record_events):
    record_events(6)
    checkpoint_create()
    with triggers_disabled(*EVENT_TABLES):
        owner_sql("DELETE FROM audit_auditcheckpoint")
        owner_sql(
            "DELETE FROM audit_auditeventresident WHERE event_id IN "
            "(SELECT event_id FROM audit_auditchainlink WHERE seq > 2)"
        )
        owner_sql("CREATE TEMP TABLE gone AS SELECT event_id FROM audit_auditchainlink WHERE seq > 2")
        owner_sql("DELETE FROM audit_auditchainlink WHERE seq > 2")
        owner_sql("DELETE FROM audit_auditevent WHERE id IN (SELECT event_id FROM gone)")
        reset_head(2)
    report = chain_verify()
    assert report.first_break is not None
    assert (report.first_break.code, report.first_break.seq) == ("tail_removed", 3)


@AS_OWNER
def test_file_checkpoint_missing_from_the_database_is_found(record_events):
    record_events(4)
    checkpoint_create()
    with triggers_disabled("audit_auditcheckpoint"):
        owner_sql("DELETE FROM audit_auditcheckpoint")
    report = chain_verify()
    assert report.first_break is not None
    assert report.first_break.code == "checkpoint_missing_from_db"


def test_checkpoint_file_with_a_forged_root_is_found(record_events, settings):
    record_events(4)
    checkpoint = checkpoint_create()
    assert checkpoint is not None
    path = settings.AUDIT_CHECKPOINT_DIR / "checkpoint-000000000004.json"
    data = json.loads(path.read_text())
    data["root_hash"] = "00" * 32
    path.write_text(json.dumps(data))
    report = chain_verify()
    assert report.first_break is not None
    assert report.first_break.code == "checkpoint_bad_signature"


def test_checkpoint_signed_with_another_key_is_refused(record_events, settings):
    record_events(2)
    checkpoint_create()
    (settings.VAR_DIR / "secrets" / "audit_signing_key.pem").unlink()  # next use creates a new key
    report = chain_verify()
    assert report.first_break is not None
    assert report.first_break.code == "checkpoint_unknown_key"


@AS_OWNER
def test_event_neither_chained_nor_pending_is_found(record_events):
    events = record_events(3)
    with triggers_disabled(*EVENT_TABLES):
        owner_sql("DELETE FROM audit_auditchainlink WHERE seq = 3")
        reset_head(2)
    report = chain_verify()
    assert report.first_break is not None
    assert (report.first_break.code, report.first_break.event_id) == ("event_unchained", events[2].pk)


def test_verification_reads_in_chunks_and_changes_nothing(record_events, django_assert_max_num_queries):
    record_events(12)
    checkpoint_create()
    before = AuditCheckpoint.objects.count()
    report = chain_verify(chunk_size=5)
    assert report.ok and report.events_checked == 12
    assert AuditCheckpoint.objects.count() == before

"""``audit_checkpoint`` (SPEC §7): what the periodic job does, for an operator."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditCheckpoint
from tests.audit.conftest import AS_OWNER, triggers_disabled

pytestmark = pytest.mark.django_db


def _run() -> str:
    out = StringIO()
    call_command("audit_checkpoint", stdout=out)
    return out.getvalue()


def test_signs_a_checkpoint_of_the_whole_chain_and_then_nothing_until_it_grows(record_events, settings):
    record_events(5)
    assert "tree size 5" in _run()
    assert AuditCheckpoint.objects.get().tree_size == 5
    assert (settings.AUDIT_CHECKPOINT_DIR / "checkpoint-000000000005.json").exists()
    assert "nothing new" in _run()
    record_events(2)
    assert "tree size 7" in _run()


@AS_OWNER
def test_refuses_to_sign_over_an_altered_event(record_events):
    record_events(3)
    _run()
    record_events(2)
    with triggers_disabled("audit_auditevent") as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET action = 'x'"
            " WHERE id = (SELECT event_id FROM audit_auditchainlink WHERE seq = 5)"
        )
    with pytest.raises(CommandError, match="seq=5"):
        _run()
    assert AuditCheckpoint.objects.count() == 1


@AS_OWNER
def test_the_signer_will_not_extend_a_checkpoint_it_did_not_sign(record_events):
    """A checkpoint row planted by whoever can insert (the application can): the real key must not
    sign on top of it."""
    from audit.checkpoints import checkpoint_create

    record_events(4)
    planted = checkpoint_create()
    assert planted is not None
    with triggers_disabled("audit_auditcheckpoint") as cursor:
        cursor.execute("UPDATE audit_auditcheckpoint SET signature = %s", ["A" * 88])
    record_events(2)
    with pytest.raises(CommandError, match="not signed by a trusted key"):
        _run()
    assert AuditCheckpoint.objects.count() == 1


@AS_OWNER
def test_the_signer_will_not_extend_a_planted_frontier(record_events):
    record_events(4)
    _run()
    with triggers_disabled("audit_auditcheckpoint") as cursor:
        cursor.execute("UPDATE audit_auditcheckpoint SET frontier = %s::jsonb", [f'[[4, "{"00" * 32}"]]'])
    record_events(2)
    with pytest.raises(CommandError, match="does not match its frontier"):
        _run()


def test_a_planted_subtree_row_stops_the_signer_loudly(record_events):
    from django.db import IntegrityError

    from audit.models import AuditMerkleNode

    record_events(10)
    _run()
    AuditMerkleNode.objects.create(level=4, index=0, hash="00" * 32)  # ahead of the signer
    record_events(6)
    with pytest.raises(IntegrityError):
        _run()
    assert AuditCheckpoint.objects.count() == 1

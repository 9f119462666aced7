"""The audit log's public tree heads and consistency proofs (SPEC §6), and the witness (SPEC §7)."""

from __future__ import annotations

import base64
from io import StringIO

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.chain import GENESIS_HASH
from audit.checkpoints import checkpoint_as_dict, checkpoint_create
from audit.merkle import consistency_proof_verify, merkle_root
from audit.models import AuditChainLink, AuditCheckpoint, AuditMerkleNode
from audit.verification import chain_verify
from tests.audit.conftest import AS_OWNER, triggers_disabled

AUDIT_TABLES = (
    "audit_auditeventresident",
    "audit_auditpending",
    "audit_auditchainlink",
    "audit_auditcheckpoint",
    "audit_auditmerklenode",
    "audit_auditevent",
    "audit_auditchainhead",
)


def _leaves(size: int) -> list[bytes]:
    hashes = AuditChainLink.objects.filter(seq__lte=size).order_by("seq").values_list("hash", flat=True)
    return [bytes.fromhex(digest) for digest in hashes]


@pytest.mark.django_db
def test_the_checkpoint_job_stores_the_subtrees_it_completes(record_events):
    record_events(40)
    checkpoint = checkpoint_create()
    assert checkpoint is not None and checkpoint.tree_size == 40
    stored = {(n.level, n.index): n.hash for n in AuditMerkleNode.objects.all()}
    # 40 leaves: two complete 16-leaf subtrees and one of 32; nothing below level 4 is stored.
    assert set(stored) == {(4, 0), (4, 1), (5, 0)}
    leaves = _leaves(40)
    assert stored[(4, 1)] == merkle_root(leaves[16:32]).hex()
    assert stored[(5, 0)] == merkle_root(leaves[:32]).hex()


@pytest.mark.django_db
def test_checkpoint_and_proof_are_public_json_without_personal_data(client, record_events):
    record_events(21, resident_ids=(1234,))
    first = checkpoint_create()
    record_events(50, resident_ids=(1234,))
    second = checkpoint_create()
    assert first is not None and second is not None

    head = client.get("/audit/transparency/checkpoint")
    assert head.status_code == 200
    assert head.json() == checkpoint_as_dict(second)
    assert set(head.json()) == {
        "kind", "v", "tree_size", "root_hash", "chain_hash", "created_at", "key_id", "signature",
    }  # fmt: skip

    answer = client.get(f"/audit/transparency/consistency?first={first.tree_size}&second={second.tree_size}")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"first", "second", "proof"}
    proof = [base64.b64decode(item) for item in body["proof"]]
    assert consistency_proof_verify(
        first=21,
        second=71,
        first_hash=bytes.fromhex(first.root_hash),
        second_hash=bytes.fromhex(second.root_hash),
        proof=proof,
    )
    assert b"1234" not in answer.content and b"1234" not in head.content


@pytest.mark.django_db
def test_a_proof_costs_a_few_reads_whatever_the_sizes(client, record_events, django_assert_max_num_queries):
    record_events(100)
    checkpoint_create()
    for first, second in [(1, 100), (37, 99), (64, 100), (99, 100), (100, 100)]:
        with django_assert_max_num_queries(3):
            answer = client.get(f"/audit/transparency/consistency?first={first}&second={second}")
        assert answer.status_code == 200, answer.content
        proof = [base64.b64decode(item) for item in answer.json()["proof"]]
        leaves = _leaves(100)
        assert consistency_proof_verify(
            first=first,
            second=second,
            first_hash=merkle_root(leaves[:first]),
            second_hash=merkle_root(leaves[:second]),
            proof=proof,
        )


@pytest.mark.django_db
def test_bad_requests_are_refused_clearly(client, record_events):
    assert client.get("/audit/transparency/checkpoint").status_code == 404  # nothing signed yet
    record_events(5)
    checkpoint_create()
    assert client.get("/audit/transparency/consistency?first=a&second=5").status_code == 400
    assert client.get("/audit/transparency/consistency?first=4&second=3").status_code == 400
    beyond = client.get("/audit/transparency/consistency?first=1&second=6")
    assert beyond.status_code == 400 and "newest checkpoint" in beyond.json()["error"]
    assert client.post("/audit/transparency/checkpoint").status_code == 405


@AS_OWNER
def test_subtrees_of_a_log_checkpointed_before_they_were_stored_are_filled_in(client, record_events):
    record_events(33)
    first = checkpoint_create()
    with triggers_disabled("audit_auditmerklenode") as cursor:
        cursor.execute("DELETE FROM audit_auditmerklenode")
    record_events(20)
    second = checkpoint_create()
    assert first is not None and second is not None
    assert AuditMerkleNode.objects.filter(level=5, index=0).exists()
    answer = client.get("/audit/transparency/consistency?first=33&second=53")
    assert answer.status_code == 200
    assert consistency_proof_verify(
        first=33,
        second=53,
        first_hash=bytes.fromhex(first.root_hash),
        second_hash=bytes.fromhex(second.root_hash),
        proof=[base64.b64decode(item) for item in answer.json()["proof"]],
    )


@pytest.mark.django_db
def test_merkle_nodes_are_append_only_in_the_database(record_events):
    from django.db import DatabaseError, transaction

    record_events(16)
    checkpoint_create()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditmerklenode SET hash = %s", ["0" * 64])


# --- The witness ----------------------------------------------------------------------------


def _witness(state, url, **options) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("audit_witness", state=str(state), source=url, stdout=out, **options)
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, out.getvalue()


def _wipe_the_log() -> None:
    """What someone holding the database owner's rights can do: empty every audit table."""
    with triggers_disabled(*AUDIT_TABLES) as cursor:
        for table in AUDIT_TABLES[:-1]:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        cursor.execute("UPDATE audit_auditchainhead SET seq = 0, hash = %s", [GENESIS_HASH])


def _remove_newest(keep: int) -> None:
    """Remove every event after ``keep`` and every trace of it, as an owner with the key would."""
    with triggers_disabled(*AUDIT_TABLES) as cursor:
        cursor.execute(
            "CREATE TEMP TABLE gone AS SELECT event_id FROM audit_auditchainlink WHERE seq > %s", [keep]
        )
        cursor.execute("DELETE FROM audit_auditeventresident WHERE event_id IN (SELECT event_id FROM gone)")
        cursor.execute("DELETE FROM audit_auditchainlink WHERE seq > %s", [keep])
        cursor.execute("DELETE FROM audit_auditevent WHERE id IN (SELECT event_id FROM gone)")
        cursor.execute("DELETE FROM audit_auditcheckpoint")
        cursor.execute("DELETE FROM audit_auditmerklenode")
        cursor.execute(
            "UPDATE audit_auditchainhead SET seq = %s,"
            " hash = (SELECT hash FROM audit_auditchainlink WHERE seq = %s)",
            [keep, keep],
        )
        cursor.execute("DROP TABLE gone")


@AS_OWNER
def test_witness_follows_an_honest_log_and_catches_a_removed_tail(
    live_server, record_events, tmp_path, settings
):
    state = tmp_path / "witness"
    record_events(12)
    checkpoint_create()
    assert _witness(state, live_server.url)[0] == 0
    record_events(25)
    checkpoint_create()
    status, output = _witness(state, live_server.url)
    assert status == 0 and "12 -> 37" in output

    # Full compromise: owner rights and the signing key. The newest events go, the chain and its
    # checkpoint are rebuilt and re-signed with the city's own key, the checkpoint files replaced.
    _remove_newest(keep=30)
    for path in settings.AUDIT_CHECKPOINT_DIR.glob("*.json"):
        path.unlink()
    checkpoint_create()
    report = chain_verify()
    assert report.first_break is None  # the log looks whole from inside

    status, output = _witness(state, live_server.url)
    assert status != 0
    assert "30 < 37" in output
    # The witness keeps what it saw: it fails again next time, too.
    assert "37" in (state / "checkpoint.json").read_text()
    assert _witness(state, live_server.url)[0] != 0


@AS_OWNER
def test_witness_catches_a_rewritten_history_that_grew(live_server, record_events, tmp_path):
    state = tmp_path / "witness"
    record_events(20)
    checkpoint_create()
    assert _witness(state, live_server.url)[0] == 0

    _wipe_the_log()
    record_events(45, action="kiosk.session_started")  # a different past, and longer
    checkpoint_create()

    status, output = _witness(state, live_server.url)
    assert status != 0
    assert "from tree size 20 to 45 does not hold" in output


@pytest.mark.django_db(transaction=True)
def test_witness_refuses_a_checkpoint_signed_by_a_key_it_does_not_trust(live_server, record_events, tmp_path):
    record_events(3)
    checkpoint_create()
    other = tmp_path / "other.pem"
    other.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    status, output = _witness(tmp_path / "witness", live_server.url, public_key=str(other))
    assert status != 0 and "bad signature" in output
    assert not (tmp_path / "witness" / "checkpoint.json").exists()
    assert AuditCheckpoint.objects.count() == 1


@AS_OWNER
def test_audit_verify_checks_each_checkpoint_against_the_one_before_with_proofs(record_events):
    record_events(20)
    checkpoint_create()
    record_events(20)
    checkpoint_create()
    assert chain_verify().first_break is None
    # A stored subtree hash altered (what witnesses' proofs are built from): the proof between
    # the two checkpoints no longer holds, and audit_verify names the sizes.
    with triggers_disabled("audit_auditmerklenode") as cursor:
        cursor.execute(
            "UPDATE audit_auditmerklenode SET hash = %s WHERE level = 4 AND index = 0", ["ab" * 32]
        )
    broken = chain_verify().first_break
    assert broken is not None and broken.code == "checkpoint_inconsistent"
    assert "20" in broken.message and "40" in broken.message


@pytest.mark.django_db(transaction=True)
def test_witness_refuses_a_head_signed_by_a_key_older_than_the_kept_one(
    live_server, record_events, tmp_path, monkeypatch
):
    """After a rotation, a head signed with the retired key (leaked, say) is refused."""
    from audit.checkpoints import private_key_pem
    from audit.keyring import public_key_pem

    old_key, new_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    monkeypatch.setenv("AUDIT_SIGNING_KEY", private_key_pem(old_key))
    record_events(3)
    checkpoint_create()
    monkeypatch.setenv("AUDIT_SIGNING_KEY", private_key_pem(new_key))
    monkeypatch.setenv("AUDIT_RETIRED_PUBLIC_KEYS", public_key_pem(old_key.public_key()))
    record_events(3)
    checkpoint_create()
    state = tmp_path / "witness"
    assert _witness(state, live_server.url)[0] == 0
    # Someone with the retired key signs a longer, invented log.
    monkeypatch.setenv("AUDIT_SIGNING_KEY", private_key_pem(old_key))
    record_events(3)
    checkpoint_create()
    monkeypatch.setenv("AUDIT_SIGNING_KEY", private_key_pem(new_key))
    status, output = _witness(state, live_server.url)
    assert status != 0 and "older than key" in output


@pytest.mark.django_db(transaction=True)
def test_witness_says_plainly_when_nothing_is_signed_yet(live_server, tmp_path):
    status, output = _witness(tmp_path / "witness", live_server.url)
    assert status != 0 and "no checkpoint has been signed yet" in output

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.checkpoints import checkpoint_create, checkpoint_message, checkpoint_public_key, key_id_for
from audit.merkle import MerkleFrontier, merkle_root
from audit.models import AuditChainLink


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_merkle_root_of_three_leaves_matches_the_hand_computed_tree():
    a, b, c = b"a", b"b", b"c"
    # RFC 6962: n=3 splits at k=2: MTH = H(0x01 || H(0x01 || H(0x00||a) || H(0x00||b)) || H(0x00||c))
    left = sha(b"\x01" + sha(b"\x00" + a) + sha(b"\x00" + b))
    expected = sha(b"\x01" + left + sha(b"\x00" + c))
    assert merkle_root([a, b, c]) == expected


def test_merkle_root_of_five_leaves_puts_four_on_the_left():
    leaves = [bytes([n]) for n in range(5)]
    hashes = [sha(b"\x00" + leaf) for leaf in leaves]
    four = sha(b"\x01" + sha(b"\x01" + hashes[0] + hashes[1]) + sha(b"\x01" + hashes[2] + hashes[3]))
    assert merkle_root(leaves) == sha(b"\x01" + four + hashes[4])


def test_empty_and_single_leaf_trees_follow_the_rfc():
    assert merkle_root([]) == sha(b"")
    assert merkle_root([b"x"]) == sha(b"\x00x")


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33, 100])
def test_incremental_frontier_agrees_with_the_recursive_definition(size):
    leaves = [sha(str(n).encode()) for n in range(size)]
    frontier = MerkleFrontier()
    for leaf in leaves:
        frontier.add(leaf)
    assert frontier.size == size
    assert frontier.root() == merkle_root(leaves)
    assert MerkleFrontier.from_json(frontier.to_json()).root() == frontier.root()


@pytest.mark.parametrize("cuts", [(0, 0), (1, 1), (3, 17), (8, 8), (5, 64), (63, 64), (64, 100)])
def test_extending_in_batches_agrees_with_adding_one_leaf_at_a_time(cuts):
    """The verifier's batch path, from any frontier (a --since-last run starts from a stored one)."""
    leaves = [sha(str(n).encode()) for n in range(100)]
    first, second = cuts
    frontier = MerkleFrontier()
    frontier.extend(leaves[:first])
    frontier = MerkleFrontier.from_json(frontier.to_json())
    frontier.extend(leaves[first:second])
    frontier.extend(leaves[second:])
    one_by_one = MerkleFrontier()
    for leaf in leaves:
        one_by_one.add(leaf)
    assert frontier.to_json() == one_by_one.to_json()
    assert frontier.root() == merkle_root(leaves)
    partial = MerkleFrontier()
    partial.extend(leaves[:second])
    assert partial.size == second and partial.root() == merkle_root(leaves[:second])


def test_frontier_that_is_not_one_is_rejected():
    with pytest.raises(ValueError):
        MerkleFrontier.from_json([[3, "00" * 32]])


@pytest.mark.django_db
def test_checkpoint_signs_the_merkle_root_of_the_chain(record_events):
    record_events(5)
    checkpoint = checkpoint_create()
    assert checkpoint is not None
    leaves = [bytes.fromhex(h) for h in AuditChainLink.objects.order_by("seq").values_list("hash", flat=True)]
    assert checkpoint.tree_size == 5
    assert checkpoint.root_hash == merkle_root(leaves).hex()
    assert checkpoint.chain_hash == AuditChainLink.objects.get(seq=5).hash
    public_key: Ed25519PublicKey = checkpoint_public_key()
    assert checkpoint.key_id == key_id_for(public_key)
    message = checkpoint_message(
        tree_size=5,
        root_hash=checkpoint.root_hash,
        chain_hash=checkpoint.chain_hash,
        created_at=checkpoint.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        key_id=checkpoint.key_id,
    )
    public_key.verify(base64.b64decode(checkpoint.signature), message)  # raises when wrong


@pytest.mark.django_db
def test_next_checkpoint_extends_the_tree_and_none_when_nothing_new(record_events, settings):
    record_events(3)
    first = checkpoint_create()
    assert checkpoint_create() is None
    record_events(4)
    second = checkpoint_create()
    assert first is not None and second is not None
    leaves = [bytes.fromhex(h) for h in AuditChainLink.objects.order_by("seq").values_list("hash", flat=True)]
    assert second.tree_size == 7
    assert second.root_hash == merkle_root(leaves).hex()
    files = sorted(p.name for p in settings.AUDIT_CHECKPOINT_DIR.iterdir())
    assert files == ["checkpoint-000000000003.json", "checkpoint-000000000007.json"]


@pytest.mark.django_db
def test_signing_key_is_created_once_in_development(record_events, settings):
    record_events(1)
    checkpoint_create()
    key_file = settings.VAR_DIR / "secrets" / "audit_signing_key.pem"
    first = key_file.read_text()
    assert "PRIVATE KEY" in first
    record_events(1)
    checkpoint_create()
    assert key_file.read_text() == first


@pytest.mark.django_db
def test_checkpoints_verify_with_the_public_key_alone(record_events, settings, monkeypatch):
    from cryptography.hazmat.primitives import serialization

    from audit.verification import chain_verify

    record_events(3)
    checkpoint_create()
    public_pem = checkpoint_public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (settings.VAR_DIR / "secrets" / "audit_signing_key.pem").unlink()
    monkeypatch.setenv("AUDIT_PUBLIC_KEY", public_pem.decode())

    assert chain_verify().ok
    monkeypatch.setenv(
        "AUDIT_PUBLIC_KEY",
        (
            Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        ),
    )
    report = chain_verify()
    assert report.first_break is not None and report.first_break.code == "checkpoint_unknown_key"

"""Signed checkpoints of the audit chain (SPEC §6).

Every ``AUDIT_CHECKPOINT_SECONDS`` the beat task signs, with the city's audit key (Ed25519), the
RFC 6962 Merkle root over all chained events so far (audit/merkle.py), and stores the checkpoint
twice: as a row, and as a JSON file in ``AUDIT_CHECKPOINT_DIR``, outside the database, so that even
someone who can rewrite the database (and disable its triggers) cannot rewrite history unseen.

Signed message: UTF-8 of the sorted-key compact JSON object
``{"kind": "saga-konbini-audit-checkpoint", "v": 1, "tree_size", "root_hash", "chain_hash",
"created_at", "key_id"}``; ``created_at`` in the chain's UTC format; ``key_id`` is the first 16 hex
digits of SHA-256 over the raw public key.

The signing key comes from ``AUDIT_SIGNING_KEY`` (PKCS#8 PEM) or the file named by
``AUDIT_SIGNING_KEY_FILE``; in development only, it is created once under ``VAR_DIR/secrets``.
Verification may use ``AUDIT_PUBLIC_KEY`` / ``AUDIT_PUBLIC_KEY_FILE`` instead (no private key).
Checkpoints signed by earlier keys verify with the retired public keys (audit/keyring.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.chain import GENESIS_HASH, canonical_time, chain_links, chain_seal, check_links
from audit.merkle import MerkleFrontier
from audit.models import AuditChainHead, AuditCheckpoint, AuditMerkleNode
from saga_konbini.env import env_secret

CHECKPOINT_FILE_PATTERN = re.compile(r"checkpoint-(\d{12})\.json")


class CheckpointUntrusted(RuntimeError):
    """The newest stored checkpoint is not one the city signed: the signer will not extend it."""


def private_key_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _new_private_key_pem() -> str:
    return private_key_pem(Ed25519PrivateKey.generate())


def checkpoint_private_key() -> Ed25519PrivateKey:
    dev_file = None if settings.PRODUCTION else Path(settings.VAR_DIR) / "secrets" / "audit_signing_key.pem"
    pem = env_secret("AUDIT_SIGNING_KEY", dev_file=dev_file, make=_new_private_key_pem)
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except ValueError as exc:
        raise ImproperlyConfigured("AUDIT_SIGNING_KEY is not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured("AUDIT_SIGNING_KEY must be an Ed25519 key")
    return key


def checkpoint_public_key() -> Ed25519PublicKey:
    """The key that checkpoints are verified with.

    ``AUDIT_PUBLIC_KEY`` (PEM) or ``AUDIT_PUBLIC_KEY_FILE`` lets a verifying host (an auditor's
    copy, a web server) check checkpoints without holding the private key; otherwise the public
    half of the signing key.
    """
    pem = os.environ.get("AUDIT_PUBLIC_KEY", "")
    if not pem and (path := os.environ.get("AUDIT_PUBLIC_KEY_FILE")):
        try:
            pem = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ImproperlyConfigured("AUDIT_PUBLIC_KEY_FILE points to an unreadable file") from exc
    if not pem:
        return checkpoint_private_key().public_key()
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except ValueError as exc:
        raise ImproperlyConfigured("AUDIT_PUBLIC_KEY is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ImproperlyConfigured("AUDIT_PUBLIC_KEY must be an Ed25519 key")
    return key


def web_process_keys_check() -> None:
    """A web process in production holds the public key only (SPEC §6): whoever takes one over must
    not be able to sign a rewritten history. Refuses to start with a private key, or without the
    public key that the chain page and /audit/ verify with."""
    if not settings.PRODUCTION:
        return
    if os.environ.get("AUDIT_SIGNING_KEY") or os.environ.get("AUDIT_SIGNING_KEY_FILE"):
        raise ImproperlyConfigured(
            "AUDIT_SIGNING_KEY(_FILE) is set for a web process: only the audit-signing worker may "
            "hold the checkpoint key; give web processes AUDIT_PUBLIC_KEY(_FILE)"
        )
    if not (os.environ.get("AUDIT_PUBLIC_KEY") or os.environ.get("AUDIT_PUBLIC_KEY_FILE")):
        raise ImproperlyConfigured("AUDIT_PUBLIC_KEY(_FILE) must be set for a web process in production")


def key_id_for(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def checkpoint_message(
    *, tree_size: int, root_hash: str, chain_hash: str, created_at: str, key_id: str
) -> bytes:
    body = {
        "kind": "saga-konbini-audit-checkpoint",
        "v": 1,
        "tree_size": tree_size,
        "root_hash": root_hash,
        "chain_hash": chain_hash,
        "created_at": created_at,
        "key_id": key_id,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def checkpoint_as_dict(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """The checkpoint as written to its file (and as checked by audit_verify)."""
    return {
        "kind": "saga-konbini-audit-checkpoint",
        "v": 1,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "chain_hash": checkpoint.chain_hash,
        "created_at": canonical_time(checkpoint.created_at),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def checkpoint_path(*, tree_size: int, directory: Path | None = None) -> Path:
    return Path(directory or settings.AUDIT_CHECKPOINT_DIR) / f"checkpoint-{tree_size:012d}.json"


def json_file_write_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename: a reader, or a crash mid-write,
    never finds half a file (checkpoint files, the verifier's and the witness's kept heads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def checkpoint_write_file(*, checkpoint: AuditCheckpoint, directory: Path | None = None) -> Path:
    """Write the checkpoint's file once (atomically: a reader never sees half a file)."""
    path = checkpoint_path(tree_size=checkpoint.tree_size, directory=directory)
    if path.exists():
        return path
    json_file_write_atomic(path, checkpoint_as_dict(checkpoint))
    return path


def _completed_nodes_before(size: int, completed: list[tuple[int, int, bytes]]) -> None:
    """The perfect subtrees within the first ``size`` links (already verified by the checkpoints
    that covered them; audit_verify checks them again from the links)."""
    frontier = MerkleFrontier()
    for chunk in chain_links(after_seq=0, until_seq=size):
        for link in chunk:
            frontier.add(bytes.fromhex(link[2]), completed, min_level=AuditMerkleNode.STORED_FROM_LEVEL)


def checkpoint_create(*, now: datetime | None = None) -> AuditCheckpoint | None:
    """Seal pending events, then sign a checkpoint over the whole chain if it grew.

    Before signing, the links added since the previous checkpoint are verified (hashes
    recomputed): a checkpoint must never certify an altered event. Returns None when the chain
    has not grown. Raises ``audit.chain.ChainBroken`` when the new links do not hold.
    """
    chain_seal()
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    last = AuditCheckpoint.objects.order_by("-tree_size").first()
    if last is not None:
        # A file lost after its row committed (disk full, crash) is written again.
        checkpoint_write_file(checkpoint=last)
    start = last.tree_size if last else 0
    if head <= start:
        return None
    frontier = MerkleFrontier.from_json(last.frontier) if last else MerkleFrontier()
    if last is not None and (frontier.size != last.tree_size or frontier.root().hex() != last.root_hash):
        # The stored right edge must be the signed tree's: extending a planted one would have the
        # real key sign a wrong root, and store wrong subtree hashes that can never be removed.
        raise CheckpointUntrusted(f"the checkpoint of tree size {last.tree_size} does not match its frontier")
    expected, running = start + 1, last.chain_hash if last else GENESIS_HASH
    completed: list[tuple[int, int, bytes]] = []
    if start and not AuditMerkleNode.objects.exists():
        # A log checkpointed before subtree hashes were stored: store them for the whole tree
        # once, so that consistency proofs reach back to its first checkpoint.
        _completed_nodes_before(start, completed)
    for chunk in chain_links(after_seq=start, until_seq=head):
        expected, running = check_links(chunk, expected_seq=expected, running_hash=running)
        for link in chunk:
            frontier.add(bytes.fromhex(link[2]), completed, min_level=AuditMerkleNode.STORED_FROM_LEVEL)
    tree_size = expected - 1
    if tree_size <= start:
        return None
    key = checkpoint_private_key()
    key_id = key_id_for(key.public_key())
    created = now or timezone.now()
    root_hash = frontier.root().hex()
    signature = key.sign(
        checkpoint_message(
            tree_size=tree_size,
            root_hash=root_hash,
            chain_hash=running,
            created_at=canonical_time(created),
            key_id=key_id,
        )
    )
    try:
        with transaction.atomic():
            checkpoint = AuditCheckpoint.objects.create(
                tree_size=tree_size,
                root_hash=root_hash,
                chain_hash=running,
                created_at=created,
                key_id=key_id,
                signature=base64.b64encode(signature).decode("ascii"),
                frontier=frontier.to_json(),
            )
            AuditMerkleNode.objects.bulk_create(
                (
                    AuditMerkleNode(level=level, index=index, hash=digest.hex())
                    for level, index, digest in completed
                ),
                batch_size=5000,
            )
    except IntegrityError:
        # Another worker signed the same size at the same moment: its checkpoint stands. Anything
        # else (a subtree row planted ahead of the signer) must stop the signer loudly, not quietly.
        if AuditCheckpoint.objects.filter(tree_size=tree_size, root_hash=root_hash).exists():
            return None
        raise

    checkpoint_write_file(checkpoint=checkpoint)
    return checkpoint

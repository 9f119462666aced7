"""What the city publishes so that outsiders can watch the audit log (SPEC §6): the newest signed
tree head and RFC 6962 consistency proofs between tree sizes.

Nothing here is personal data: a checkpoint is sizes, hashes, a time and a signature, and a proof is
hashes of subtrees. A witness outside the city (``audit_witness``) keeps the last head it verified
and asks for a proof that the next head extends it; a log rewritten or rolled back, even by someone
holding the database and the signing key, cannot produce one.

Proofs are answered from the stored subtree hashes (``AuditMerkleNode``, written by the checkpoint
job) plus, for the few small subtrees below the stored levels, the chain links they cover: two
queries a proof, whatever the log's length.
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import Any

from django.db import connection
from django.db.models import Q

from audit.checkpoints import checkpoint_as_dict
from audit.merkle import Node, consistency_proof, merkle_root
from audit.models import AuditChainLink, AuditCheckpoint, AuditMerkleNode


class ProofUnavailable(ValueError):
    """The sizes asked for are not ones a proof can be given for (the message says why)."""


def tree_head_latest() -> dict[str, Any] | None:
    """The newest signed checkpoint as published, or None before the first one."""
    checkpoint = AuditCheckpoint.objects.order_by("-tree_size").first()
    return None if checkpoint is None else checkpoint_as_dict(checkpoint)


def consistency_proof_between(*, first: int, second: int) -> list[bytes]:
    """The RFC 6962 proof that the tree of ``second`` events extends the tree of ``first``.

    Both sizes must be at most the newest checkpoint's: beyond it the tree is not signed yet, and
    its subtree hashes may not be stored.
    """
    newest = AuditCheckpoint.objects.order_by("-tree_size").values_list("tree_size", flat=True).first() or 0
    if not 0 <= first <= second:
        raise ProofUnavailable(f"first ({first}) must be between 0 and second ({second})")
    if second > newest:
        raise ProofUnavailable(f"second ({second}) is beyond the newest checkpoint ({newest})")
    return consistency_proof(first, second, _subtree_hashes)


# A proof asks for a few dozen rows by key: one statement with array parameters on PostgreSQL
# (the ORM's OR of pairs costs more to build than the database takes to answer).
_NODES_SQL = (
    "SELECT n.level, n.index, n.hash FROM audit_auditmerklenode n"
    " JOIN unnest(%s::smallint[], %s::bigint[]) AS w(level, index)"
    " ON n.level = w.level AND n.index = w.index"
)
_LINKS_SQL = "SELECT seq, hash FROM audit_auditchainlink WHERE seq = ANY(%s::bigint[])"


def _stored_subtrees(nodes: set[Node]) -> list[tuple[int, int, str]]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_NODES_SQL, [[level for level, _ in nodes], [index for _, index in nodes]])
            return [(int(level), int(index), str(digest)) for level, index, digest in cursor.fetchall()]
    wanted = reduce(or_, (Q(level=level, index=index) for level, index in nodes))
    return list(AuditMerkleNode.objects.filter(wanted).values_list("level", "index", "hash"))


def _link_hashes(seqs: list[int]) -> list[tuple[int, str]]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_LINKS_SQL, [seqs])
            return [(int(seq), str(digest)) for seq, digest in cursor.fetchall()]
    return list(AuditChainLink.objects.filter(seq__in=seqs).values_list("seq", "hash"))


def _subtree_hashes(nodes: set[Node]) -> dict[Node, bytes]:
    stored = {node for node in nodes if node[0] >= AuditMerkleNode.STORED_FROM_LEVEL}
    found: dict[Node, bytes] = {}
    if stored:
        for level, index, digest in _stored_subtrees(stored):
            found[(level, index)] = bytes.fromhex(digest)
    low = nodes - stored
    if low:
        found.update(_low_subtrees(low))
    missing = nodes - found.keys()
    if missing:
        # A checkpoint's nodes are written with it; a gap means the table was tampered with or
        # the checkpoint job has not caught up: refuse rather than answer with a wrong proof.
        raise ProofUnavailable(f"{len(missing)} subtree hashes are not stored")
    return found


def _low_subtrees(nodes: set[Node]) -> dict[Node, bytes]:
    """Small subtrees rehashed from their chain links (leaf i is the link of seq i + 1)."""
    spans = {node: (node[1] << node[0], (node[1] + 1) << node[0]) for node in nodes}
    seqs = sorted({position + 1 for start, end in spans.values() for position in range(start, end)})
    leaves = {seq - 1: bytes.fromhex(digest) for seq, digest in _link_hashes(seqs)}
    found: dict[Node, bytes] = {}
    for node, (start, end) in spans.items():
        if any(position not in leaves for position in range(start, end)):
            continue
        found[node] = merkle_root([leaves[position] for position in range(start, end)])
    return found

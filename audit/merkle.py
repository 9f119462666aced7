"""RFC 6962 Merkle tree hashes over the audit chain (§2.1 of the RFC).

Leaves are the 32-byte link hashes of the chained events in ``seq`` order (each link hash already
covers the event's canonical bytes and everything before it).
    leaf hash   = SHA-256(0x00 || leaf)
    node hash   = SHA-256(0x01 || left || right)
    empty tree  = SHA-256("")
For n leaves the left subtree holds the largest power of two smaller than n (the RFC's split).

``MerkleFrontier`` computes the same root in a single pass with O(log n) memory: it keeps the
roots of the perfect subtrees along the right edge, merging equal sizes as leaves arrive; the root
folds them from the right, which is exactly the RFC's split for a non-power of two.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The RFC's recursive definition, as written (for tests and small trees)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


class MerkleFrontier:
    """Incremental RFC 6962 root: ``add`` leaves in order, read ``root()`` at any size."""

    def __init__(self, nodes: Sequence[tuple[int, bytes]] = ()) -> None:
        # (subtree size, subtree hash), sizes strictly decreasing powers of two.
        self._nodes: list[tuple[int, bytes]] = list(nodes)

    @property
    def size(self) -> int:
        return sum(size for size, _ in self._nodes)

    def add(self, leaf: bytes) -> None:
        size, current = 1, leaf_hash(leaf)
        while self._nodes and self._nodes[-1][0] == size:
            left_size, left = self._nodes.pop()
            current = node_hash(left, current)
            size += left_size
        self._nodes.append((size, current))

    def root(self) -> bytes:
        if not self._nodes:
            return hashlib.sha256(b"").digest()
        current = self._nodes[-1][1]
        for _, left in reversed(self._nodes[:-1]):
            current = node_hash(left, current)
        return current

    def to_json(self) -> list[list[int | str]]:
        return [[size, digest.hex()] for size, digest in self._nodes]

    @classmethod
    def from_json(cls, data: Sequence[Sequence[int | str]]) -> MerkleFrontier:
        nodes = [(int(size), bytes.fromhex(str(digest))) for size, digest in data]
        sizes = [size for size, _ in nodes]
        if any(size & (size - 1) or size <= 0 for size in sizes) or sizes != sorted(sizes, reverse=True):
            raise ValueError("not a Merkle frontier")
        if len(set(sizes)) != len(sizes):
            raise ValueError("not a Merkle frontier")
        return cls(nodes)

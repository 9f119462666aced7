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
from collections.abc import Callable, Iterable, Mapping, Sequence


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

    def add(
        self, leaf: bytes, completed: list[tuple[int, int, bytes]] | None = None, *, min_level: int = 1
    ) -> None:
        """Append one leaf. With ``completed``, every perfect subtree that this leaf completes, of
        2^min_level leaves or more, is appended to it as (level, index, hash)."""
        position = self.size if completed is not None else 0
        size, current = 1, leaf_hash(leaf)
        while self._nodes and self._nodes[-1][0] == size:
            left_size, left = self._nodes.pop()
            current = node_hash(left, current)
            size += left_size
            level = size.bit_length() - 1
            if completed is not None and level >= min_level:
                # The subtree ends at this leaf: its index among subtrees of its size.
                completed.append((level, (position + 1) // size - 1, current))
        self._nodes.append((size, current))

    def extend(self, leaves: Iterable[bytes]) -> None:
        """``add`` each leaf in turn, hashing inline: the verifier feeds every link of the log
        through here. With ``count`` leaves so far, the subtrees along the right edge are the set
        bits of ``count``, so a new leaf merges once per trailing one bit of it."""
        count = self.size
        hashes = [digest for _, digest in self._nodes]
        sha256 = hashlib.sha256
        for leaf in leaves:
            current = sha256(b"\x00" + leaf).digest()
            merges = count
            while merges & 1:
                current = sha256(b"\x01" + hashes.pop() + current).digest()
                merges >>= 1
            hashes.append(current)
            count += 1
        sizes = [1 << bit for bit in range(count.bit_length() - 1, -1, -1) if count >> bit & 1]
        self._nodes = list(zip(sizes, hashes, strict=True))

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


# --- Consistency proofs (RFC 6962 §2.1.2; verification as RFC 9162 §2.1.4.2 words it) -----------
#
# A proof between tree sizes ``first`` and ``second`` is a list of Merkle tree hashes of leaf
# ranges. Every such range, like every sub-list of the RFC's recursive split, starts at a multiple
# of a power of two at least as large as itself, so it is the fold of a few *perfect, aligned*
# subtrees: node (level, index) covers leaves [index·2^level, (index+1)·2^level). A log that keeps
# the hash of every perfect aligned subtree answers a proof with one read of O(log² n) small rows
# at most (O(log n) ranges of O(log n) subtrees each), however long the log: no rehashing.

Node = tuple[int, int]  # (level, index)


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def consistency_proof_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The [start, end) leaf ranges whose tree hashes form PROOF(first, D[second]), in order.

    The RFC's SUBPROOF recursion unrolled: each step either goes left (the old tree lies within
    the left k leaves: the right part's hash is a proof entry) or right (the left k leaves are
    complete in both trees: their hash is an entry, and the old root is no longer a whole subtree,
    so the last range it reaches is given too).
    """
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second} leaves")
    if first in (0, second):
        return []
    entries: list[tuple[int, int]] = []
    start, end, remaining, whole = 0, second, first, True
    while end - start != remaining:
        k = _largest_power_of_two_below(end - start)
        if remaining <= k:
            entries.append((start + k, end))
            end = start + k
        else:
            entries.append((start, start + k))
            start, remaining, whole = start + k, remaining - k, False
    if not whole:
        entries.append((start, end))
    # The recursion emits the innermost entry first.
    return entries[::-1]


def range_nodes(start: int, end: int) -> list[Node]:
    """The perfect aligned subtrees that make up [start, end), largest (left-most) first."""
    nodes: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        # Alignment holds for every range a proof asks for; refuse any other (a caller's bug).
        if start % (1 << level):
            raise ValueError(f"[{start}, {end}) is not a range of the RFC's split")
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def range_hash(start: int, end: int, subtrees: Mapping[Node, bytes]) -> bytes:
    """MTH(D[start:end]) from the hashes of its perfect subtrees (folded from the right)."""
    hashes = [subtrees[node] for node in range_nodes(start, end)]
    current = hashes[-1]
    for left in reversed(hashes[:-1]):
        current = node_hash(left, current)
    return current


def consistency_proof(
    first: int, second: int, subtree_hashes: Callable[[set[Node]], Mapping[Node, bytes]]
) -> list[bytes]:
    """PROOF(first, D[second]). ``subtree_hashes`` is asked once, for every node the proof needs."""
    ranges = consistency_proof_ranges(first, second)
    needed = {node for start, end in ranges for node in range_nodes(start, end)}
    found = subtree_hashes(needed) if needed else {}
    return [range_hash(start, end, found) for start, end in ranges]


def consistency_proof_verify(
    *, first: int, second: int, first_hash: bytes, second_hash: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows that the tree of ``second`` leaves extends the one of ``first``."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0:
        # Every tree extends the empty one; there is nothing to prove, and nothing may be sent.
        return not proof and first_hash == hashlib.sha256(b"").digest()
    path = list(proof)
    if first & (first - 1) == 0:
        # The old tree is a whole left subtree of the new one: its own root starts the path.
        path.insert(0, first_hash)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for hash_ in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(hash_, fr)
            sr = node_hash(hash_, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, hash_)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_hash and sr == second_hash and sn == 0

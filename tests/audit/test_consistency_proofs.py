"""RFC 6962 consistency proofs (audit/merkle.py) against the RFC's own recursive definition.

``_reference_proof`` below is §2.1.2 of RFC 6962 written as the RFC writes it (lists sliced, every
hash recomputed from the leaves): an implementation independent of the iterative one that reads
stored subtree hashes. Every pair of sizes up to 64 is compared, and random pairs up to a million
leaves; the verifier is RFC 9162 §2.1.4.2, checked against proofs it did not compute.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from audit.merkle import (
    consistency_proof,
    consistency_proof_ranges,
    consistency_proof_verify,
    leaf_hash,
    merkle_root,
    node_hash,
    range_hash,
    range_nodes,
)


def _reference_subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [merkle_root(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*_reference_subproof(m, leaves[:k], complete), merkle_root(leaves[k:])]
    return [*_reference_subproof(m - k, leaves[k:], False), merkle_root(leaves[:k])]


def _reference_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    return _reference_subproof(m, leaves, True)


def _leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n)]


class SubtreeStore:
    """Every perfect aligned subtree's hash, level by level, as a log would keep them."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.levels = [[leaf_hash(leaf) for leaf in leaves]]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
        self.asked: list[set[tuple[int, int]]] = []

    def lookup(self, nodes: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        self.asked.append(set(nodes))
        return {(level, index): self.levels[level][index] for level, index in nodes}


SMALL = _leaves(64)
SMALL_STORE = SubtreeStore(SMALL)


@pytest.mark.parametrize("second", range(1, 65))
def test_every_pair_up_to_64_matches_the_rfc_and_verifies(second):
    leaves = SMALL[:second]
    second_root = merkle_root(leaves)
    for first in range(1, second + 1):
        expected = _reference_proof(first, leaves)
        proof = consistency_proof(first, second, SMALL_STORE.lookup)
        assert proof == expected, (first, second)
        first_root = merkle_root(SMALL[:first])
        assert consistency_proof_verify(
            first=first, second=second, first_hash=first_root, second_hash=second_root, proof=proof
        )


@pytest.mark.parametrize("second", [2, 3, 5, 7, 8, 13, 33, 64])
def test_a_proof_fails_for_a_rewritten_old_tree_a_wrong_new_root_or_any_altered_hash(second):
    leaves = SMALL[:second]
    second_root = merkle_root(leaves)
    for first in range(1, second):
        proof = consistency_proof(first, second, SMALL_STORE.lookup)
        first_root = merkle_root(SMALL[:first])
        # The old log with one event rewritten: its head is not extended by the new tree.
        rewritten = list(SMALL[:first])
        rewritten[first // 2] = b"\xff" * 32
        assert not consistency_proof_verify(
            first=first,
            second=second,
            first_hash=merkle_root(rewritten),
            second_hash=second_root,
            proof=proof,
        )
        assert not consistency_proof_verify(
            first=first, second=second, first_hash=first_root, second_hash=b"\x00" * 32, proof=proof
        )
        for position in range(len(proof)):
            altered = list(proof)
            altered[position] = hashlib.sha256(altered[position]).digest()
            assert not consistency_proof_verify(
                first=first, second=second, first_hash=first_root, second_hash=second_root, proof=altered
            )
        # A proof for other sizes does not pass for these, nor does a truncated or padded one.
        assert proof
        assert not consistency_proof_verify(
            first=first, second=second, first_hash=first_root, second_hash=second_root, proof=proof[:-1]
        )
        assert not consistency_proof_verify(
            first=first,
            second=second,
            first_hash=first_root,
            second_hash=second_root,
            proof=[*proof, proof[0]],
        )


def test_equal_sizes_and_the_empty_tree():
    root = merkle_root(SMALL[:5])
    assert consistency_proof(5, 5, SMALL_STORE.lookup) == []
    assert consistency_proof_verify(first=5, second=5, first_hash=root, second_hash=root, proof=[])
    assert not consistency_proof_verify(first=5, second=5, first_hash=root, second_hash=b"x" * 32, proof=[])
    empty = hashlib.sha256(b"").digest()
    assert consistency_proof(0, 5, SMALL_STORE.lookup) == []
    assert consistency_proof_verify(first=0, second=5, first_hash=empty, second_hash=root, proof=[])
    # A smaller tree never extends a larger one.
    assert not consistency_proof_verify(first=6, second=5, first_hash=root, second_hash=root, proof=[])
    with pytest.raises(ValueError):
        consistency_proof_ranges(6, 5)


def test_ranges_are_made_of_aligned_perfect_subtrees_only():
    with pytest.raises(ValueError):
        range_nodes(3, 7)  # no range of the RFC's split starts at 3 and spans 4
    assert range_nodes(8, 13) == [(2, 2), (0, 12)]


@pytest.fixture(scope="module")
def million():
    leaves = _leaves(1_000_000)
    return leaves, SubtreeStore(leaves)


def test_random_pairs_up_to_a_million_leaves(million):
    leaves, store = million
    rng = random.Random(6962)
    pairs = [(rng.randint(1, 1_000_000), rng.randint(1, 1_000_000)) for _ in range(6)]
    pairs += [(1, 1_000_000), (524_288, 1_000_000), (999_999, 1_000_000)]
    for a, b in pairs:
        first, second = min(a, b), max(a, b)
        store.asked.clear()
        proof = consistency_proof(first, second, store.lookup)
        assert proof == _reference_proof(first, leaves[:second]), (first, second)
        # One read per proof, of a few dozen stored subtree hashes at most, and a short proof.
        assert len(store.asked) <= 1
        assert sum(len(asked) for asked in store.asked) <= 20 * 20
        assert len(proof) <= 2 * 20
        assert consistency_proof_verify(
            first=first,
            second=second,
            first_hash=store_root(store, first),
            second_hash=store_root(store, second),
            proof=proof,
        )


def store_root(store: SubtreeStore, size: int) -> bytes:
    """A tree head from stored subtrees: the root of [0, size)."""
    return range_hash(0, size, store.lookup(set(range_nodes(0, size))))

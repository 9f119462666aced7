"""SPEC §5: the bytes applied are the bytes the manifest vouches for, even if the inbox file is
swapped or rewritten while the batch is being checked and applied."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from residents.models import Resident
from sync.models import Batch
from sync.services import apply, sync_run
from tests.sync import feedutil as fu

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(settings) -> Path:
    inbox = Path(settings.SYNC_INBOX_DIR)
    fu.write_batch(inbox, 1, fu.family(), kind="full")
    assert sync_run().applied
    return inbox


def _lines(given_name: str, *, grouped: bool = True) -> list[Any]:
    household = fu.upsert("household", fu.household("H050"))
    resident = fu.upsert("resident", fu.resident("R050", "H050", seed=50, given_name=given_name))
    return [household, resident] if grouped else [resident, household]


def _forged(inbox: Path, given_name: str, *, grouped: bool = True) -> bytes:
    """The same batch with another given name of the same length: same line count, other bytes."""
    scratch = inbox / "scratch"
    scratch.mkdir(exist_ok=True)
    return fu.write_batch(
        scratch, 2, _lines(given_name, grouped=grouped), with_manifest=False
    ).jsonl.read_bytes()


def _before(monkeypatch, target: Any, name: str, act: Callable[[], None]) -> None:
    """Run ``act`` once, right before ``target.name`` runs (after the batch's file was opened)."""
    original = getattr(target, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        act()
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, wrapped)


def _rewrite_in_place(path: Path, body: bytes) -> None:
    with open(path, "r+b") as handle:  # the same file (inode), other content
        handle.write(body)


def test_a_file_renamed_over_the_batch_after_it_was_opened_is_not_applied(inbox, monkeypatch, tmp_path):
    written = fu.write_batch(inbox, 2, _lines("太郎"))
    forged = inbox / "forged.tmp"
    forged.write_bytes(_forged(tmp_path, "偽郎"))
    # Between the checks and the apply, someone with write access renames other bytes over the file.
    _before(monkeypatch, apply._BatchApplier, "apply_stream", lambda: os.replace(forged, written.jsonl))

    result = sync_run()

    assert [o.number for o in result.applied] == [2]
    assert Resident.objects.get(resident_code="R050").given_name == "太郎"  # the bytes verified


def test_a_file_rewritten_in_place_during_the_apply_is_rejected(inbox, monkeypatch, tmp_path):
    written = fu.write_batch(inbox, 2, _lines("太郎"))
    forged = _forged(tmp_path, "偽郎")
    assert len(forged) == written.jsonl.stat().st_size
    _before(
        monkeypatch, apply._BatchApplier, "apply_stream", lambda: _rewrite_in_place(written.jsonl, forged)
    )

    result = sync_run()

    assert result.stopped == "rejected" and result.stopped_at == 2
    assert Batch.objects.get(number=2).reason_code == "checksum_mismatch"
    assert not Resident.objects.filter(resident_code="R050").exists()  # nothing of it was kept


def test_a_file_rewritten_between_the_passes_of_an_ungrouped_batch_is_rejected(inbox, monkeypatch, tmp_path):
    # Lines not grouped in entity order take the slower path: a scan, then one pass per entity.
    written = fu.write_batch(inbox, 2, _lines("太郎", grouped=False))
    forged = _forged(tmp_path, "偽郎", grouped=False)
    original_scan = apply.batch_scan

    def scan_then_rewrite(**kwargs: Any) -> Any:
        scan = original_scan(**kwargs)
        _rewrite_in_place(written.jsonl, forged)
        return scan

    monkeypatch.setattr(apply, "batch_scan", scan_then_rewrite)

    result = sync_run()

    assert result.stopped == "rejected" and result.stopped_at == 2
    assert Batch.objects.get(number=2).reason_code == "checksum_mismatch"
    assert not Resident.objects.filter(resident_code="R050").exists()


def test_an_ungrouped_batch_left_alone_is_applied(inbox):
    fu.write_batch(inbox, 2, _lines("太郎", grouped=False))
    assert [o.number for o in sync_run().applied] == [2]
    assert Resident.objects.get(resident_code="R050").given_name == "太郎"

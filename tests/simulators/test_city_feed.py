"""The simulator's batch writer (SPEC §5 file format)."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from simulators.city.feed_writer import batch_number_next, batch_write
from simulators.city.population import population_generate
from sync.feed import Manifest, batch_file_open, batch_scan, manifest_read

JST = ZoneInfo("Asia/Tokyo")
ISSUER = "OU=JPKI for user authentication,O=JPKI (TEST),C=JP"


def _records(seed: int) -> list[dict]:
    return population_generate(residents=40, seed=seed, today=date(2026, 11, 27)).feed_records(issuer=ISSUER)


def test_batch_is_jsonl_plus_a_manifest_with_count_and_checksum(tmp_path: Path) -> None:
    records = _records(1)
    inbox = tmp_path / "feed"
    written = batch_write(
        inbox=inbox, kind="full", records=records, created_at=datetime(2026, 11, 27, 9, tzinfo=JST)
    )
    assert written.number == 1
    assert written.jsonl_path.name == "0000000001.jsonl"
    assert written.manifest_path.name == "0000000001.manifest.json"
    body = written.jsonl_path.read_bytes()
    manifest = json.loads(written.manifest_path.read_text(encoding="utf-8"))
    assert manifest == {
        "batch": 1,
        "kind": "full",
        "records": len(records),
        "sha256": hashlib.sha256(body).hexdigest(),
        "created_at": "2026-11-27T09:00:00+09:00",
    }
    lines = body.decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == records
    # No temporary file is left behind, and the sync reader accepts the batch whole.
    assert sorted(p.name for p in inbox.iterdir()) == ["0000000001.jsonl", "0000000001.manifest.json"]
    read = manifest_read(path=written.manifest_path, number=1)
    assert isinstance(read, Manifest) and read.created_at.tzinfo is not None
    with batch_file_open(path=written.jsonl_path, manifest=read) as batch:
        scan = batch_scan(batch=batch)
    assert scan.records == len(records)


def test_created_at_defaults_to_now_with_a_time_zone(tmp_path: Path) -> None:
    written = batch_write(inbox=tmp_path, kind="delta", records=[])
    manifest = json.loads(written.manifest_path.read_text(encoding="utf-8"))
    assert datetime.fromisoformat(manifest["created_at"]).tzinfo is not None
    assert manifest["records"] == 0 and manifest["kind"] == "delta"


def test_next_number_follows_the_highest_in_inbox_archive_and_rejected(tmp_path: Path) -> None:
    assert batch_number_next(inbox=tmp_path) == 1
    (tmp_path / "archive").mkdir()
    (tmp_path / "rejected").mkdir()
    (tmp_path / "archive" / "0000000004.jsonl").write_bytes(b"")
    (tmp_path / "rejected" / "0000000007.manifest.json.20261127T090000000000").write_bytes(b"")
    (tmp_path / "0000000005.jsonl").write_bytes(b"")
    (tmp_path / "notes.txt").write_bytes(b"")
    assert batch_number_next(inbox=tmp_path) == 8
    written = batch_write(inbox=tmp_path, kind="delta", records=[])
    assert written.number == 8
    assert batch_write(inbox=tmp_path, kind="delta", records=[]).number == 9


def test_same_seed_gives_the_same_bytes_except_created_at(tmp_path: Path) -> None:
    first = batch_write(inbox=tmp_path / "a", kind="full", records=_records(3))
    again = batch_write(inbox=tmp_path / "b", kind="full", records=_records(3))
    other = batch_write(inbox=tmp_path / "c", kind="full", records=_records(4))
    assert first.jsonl_path.read_bytes() == again.jsonl_path.read_bytes()
    assert first.sha256 == again.sha256
    assert other.sha256 != first.sha256

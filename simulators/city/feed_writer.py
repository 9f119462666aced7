"""Writes core-system batches into the inbox exactly as SPEC §5 describes them.

``NNNNNNNNNN.jsonl`` first, then ``NNNNNNNNNN.manifest.json`` last, each through a hidden temporary
name and an atomic rename, so the sync job never sees half a file and never sees a manifest before
its data. The batch number is one more than the highest number found in the inbox, ``archive/`` and
``rejected/``; the data file is claimed with a hard link that fails if the name exists, so two writers
running at once can never write the same number.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

_NUMBERED = re.compile(r"^(\d{10})\.")
_JST = ZoneInfo("Asia/Tokyo")
_SUBFOLDERS = ("archive", "rejected")


@dataclass(frozen=True)
class WrittenBatch:
    number: int
    kind: str
    records: int
    sha256: str
    jsonl_path: Path
    manifest_path: Path


def record_line(record: dict[str, Any]) -> bytes:
    """One record as one UTF-8 JSON line (no ASCII escaping: names stay readable in the archive)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def batch_number_next(*, inbox: Path) -> int:
    """One more than the highest batch number in the inbox, archive/ and rejected/ (or 1)."""
    highest = 0
    for folder in (inbox, *(inbox / sub for sub in _SUBFOLDERS)):
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        for name in names:
            match = _NUMBERED.match(name)
            if match:
                highest = max(highest, int(match.group(1)))
    return highest + 1


def _temp_write(folder: Path, data: bytes) -> Path:
    tmp = folder / f".writing-{secrets.token_hex(8)}.tmp"
    with open(tmp, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return tmp


def batch_write(
    *,
    inbox: Path,
    kind: str,
    records: Iterable[dict[str, Any]],
    created_at: datetime | None = None,
) -> WrittenBatch:
    """Write one batch of ``records`` (dicts with op, entity, key, data) into ``inbox``."""
    if kind not in ("full", "delta"):
        raise ValueError("kind must be 'full' or 'delta'")
    inbox.mkdir(parents=True, exist_ok=True)
    body = b"".join(record_line(record) for record in records)
    count = body.count(b"\n")
    digest = hashlib.sha256(body).hexdigest()
    stamp = (created_at or datetime.now(_JST)).isoformat()
    if datetime.fromisoformat(stamp).tzinfo is None:
        raise ValueError("created_at needs a time zone")
    tmp = _temp_write(inbox, body)
    try:
        while True:
            number = batch_number_next(inbox=inbox)
            jsonl = inbox / f"{number:010d}.jsonl"
            try:
                os.link(tmp, jsonl)  # fails if another writer took this number meanwhile
            except FileExistsError:
                continue
            break
    finally:
        tmp.unlink(missing_ok=True)
    manifest = {"batch": number, "kind": kind, "records": count, "sha256": digest, "created_at": stamp}
    manifest_tmp = _temp_write(inbox, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
    manifest_path = inbox / f"{number:010d}.manifest.json"
    os.replace(manifest_tmp, manifest_path)
    _fsync_dir(inbox)
    return WrittenBatch(
        number=number, kind=kind, records=count, sha256=digest, jsonl_path=jsonl, manifest_path=manifest_path
    )


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

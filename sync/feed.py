"""Reading the core-system feed's inbox (SPEC §5): listing batches, manifests, whole-batch checks.

Nothing here writes to the database. Files are opened without following symlinks, and only names
that match the batch pattern are ever touched, so a stray or hostile entry in the inbox cannot make
the reader leave it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import orjson

from sync.errors import BatchRejected, Misconfigured, RetryLater
from sync.validation import ENTITY_ORDER, OPS

BATCH_NAME = re.compile(r"^(\d{10})\.(jsonl|manifest\.json)$")
ARCHIVE_DIR = "archive"
REJECTED_DIR = "rejected"
MANIFEST_FIELDS = frozenset({"batch", "kind", "records", "sha256", "created_at"})
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_MAX_MANIFEST_BYTES = 64 * 1024
_JST = ZoneInfo("Asia/Tokyo")


@dataclass
class InboxEntry:
    """One batch number present in the inbox, with whichever of its two files exist."""

    number: int
    jsonl: Path | None = None
    manifest: Path | None = None

    @property
    def files(self) -> list[Path]:
        # The manifest moves first: a crash in between leaves the .jsonl, which is compared by content.
        return [path for path in (self.manifest, self.jsonl) if path is not None]


@dataclass(frozen=True)
class Manifest:
    number: int
    kind: str
    records: int
    sha256: str
    created_at: datetime


@dataclass
class BatchScan:
    """The whole-batch checks' result: every line parsed once, its entity remembered by index."""

    sha256: str
    records: int
    line_entities: bytearray = field(default_factory=bytearray)
    entity_counts: dict[str, int] = field(default_factory=dict)


def batch_file_name(number: int, suffix: str) -> str:
    return f"{number:010d}.{suffix}"


def inbox_path(inbox: Any) -> Path:
    if not inbox:
        raise Misconfigured("SYNC_INBOX_DIR が設定されていません。")
    path = Path(inbox)
    if not path.is_absolute():
        raise Misconfigured("SYNC_INBOX_DIR は絶対パスで指定してください。")
    return path


def inbox_scan(*, inbox: Path) -> dict[int, InboxEntry]:
    """The batches present in the inbox by number. Names not matching the pattern are ignored."""
    try:
        with os.scandir(inbox) as entries:
            names = [entry.name for entry in entries]
    except FileNotFoundError:
        raise RetryLater("受信フォルダが見つかりません(基幹系との接続を確認してください)。") from None
    except NotADirectoryError:
        raise Misconfigured("SYNC_INBOX_DIR がフォルダではありません。") from None
    except OSError as exc:
        raise RetryLater(f"受信フォルダを読めません(errno {exc.errno})。") from None
    found: dict[int, InboxEntry] = {}
    for name in names:
        match = BATCH_NAME.match(name)
        if not match:
            continue
        number = int(match.group(1))
        entry = found.setdefault(number, InboxEntry(number=number))
        if match.group(2) == "jsonl":
            entry.jsonl = inbox / name
        else:
            entry.manifest = inbox / name
    return found


def _open_regular(path: Path) -> IO[bytes]:
    """Open a batch file for reading without following a symlink out of the inbox."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BatchRejected(
                "not_regular_file",
                f"{path.name} がシンボリックリンクです。通常のファイルで再送してください。",
            ) from None
        if exc.errno == errno.ENOENT:
            raise BatchRejected("file_missing", f"{path.name} が見つかりません。") from None
        raise RetryLater(f"{path.name} を読めません(errno {exc.errno})。") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BatchRejected("not_regular_file", f"{path.name} が通常のファイルではありません。")
    return os.fdopen(fd, "rb")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with _open_regular(path) as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_read(*, path: Path, number: int) -> Manifest:
    """Parse and check a manifest; any defect rejects the batch with a reason a clerk can act on."""
    name = path.name
    with _open_regular(path) as handle:
        raw = handle.read(_MAX_MANIFEST_BYTES + 1)
    if len(raw) > _MAX_MANIFEST_BYTES:
        raise BatchRejected("manifest_invalid", f"マニフェスト {name} が大きすぎます。")
    try:
        manifest = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BatchRejected("manifest_invalid", f"マニフェスト {name} がJSONとして読めません。") from None
    if not isinstance(manifest, dict):
        raise BatchRejected("manifest_invalid", f"マニフェスト {name} がJSONオブジェクトではありません。")
    if set(manifest) != MANIFEST_FIELDS:
        missing = sorted(MANIFEST_FIELDS - set(manifest))
        extra = sorted(str(key)[:40] for key in set(manifest) - MANIFEST_FIELDS)
        raise BatchRejected(
            "manifest_invalid",
            f"マニフェスト {name} の項目が仕様と異なります(不足: {'、'.join(missing) or 'なし'}、"
            f"余分: {'、'.join(extra) or 'なし'})。",
        )
    batch = manifest["batch"]
    if not isinstance(batch, int) or isinstance(batch, bool) or batch != number:
        raise BatchRejected(
            "manifest_invalid", f"マニフェスト {name} の連携番号(batch)がファイル名と一致しません。"
        )
    if manifest["kind"] not in ("full", "delta"):
        raise BatchRejected("manifest_invalid", f"マニフェスト {name} の種別(kind)は full か delta です。")
    records = manifest["records"]
    if not isinstance(records, int) or isinstance(records, bool) or records < 0:
        raise BatchRejected(
            "manifest_invalid", f"マニフェスト {name} の件数(records)が0以上の整数ではありません。"
        )
    sha = manifest["sha256"]
    if not isinstance(sha, str) or not _SHA256_HEX.match(sha):
        raise BatchRejected(
            "manifest_invalid", f"マニフェスト {name} のsha256が64桁の小文字16進数ではありません。"
        )
    created = manifest["created_at"]
    try:
        created_at = datetime.fromisoformat(created) if isinstance(created, str) else None
    except ValueError:
        created_at = None
    if created_at is None:
        raise BatchRejected(
            "manifest_invalid", f"マニフェスト {name} の作成日時(created_at)がISO 8601形式ではありません。"
        )
    if created_at.tzinfo is None:
        # The core system runs in Japan time; a time without offset means JST.
        created_at = created_at.replace(tzinfo=_JST)
    return Manifest(number=number, kind=manifest["kind"], records=records, sha256=sha, created_at=created_at)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder for the process: json.loads with keyword arguments would build a new one per line.
# JSONDecoder holds only its configuration, so sharing it between threads is safe.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_JSON_SPACE = " \t\n\r"
# 19 digits can exceed a 64-bit integer, which orjson would read as a float.
_LONG_DIGIT_RUN = re.compile(rb"[0-9]{19}")


def line_parse(raw: bytes) -> Any:
    """One line as JSON; raises ValueError (incl. UnicodeDecodeError) when it cannot be parsed.

    orjson parses a valid line several times faster than the standard library (bench/sync_load.py:
    parsing was the largest single cost of a full load). It differs in two ways, so it is bypassed
    where they could show: it refuses what JSON allows (lone surrogates, numbers beyond a double), so
    a line it refuses goes through the standard decoder, whose verdict counts; and it reads an
    integer beyond 64 bits as a float, so a line with 19 or more digits in a row goes to the
    standard decoder directly. The accepted lines, their values and the refusals are exactly the
    standard library's.
    """
    text = raw.decode("utf-8")
    if not _LONG_DIGIT_RUN.search(raw):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    if text[:1] in ("{", "["):
        value, end = _DECODER.raw_decode(text)
        if text[end:].strip(_JSON_SPACE):
            raise ValueError("extra data after the JSON value")
        return value
    return _DECODER.decode(text)


def batch_verify(*, path: Path, manifest: Manifest) -> tuple[str, int]:
    """Checksum and record count against the manifest (SPEC §5), without parsing: (sha256, lines)."""
    digest = hashlib.sha256()
    lines, last = 0, b"\n"
    with _open_regular(path) as handle:
        for chunk in iter(lambda: handle.read(4 * 1024 * 1024), b""):
            digest.update(chunk)
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1  # a last line without its newline still counts
    sha = digest.hexdigest()
    if sha != manifest.sha256:
        raise BatchRejected(
            "checksum_mismatch",
            "データファイルのSHA-256がマニフェストと一致しません(転送途中の破損の可能性)。再送を依頼してください。",
        )
    if lines != manifest.records:
        raise BatchRejected(
            "record_count_mismatch",
            f"データファイルの件数({lines}件)がマニフェストの件数({manifest.records}件)と一致しません。",
        )
    return sha, lines


def batch_lines(*, path: Path, kind: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Every line as (line number, entity, record), parsed once, in file order. A line that cannot
    be parsed or has an unknown op or entity raises BatchRejected: the caller undoes what it applied."""
    entity_index = {name: index for index, name in enumerate(ENTITY_ORDER)}
    with _open_regular(path) as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                record = line_parse(raw)
            except UnicodeDecodeError:
                raise BatchRejected("not_utf8", f"{line_number}行目がUTF-8ではありません。") from None
            except (ValueError, RecursionError):
                raise BatchRejected(
                    "unparseable_line", f"{line_number}行目がJSONとして読めません。"
                ) from None
            defect, _ = _line_shape(record, line_number, kind, entity_index)
            if defect is not None:
                raise defect
            yield line_number, record["entity"], record


def batch_scan(*, path: Path, manifest: Manifest) -> BatchScan:
    """Whole-batch checks (SPEC §5): checksum, record count, every line parseable with a known op and
    entity, no delete in a full batch. Raises BatchRejected naming the first defect; the checksum is
    reported before line defects because a damaged transfer explains both."""
    digest = hashlib.sha256()
    scan = BatchScan(sha256="", records=0, entity_counts=dict.fromkeys(ENTITY_ORDER, 0))
    entity_index = {name: index for index, name in enumerate(ENTITY_ORDER)}
    first_defect: BatchRejected | None = None
    with _open_regular(path) as handle:
        for line_number, raw in enumerate(handle, start=1):
            digest.update(raw)
            scan.records = line_number
            if first_defect is not None:
                continue
            entity = -1
            try:
                record = line_parse(raw)
            except UnicodeDecodeError:
                first_defect = BatchRejected("not_utf8", f"{line_number}行目がUTF-8ではありません。")
            except (ValueError, RecursionError):
                first_defect = BatchRejected("unparseable_line", f"{line_number}行目がJSONとして読めません。")
            else:
                first_defect, entity = _line_shape(record, line_number, manifest.kind, entity_index)
            if first_defect is None:
                scan.line_entities.append(entity)
                scan.entity_counts[ENTITY_ORDER[entity]] += 1
    scan.sha256 = digest.hexdigest()
    if scan.sha256 != manifest.sha256:
        raise BatchRejected(
            "checksum_mismatch",
            "データファイルのSHA-256がマニフェストと一致しません(転送途中の破損の可能性)。再送を依頼してください。",
        )
    if scan.records != manifest.records:
        raise BatchRejected(
            "record_count_mismatch",
            f"データファイルの件数({scan.records}件)がマニフェストの件数({manifest.records}件)と一致しません。",
        )
    if first_defect is not None:
        raise first_defect
    return scan


def _line_shape(
    record: Any, line_number: int, kind: str, entity_index: dict[str, int]
) -> tuple[BatchRejected | None, int]:
    if not isinstance(record, dict):
        return BatchRejected("line_not_object", f"{line_number}行目がJSONオブジェクトではありません。"), -1
    op = record.get("op")
    if op not in OPS:
        return BatchRejected(
            "unknown_op", f"{line_number}行目の操作(op)が upsert / delete のいずれでもありません。"
        ), -1
    entity = record.get("entity")
    if not isinstance(entity, str) or entity not in entity_index:
        return BatchRejected("unknown_entity", f"{line_number}行目の種別(entity)が仕様にありません。"), -1
    if kind == "full" and op == "delete":
        return BatchRejected(
            "delete_in_full", f"{line_number}行目: 全件連携(full)に削除(delete)が含まれています。"
        ), -1
    return None, entity_index[entity]


def batch_records(*, path: Path, scan: BatchScan, entity: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The lines of one entity as (line number, record), in file order. Only lines that batch_scan
    accepted are read; each entity group is one pass over the file, so memory stays bounded."""
    wanted = ENTITY_ORDER.index(entity)
    entities = scan.line_entities
    with _open_regular(path) as handle:
        for index, raw in enumerate(handle):
            if entities[index] == wanted:
                yield index + 1, line_parse(raw)


def batch_files_move(*, entry: InboxEntry, inbox: Path, folder: str, now: datetime) -> str:
    """Move a batch's files into archive/ or rejected/; never overwrite, never delete (SPEC §5).

    Returns where the data file (or the manifest, without one) now lies, relative to the inbox.
    A file already gone (another worker moved it) is not an error.
    """
    target_dir = inbox / folder
    target_dir.mkdir(exist_ok=True)
    stored = ""
    for source in entry.files:
        target = target_dir / source.name
        if target.exists() or target.is_symlink():
            stamp = now.strftime("%Y%m%dT%H%M%S%f")
            target = target_dir / f"{source.name}.{stamp}"
            counter = 1
            while target.exists() or target.is_symlink():
                target = target_dir / f"{source.name}.{stamp}.{counter}"
                counter += 1
        try:
            os.rename(source, target)
        except FileNotFoundError:
            continue
        stored = f"{folder}/{target.name}"
    return stored

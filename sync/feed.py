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
from typing import IO, Any, NoReturn
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


_CHECKSUM_MISMATCH = (
    "データファイルのSHA-256がマニフェストと一致しません(転送途中の破損の可能性)。再送を依頼してください。"
)


class BatchFile:
    """A batch's data file, opened once (no symlink followed) and read only through that descriptor.

    Why: the manifest's checksum must vouch for exactly the bytes that are applied. Were the file
    checked and then opened again by name to be applied, whoever can write to the inbox could swap
    it in between. A file renamed over the inbox path afterwards is not seen here at all; one
    rewritten in place is caught because every pass hashes what it reads and is checked against the
    manifest (checksum, then record count) at its end, and the apply is one transaction: a mismatch
    rejects the batch and undoes whatever the pass had applied.
    """

    def __init__(self, *, handle: IO[bytes], manifest: Manifest) -> None:
        self._handle = handle
        self.manifest = manifest
        self._digest = hashlib.sha256()
        self._count = 0
        self.checked = False  # the last pass read the whole file and it matched the manifest

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> BatchFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """One pass over the file from its start: (line number, raw line). Passes run one at a time.
        Raises BatchRejected at the end of the pass if the bytes read do not match the manifest."""
        self._handle.seek(0)
        self._digest, self._count, self.checked = hashlib.sha256(), 0, False
        for raw in self._handle:
            self._digest.update(raw)
            self._count += 1
            yield self._count, raw
        self._check()

    def reject(self, defect: BatchRejected) -> NoReturn:
        """Raise a line's defect found during a pass, after reading the rest of that pass: a checksum
        or count mismatch is reported first, because a damaged transfer explains both."""
        for raw in self._handle:
            self._digest.update(raw)
            self._count += 1
        self._check()
        raise defect

    def require_checked(self) -> None:
        """Before the apply commits: the pass it used was read to its end and matched."""
        if not self.checked:
            raise RuntimeError("the batch file's last pass was not read to its end and checked")

    def _check(self) -> None:
        if self._digest.hexdigest() != self.manifest.sha256:
            raise BatchRejected("checksum_mismatch", _CHECKSUM_MISMATCH)
        if self._count != self.manifest.records:
            raise BatchRejected(
                "record_count_mismatch",
                f"データファイルの件数({self._count}件)がマニフェストの件数({self.manifest.records}件)と一致しません。",
            )
        self.checked = True


def batch_file_open(*, path: Path, manifest: Manifest) -> BatchFile:
    """Open a batch's data file once for the checks and the apply (see ``BatchFile``)."""
    return BatchFile(handle=_open_regular(path), manifest=manifest)


def batch_lines(*, batch: BatchFile) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Every line as (line number, entity, record), parsed once, in file order. A line that cannot
    be parsed or has an unknown op or entity raises BatchRejected: the caller undoes what it applied."""
    entity_index = {name: index for index, name in enumerate(ENTITY_ORDER)}
    for line_number, raw in batch.lines():
        try:
            record = line_parse(raw)
        except UnicodeDecodeError:
            batch.reject(BatchRejected("not_utf8", f"{line_number}行目がUTF-8ではありません。"))
        except (ValueError, RecursionError):
            batch.reject(BatchRejected("unparseable_line", f"{line_number}行目がJSONとして読めません。"))
        defect, _ = _line_shape(record, line_number, batch.manifest.kind, entity_index)
        if defect is not None:
            batch.reject(defect)
        yield line_number, record["entity"], record


def batch_scan(*, batch: BatchFile) -> BatchScan:
    """Whole-batch checks (SPEC §5): checksum, record count, every line parseable with a known op and
    entity, no delete in a full batch. Raises BatchRejected naming the first defect; the checksum is
    reported before line defects because a damaged transfer explains both."""
    scan = BatchScan(sha256="", records=0, entity_counts=dict.fromkeys(ENTITY_ORDER, 0))
    entity_index = {name: index for index, name in enumerate(ENTITY_ORDER)}
    first_defect: BatchRejected | None = None
    for line_number, raw in batch.lines():  # checks checksum and count at its end
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
            first_defect, entity = _line_shape(record, line_number, batch.manifest.kind, entity_index)
        if first_defect is None:
            scan.line_entities.append(entity)
            scan.entity_counts[ENTITY_ORDER[entity]] += 1
    scan.sha256 = batch.manifest.sha256
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


def batch_records(*, batch: BatchFile, scan: BatchScan, entity: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The lines of one entity as (line number, record), in file order. Only lines that batch_scan
    accepted are read; each entity group is one pass over the file (checked at its end like every
    pass), so memory stays bounded."""
    wanted = ENTITY_ORDER.index(entity)
    entities = scan.line_entities
    for line_number, raw in batch.lines():
        # A line beyond the scanned ones can only be there if the file changed: the pass's check
        # rejects the batch at its end.
        if line_number <= len(entities) and entities[line_number - 1] == wanted:
            yield line_number, line_parse(raw)


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

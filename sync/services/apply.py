"""Applying one batch of the core-system feed to the mirror, inside the caller's transaction (SPEC §5).

``batch_apply`` streams the batch in one pass when its lines come grouped in entity order (they do,
from the core system), else scans it and applies entity by entity; either way each entity's rules
(households, residents, then their children; deletes children first) and the quarantine of what is
invalid (sync/services/quarantine.py). The writing itself is sync/services/bulk.py.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Model, Q
from django.utils import timezone

from audit.services import Actor, audit_record
from residents.crypto import my_number_encrypt
from residents.models import CardLink, Household, Resident, SealRegistration, TaxAssessment, TaxPayment
from sync import queries
from sync.feed import (
    BatchFile,
    BatchScan,
    InboxEntry,
    Manifest,
    batch_lines,
    batch_records,
    batch_scan,
)
from sync.models import Batch, QuarantinedRecord
from sync.redaction import my_numbers_redact_text
from sync.services.bulk import (
    QUERY_CHUNK,
    CopyStream,
    CopyStreamFailed,
    chunks,
    column_types,
    foreign_keys_checked_once,
    garbage_collector_paused,
    tables_owned,
    upsert,
)
from sync.services.quarantine import (
    Quarantine,
    quarantine_key_digest,
    quarantine_resolve,
    quarantine_store,
    sanitized,
    storable,
)
from sync.validation import (
    ENTITY_LABELS,
    ENTITY_ORDER,
    VALIDATORS,
    Clean,
    RecordInvalid,
    resident_codes_in,
    validate_delete_key,
)

logger = logging.getLogger(__name__)

# Rows per INSERT (and per savepoint): large enough for bulk speed, small enough that a refused
# row is found by bisection in a few steps.
WRITE_CHUNK = 20_000

_MODELS: dict[str, type[Model]] = {
    "household": Household,
    "resident": Resident,
    "seal_registration": SealRegistration,
    "tax_assessment": TaxAssessment,
    "tax_payment": TaxPayment,
    "card_link": CardLink,
}
_CONFLICT_FIELDS: dict[str, tuple[str, ...]] = {
    "household": ("household_code",),
    "resident": ("resident_code",),
    "seal_registration": ("registration_number",),
    "tax_assessment": ("resident_id", "fiscal_year"),
    "tax_payment": ("resident_id", "fiscal_year", "tax_item"),
    "card_link": ("issuer", "serial"),
}
_ENVELOPE = frozenset({"op", "entity", "key", "data"})
_DB_REFUSED = "データベースの整合性制約に違反するため適用できません。基幹系のデータを確認してください。"


# --- applying one batch -------------------------------------------------------------------------


class _OutOfOrder(Exception):
    """The batch's lines are not grouped in entity order: the one-pass reader cannot apply it."""


@dataclass(slots=True)  # one per record of a group: slots keep a full load's memory down
class _Final:
    """The last line of the batch for one (entity, key): earlier lines for the key are superseded."""

    line: int
    op: str
    clean: Clean | None = None
    error: RecordInvalid | None = None
    record: Any = None  # kept only for quarantine, as received: _quarantine removes the My Numbers


class _BatchApplier:
    """Applies one scanned batch inside the caller's transaction; see SPEC §5 for the rules."""

    def __init__(self, *, batch_file: BatchFile, batch: Batch, stamp: datetime) -> None:
        self.batch_file = batch_file
        manifest = batch_file.manifest
        self.kind = manifest.kind
        self.batch = batch
        self.stamp = stamp
        self.full = manifest.kind == Batch.Kind.FULL
        self.quarantined: list[Quarantine] = []
        # Keys of the batch per parent entity: in a full batch a reference must point into the batch.
        self.batch_keys: dict[str, set[str]] = {"household": set(), "resident": set()}
        self.delta_deletes: dict[str, list[tuple[int, str]]] = {"household": [], "resident": []}
        self.full_stale: dict[str, list[int]] = {"household": [], "resident": []}
        self.touched_codes: set[str] = set()
        unresolved = QuarantinedRecord.objects.filter(resolved_at__isnull=True).values_list(
            "entity", "key", "key_digest"
        )
        self.watch: dict[str, set[str]] = defaultdict(set)
        # Quarantined records whose stored key is redacted are watched through their key's digest.
        self.watch_digests: dict[str, set[str]] = defaultdict(set)
        for entity, key, digest in unresolved:
            if digest:
                self.watch_digests[entity].add(digest)
            else:
                self.watch[entity].add(key)
        self.resolved: dict[str, set[str]] = defaultdict(set)
        self.resolved_digests: dict[str, set[str]] = defaultdict(set)
        self.postgres = connection.vendor == "postgresql"
        self.all_resident_ids: dict[str, int] | None = None
        # Tables empty before their group is written take a plain COPY (the initial load).
        self.empty: dict[str, bool] = {}
        self.direct_ok = True
        self.all_household_ids: dict[str, int] | None = None
        # The initial load streams each group through one COPY (bulk.py CopyStream).
        self.streaming = False
        self.stream: CopyStream | None = None

    # -- reading and validating ------------------------------------------------------------------

    def _finals(self, entity: str, records: Iterable[tuple[int, dict[str, Any]]]) -> dict[str, _Final]:
        # A later line for the same key supersedes an earlier one: the batch's last word counts.
        return dict(self._final_items(entity, records))

    def _final_items(
        self, entity: str, records: Iterable[tuple[int, dict[str, Any]]]
    ) -> Iterator[tuple[str, _Final]]:
        validate = VALIDATORS[entity]
        for line, record in records:
            op = record["op"]
            key = record.get("key")
            if not isinstance(key, str) or not key or len(key) > 300:
                self._quarantine(
                    line=line,
                    op=op,
                    entity=entity,
                    key="",
                    error=RecordInvalid("invalid_key", "キー(key)がないか、文字列でないか、長すぎます。"),
                    record=record,
                )
                continue
            final = _Final(line=line, op=op)
            try:
                if not record.keys() <= _ENVELOPE:
                    raise RecordInvalid(
                        "unknown_field", "レコードに op / entity / key / data 以外の項目があります。"
                    )
                if op == "upsert":
                    final.clean = validate(key, record.get("data"))
                else:
                    validate_delete_key(entity, key)
            except RecordInvalid as exc:
                final.error = exc
                final.record = record
            yield key, final

    def _quarantine(
        self,
        *,
        line: int,
        op: str,
        entity: str,
        key: str,
        error: RecordInvalid,
        record: Any,
        resident_codes: Iterable[str] = (),
    ) -> None:
        # Every quarantined record passes here, and only what leaves here is stored: the one place
        # where the My Numbers are taken out. The residents it concerns are read from the record as
        # received, so a resident code that happens to pass the My Number check still blocks.
        key = storable(key)
        data = record.get("data") if isinstance(record, dict) else None
        codes = {storable(code) for code in (*resident_codes_in(entity, key, data), *resident_codes)}
        stored, removed = sanitized(record)
        # The key and the reason are shown and searched in the admin beside the record: a key that is
        # a My Number, or a field name or value that validation quoted into the reason, is taken out
        # the same way.
        stored_key, key_removed = my_numbers_redact_text(key)
        key_digest = quarantine_key_digest(entity, key) if key_removed else ""
        label = ENTITY_LABELS.get(entity, entity)
        reason, reason_removed = my_numbers_redact_text(storable(f"{label}: {error.reason}"))
        named = data.get("household_code") if isinstance(data, dict) else None
        self.quarantined.append(
            Quarantine(
                line=line,
                op=op,
                entity=entity,
                key=key,
                error=error,
                record=stored,
                resident_codes=codes,
                stored_key=stored_key,
                reason=reason,
                key_digest=key_digest,
                my_numbers_removed=removed + key_removed + reason_removed,
                household_code=storable(named) if isinstance(named, str) else "",
            )
        )

    def _quarantine_final(
        self, entity: str, key: str, final: _Final, error: RecordInvalid | None = None
    ) -> None:
        record = final.record
        if record is None and final.clean is not None:
            record = {"op": final.op, "entity": entity, "key": key, "data": _record_data(final.clean)}
        err = error or final.error
        assert err is not None
        self._quarantine(line=final.line, op=final.op, entity=entity, key=key, error=err, record=record)

    def _applied(self, entity: str, keys: Iterable[str]) -> None:
        watch = self.watch.get(entity)
        digests = self.watch_digests.get(entity)
        if digests:
            keys = list(keys)
            self.resolved_digests[entity].update(
                digest for digest in (quarantine_key_digest(entity, key) for key in keys) if digest in digests
            )
        if watch:
            self.resolved[entity].update(key for key in keys if key in watch)

    def _resolve_absent(self, entity: str, keys: set[str] | dict[str, Any]) -> None:
        """A full batch states the whole mirror: a quarantined key it no longer contains is over."""
        self.resolved[entity].update(key for key in self.watch.get(entity, ()) if key not in keys)
        digests = self.watch_digests.get(entity)
        if digests:
            present = {quarantine_key_digest(entity, key) for key in keys}
            self.resolved_digests[entity].update(digests - present)

    # -- lookups ---------------------------------------------------------------------------------

    def _ids_by_code(self, model: type[Model], field_name: str, codes: set[str]) -> dict[str, int]:
        if len(codes) > 10_000:
            return {code: pk for code, pk in model._default_manager.values_list(field_name, "pk")}
        ids: dict[str, int] = {}
        for chunk in chunks(sorted(codes), QUERY_CHUNK):
            ids.update(
                model._default_manager.filter(**{f"{field_name}__in": chunk}).values_list(field_name, "pk")
            )
        return ids

    def _household_ids(self, codes: set[str]) -> dict[str, int]:
        """Household ids for the resident group; in a full batch read once (households are done)."""
        if not self.full:
            return self._ids_by_code(Household, "household_code", codes)
        if self.all_household_ids is None:
            self.all_household_ids = dict(Household.objects.values_list("household_code", "pk"))
        return self.all_household_ids

    def _resident_ids(self, codes: set[str]) -> dict[str, int]:
        """Resident ids for the child entities. In a full batch the map of all residents is read once,
        after the resident group, and serves every child group (residents change only then)."""
        if not self.full:
            return self._ids_by_code(Resident, "resident_code", codes)
        if self.all_resident_ids is None:
            self.all_resident_ids = dict(Resident.objects.values_list("resident_code", "pk"))
        return self.all_resident_ids

    def _mirror_keys(self, entity: str) -> Iterator[tuple[int, str]]:
        """(id, natural key) of every mirror row of an entity, as the feed spells the key."""
        if entity == "household":
            yield from Household.objects.values_list("pk", "household_code").iterator(chunk_size=20_000)
        elif entity == "resident":
            yield from Resident.objects.values_list("pk", "resident_code").iterator(chunk_size=20_000)
        elif entity == "seal_registration":
            yield from SealRegistration.objects.values_list("pk", "registration_number").iterator(
                chunk_size=20_000
            )
        elif entity == "tax_assessment":
            rows = TaxAssessment.objects.values_list("pk", "resident__resident_code", "fiscal_year")
            for pk, code, year in rows.iterator(chunk_size=20_000):
                yield pk, f"{code}:{year}"
        elif entity == "tax_payment":
            rows3 = TaxPayment.objects.values_list("pk", "resident__resident_code", "fiscal_year", "tax_item")
            for pk, code, year, item in rows3.iterator(chunk_size=20_000):
                yield pk, f"{code}:{year}:{item}"
        else:
            for pk, issuer, serial in CardLink.objects.values_list("pk", "issuer", "serial").iterator(
                chunk_size=20_000
            ):
                yield pk, f"{issuer}:{serial}"

    def _ids_for_keys(self, entity: str, keys: set[str]) -> dict[str, int]:
        if not keys:
            return {}
        if entity in ("household", "resident", "seal_registration"):
            field_name = {"household": "household_code", "resident": "resident_code"}.get(
                entity, "registration_number"
            )
            return self._ids_by_code(_MODELS[entity], field_name, keys)
        if entity == "card_link":
            issuers = {key.rpartition(":")[0] for key in keys}
            rows = CardLink.objects.filter(issuer__in=issuers).values_list("pk", "issuer", "serial")
            return {f"{i}:{s}": pk for pk, i, s in rows if f"{i}:{s}" in keys}
        codes = {key.split(":", 1)[0] for key in keys}
        found: dict[str, int] = {}
        model = TaxAssessment if entity == "tax_assessment" else TaxPayment
        for chunk in chunks(sorted(codes), QUERY_CHUNK):
            if entity == "tax_assessment":
                for pk, code, year in model._default_manager.filter(
                    resident__resident_code__in=chunk
                ).values_list("pk", "resident__resident_code", "fiscal_year"):
                    found[f"{code}:{year}"] = pk
            else:
                for pk, code, year, item in TaxPayment.objects.filter(
                    resident__resident_code__in=chunk
                ).values_list("pk", "resident__resident_code", "fiscal_year", "tax_item"):
                    found[f"{code}:{year}:{item}"] = pk
        return {key: pk for key, pk in found.items() if key in keys}

    # -- writing ---------------------------------------------------------------------------------

    def _write(self, entity: str, rows: list[tuple[str, _Final, dict[str, Any]]]) -> None:
        if entity not in self.empty:
            self.empty[entity] = not _MODELS[entity]._default_manager.exists()
        if self.streaming and self.postgres and self.empty[entity] and self.direct_ok:
            # An empty table and distinct keys: the rows go straight into the group's open COPY.
            if rows:
                self._stream_for(entity, rows).write([values for _, _, values in rows])
                self._applied(entity, (key for key, _, _ in rows))
            return
        for chunk in chunks(rows, WRITE_CHUNK):
            self._write_chunk(entity, chunk)

    def _write_chunk(self, entity: str, chunk: Sequence[tuple[str, _Final, dict[str, Any]]]) -> None:
        """Upsert rows in one statement inside a savepoint. A row the database refuses despite
        validation is found by bisection and quarantined; the rest of the batch still applies."""
        try:
            with transaction.atomic():
                upsert(
                    _MODELS[entity],
                    [values for _, _, values in chunk],
                    _CONFLICT_FIELDS[entity],
                    postgres=self.postgres,
                    direct=self.empty[entity] and self.direct_ok,
                )
        except (IntegrityError, DataError):
            if len(chunk) == 1:
                key, final, _ = chunk[0]
                self._quarantine_final(entity, key, final, RecordInvalid("db_refused", _DB_REFUSED))
                return
            middle = len(chunk) // 2
            self._write_chunk(entity, chunk[:middle])
            self._write_chunk(entity, chunk[middle:])
            return
        self._applied(entity, (key for key, _, _ in chunk))

    def _stream_for(self, entity: str, rows: list[tuple[str, _Final, dict[str, Any]]]) -> CopyStream:
        if self.stream is None:
            table = _MODELS[entity]._meta.db_table
            columns = list(rows[0][2])
            self.stream = CopyStream(table=table, columns=columns, types=column_types(table, columns))
        return self.stream

    def _stream_close(self) -> None:
        stream, self.stream, self.streaming = self.stream, None, False
        if stream is not None:
            stream.close()

    def _delete_ids(self, model: type[Model], ids: Sequence[int]) -> None:
        with connection.cursor() as cursor:
            for chunk in chunks(list(ids), QUERY_CHUNK):
                queries.rows_delete(cursor, table=model._meta.db_table, ids=chunk)

    def _residents_delete(self, ids: Sequence[int]) -> None:
        # The mirror's children follow their resident (on_delete=CASCADE), done here in SQL for speed.
        for chunk in chunks(list(ids), QUERY_CHUNK):
            for model in (CardLink, TaxPayment, TaxAssessment, SealRegistration):
                child_ids = list(
                    model._default_manager.filter(resident_id__in=chunk).values_list("pk", flat=True)
                )
                self._delete_ids(model, child_ids)
        self._delete_ids(Resident, ids)

    # -- the entities ----------------------------------------------------------------------------

    def apply_stream(self) -> None:
        """One pass over the file, parsing each line once: the common case, a batch written grouped
        in entity order. Raises _OutOfOrder (the caller undoes and uses apply_scanned) otherwise."""
        position = 0
        lines = batch_lines(batch=self.batch_file)
        for entity, group in itertools.groupby(lines, key=lambda item: item[1]):
            index = ENTITY_ORDER.index(entity)
            if index < position:
                raise _OutOfOrder
            for skipped in ENTITY_ORDER[position:index]:
                self._process(skipped, {})
            records = ((line, record) for line, _, record in group)
            if self.full and entity != "seal_registration":
                self._process_stream(entity, records)
            else:
                # Deltas are small; seals need the whole group for the one-active-seal rule.
                self._process(entity, self._finals(entity, records))
            position = index + 1
        for rest in ENTITY_ORDER[position:]:
            self._process(rest, {})
        self._final_deletes()

    def apply_scanned(self, scan: BatchScan) -> None:
        """One pass per entity over a batch whose lines are not grouped in entity order."""
        for entity in ENTITY_ORDER:
            self._process(
                entity, self._finals(entity, batch_records(batch=self.batch_file, scan=scan, entity=entity))
            )
        self._final_deletes()

    def _process(self, entity: str, finals: dict[str, _Final]) -> None:
        """Quarantine the group's invalid records, then apply the rest (SPEC §5 entity rules)."""
        if entity in self.batch_keys:
            self.batch_keys[entity] = set(finals)
        if self.full:
            self._full_stale(entity, set(finals))
        self._apply_group(entity, finals)
        if self.full:
            self._resolve_absent(entity, finals)

    def _apply_group(self, entity: str, finals: dict[str, _Final], *, direct_ok: bool = True) -> None:
        for key, final in finals.items():
            if final.error is not None:
                self._quarantine_final(entity, key, final)
        self.direct_ok = direct_ok
        getattr(self, f"_apply_{entity}")(finals)

    def _process_stream(self, entity: str, records: Iterable[tuple[int, dict[str, Any]]]) -> None:
        """A full batch's group applied chunk by chunk, so that memory stays bounded at Saga scale
        (a full batch holds only upserts, and references point to earlier groups). A key already
        written by an earlier chunk is upserted again at the end: the last line still wins."""
        seen: set[str] = set()
        flushed: set[str] = set()
        chunk: dict[str, _Final] = {}
        late: dict[str, _Final] = {}
        self.streaming = True
        try:
            for key, final in self._final_items(entity, records):
                seen.add(key)
                if key in flushed:
                    late[key] = final
                    continue
                chunk[key] = final
                if len(chunk) >= WRITE_CHUNK:
                    self._apply_group(entity, chunk)
                    flushed.update(chunk)
                    chunk = {}
            self._apply_group(entity, chunk)
            self._stream_close()
        except BaseException:
            if self.stream is not None:
                self.stream.abandon()  # so that the rollback can reach the connection
            raise
        finally:
            self.stream, self.streaming = None, False
        del flushed
        if late:
            self._apply_group(entity, late, direct_ok=False)
        if entity in self.batch_keys:
            self.batch_keys[entity] = seen
        self._full_stale(entity, seen)
        self._resolve_absent(entity, seen)

    def _full_stale(self, entity: str, keys: set[str]) -> None:
        """A full batch replaces the mirror (SPEC §5): rows whose key it lacks are deleted.
        Children go now (nothing refers to them, and an old active seal must not clash with a
        new one); residents and households at the end, after their references moved."""
        if self.empty.get(entity):
            return  # the table was empty before this group: every row in it came from this batch
        stale = [pk for pk, key in self._mirror_keys(entity) if key not in keys]
        if entity in self.full_stale:
            self.full_stale[entity] = stale
        elif stale:
            self._delete_ids(_MODELS[entity], stale)

    def _valid(self, finals: dict[str, _Final], op: str = "upsert") -> Iterator[tuple[str, _Final]]:
        for key, final in finals.items():
            if final.error is None and final.op == op:
                yield key, final

    def _apply_household(self, finals: dict[str, _Final]) -> None:
        rows = [(key, final, dict(final.clean.values)) for key, final in self._valid(finals) if final.clean]
        self._write("household", rows)
        self.delta_deletes["household"] += [(final.line, key) for key, final in self._valid(finals, "delete")]

    def _apply_resident(self, finals: dict[str, _Final]) -> None:
        valid = [(key, final) for key, final in self._valid(finals) if final.clean]
        household_ids = self._household_ids({f.clean.household_code for _, f in valid if f.clean})
        rows = []
        for key, final in valid:
            assert final.clean is not None
            values = dict(final.clean.values)
            code = values.pop("household_code")
            household_id = household_ids.get(code)
            if household_id is None or (self.full and code not in self.batch_keys["household"]):
                self._quarantine_final(
                    "resident",
                    key,
                    final,
                    RecordInvalid(
                        "unknown_household",
                        "世帯番号に該当する世帯がありません(世帯情報を先に連携してください)。",
                    ),
                )
                continue
            values["household_id"] = household_id
            # SPEC §5 / DOMAIN: My Numbers are stored only encrypted, bound to the resident code.
            values["my_number_encrypted"] = my_number_encrypt(values.pop("my_number"), resident_code=key)
            values["synced_at"] = self.stamp
            rows.append((key, final, values))
            if not self.full:
                self.touched_codes.add(key)
        self._write("resident", rows)
        self.delta_deletes["resident"] += [(final.line, key) for key, final in self._valid(finals, "delete")]
        if not self.full:
            self.touched_codes.update(key for _, key in self.delta_deletes["resident"])

    def _child_rows(self, entity: str, finals: dict[str, _Final]) -> list[tuple[str, _Final, dict[str, Any]]]:
        """Valid upserts of a child entity with their resident resolved; unknown residents quarantined."""
        valid = [(key, final) for key, final in self._valid(finals) if final.clean]
        resident_ids = self._resident_ids({f.clean.resident_code for _, f in valid if f.clean})
        rows = []
        for key, final in valid:
            assert final.clean is not None
            code = final.clean.resident_code
            resident_id = resident_ids.get(code)
            if resident_id is None or (self.full and code not in self.batch_keys["resident"]):
                self._quarantine_final(
                    entity,
                    key,
                    final,
                    RecordInvalid(
                        "unknown_resident",
                        "住民番号に該当する住民がいません(住民情報を先に連携してください)。",
                    ),
                )
                continue
            values = final.clean.values  # built for this row alone by the validator
            values["resident_id"] = resident_id
            values["synced_at"] = self.stamp
            rows.append((key, final, values))
            if not self.full:
                self.touched_codes.add(code)
        return rows

    def _child_deletes(self, entity: str, finals: dict[str, _Final]) -> None:
        # Children have no dependents: deleting them before the upserts avoids clashes (one active seal).
        keys = {key for key, _ in self._valid(finals, "delete")}
        ids = self._ids_for_keys(entity, keys)
        if entity in ("seal_registration", "card_link") and ids and not self.full:
            model = _MODELS[entity]
            self.touched_codes.update(
                model._default_manager.filter(pk__in=list(ids.values())).values_list(
                    "resident__resident_code", flat=True
                )
            )
        elif not self.full:
            self.touched_codes.update(key.split(":", 1)[0] for key in keys)
        self._delete_ids(_MODELS[entity], list(ids.values()))
        self._applied(entity, keys)

    def _apply_seal_registration(self, finals: dict[str, _Final]) -> None:
        self._child_deletes("seal_registration", finals)
        rows = self._child_rows("seal_registration", finals)
        # One active registration per person (印鑑登録は一人一印): check against the batch and the mirror.
        active: dict[int, list[tuple[str, _Final, dict[str, Any]]]] = defaultdict(list)
        for row in rows:
            if row[2]["status"] == SealRegistration.Status.ACTIVE:
                active[row[2]["resident_id"]].append(row)
        in_batch = set(finals)
        mirror_active: set[int] = set()
        for chunk in chunks(sorted(active), QUERY_CHUNK):
            for resident_id, number in SealRegistration.objects.filter(
                resident_id__in=chunk, status=SealRegistration.Status.ACTIVE
            ).values_list("resident_id", "registration_number"):
                if number not in in_batch:
                    mirror_active.add(resident_id)
        refused: set[str] = set()
        for resident_id, group in active.items():
            if len(group) > 1 or resident_id in mirror_active:
                for key, final, _ in group:
                    refused.add(key)
                    self._quarantine_final(
                        "seal_registration",
                        key,
                        final,
                        RecordInvalid(
                            "second_active_seal",
                            "同じ住民に登録中の印鑑登録が複数あります(一人一印)。旧登録の廃止を先に連携してください。",
                        ),
                    )
        rows = [row for row in rows if row[0] not in refused]
        # Abolitions first, so a registration replacing an abolished one never clashes with it.
        self._write(
            "seal_registration", [r for r in rows if r[2]["status"] != SealRegistration.Status.ACTIVE]
        )
        self._write(
            "seal_registration", [r for r in rows if r[2]["status"] == SealRegistration.Status.ACTIVE]
        )

    def _apply_tax_assessment(self, finals: dict[str, _Final]) -> None:
        self._child_deletes("tax_assessment", finals)
        self._write("tax_assessment", self._child_rows("tax_assessment", finals))

    def _apply_tax_payment(self, finals: dict[str, _Final]) -> None:
        self._child_deletes("tax_payment", finals)
        self._write("tax_payment", self._child_rows("tax_payment", finals))

    def _apply_card_link(self, finals: dict[str, _Final]) -> None:
        self._child_deletes("card_link", finals)
        self._write("card_link", self._child_rows("card_link", finals))

    def _final_deletes(self) -> None:
        """Residents, then households: deletes run children first (SPEC §5 order)."""
        resident_keys = {key for _, key in self.delta_deletes["resident"]}
        resident_ids = self._ids_for_keys("resident", resident_keys)
        self._residents_delete(list(resident_ids.values()) + self.full_stale["resident"])
        self._applied("resident", resident_keys)

        deletes = self.delta_deletes["household"]
        household_ids = self._ids_for_keys("household", {key for _, key in deletes})
        candidates = set(household_ids.values()) | set(self.full_stale["household"])
        occupied: set[int] = set()
        for chunk in chunks(sorted(candidates), QUERY_CHUNK):
            occupied.update(
                Resident.objects.filter(household_id__in=chunk).values_list("household_id", flat=True)
            )
        for line, key in deletes:
            if household_ids.get(key) in occupied:
                self._quarantine(
                    line=line,
                    op="delete",
                    entity="household",
                    key=key,
                    error=RecordInvalid(
                        "household_has_members",
                        "世帯員が残っているため世帯を削除できません。世帯員の異動を先に連携してください。",
                    ),
                    record={"op": "delete", "entity": "household", "key": key},
                )
        # A full batch's stale household still holding a (quarantined, kept) member stays until it is empty.
        self._delete_ids(Household, sorted(candidates - occupied))
        self._applied("household", (key for _, key in deletes if household_ids.get(key) not in occupied))

    # -- book-keeping ----------------------------------------------------------------------------

    def quarantine_store(self, *, actor: Actor) -> None:
        """Find whom each quarantined record concerns, then store, block and audit (SPEC §5, §6)."""
        if not self.quarantined:
            return
        for item in self.quarantined:
            if item.entity == "household" and item.key:
                item.resident_codes.update(
                    Resident.objects.filter(household__household_code=item.key).values_list(
                        "resident_code", flat=True
                    )
                )
            if item.entity == "resident":
                # A resident record concerns the household it names and the one the person is in now:
                # printing either household's 住民票 without the change (a newborn, a move-in) would
                # certify an incomplete household, so all of their members wait for a valid record.
                households = Q(household__members__resident_code__in=item.resident_codes)
                if item.household_code:
                    households |= Q(household__household_code=item.household_code)
                item.resident_codes.update(
                    Resident.objects.filter(households).values_list("resident_code", flat=True).distinct()
                )
            if not item.resident_codes and item.key and item.entity in ("seal_registration", "card_link"):
                ids = self._ids_for_keys(item.entity, {item.key})
                if ids:
                    item.resident_codes.update(
                        _MODELS[item.entity]
                        ._default_manager.filter(pk__in=list(ids.values()))
                        .values_list("resident__resident_code", flat=True)
                    )
        all_codes = set().union(*(item.resident_codes for item in self.quarantined))
        quarantine_store(
            items=self.quarantined,
            batch=self.batch,
            actor=actor,
            resident_ids=self._ids_by_code(Resident, "resident_code", all_codes),
        )

    def resolve(self) -> int:
        """A valid record for a quarantined (entity, key) resolves it and releases its blocks."""
        return quarantine_resolve(
            keys=self.resolved, digests=self.resolved_digests, batch=self.batch, stamp=self.stamp
        )


def _record_data(clean: Clean) -> dict[str, Any]:
    # The My Number stays in for _quarantine to replace by its marker: the clerk sees it was there.
    data = {k: v for k, v in clean.values.items() if k != "seal_image_png"}
    if clean.resident_code:
        data["resident_code"] = clean.resident_code
    return data


def _initial_load_speedups(manifest: Manifest) -> contextlib.AbstractContextManager[None]:
    """A full batch into an empty mirror (the initial load) checks its foreign keys once, at the end,
    when the connection may alter the mirror's tables (``tables_owned``: the owner, not the app)."""
    models = list(_MODELS.values())
    if (
        manifest.kind == Batch.Kind.FULL
        and connection.vendor == "postgresql"
        and not any(model._default_manager.exists() for model in models)
        and tables_owned(models)
    ):
        return foreign_keys_checked_once(models)
    return contextlib.nullcontext()


def batch_apply(
    *,
    entry: InboxEntry,
    batch_file: BatchFile,
    actor: Actor,
    stamp: datetime,
    now: datetime | None,
) -> Batch:
    """Apply a batch in the caller's transaction and record its outcome and audit events.

    The checksum and the record count are checked while the file is read (``BatchFile``): the
    values recorded here are the manifest's, and the caller's transaction is undone unless the
    bytes applied matched them."""
    assert entry.jsonl is not None
    manifest = batch_file.manifest
    sha, records = manifest.sha256, manifest.records
    batch = Batch.objects.create(
        number=manifest.number,
        kind=manifest.kind,
        status=Batch.Status.APPLIED,
        records_declared=manifest.records,
        sha256=sha,
        manifest_created_at=manifest.created_at,
        received_at=stamp,
        finished_at=stamp,
    )
    applier = _BatchApplier(batch_file=batch_file, batch=batch, stamp=stamp)
    try:
        with transaction.atomic(), garbage_collector_paused(), _initial_load_speedups(manifest):
            applier.apply_stream()
    except (_OutOfOrder, CopyStreamFailed):
        # Undone by the savepoint; the slower path groups the lines by entity first, and writes in
        # chunks, each in a savepoint of its own, so that a row the database refuses is quarantined.
        scan = batch_scan(batch=batch_file)
        applier = _BatchApplier(batch_file=batch_file, batch=batch, stamp=stamp)
        applier.apply_scanned(scan)
    batch_file.require_checked()
    applier.quarantine_store(actor=actor)
    resolved = applier.resolve()
    batch.records_quarantined = len(applier.quarantined)
    batch.records_applied = records - batch.records_quarantined
    batch.finished_at = now or timezone.now()
    batch.save(update_fields=["records_quarantined", "records_applied", "finished_at"])
    touched = (
        applier._ids_by_code(Resident, "resident_code", applier.touched_codes) if not applier.full else {}
    )
    audit_record(
        actor=actor,
        action="sync.batch_applied",
        resident_ids=touched.values(),
        payload={
            "batch": batch.number,
            "kind": batch.kind,
            "records": records,
            "applied": batch.records_applied,
            "quarantined": batch.records_quarantined,
            "resolved": resolved,
        },
    )
    logger.info(
        "sync batch %010d applied: %d records, %d quarantined",
        batch.number,
        records,
        batch.records_quarantined,
    )
    return batch

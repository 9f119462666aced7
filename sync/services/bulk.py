"""Writing a batch of hundreds of thousands of records at bulk speed (bench/sync_load.py).

The upsert by natural key (COPY into a staging table, then one INSERT ... ON CONFLICT), the plain
COPY of the initial load, and what speeds that up. They change how the work is done, never what
is written: the same rows, the same checks, one transaction.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from django.db import connection
from django.db.models import Model
from psycopg.types.json import set_json_dumps

from sync import queries

# Ids per statement where a list of them is bound as parameters.
QUERY_CHUNK = 5_000


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextlib.contextmanager
def garbage_collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a batch applies.

    A full load keeps hundreds of thousands of records alive at once; every few thousand
    allocations the collector would walk all of them again, which was a fifth of a full load. The
    records form no reference cycles, so nothing waits for the collector meanwhile; one collection
    at the end clears whatever did.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            gc.collect()


@contextlib.contextmanager
def foreign_keys_checked_once(models: Sequence[type[Model]]) -> Iterator[None]:
    """PostgreSQL: the foreign keys of ``models`` checked in one pass at the end instead of per row.

    Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: every inserted row queues a check that
    runs at commit, one index probe per row (about 1.9 million for Saga City, the largest single
    wait of an initial load). Inside the caller's transaction the constraints are dropped, the rows
    written, and the same constraints (same names, same definitions, read from the catalogue) added
    back, which PostgreSQL validates in one join over each table. Any row without its parent makes
    the ADD fail, and with it the whole transaction: the same outcome as a failed deferred check.

    Dropping a constraint locks its tables (ACCESS EXCLUSIVE) until the commit, so this is only for
    the initial load of an empty mirror, which nobody can read anything from yet. And only the
    tables' owner may drop a constraint (``tables_owned``).
    """
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        constraints = queries.foreign_keys_of(cursor, tables=tables)
        for table, name, _definition in constraints:
            queries.foreign_key_drop(cursor, table=table, name=name)
    yield
    with connection.cursor() as cursor:
        for table, name, definition in constraints:
            queries.foreign_key_add(cursor, table=table, name=name, definition=definition)


class CopyStreamFailed(Exception):
    """PostgreSQL refused a row of a streamed COPY; the whole COPY (and its transaction) is void."""


class CopyStream:
    """One binary COPY into ``table`` kept open across the chunks of an entity group (the initial load).

    A COPY per chunk makes Python wait at the end of every chunk until PostgreSQL has stored it, and
    PostgreSQL wait while Python reads and checks the next chunk. One COPY for the whole group lets
    the two work at the same time, on two cores. While it is open the connection can run nothing
    else: the caller resolves every id it needs before the first write.
    """

    def __init__(self, *, table: str, columns: list[str], types: list[int]) -> None:
        self._stack = contextlib.ExitStack()
        raw = self._stack.enter_context(connection.cursor()).cursor
        set_json_dumps(json_dumps_fast, context=raw)
        statement = queries.copy_binary(table, columns)
        try:
            self._copy = self._stack.enter_context(raw.copy(statement))
            self._copy.set_types(types)
        except Exception as exc:
            self._stack.close()
            raise CopyStreamFailed from exc

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        try:
            for row in rows:
                self._copy.write_row(tuple(row.values()))
        except Exception as exc:
            self.abandon()
            raise CopyStreamFailed from exc

    def close(self) -> None:
        """Ends the COPY and waits until PostgreSQL has stored every row (or refused one)."""
        try:
            self._stack.close()
        except Exception as exc:
            raise CopyStreamFailed from exc

    def abandon(self) -> None:
        """Ends the COPY with a failure: PostgreSQL discards it and the connection can roll back."""
        with contextlib.suppress(Exception):
            self._stack.__exit__(CopyStreamFailed, CopyStreamFailed(), None)


def json_dumps_fast(value: Any) -> bytes:
    """JSON for a jsonb column: orjson (several times faster), the standard library where orjson
    refuses (keys that are not strings)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False).encode("utf-8")


def column_types(table: str, columns: list[str]) -> list[int]:
    """The type oids of ``columns`` of ``table``, in order (a binary COPY must name them exactly)."""
    with connection.cursor() as cursor:
        by_name = queries.column_types(cursor, table=table)
    return [by_name[column] for column in columns]


def upsert(
    model: type[Model], rows: list[dict[str, Any]], conflict: tuple[str, ...], *, postgres: bool, direct: bool
) -> None:
    """Insert or update rows by natural key, keeping internal ids stable (the audit log uses them)."""
    if not rows:
        return
    columns = list(rows[0])
    updates = [c for c in columns if c not in conflict]
    if not postgres:
        # SQLite (development): Django's bulk upsert; correctness, not speed.
        model._default_manager.bulk_create(
            [model(**row) for row in rows],
            update_conflicts=True,
            unique_fields=[model._meta.get_field(c).name for c in conflict],
            update_fields=[model._meta.get_field(c).name for c in updates],
        )
        return
    # PostgreSQL: COPY into a temporary staging table, then one INSERT ... ON CONFLICT DO UPDATE.
    # Measured in bench/sync_load.py against bulk_create; COPY is several times faster.
    table = model._meta.db_table
    stage = f"sync_stage_{table}"
    json_columns = [
        i for i, c in enumerate(columns) if model._meta.get_field(c).get_internal_type() == "JSONField"
    ]
    types = column_types(table, columns)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        if direct:
            # The table was empty when this group started and the group's keys are distinct: a plain
            # COPY is the whole upsert (the initial load).
            copy_rows(raw, queries.copy_binary(table, columns), rows, json_columns, types)
            return
        queries.stage_ready(cursor, stage=stage, table=table, columns=columns)
        copy_rows(raw, queries.copy_binary(stage, columns), rows, json_columns, types)
        queries.upsert_from_stage(cursor, table=table, stage=stage, columns=columns, conflict=conflict)


def copy_rows(
    raw: Any, statement: str, rows: list[dict[str, Any]], json_columns: list[int], types: list[int]
) -> None:
    """COPY in PostgreSQL's binary format: psycopg then converts each value by the column's known type
    instead of finding an adapter and quoting text, several times cheaper per row. A row PostgreSQL
    refuses raises Django's IntegrityError or DataError (the raw cursor's errors are translated), so
    that the caller's bisection finds and quarantines it."""
    if json_columns:
        set_json_dumps(json_dumps_fast, context=raw)
    with connection.wrap_database_errors, raw.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(tuple(row.values()))


def tables_owned(models: Sequence[type[Model]]) -> bool:
    """Whether this connection's role owns the tables of ``models`` (or is a superuser).

    The application connects as a role that owns nothing (SPEC §6), so that whoever takes a web
    or worker process cannot alter the audit log's tables; it cannot drop a foreign key either.
    There the initial load keeps the deferred per-row checks: the same rows and the same outcome,
    only slower. The load is run once, by an operator, when the city's mirror is first filled: run
    as the owner (``DATABASE_URL`` set to the owner's URL for that one ``sync_run``) it takes the
    fast path. Letting the application's role do this DDL instead, even on the mirror's tables
    alone, would need it to own them, and an owner can also grant itself what it was refused.
    """
    with connection.cursor() as cursor:
        return queries.tables_owned(cursor, tables=[model._meta.db_table for model in models])

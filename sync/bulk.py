"""What makes a batch of hundreds of thousands of records apply at bulk speed (bench/sync_load.py).

Both helpers change how the work is done, never what is written: the same rows, the same checks,
one transaction.
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
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY conname",
            [tables],
        )
        constraints: list[tuple[str, str, str]] = cursor.fetchall()
        qn = connection.ops.quote_name
        for table, name, _definition in constraints:
            # Names and definitions come from the catalogue, never from the feed.
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {qn(name)}")
    yield
    with connection.cursor() as cursor:
        for table, name, definition in constraints:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {qn(name)} {definition}")


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
        from psycopg.types.json import set_json_dumps

        qn = connection.ops.quote_name
        self._stack = contextlib.ExitStack()
        raw = self._stack.enter_context(connection.cursor()).cursor
        set_json_dumps(json_dumps_fast, context=raw)
        statement = f"COPY {qn(table)} ({', '.join(qn(c) for c in columns)}) FROM STDIN (FORMAT BINARY)"
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
        cursor.execute(
            "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
            [table],
        )
        by_name = dict(cursor.fetchall())
    return [int(by_name[column]) for column in columns]


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
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bool_and(pg_has_role(relowner, 'USAGE')) FROM pg_class WHERE oid = ANY(%s::regclass[])",
            [tables],
        )
        (owned,) = cursor.fetchone()
    return bool(owned)

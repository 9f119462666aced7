"""The SQL the sync writes by hand, all of it; everything else goes through the ORM.

PostgreSQL only (the development SQLite path never reaches these). Identifiers come from the models'
meta or from the catalogue, never from the feed, and are quoted here; values are bound parameters
or COPY data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _column_list(columns: Sequence[str]) -> str:
    return ", ".join(_qn(column) for column in columns)


def rows_delete(cursor: Any, *, table: str, ids: Sequence[int]) -> None:
    """Delete the rows of ``table`` with these ids (one statement; the caller chunks)."""
    placeholders = ",".join(["%s"] * len(ids))
    cursor.execute(f"DELETE FROM {_qn(table)} WHERE id IN ({placeholders})", list(ids))  # noqa: S608


def copy_binary(table: str, columns: Sequence[str]) -> str:
    """The statement of a binary COPY into ``columns`` of ``table``."""
    return f"COPY {_qn(table)} ({_column_list(columns)}) FROM STDIN (FORMAT BINARY)"


def stage_ready(cursor: Any, *, stage: str, table: str, columns: Sequence[str]) -> None:
    """An empty temporary table ``stage`` shaped like ``columns`` of ``table``, dropped at commit."""
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_qn(stage)} ON COMMIT DROP "  # noqa: S608
        f"AS SELECT {_column_list(columns)} FROM {_qn(table)} WITH NO DATA"
    )
    cursor.execute(f"TRUNCATE {_qn(stage)}")


def upsert_from_stage(
    cursor: Any, *, table: str, stage: str, columns: Sequence[str], conflict: Sequence[str]
) -> None:
    """Insert the staged rows into ``table``, updating the row with the same ``conflict`` key."""
    cols = _column_list(columns)
    assignments = ", ".join(f"{_qn(c)} = EXCLUDED.{_qn(c)}" for c in columns if c not in conflict)
    cursor.execute(
        f"INSERT INTO {_qn(table)} ({cols}) SELECT {cols} FROM {_qn(stage)} "  # noqa: S608
        f"ON CONFLICT ({_column_list(conflict)}) DO UPDATE SET {assignments}"
    )


def foreign_keys_of(cursor: Any, *, tables: Sequence[str]) -> list[tuple[str, str, str]]:
    """(table as the catalogue names it, constraint name, definition) of the foreign keys of ``tables``."""
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY conname",
        [list(tables)],
    )
    return list(cursor.fetchall())


def foreign_key_drop(cursor: Any, *, table: str, name: str) -> None:
    # ``table`` as foreign_keys_of gave it: regclass text, already quoted where it needs to be.
    cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {_qn(name)}")


def foreign_key_add(cursor: Any, *, table: str, name: str, definition: str) -> None:
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {_qn(name)} {definition}")


def column_types(cursor: Any, *, table: str) -> dict[str, int]:
    """The type oid of every column of ``table``, by name."""
    cursor.execute(
        "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
        [table],
    )
    return {name: int(oid) for name, oid in cursor.fetchall()}


def tables_owned(cursor: Any, *, tables: Sequence[str]) -> bool:
    """Whether the connection's role may act as the owner of every one of ``tables``."""
    cursor.execute(
        "SELECT bool_and(pg_has_role(relowner, 'USAGE')) FROM pg_class WHERE oid = ANY(%s::regclass[])",
        [list(tables)],
    )
    (owned,) = cursor.fetchone()
    return bool(owned)

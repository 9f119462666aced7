"""Fixed SQL statements for the kiosk API's hot path, read back into ordinary model instances.

Why: every kiosk call runs a handful of the same primary-key and unique-key statements. The ORM
compiles each ``filter(...).first()`` anew per request (about half a millisecond of Python per
statement on a small server, more than PostgreSQL spends executing it), and ``Model.objects.raw``
re-resolves its columns and converters per call. Here a statement is a fixed string and the
per-model column list and value converters are worked out once, so a row costs little more than
the database round trip. The instances are the same model objects the rest of the code expects.

Only for statements whose shape never changes; everything else stays in the ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)
Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


class ModelRows(Generic[M]):
    """Reads rows of ``model``'s table, selected as ``{columns}``, into instances of ``model``.

    Statements name the columns with ``{columns}`` (or ``{qualified_columns}``, prefixed with the
    table, in a join) and the table with ``{table}``; all are the model's own identifiers, never
    input.
    """

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self.fields: tuple[Field[Any, Any], ...] = tuple(model._meta.concrete_fields)
        self.attnames = [field.attname for field in self.fields]
        self.table = model._meta.db_table
        self.columns = ", ".join(str(field.column) for field in self.fields)
        # For statements that join another table: the same columns, named with the table.
        self.qualified_columns = ", ".join(f"{self.table}.{field.column}" for field in self.fields)
        self._converters: dict[str, list[tuple[int, list[Converter], Any]]] = {}

    def sql(self, template: str) -> str:
        return template.format(
            columns=self.columns, qualified_columns=self.qualified_columns, table=self.table
        )

    def prep(self, field_name: str, value: Any) -> Any:
        """A parameter as this database stores the field (SQLite keeps UUIDs and times as text)."""
        return self.model._meta.get_field(field_name).get_db_prep_value(value, connection)  # type: ignore[union-attr]

    def _converters_for(self, db: BaseDatabaseWrapper) -> list[tuple[int, list[Converter], Any]]:
        # The same converters the ORM applies to a selected column (JSON text to objects on
        # PostgreSQL; text to datetimes, UUIDs and booleans on SQLite), found once per vendor.
        found = self._converters.get(db.vendor)
        if found is None:
            found = []
            for index, field in enumerate(self.fields):
                column = field.get_col(self.table)
                converters = db.ops.get_db_converters(column) + column.get_db_converters(db)
                if converters:
                    found.append((index, converters, column))
            self._converters[db.vendor] = found
        return found

    def instance(self, row: Sequence[Any]) -> M:
        values = list(row[: len(self.fields)])
        for index, converters, column in self._converters_for(connection):
            value = values[index]
            for convert in converters:
                value = convert(value, column, connection)
            values[index] = value
        return self.model.from_db(connection.alias, self.attnames, values)

    def one(self, template: str, params: Sequence[Any]) -> M | None:
        """The first row of a fixed statement (a SELECT, or a write with ``RETURNING {columns}``)."""
        found = self.one_and_rest(template, params)
        return None if found is None else found[0]

    def one_and_rest(self, template: str, params: Sequence[Any]) -> tuple[M, tuple[Any, ...]] | None:
        """As ``one``, with the values of the columns selected after the model's own (a join's)."""
        with connection.cursor() as cursor:
            cursor.execute(self.sql(template), params)
            row = cursor.fetchone()
        return None if row is None else (self.instance(row), tuple(row[len(self.fields) :]))

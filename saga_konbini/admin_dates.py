"""Dates in the clerks' admin as Japanese resident systems show them: 「昭和60年(1985年)4月1日」.

``WarekiDatesModelAdmin`` shows every date and date-time field of its model that a page displays
rather than edits (the change list's columns, and the detail page of a row the clerk may only view,
or its read-only fields) in 和暦 with the western year beside it, in Japanese; in English, the
western date as Django writes it. Editable fields keep Django's date inputs (entered as 2026-11-26).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.utils import formats, timezone, translation

from saga_konbini.wareki import wareki_date_with_western_year

_SUFFIX = "_wareki"


def admin_date_text(value: date | datetime) -> str:
    """A date (or a date-time, in local time) for the clerks' screens, in the active language."""
    if isinstance(value, datetime):
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        if not _japanese():
            return str(formats.localize(local))
        return f"{wareki_date_with_western_year(local.date())} {local.hour}:{local.minute:02d}"
    if not _japanese():
        return str(formats.localize(value))
    return wareki_date_with_western_year(value)


def _japanese() -> bool:
    return (translation.get_language() or "ja").split("-")[0] == "ja"


def _display(field: models.Field[Any, Any]) -> Callable[[Any], str | None]:
    name = field.name

    @admin.display(description=field.verbose_name, ordering=name)
    def shown(obj: Any) -> str | None:
        value = getattr(obj, name)
        # None: the admin prints its empty value ("-").
        return None if value is None else admin_date_text(value)

    return shown


class WarekiDatesModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose displayed dates are in 和暦 (the module docstring says which)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._date_fields = {
            field.name
            for field in self.model._meta.get_fields()
            if isinstance(field, models.DateField) and field.concrete
        }
        # The admin looks display names up on the ModelAdmin itself (lookup_field, label_for_field).
        for field in self.model._meta.get_fields():
            if field.name in self._date_fields:
                setattr(self, field.name + _SUFFIX, _display(field))

    def _shown(self, name: Any) -> Any:
        return name + _SUFFIX if isinstance(name, str) and name in self._date_fields else name

    def get_list_display(self, request: HttpRequest) -> Any:
        editable = set(getattr(self, "list_editable", ()))
        shown = super().get_list_display(request)
        return [name if name in editable else self._shown(name) for name in shown]

    def get_list_display_links(self, request: HttpRequest, list_display: Any) -> Any:
        links = super().get_list_display_links(request, list_display)
        return links if links is None else [self._shown(name) for name in links]

    def _readonly_dates(self, request: HttpRequest, obj: Any) -> set[str]:
        readonly = super().get_readonly_fields(request, obj)
        return self._date_fields.intersection(name for name in readonly if isinstance(name, str))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly + [name + _SUFFIX for name in sorted(self._readonly_dates(request, obj))]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        # A row the clerk may only view shows every field read-only (Django's view page): its dates
        # are all shown; otherwise only the read-only ones (an input stays an input).
        view_only = obj is not None and not self.has_change_permission(request, obj)
        dates = self._date_fields if view_only else self._readonly_dates(request, obj)
        seen: set[Any] = set()

        def shown(names: Sequence[Any]) -> list[Any]:
            result: list[Any] = []
            for name in names:
                if isinstance(name, (list, tuple)):
                    result.append(tuple(shown(name)))
                    continue
                name = name + _SUFFIX if isinstance(name, str) and name in dates else name
                if name not in seen:  # the read-only name may be listed after the field it shows
                    seen.add(name)
                    result.append(name)
            return result

        fieldsets = super().get_fieldsets(request, obj)
        return [(title, {**options, "fields": shown(options["fields"])}) for title, options in fieldsets]

"""Clerks' views of resident data in the admin are audited (SPEC §6).

Put ``AuditedResidentDataAdminMixin`` first in the bases of a ModelAdmin that shows resident data:
a change list records ``admin.resident_list`` with the residents on the page (also when it is opened
as the lookup popup of a ``raw_id_fields`` widget), a detail page or a delete confirmation records
``admin.resident_view``, all with the clerk as the actor, the client's true address and the request
id. The event is written before the page is returned: if the audit write fails, the clerk sees an
error, not unaudited data.

Such a ModelAdmin has no history page: Django's would title the object by its ``__str__`` (a
resident's name) for anyone who walks the ids, unaudited, and the audit log is the history of who saw
what. Its URL stays, answering 403 to everyone, and the change page shows no link to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from audit.request_context import staff_request_context
from residents.models import Household, Resident


class AuditedResidentDataAdminMixin:
    """Audits the change list and the detail page of a ModelAdmin whose rows concern residents.

    Residents are found as: the row itself for ``Resident``; ``resident_id`` for rows that belong
    to one resident; the members for a ``Household``. Override ``audit_resident_ids`` otherwise.
    """

    def audit_resident_ids(self, objects: Iterable[Any]) -> list[int]:
        objects = list(objects)
        ids: set[int] = set()
        households: list[int] = []
        for obj in objects:
            if isinstance(obj, Resident):
                ids.add(obj.pk)
            elif isinstance(obj, Household):
                households.append(obj.pk)
            elif getattr(obj, "resident_id", None) is not None:
                ids.add(int(obj.resident_id))
        if households:
            ids.update(Resident.objects.filter(household_id__in=households).values_list("pk", flat=True))
        return sorted(ids)

    def audit_payload(self, objects: list[Any]) -> dict[str, Any]:
        """More of what identifies the shown rows, for rows that name residents the mirror does not
        hold (a quarantined record). Never personal data: ``audit_record`` refuses it."""
        return {}

    def _audit_admin(
        self, request: HttpRequest, *, action: str, objects: Iterable[Any], **payload: Any
    ) -> None:
        model = self.model  # type: ignore[attr-defined]
        objects = list(objects)
        with transaction.atomic():
            staff_request_context(request).audit(
                action,
                resident_ids=self.audit_resident_ids(objects),
                payload={"model": model._meta.label_lower, **payload, **self.audit_payload(objects)},
            )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)  # type: ignore[misc]
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if changelist is not None:
            self._audit_admin(
                request,
                action="admin.resident_list",
                objects=changelist.result_list,
                page=int(changelist.page_num),
                rows=len(changelist.result_list),
                searched=bool(changelist.query),
                popup=IS_POPUP_VAR in request.GET,
            )
        return response

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {"history_refused": True, **(extra_context or {})}
        response = super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        original = (getattr(response, "context_data", None) or {}).get("original")
        if original is not None:
            self._audit_admin(
                request, action="admin.resident_view", objects=[original], object=str(original.pk)
            )
        return response

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The confirmation page names the object and everything deleted with it (a household's
        # members): a read like the detail page, whoever may delete. A done deletion redirects.
        response = super().delete_view(request, object_id, extra_context)  # type: ignore[misc]
        shown = (getattr(response, "context_data", None) or {}).get("object")
        if shown is not None:
            self._audit_admin(
                request, action="admin.resident_view", objects=[shown], object=str(shown.pk), page="delete"
            )
        return response

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        raise PermissionDenied

    def get_urls(self) -> list[URLPattern]:
        urls: list[URLPattern] = super().get_urls()  # type: ignore[misc]
        model = self.model  # type: ignore[attr-defined]
        history = f"{model._meta.app_label}_{model._meta.model_name}_history"
        # Not wrapped in the admin's login check: 403 for everyone, signed in or not, any role.
        refused = path("<path:object_id>/history/", _history_refused, name=history)
        return [refused, *(url for url in urls if url.name != history)]


def _history_refused(request: HttpRequest, object_id: str) -> HttpResponse:
    raise PermissionDenied

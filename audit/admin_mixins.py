"""Clerks' views of resident data in the admin are audited (SPEC §6).

Put ``AuditedResidentDataAdminMixin`` first in the bases of a ModelAdmin that shows resident data:
a change list records ``admin.resident_list`` with the residents on the page, a detail page
records ``admin.resident_view``, both with the clerk as the actor. The event is written before the
page is returned: if the audit write fails, the clerk sees an error, not unaudited data.

The admin's history page is switched off for these models (403 for everyone, the system
administrator too): it titles each row by the object's name, a resident's name here, and it is not
audited. ``NoHistoryAdminMixin`` does the same for admins that show resident data otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse

from audit.request_context import client_address, request_id_of
from audit.services import Actor, audit_record


class NoHistoryAdminMixin:
    """No history page: it would list resident names unaudited (saga_konbini/roles.py's matrix)."""

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        raise PermissionDenied


class AuditedResidentDataAdminMixin(NoHistoryAdminMixin):
    """Audits the change list and the detail page of a ModelAdmin whose rows concern residents.

    Residents are found as: the row itself for ``Resident``; ``resident_id`` for rows that belong
    to one resident; the members for a ``Household``. Override ``audit_resident_ids`` otherwise.
    """

    def audit_resident_ids(self, objects: Iterable[Any]) -> list[int]:
        from residents.models import Household, Resident

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

    def _audit_admin(
        self, request: HttpRequest, *, action: str, objects: Iterable[Any], **payload: Any
    ) -> None:
        model = self.model  # type: ignore[attr-defined]
        with transaction.atomic():
            audit_record(
                actor=Actor.user(request.user),
                action=action,
                resident_ids=self.audit_resident_ids(objects),
                payload={"model": model._meta.label_lower, **payload},
                source=client_address(request),
                request_id=request_id_of(request),
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
            )
        return response

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        original = (getattr(response, "context_data", None) or {}).get("original")
        if original is not None:
            self._audit_admin(
                request, action="admin.resident_view", objects=[original], object=str(original.pk)
            )
        return response

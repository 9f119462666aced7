"""The one door into the audit log (SPEC §6).

Every service that touches personal data calls ``audit_record`` inside its own transaction, with
the actor passed explicitly. Payloads are checked for personal data: a forbidden key is a
programming error and raises, so it is caught by tests instead of reaching the log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent, AuditEventResident

# Keys that could carry a My Number, a PIN, a secret or a document's content.
_FORBIDDEN_KEY = re.compile(
    r"my_?number|kojin_?bango|pin|token|password|secret|private_key|signature|challenge|document|pdf|content",
    re.IGNORECASE,
)
# A bare 12-digit number anywhere in a payload string could be a My Number.
_TWELVE_DIGITS = re.compile(r"(?<!\d)\d{12}(?!\d)")


class AuditPayloadError(ValueError):
    """A payload would have put personal data or a secret into the audit log."""


@dataclass(frozen=True)
class Actor:
    """Who acts. ``id`` is stable (user id, terminal id, job name); ``label`` is for people."""

    kind: str
    id: str
    label: str

    @classmethod
    def job(cls, name: str) -> Actor:
        return cls(kind=AuditEvent.ActorKind.JOB, id=name, label=name)

    @classmethod
    def system(cls) -> Actor:
        return cls(kind=AuditEvent.ActorKind.SYSTEM, id="system", label="system")

    @classmethod
    def public(cls) -> Actor:
        return cls(kind=AuditEvent.ActorKind.PUBLIC, id="public", label="public")

    @classmethod
    def user(cls, user: Any, *, kind: str = AuditEvent.ActorKind.CLERK) -> Actor:
        return cls(kind=kind, id=str(user.pk), label=user.get_username())

    @classmethod
    def terminal(cls, terminal: Any) -> Actor:
        return cls(kind=AuditEvent.ActorKind.TERMINAL, id=str(terminal.pk), label=str(terminal))


def _check_payload(value: Any, path: str = "payload") -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if _FORBIDDEN_KEY.search(str(key)):
                raise AuditPayloadError(f"{path}.{key}: this key may not appear in an audit payload")
            _check_payload(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_payload(item, f"{path}[{index}]")
    elif isinstance(value, str) and _TWELVE_DIGITS.search(value):
        raise AuditPayloadError(f"{path}: a 12-digit number may not appear in an audit payload")


def audit_record(
    *,
    actor: Actor,
    action: str,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    reason: str = "",
    resident_ids: Iterable[int] = (),
    certificate_numbers: Iterable[str] = (),
    payload: Mapping[str, Any] | None = None,
    source: str = "",
    request_id: str = "",
) -> AuditEvent:
    """Record one audit event. Call it inside the transaction of the act it records."""
    clean_payload = dict(payload or {})
    _check_payload(clean_payload)
    residents = sorted({int(pk) for pk in resident_ids})
    with transaction.atomic():
        event = AuditEvent.objects.create(
            occurred_at=timezone.now(),
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_label=actor.label,
            action=action,
            outcome=outcome,
            reason=reason,
            resident_ids=residents,
            certificate_numbers=list(certificate_numbers),
            source=source,
            request_id=request_id,
            payload=clean_payload,
        )
        if residents:
            AuditEventResident.objects.bulk_create(
                AuditEventResident(event=event, resident_id=pk) for pk in residents
            )
    return event

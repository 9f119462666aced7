"""saga_konbini.fixed_sql.ModelRows: a fixed statement reads the same model instance as the ORM."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from kiosk_api.models import KioskSession, Terminal
from saga_konbini.fixed_sql import ModelRows

pytestmark = pytest.mark.django_db


def _values(instance: KioskSession) -> dict[str, object]:
    values = {field.attname: getattr(instance, field.attname) for field in KioskSession._meta.concrete_fields}
    values["challenge"] = bytes(values["challenge"])  # memoryview or bytes, by database
    return values


def test_a_row_read_by_fixed_sql_equals_the_orms_instance():
    now = timezone.now()
    terminal = Terminal.objects.create(name="1号機", chain="lawson", store_code="S-1", token_hash="h" * 64)
    session = KioskSession.objects.create(
        terminal=terminal,
        challenge=b"\x00\xff" * 16,
        challenge_expires_at=now + timedelta(seconds=60),
        created_at=now,
        expires_at=now + timedelta(seconds=180),
        resident_id=7,
        member_refs={"ref-a": 7, "ref-b": 8},
    )
    rows = ModelRows(KioskSession)

    read = rows.one("SELECT {columns} FROM {table} WHERE id = %s", [rows.prep("id", session.pk)])

    assert isinstance(read, KioskSession) and not read._state.adding
    assert _values(read) == _values(KioskSession.objects.get(pk=session.pk))
    assert read.member_refs == {"ref-a": 7, "ref-b": 8}  # JSON decoded, as the ORM does
    assert read.expires_at.tzinfo is not None  # an aware datetime on every database
    assert rows.one("SELECT {columns} FROM {table} WHERE id = %s", [rows.prep("id", uuid.uuid4())]) is None

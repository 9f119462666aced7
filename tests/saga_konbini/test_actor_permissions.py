"""Defence in depth: every service that changes state checks the actor's permission itself.

A view that forgot its check must not be enough: asked by a clerk (窓口職員), the services refuse
with PermissionDenied, change nothing, and leave an audit event with the outcome refused.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor
from certificates.lifecycle import issuance_void
from certificates.models import Fee, IssuanceRecord, IssuanceStop
from certificates.services import (
    FeeLocked,
    fee_delete,
    fee_save,
    issuance_stop_create,
    issuance_stop_lift,
)
from kiosk_api import services as kiosk
from kiosk_api.models import MaintenanceWindow, Terminal
from staff import roles
from sync.models import SyncCursor
from sync.services import sync_run
from tests.certificates.factories import FeeFactory, IssuanceStopFactory
from tests.certificates.records import kiosk_record, terminal_for

pytestmark = pytest.mark.django_db
TODAY = date(2026, 12, 6)
_years = itertools.count()


def _staff(name: str, role: str, *, active: bool = True) -> Any:
    user = get_user_model().objects.create_user(name, password="x" * 12, is_staff=True, is_active=active)
    user.groups.set([roles.roles_ensure()[role]])
    return user


@dataclass(frozen=True)
class Case:
    """A service call on a fresh object, and the audit action it records."""

    action: str
    make: Callable[[], Any]
    call: Callable[[Any, Actor], Any]


def _suspended() -> Terminal:
    terminal = terminal_for("lawson")
    Terminal.objects.filter(pk=terminal.pk).update(status="suspended")
    return terminal


CASES = {
    "terminal_register": Case(
        "terminal.registered",
        lambda: None,
        lambda _obj, actor: kiosk.terminal_register(
            name="9号機", chain="lawson", store_code="L-9", actor=actor
        ),
    ),
    "terminal_rotate_token": Case(
        "terminal.token_rotated",
        lambda: terminal_for("lawson"),
        lambda obj, actor: kiosk.terminal_rotate_token(terminal_id=obj.pk, actor=actor),
    ),
    "terminal_suspend": Case(
        "terminal.suspended",
        lambda: terminal_for("lawson"),
        lambda obj, actor: kiosk.terminal_suspend(terminal_id=obj.pk, actor=actor),
    ),
    "terminal_reactivate": Case(
        "terminal.reactivated",
        _suspended,
        lambda obj, actor: kiosk.terminal_reactivate(terminal_id=obj.pk, actor=actor),
    ),
    "terminal_revoke": Case(
        "terminal.revoked",
        lambda: terminal_for("lawson"),
        lambda obj, actor: kiosk.terminal_revoke(terminal_id=obj.pk, actor=actor),
    ),
    "issuance_void": Case(
        "certificate.voided",
        lambda: kiosk_record(terminal=terminal_for("lawson"), at=timezone.now() - timedelta(hours=1)),
        lambda obj, actor: issuance_void(issuance_id=obj.pk, reason="二重交付", actor=actor),
    ),
    "issuance_stop_create": Case(
        "resident.stop_set",
        lambda: None,
        lambda _obj, actor: issuance_stop_create(
            resident_code="R000000042", reason="本人からの申出", until=None, actor=actor
        ),
    ),
    "issuance_stop_lift": Case(
        "resident.stop_lifted",
        IssuanceStopFactory.create,
        lambda obj, actor: issuance_stop_lift(stop_id=obj.pk, actor=actor),
    ),
    "sync_run": Case("sync.run", lambda: None, lambda _obj, actor: sync_run(actor=actor)),
    "terminal_update": Case(
        "terminal.updated",
        lambda: terminal_for("lawson"),
        lambda obj, actor: kiosk.terminal_update(
            terminal_id=obj.pk, name="改名", chain="lawson", store_code="L-77", actor=actor
        ),
    ),
    "maintenance_window_save": Case(
        "calendar.maintenance_added",
        lambda: None,
        lambda _obj, actor: kiosk.maintenance_window_save(
            window=MaintenanceWindow(starts_at=_soon(), ends_at=_soon() + timedelta(hours=2), reason="保守"),
            actor=actor,
        ),
    ),
    "maintenance_window_delete": Case(
        "calendar.maintenance_deleted",
        lambda: MaintenanceWindow.objects.create(
            starts_at=_soon(), ends_at=_soon() + timedelta(hours=2), reason="保守"
        ),
        lambda obj, actor: kiosk.maintenance_window_delete(window_id=obj.pk, actor=actor),
    ),
    "fee_save": Case(
        "fee.added",
        lambda: None,
        lambda _obj, actor: fee_save(
            fee=Fee(cert_type="inkan", amount_yen=350, effective_from=date(2031 + next(_years), 4, 1)),
            actor=actor,
            today=TODAY,
        ),
    ),
}
# Deleting a fee is the system administrator's alone: 係長 is refused too.
FEE_DELETE = Case(
    "fee.deleted",
    lambda: FeeFactory.create(cert_type="nozei", effective_from=date(2031, 4, 1)),
    lambda obj, actor: fee_delete(fee_id=obj.pk, actor=actor),
)


def _soon() -> Any:
    return timezone.now() + timedelta(days=10)


def _state() -> tuple[Any, ...]:
    """Everything these services may change."""
    return (
        list(Terminal.objects.order_by("pk").values()),
        list(IssuanceRecord.objects.order_by("pk").values()),
        list(IssuanceStop.objects.order_by("pk").values()),
        list(SyncCursor.objects.values()),
        list(MaintenanceWindow.objects.order_by("pk").values()),
        list(Fee.objects.order_by("pk").values()),
    )


def _successes() -> list[str]:
    return list(AuditEvent.objects.filter(outcome="success").values_list("action", flat=True))


@pytest.mark.parametrize("name", [*sorted(CASES), "fee_delete"])
def test_a_clerk_is_refused_nothing_changes_and_the_refusal_is_audited(name):
    case = FEE_DELETE if name == "fee_delete" else CASES[name]
    obj = case.make()
    clerk = _staff("madoguchi", roles.CLERK)
    before, successes = _state(), _successes()
    with pytest.raises(PermissionDenied):
        case.call(obj, Actor.user(clerk))
    assert _state() == before
    assert _successes() == successes
    refused = AuditEvent.objects.get(action=case.action, outcome=AuditEvent.Outcome.REFUSED)
    assert (refused.actor_kind, refused.actor_id, refused.reason) == (
        "clerk",
        str(clerk.pk),
        "permission_denied",
    )


@pytest.mark.parametrize("name", [*sorted(CASES), "fee_delete"])
def test_an_auditor_and_an_inactive_supervisor_are_refused(name):
    case = FEE_DELETE if name == "fee_delete" else CASES[name]
    obj = case.make()
    auditor = _staff("kansa", roles.AUDITOR)
    former = _staff("former", roles.SUPERVISOR, active=False)
    before = _state()
    for actor in (Actor.user(auditor, kind=AuditEvent.ActorKind.AUDITOR), Actor.user(former)):
        with pytest.raises(PermissionDenied):
            case.call(obj, actor)
    assert _state() == before


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_supervisor_and_a_job_may(name):
    case = CASES[name]
    supervisor = _staff("kakaricho", roles.SUPERVISOR)
    for actor in (Actor.user(supervisor), Actor.job("test")):
        obj = case.make()
        case.call(obj, actor)
    assert not AuditEvent.objects.filter(outcome=AuditEvent.Outcome.REFUSED).exists()


def test_a_terminal_may_void_its_failed_print_but_not_suspend_a_terminal():
    terminal = terminal_for("lawson")
    record = kiosk_record(terminal=terminal, at=timezone.now() - timedelta(hours=1))
    issuance_void(issuance_id=record.pk, reason="印刷失敗", actor=Actor.terminal(terminal))
    assert IssuanceRecord.objects.get(pk=record.pk).status == "voided"
    other = terminal_for("familymart")
    with pytest.raises(PermissionDenied):
        kiosk.terminal_suspend(terminal_id=other.pk, actor=Actor.terminal(terminal))
    assert Terminal.objects.get(pk=other.pk).status == "active"


def test_an_unknown_user_id_is_refused():
    terminal = terminal_for("lawson")
    with pytest.raises(PermissionDenied):
        kiosk.terminal_suspend(terminal_id=terminal.pk, actor=Actor(kind="clerk", id="999999", label="ghost"))
    assert Terminal.objects.get(pk=terminal.pk).status == "active"


def test_only_the_system_administrator_deletes_a_fee():
    supervisor = _staff("kakaricho", roles.SUPERVISOR)
    fee = FEE_DELETE.make()
    with pytest.raises(PermissionDenied):
        FEE_DELETE.call(fee, Actor.user(supervisor))
    admin = get_user_model().objects.create_superuser("sysadmin", password="x" * 12)
    FEE_DELETE.call(fee, Actor.user(admin))
    assert not Fee.objects.filter(pk=fee.pk).exists()
    assert (
        AuditEvent.objects.get(action="fee.deleted", outcome="success").payload["amount_yen"]
        == fee.amount_yen
    )


def test_a_fee_in_force_is_never_changed_only_superseded():
    supervisor = Actor.user(_staff("kakaricho", roles.SUPERVISOR))
    in_force = FeeFactory.create(cert_type="inkan", amount_yen=300, effective_from=date(2020, 4, 1))
    in_force.amount_yen = 30
    with pytest.raises(FeeLocked):
        fee_save(fee=in_force, actor=supervisor, today=TODAY)
    assert Fee.objects.get(pk=in_force.pk).amount_yen == 300
    future = FeeFactory.create(cert_type="inkan", amount_yen=300, effective_from=date(2027, 4, 1))
    future.amount_yen = 350
    fee_save(fee=future, actor=supervisor, today=TODAY)
    assert Fee.objects.get(pk=future.pk).amount_yen == 350
    changed = AuditEvent.objects.get(action="fee.changed")
    assert (changed.payload["fee"], changed.payload["amount_yen"]) == (future.pk, 350)


def test_a_terminal_correction_is_audited_with_what_changed():
    terminal = terminal_for("lawson")
    supervisor = _staff("kakaricho", roles.SUPERVISOR)
    kiosk.terminal_update(
        terminal_id=terminal.pk,
        name=terminal.name,
        chain="familymart",
        store_code="F-12",
        actor=Actor.user(supervisor),
    )
    terminal.refresh_from_db()
    assert (terminal.chain, terminal.store_code) == ("familymart", "F-12")
    event = AuditEvent.objects.get(action="terminal.updated")
    assert (
        event.payload["changed"]["chain"] == ["lawson", "familymart"]
        and "name" not in event.payload["changed"]
    )

"""The service calendar in the admin: the fixed closures shown, every window change audited."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from kiosk_api.models import MaintenanceWindow
from staff import roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def supervisor(client, django_user_model):
    user = django_user_model.objects.create_user(
        username="kakaricho", password="pw-for-tests-1", is_staff=True
    )
    user.groups.add(roles.roles_ensure()[roles.SUPERVISOR])
    client.force_login(user)
    return user


def test_calendar_shows_the_year_end_closure_and_the_hours(client, supervisor, settings):
    settings.KONBINI_SERVICE_HOURS = "06:30-23:00"
    page = client.get(reverse("admin:kiosk_api_maintenancewindow_changelist")).content.decode()
    assert "12月29日〜1月3日" in page
    assert "06:30〜23:00" in page


def test_adding_and_deleting_a_window_is_audited_without_its_free_text(client, supervisor):
    starts = timezone.localtime() + timedelta(days=3)
    response = client.post(
        reverse("admin:kiosk_api_maintenancewindow_add"),
        {
            "starts_at_0": starts.strftime("%Y-%m-%d"),
            "starts_at_1": "01:00:00",
            "ends_at_0": starts.strftime("%Y-%m-%d"),
            "ends_at_1": "05:00:00",
            "reason": "システム保守(佐賀 太郎 様の件)",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    window = MaintenanceWindow.objects.get()
    added = AuditEvent.objects.get(action="calendar.maintenance_added")
    assert (added.actor_id, added.payload["window"]) == (str(supervisor.pk), window.pk)
    assert "佐賀" not in str(added.payload)

    client.post(reverse("admin:kiosk_api_maintenancewindow_delete", args=[window.pk]), {"post": "yes"})
    assert not MaintenanceWindow.objects.exists()
    assert AuditEvent.objects.filter(
        action="calendar.maintenance_deleted", payload__window=window.pk
    ).exists()


PROXY, CLIENT = "10.9.8.7", "203.0.113.42"


def _window_form(starts, start_time: str, end_time: str, reason: str = "システム保守") -> dict[str, str]:
    return {
        "starts_at_0": starts.strftime("%Y-%m-%d"),
        "starts_at_1": start_time,
        "ends_at_0": starts.strftime("%Y-%m-%d"),
        "ends_at_1": end_time,
        "reason": reason,
    }


def test_every_window_change_is_audited_with_the_clerks_true_address_and_request_id(
    client, supervisor, settings
):
    settings.KONBINI_TRUSTED_PROXIES = [f"{PROXY}/32"]
    headers = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": CLIENT}
    starts = timezone.localtime() + timedelta(days=3)
    added = client.post(
        reverse("admin:kiosk_api_maintenancewindow_add"),
        _window_form(starts, "01:00:00", "05:00:00"),
        **headers,
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    window = MaintenanceWindow.objects.get()
    changed = client.post(
        reverse("admin:kiosk_api_maintenancewindow_change", args=[window.pk]),
        _window_form(starts, "01:00:00", "06:00:00", reason="延長"),
        **headers,
    )
    assert changed.status_code == 302, changed.content.decode()[:2000]
    window.refresh_from_db()
    assert timezone.localtime(window.ends_at).hour == 6
    second = MaintenanceWindow.objects.create(
        starts_at=starts + timedelta(days=1), ends_at=starts + timedelta(days=1, hours=2), reason="x"
    )
    bulk = client.post(
        reverse("admin:kiosk_api_maintenancewindow_changelist"),
        {"action": "delete_selected", "_selected_action": [window.pk, second.pk], "post": "yes"},
        **headers,
    )
    assert bulk.status_code == 302
    assert not MaintenanceWindow.objects.exists()

    events = {
        e.action: e
        for e in AuditEvent.objects.filter(action__startswith="calendar.").exclude(
            action="calendar.maintenance_deleted"
        )
    }
    change = events["calendar.maintenance_changed"]
    old_end = timezone.localtime(starts).replace(hour=5, minute=0, second=0, microsecond=0).astimezone(UTC)
    assert change.payload["changed"] == {
        "ends_at": [old_end.isoformat(), (old_end + timedelta(hours=1)).isoformat()]
    }
    assert change.payload["reason_changed"] is True and "延長" not in str(change.payload)
    assert (events["calendar.maintenance_added"].request_id, change.request_id) == (
        added["X-Request-ID"],
        changed["X-Request-ID"],
    )
    deleted = AuditEvent.objects.filter(action="calendar.maintenance_deleted")
    assert sorted(e.payload["window"] for e in deleted) == sorted([window.pk, second.pk])
    assert {e.request_id for e in deleted} == {bulk["X-Request-ID"]}
    for event in AuditEvent.objects.filter(action__startswith="calendar."):
        assert (event.source, event.actor_id) == (CLIENT, str(supervisor.pk))

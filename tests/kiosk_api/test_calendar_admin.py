"""The service calendar in the admin (issue 6): the fixed closures shown, every window change audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from kiosk_api.models import MaintenanceWindow
from saga_konbini import roles

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

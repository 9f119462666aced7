"""Rules of the door: hours, year end, maintenance, rate limits, body size, JSON errors (SPEC §2, §3)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import path

from kiosk_api.door import maintenance_cache_clear, reopens_at, service_hours_parse
from kiosk_api.models import KioskSession, MaintenanceWindow
from tests.kiosk_api.cards import BASE, error_code

pytestmark = pytest.mark.django_db
JST = ZoneInfo("Asia/Tokyo")


def _at(clock, year: int, month: int, day: int, hour: int, minute: int) -> None:
    clock.move_to(datetime(year, month, day, hour, minute, tzinfo=JST))


def test_service_hours_refuse_before_opening_with_reopens_at(api, settings, clock):
    settings.KONBINI_SERVICE_HOURS = "06:30-23:00"
    _at(clock, 2026, 11, 26, 5, 0)
    response = api.post(f"{BASE}sessions")
    assert (response.status_code, error_code(response)) == (503, "SERVICE_CLOSED")
    assert response.json()["error"]["reopens_at"] == "2026-11-26T06:30:00+09:00"
    assert KioskSession.objects.count() == 0


def test_service_hours_after_closing_reopen_next_morning(api, settings, clock):
    settings.KONBINI_SERVICE_HOURS = "06:30-23:00"
    _at(clock, 2026, 11, 26, 23, 0)
    response = api.post(f"{BASE}sessions")
    assert response.json()["error"]["reopens_at"] == "2026-11-27T06:30:00+09:00"
    _at(clock, 2026, 11, 26, 22, 59)
    assert api.post(f"{BASE}sessions").status_code == 201


def test_year_end_closure_reopens_on_january_fourth(api, settings, clock):
    settings.KONBINI_SERVICE_HOURS = "06:30-23:00"
    _at(clock, 2026, 12, 29, 12, 0)
    response = api.post(f"{BASE}sessions")
    assert (response.status_code, error_code(response)) == (503, "SERVICE_CLOSED")
    assert response.json()["error"]["reopens_at"] == "2027-01-04T06:30:00+09:00"
    _at(clock, 2026, 12, 28, 12, 0)
    assert api.post(f"{BASE}sessions").status_code == 201


def test_maintenance_window_closes_until_its_end(api, clock):
    start = datetime(2026, 11, 26, 9, 0, tzinfo=JST)
    MaintenanceWindow.objects.create(starts_at=start, ends_at=start + timedelta(hours=2), reason="定期保守")
    maintenance_cache_clear()
    response = api.post(f"{BASE}sessions")
    assert (response.status_code, error_code(response)) == (503, "SERVICE_CLOSED")
    assert response.json()["error"]["reopens_at"] == "2026-11-26T11:00:00+09:00"


def test_maintenance_running_past_closing_reopens_the_next_morning(settings):
    settings.KONBINI_SERVICE_HOURS = "06:30-23:00"
    start = datetime(2026, 11, 26, 22, 0, tzinfo=JST)
    MaintenanceWindow.objects.create(starts_at=start, ends_at=start + timedelta(hours=9), reason="更新作業")
    maintenance_cache_clear()
    assert reopens_at(start + timedelta(minutes=5)) == datetime(2026, 11, 27, 7, 0, tzinfo=JST)


def test_always_open_setting(settings):
    settings.KONBINI_SERVICE_HOURS = "00:00-24:00"
    assert reopens_at(datetime(2026, 12, 31, 3, 0, tzinfo=JST)) is None


@pytest.mark.parametrize("spec", ["6:30-23:00", "23:00-06:30", "06:30-25:00", "always"])
def test_malformed_service_hours_fail_loudly(spec):
    with pytest.raises(ImproperlyConfigured):
        service_hours_parse(spec)


def test_terminal_request_rate_is_limited(api, other_api, settings):
    settings.KONBINI_TERMINAL_REQUESTS_PER_MINUTE = 3
    statuses = [api.post(f"{BASE}sessions").status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    response = api.post(f"{BASE}sessions")
    assert error_code(response) == "RATE_LIMITED"
    assert response["Retry-After"] == "60"
    assert other_api.post(f"{BASE}sessions").status_code == 201


def test_oversized_body_is_refused_before_reading(api):
    response = api.generic(
        "POST",
        f"{BASE}sessions/x/authenticate",
        b"{" + b" " * (65 * 1024) + b"}",
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "INVALID_REQUEST"


def test_unknown_path_is_json_404(api):
    response = api.get(f"{BASE}nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_wrong_method_is_json_405(api):
    response = api.get(f"{BASE}sessions")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_non_json_body_is_json_415(api):
    session = api.post(f"{BASE}sessions").json()
    response = api.generic(
        "POST", f"{BASE}sessions/{session['session_id']}/authenticate", b"a=b", content_type="text/plain"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_broken_json_is_invalid_request_422(api):
    session = api.post(f"{BASE}sessions").json()
    response = api.generic(
        "POST",
        f"{BASE}sessions/{session['session_id']}/authenticate",
        b"{not json",
        content_type="application/json",
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST" and "JSON" in error["message"]


def _crash(request):
    raise RuntimeError("boom with data that must not leak")


urlpatterns = [path("api/kiosk/v1/crash", _crash)]


def test_unhandled_error_is_json_500_without_details(settings, client):
    settings.ROOT_URLCONF = __name__
    client.raise_request_exception = False
    response = client.get(f"{BASE}crash")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "boom" not in response.content.decode()


def test_openapi_schema_names_every_operation_and_error(client):
    response = client.get(f"{BASE}schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    operations = {
        op["operationId"]: (path_, method)
        for path_, item in schema["paths"].items()
        for method, op in item.items()
    }
    assert operations == {
        "start": ("/api/kiosk/v1/sessions", "post"),
        "authenticate": ("/api/kiosk/v1/sessions/{session_id}/authenticate", "post"),
        "issue": ("/api/kiosk/v1/sessions/{session_id}/issuances", "post"),
        "fetch": ("/api/kiosk/v1/issuances/{issuance_id}/document", "get"),
        "complete": ("/api/kiosk/v1/issuances/{issuance_id}/complete", "post"),
        "end": ("/api/kiosk/v1/sessions/{session_id}", "delete"),
        "access_history": ("/api/kiosk/v1/sessions/{session_id}/access-history", "get"),
    }
    issue = schema["paths"]["/api/kiosk/v1/sessions/{session_id}/issuances"]["post"]
    assert {"201", "401", "403", "404", "409", "410", "422", "429", "503"} <= set(issue["responses"])
    components = schema["components"]["schemas"]
    assert "IDEMPOTENCY_KEY_REUSED" in components["CodeEnum"]["enum"]
    assert set(components["IssuanceCreateOutput"]["properties"]) == {
        "issuance_id",
        "certificate_numbers",
        "fee_total",
        "document_url",
        "sha256",
    }
    assert schema["components"]["securitySchemes"]["terminalToken"]["scheme"] == "bearer"


def test_api_reference_page_is_served_without_a_cdn(client):
    response = client.get(f"{BASE}docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert f"{BASE}schema/" in page
    assert "cdn." not in page and "https://" not in page

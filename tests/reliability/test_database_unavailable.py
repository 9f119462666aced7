"""A database outage answers 503 with Retry-After (saga_konbini.health.DatabaseUnavailableMiddleware)."""

from __future__ import annotations

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import path


def _database_gone(request: HttpRequest) -> HttpResponse:
    raise OperationalError("connection to server at 127.0.0.1 failed")


def _other_failure(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug, not an outage")


urlpatterns = [
    path("api/kiosk/v1/sessions", _database_gone),
    path("verify/", _database_gone),
    path("api/kiosk/v1/bug", _other_failure),
]


def test_the_kiosk_api_gets_a_retryable_503_in_the_spec_shape(client, settings):
    settings.ROOT_URLCONF = __name__
    response = client.post("/api/kiosk/v1/sessions")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE" and "しばらくしてから" in error["message"]
    assert "127.0.0.1" not in response.content.decode()


def test_a_browser_page_gets_a_short_japanese_503(client, settings):
    settings.ROOT_URLCONF = __name__
    response = client.get("/verify/")
    assert response.status_code == 503
    assert "しばらくしてから" in response.content.decode()


def test_any_other_failure_stays_a_500(client, settings):
    settings.ROOT_URLCONF = __name__
    client.raise_request_exception = False
    response = client.get("/api/kiosk/v1/bug")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"

"""JSON log lines with request ids, and no personal data in them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import path

from saga_konbini.logging import JsonFormatter, RequestIdMiddleware, current_request_id, redact
from tests.certificates.factories import valid_my_number

_view_logger = logging.getLogger("tests.saga_konbini.view")


def _logging_view(request: HttpRequest) -> HttpResponse:
    # A careless log call: the formatter must still keep the My Number out of the line.
    _view_logger.warning("looked up resident with my number %s", request.GET.get("n", ""))
    return HttpResponse("ok")


urlpatterns = [path("log-me", _logging_view)]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The JSON formatter on a handler of the root logger, as settings.LOGGING configures it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_a_log_line_is_one_json_object_with_the_fields(captured):
    logging.getLogger("saga.test").warning("交付を拒否しました: %s", "期限切れ")

    (line,) = _lines(captured)
    assert set(line) == {"time", "level", "logger", "message", "request_id"}
    assert line["level"] == "WARNING"
    assert line["logger"] == "saga.test"
    assert line["message"] == "交付を拒否しました: 期限切れ"
    assert line["request_id"] == ""


def test_log_lines_during_a_request_carry_its_id(captured, client, settings):
    settings.ROOT_URLCONF = __name__

    response = client.get("/log-me", HTTP_X_REQUEST_ID="kiosk-7.req-0001")

    assert response["X-Request-ID"] == "kiosk-7.req-0001"
    (line,) = [entry for entry in _lines(captured) if entry["logger"] == _view_logger.name]
    assert line["request_id"] == "kiosk-7.req-0001"


def test_a_malformed_request_id_is_replaced(client, settings):
    settings.ROOT_URLCONF = __name__

    response = client.get("/log-me", HTTP_X_REQUEST_ID='x" injected\nline')

    assert response["X-Request-ID"] != 'x" injected\nline'
    assert len(response["X-Request-ID"]) == 32


def test_each_request_gets_its_own_id_and_none_leaks_after_it(client, settings):
    settings.ROOT_URLCONF = __name__

    first = client.get("/log-me")["X-Request-ID"]
    second = client.get("/log-me")["X-Request-ID"]

    assert first != second
    assert current_request_id() == ""


def test_the_django_request_warning_for_a_404_carries_the_id(captured, client, settings):
    settings.ROOT_URLCONF = __name__

    client.get("/not-here", HTTP_X_REQUEST_ID="req-404")

    lines = [entry for entry in _lines(captured) if entry["logger"] == "django.request"]
    assert lines and all(entry["request_id"] == "req-404" for entry in lines)


def test_no_my_number_reaches_the_log_line(captured, client, settings):
    settings.ROOT_URLCONF = __name__
    number = valid_my_number(42)

    client.get(f"/log-me?n={number}")
    logging.getLogger("saga.test").error("grouped %s", f"{number[:4]}-{number[4:8]}-{number[8:]}")
    try:
        raise ValueError(f"bad card for {number}")
    except ValueError:
        logging.getLogger("saga.test").exception("failure")

    text = captured.getvalue()
    assert number not in text
    assert number[:4] + "-" + number[4:8] not in text
    assert text.count("[REDACTED]") >= 3
    assert "exception" in _lines(captured)[-1]


def test_the_middleware_never_logs_query_strings_or_bodies(captured):
    request = RequestFactory().post("/anything?pin=1234&card=abcd", data={"pin": "9876"})
    RequestIdMiddleware(lambda r: HttpResponse("ok"))(request)

    assert "1234" not in captured.getvalue() and "9876" not in captured.getvalue()


def test_redact_leaves_short_numbers_alone():
    assert redact("batch 0000000041 applied, 11 records") == "batch 0000000041 applied, 11 records"
    assert redact("番号 123456789012 です") == "番号 [REDACTED] です"

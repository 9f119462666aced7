"""schemathesis over the kiosk API's OpenAPI document.

Every operation of ``/api/kiosk/v1/schema/`` gets generated requests, valid and invalid, with a real
terminal's token: at least 1,000 cases in all. No answer may be a 5xx, and every answer must match the
document (status code documented, content type, body schema, invalid input rejected).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from audit.services import Actor
from kiosk_api.services import terminal_register

MIN_CASES = 1000
EXAMPLES_PER_MODE = 100


@pytest.fixture(autouse=True)
def _no_rate_limit(settings) -> None:
    settings.KONBINI_TERMINAL_REQUESTS_PER_MINUTE = 1_000_000


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    """The WSGI handler closes database connections at the end of each request; in-process that is
    the test's own connection (inside its transaction). Django's test client does the same."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _fuzz(operation: Any, mode: GenerationMode, auth: dict[str, str], cases: dict[str, int]) -> str:
    """Run one operation in one mode; the failure found (shrunk by hypothesis), or ""."""
    label = operation.label

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        derandomize=True,  # the same cases on every CI run; a failure reproduces
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        cases[label] = cases.get(label, 0) + 1
        response = case.call(headers=auth)
        assert response.status_code < 500, (label, response.status_code, response.text[:300])
        case.validate_response(response, headers=auth)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every operation is tried; all are reported
        return f"{label} [{mode.value}]: {exc}"[:1500]
    return ""


@pytest.mark.slow
@pytest.mark.django_db
def test_every_operation_answers_generated_requests_without_5xx_and_as_documented():
    _terminal, token = terminal_register(
        name="検査端末", chain="lawson", store_code="L-FUZZ", actor=Actor.job("t")
    )
    auth = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/kiosk/v1/schema/", get_wsgi_application(), headers=auth)
    cases: dict[str, int] = {}
    failures: list[str] = []

    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself must be valid
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures.append(_fuzz(operation, mode, auth, cases))

    print(f"schemathesis: {sum(cases.values())} cases over {len(cases)} operations: {cases}")
    found = [f for f in failures if f]
    assert not found, "\n\n".join(found)
    assert len(cases) >= 7, cases  # every SPEC §3 call is in the document
    assert sum(cases.values()) >= MIN_CASES, cases

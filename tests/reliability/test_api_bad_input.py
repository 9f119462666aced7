"""The bad-input catalogue for the kiosk API: oversized and deeply nested bodies, wrong
content types, bodies that are not UTF-8 or not JSON. Each gets a clear 4xx in the SPEC §3 error
shape (never a 5xx, never HTML), and changes nothing: the session stays unauthenticated and no
issuance exists."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from audit.services import Actor
from certificates.models import IssuanceRecord
from kiosk_api.models import KioskIssuance, KioskSession
from kiosk_api.services import terminal_register

pytestmark = pytest.mark.django_db
BASE = "/api/kiosk/v1/"


@pytest.fixture(autouse=True)
def _no_rate_limit(settings) -> None:
    settings.KONBINI_TERMINAL_REQUESTS_PER_MINUTE = 100_000


@pytest.fixture
def api() -> APIClient:
    _terminal, token = terminal_register(
        name="検査端末", chain="lawson", store_code="L-BAD", actor=Actor.job("t")
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _session(api: APIClient) -> str:
    response = api.post(f"{BASE}sessions", data=b"{}", content_type="application/json")
    assert response.status_code == 201, response.content
    return str(response.json()["session_id"])


NESTED = b'{"certificate": ' + b"[" * 20_000 + b"]" * 20_000 + b', "signature": "AA=="}'
BAD_BODIES = [
    ("oversized", b'{"certificate": "' + b"A" * 70_000 + b'", "signature": "AA=="}', "application/json"),
    ("deeply_nested_array", NESTED, "application/json"),
    ("deeply_nested_object", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "application/json"),
    ("not_json", b"certificate=AAAA&signature=BBBB", "application/json"),
    ("not_utf8", b'{"certificate": "\xff\xfe\xfd", "signature": "AA=="}', "application/json"),
    ("nan_and_infinity", b'{"certificate": NaN, "signature": Infinity}', "application/json"),
    ("json_array", b"[1, 2, 3]", "application/json"),
    ("form_encoded", b"certificate=AAAA&signature=BBBB", "application/x-www-form-urlencoded"),
    ("plain_text", b'{"certificate": "AAAA", "signature": "BBBB"}', "text/plain"),
    ("xml", b"<authenticate><certificate>AAAA</certificate></authenticate>", "application/xml"),
    ("multipart", b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--\r\n", "multipart/form-data; boundary=x"),  # noqa: E501
    ("no_content_type", b'{"certificate": "AAAA", "signature": "BBBB"}', ""),
    ("empty", b"", "application/json"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "body", "content_type"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_a_bad_body_gets_a_clear_4xx_and_changes_nothing(api, label, body, content_type):
    session_id = _session(api)

    response = api.generic(
        "POST", f"{BASE}sessions/{session_id}/authenticate", body, content_type=content_type
    )

    assert 400 <= response.status_code < 500, (label, response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), label
    error = response.json()["error"]
    assert error["code"] and error["message"], label
    assert any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in error["message"]), label
    assert KioskSession.objects.get(pk=session_id).resident_id is None  # not authenticated by a bad body
    assert not KioskIssuance.objects.exists() and not IssuanceRecord.objects.exists()


@pytest.mark.parametrize(("label", "body", "content_type"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_a_bad_issuance_body_creates_no_issuance(api, label, body, content_type):
    session_id = _session(api)

    response = api.generic(
        "POST",
        f"{BASE}sessions/{session_id}/issuances",
        body,
        content_type=content_type,
        HTTP_IDEMPOTENCY_KEY=f"bad-{label}",
    )

    assert 400 <= response.status_code < 500, (label, response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), label
    assert not KioskIssuance.objects.exists() and not IssuanceRecord.objects.exists()


def test_a_body_larger_than_it_declares_is_refused_before_it_is_read(api, settings):
    session_id = _session(api)
    body = json.dumps({"certificate": "A" * (settings.KONBINI_API_MAX_BODY_BYTES + 10), "signature": "AA=="})

    response = api.generic(
        "POST", f"{BASE}sessions/{session_id}/authenticate", body.encode(), content_type="application/json"
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "INVALID_REQUEST"

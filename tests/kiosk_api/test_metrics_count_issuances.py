"""/metrics counts the issuances the kiosk API really made, by type and outcome."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.kiosk_api.cards import issue, ok_holder, signed_in

pytestmark = pytest.mark.django_db


def _attempts(cert_type: str, outcome: str) -> float:
    body = Client().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "konbini_issuance_attempts_total" and sample.labels == {
                "cert_type": cert_type,
                "outcome": outcome,
            }:
                return sample.value
    return 0.0


def test_an_issuance_through_the_api_is_counted(api, pki):
    before = {outcome: _attempts("inkan", outcome) for outcome in ("issued", "replayed", "refused")}
    session_id, _ = signed_in(api, pki.card(ok_holder()))
    body = {"type": "inkan", "copies": 1, "options": {}}
    assert issue(api, session_id, body, key="k-1").status_code == 201
    assert issue(api, session_id, body, key="k-1").status_code == 201  # the same request again
    assert issue(api, session_id, {**body, "copies": 2}, key="k-1").status_code == 409

    assert _attempts("inkan", "issued") == before["issued"] + 1
    assert _attempts("inkan", "replayed") == before["replayed"] + 1
    assert _attempts("inkan", "refused") == before["refused"] + 1

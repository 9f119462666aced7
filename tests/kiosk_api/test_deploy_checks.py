"""Production never trusts the demo's simulated card CA (kiosk_api/checks.py, ``check --deploy``)."""

from __future__ import annotations

from django.core.checks import run_checks

from simulators import jpki as jpki_sim


def _deploy_errors() -> list[str]:
    return [
        m.id or ""
        for m in run_checks(include_deployment_checks=True)
        if m.id and m.id.startswith("kiosk_api.")
    ]


def test_production_refuses_to_trust_the_simulated_card_ca(settings, tmp_path):
    test_ca = jpki_sim.test_ca_load_or_create(pki_dir=tmp_path)
    other = jpki_sim.other_ca_load_or_create(pki_dir=tmp_path)
    settings.PRODUCTION = True
    settings.KONBINI_TRUSTED_CA_FILES = [other.cert_path]
    assert _deploy_errors() == []
    settings.KONBINI_TRUSTED_CA_FILES = [other.cert_path, test_ca.cert_path]
    assert _deploy_errors() == ["kiosk_api.E001"]
    # The smartphone's test CA is as much a demo leftover as the card's.
    phone_ca = jpki_sim.smartphone_ca_load_or_create(pki_dir=tmp_path)
    settings.KONBINI_TRUSTED_CA_FILES = [other.cert_path, phone_ca.cert_path]
    assert _deploy_errors() == ["kiosk_api.E001"]
    # A missing file is no demo leftover (it trusts nothing); a file that is no certificate is refused.
    settings.KONBINI_TRUSTED_CA_FILES = [tmp_path / "absent.pem"]
    assert _deploy_errors() == []
    (tmp_path / "garbage.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
    )
    settings.KONBINI_TRUSTED_CA_FILES = [tmp_path / "garbage.pem"]
    assert _deploy_errors() == ["kiosk_api.E002"]


def test_development_trusts_the_simulated_card_ca(settings, tmp_path):
    settings.PRODUCTION = False
    settings.KONBINI_TRUSTED_CA_FILES = [jpki_sim.test_ca_load_or_create(pki_dir=tmp_path).cert_path]
    assert _deploy_errors() == []

"""Production settings refuse what is meant for demos, and check the staff host names, at start-up
(a fresh process each time: settings are read once, when Django starts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from saga_konbini.env import new_aes_key_spec

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.KIOSK_SIMULATOR_ENABLED, s.STAFF_HOSTS)"
)


def _production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "saga_konbini.settings",
        "PATH": "/usr/bin:/bin",
        "SAGA_ENV": "production",
        "DJANGO_SECRET_KEY": "production-settings-test-" + "x" * 50,
        "MY_NUMBER_KEYS": new_aes_key_spec(),
        "KONBINI_DOCUMENT_KEYS": new_aes_key_spec(),
        "DJANGO_ALLOWED_HOSTS": "konbini.example.jp",
        "KONBINI_VAR_DIR": str(tmp_path),
    }
    env.update(overrides)
    return env


def _start(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, *args] if args else [sys.executable, "-c", SHOW]
    return subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_production_refuses_to_enable_the_browser_kiosk(tmp_path):
    result = _start(_production_env(tmp_path, KIOSK_SIMULATOR_ENABLED="1"))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "KIOSK_SIMULATOR_ENABLED" in result.stderr


def test_production_starts_with_the_browser_kiosk_off(tmp_path):
    for env in (_production_env(tmp_path), _production_env(tmp_path, KIOSK_SIMULATOR_ENABLED="0")):
        result = _start(env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[0] == "False"


def test_development_may_enable_the_browser_kiosk(tmp_path):
    result = _start(_production_env(tmp_path, SAGA_ENV="development", KIOSK_SIMULATOR_ENABLED="1"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "True"


def test_a_staff_host_must_be_an_allowed_host(tmp_path):
    result = _start(_production_env(tmp_path, STAFF_HOSTS="konbini-admin.example.jp"))
    assert result.returncode != 0
    assert "STAFF_HOSTS" in result.stderr and "DJANGO_ALLOWED_HOSTS" in result.stderr


def test_staff_hosts_are_exact_host_names(tmp_path):
    allowed = "konbini.example.jp,.example.jp"
    for wrong in ("https://konbini-admin.example.jp", "konbini-admin.example.jp:8443", "*", ".example.jp"):
        result = _start(_production_env(tmp_path, DJANGO_ALLOWED_HOSTS=allowed, STAFF_HOSTS=wrong))
        assert result.returncode != 0, wrong
        assert "STAFF_HOSTS" in result.stderr, wrong
    result = _start(
        _production_env(
            tmp_path,
            DJANGO_ALLOWED_HOSTS="konbini.example.jp,konbini-admin.example.jp",
            STAFF_HOSTS=" Konbini-Admin.example.jp ",
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False ['konbini-admin.example.jp']"


def test_deploy_checks_stay_clean_with_a_staff_host(tmp_path):
    """As .ci/run and docker-compose's migrate service run it, with the staff name of the compose file."""
    env = _production_env(
        tmp_path,
        DJANGO_ALLOWED_HOSTS="konbini.example.jp,konbini-admin.example.jp",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://konbini.example.jp,https://konbini-admin.example.jp",
        STAFF_HOSTS="konbini-admin.example.jp",
    )
    _install_signing_key(tmp_path / "signing")  # KONBINI_SIGNING_DIR's default under KONBINI_VAR_DIR
    result = _start(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _install_signing_key(folder: Path) -> None:
    """A document-signing key as the city installs one: under a root that is not the demo's test root."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from simulators.lgpki import lgpki_test_key_create

    root = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Production settings test root")])
    lgpki_test_key_create(folder, "2026-12", root_name=root)


def test_deploy_checks_refuse_a_missing_signing_key(tmp_path):
    result = _start(_production_env(tmp_path), "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "certificates.E001" in result.stderr + result.stdout


def test_deploy_checks_refuse_the_simulated_card_ca(tmp_path):
    from simulators import jpki as jpki_sim

    test_ca = jpki_sim.test_ca_load_or_create(pki_dir=tmp_path / "pki")
    env = _production_env(tmp_path, KONBINI_TRUSTED_CA_FILES=str(test_ca.cert_path))
    result = _start(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "kiosk_api.E001" in result.stderr + result.stdout


WSGI = "import saga_konbini.wsgi; print('served')"


def test_a_production_web_process_refuses_the_checkpoint_signing_key(tmp_path):
    """SPEC §6: whoever takes over a web worker must not be able to sign a rewritten history."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from audit.checkpoints import private_key_pem
    from audit.keyring import public_key_pem

    key = Ed25519PrivateKey.generate()
    public = public_key_pem(key.public_key())
    with_private = _start(
        _production_env(tmp_path, AUDIT_SIGNING_KEY=private_key_pem(key), AUDIT_PUBLIC_KEY=public), "-c", WSGI
    )
    assert with_private.returncode != 0
    assert "ImproperlyConfigured" in with_private.stderr and "AUDIT_SIGNING_KEY" in with_private.stderr
    without_public = _start(_production_env(tmp_path), "-c", WSGI)
    assert without_public.returncode != 0 and "AUDIT_PUBLIC_KEY" in without_public.stderr
    public_only = _start(_production_env(tmp_path, AUDIT_PUBLIC_KEY=public), "-c", WSGI)
    assert public_only.returncode == 0, public_only.stderr
    assert public_only.stdout.strip().endswith("served")


def test_the_single_crl_source_setting_stops_start_up_naming_its_successor(tmp_path):
    # One CRL source per trusted CA now (the card's and the smartphone's): the old single name,
    # silently ignored, would leave the configured lists unrefreshed.
    result = _start(_production_env(tmp_path, KONBINI_CRL_SOURCE="/etc/saga-konbini/pki/jpki-ca.crl"))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "KONBINI_CRL_SOURCES" in result.stderr
    shown = _start(
        _production_env(tmp_path, KONBINI_CRL_SOURCES="/pki/card.crl, /pki/phone.crl"),
        "-c",
        "import django; from django.conf import settings as s; print(s.KONBINI_CRL_SOURCES)",
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "['/pki/card.crl', '/pki/phone.crl']"

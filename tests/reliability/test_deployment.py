"""The deployment files hang together: Docker is not available in CI, so the compose file,
the gunicorn configuration and the proxy configuration are checked as data."""

from __future__ import annotations

import gc
import multiprocessing
import re
import runpy
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _command(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else shlex.join(command)


def test_compose_has_every_service_of_the_deployment(compose):
    assert set(compose["services"]) == {
        "postgres", "redis", "migrate", "web", "worker", "audit-signer", "beat", "proxy", "audit-verify",
    }  # fmt: skip
    services = compose["services"]
    assert "gunicorn -c deploy/gunicorn.conf.py saga_konbini.wsgi:application" in _command(services["web"])
    assert services["web"]["deploy"]["replicas"] >= 2  # stateless: more than one from the start
    assert "celery -A saga_konbini worker" in _command(services["worker"])
    assert "celery -A saga_konbini beat" in _command(services["beat"])
    assert services["beat"]["deploy"]["replicas"] == 1  # one beat, or every periodic job runs twice


def test_compose_commands_match_ci(compose):
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    redis = _command(compose["services"]["redis"])
    assert "--save '' --appendonly no" in redis
    assert '--save "" --appendonly no' in ci
    migrate = _command(compose["services"]["migrate"])
    # The owner migrates and grants; every other service connects as a role that owns nothing.
    assert "manage.py migrate --database owner --no-input" in migrate and "manage.py setup_roles" in migrate
    assert (
        "DATABASE_OWNER_URL" in ci and "DATABASE_OWNER_URL" in compose["services"]["migrate"]["environment"]
    )
    for name in ("web", "worker", "audit-signer", "beat"):
        environment = compose["services"][name]["environment"]
        assert "DATABASE_OWNER_URL" not in environment, name
        assert environment["DATABASE_URL"].startswith("postgres://konbini_app@"), name
    assert compose["services"]["audit-verify"]["environment"]["DATABASE_URL"].startswith(
        "postgres://konbini_auditor@"
    )
    assert (
        "manage.py check --deploy --fail-level WARNING" in migrate
        and "check --deploy --fail-level WARNING" in ci
    )
    assert compose["services"]["postgres"]["image"].split(":")[1] == "15"


def test_every_app_service_waits_for_migrations_and_gets_its_secrets(compose):
    declared = set(compose["secrets"])
    for name in ("web", "worker", "audit-signer", "beat"):
        service = compose["services"][name]
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert service["environment"]["SAGA_ENV"] == "production"
        files = {v for k, v in service["environment"].items() if k.endswith("_FILE")}
        mounted = {f"/run/secrets/{s}" for s in service["secrets"]}
        assert files <= mounted, files - mounted
        assert set(service["secrets"]) <= declared
    # Production refuses to start without these (saga_konbini/settings.py, audit/checkpoints.py).
    env = compose["services"]["web"]["environment"]
    for secret in ("DJANGO_SECRET_KEY", "MY_NUMBER_KEYS", "KONBINI_DOCUMENT_KEYS", "AUDIT_PUBLIC_KEY"):
        assert f"{secret}_FILE" in env, secret
    assert (
        env["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp") and "/tmp" in compose["services"]["web"]["tmpfs"]
    )
    assert "PGPASSWORD_FILE" in env and "PGPASSWORD" in (ROOT / "deploy" / "entrypoint.sh").read_text()


def test_only_the_audit_signer_holds_the_checkpoint_key(compose):
    """SPEC §6: the private key lives in the one process that signs; the checkpoint task is routed
    to the queue that process alone consumes; the others may read the checkpoint files only."""
    from django.conf import settings

    holders = {
        name
        for name, service in compose["services"].items()
        if "audit_signing_key" in service.get("secrets", [])
        or "AUDIT_SIGNING_KEY_FILE" in service.get("environment", {})
    }
    assert holders == {"audit-signer"}
    queue = settings.CELERY_TASK_ROUTES["audit.tasks.audit_checkpoint_task"]["queue"]
    signer = _command(compose["services"]["audit-signer"]).split()
    assert signer[signer.index("-Q") + 1] == queue
    worker = _command(compose["services"]["worker"]).split()
    assert queue not in worker[worker.index("-Q") + 1].split(",")
    for name in ("web", "worker", "beat"):
        checkpoints = [v for v in compose["services"][name]["volumes"] if v.startswith("checkpoints:")]
        assert checkpoints == ["checkpoints:/srv/audit-checkpoints:ro"], name


def test_the_image_never_takes_local_secrets_or_the_virtualenv():
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".venv", "var", "deploy/secrets", ".git"} <= ignored
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "-c constraints.txt" in dockerfile and "python:3.11" in dockerfile
    assert re.search(r"^USER konbini$", dockerfile, re.MULTILINE)


def test_gunicorn_config_loads_and_prepares_multiprocess_metrics(tmp_path, monkeypatch):
    folder = tmp_path / "prom"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"stale")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    config = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))

    # Single-threaded workers, two per core: a render holds the GIL (deploy/gunicorn.conf.py).
    assert config["worker_class"] == "sync" and config["control_socket_disable"] is True
    assert config["workers"] == 2 * multiprocessing.cpu_count() and "threads" not in config
    assert "%(q)s" not in config["access_log_format"]  # never the query string
    config["on_starting"](None)
    assert list(folder.iterdir()) == []  # a previous run's figures are not counted again


@pytest.mark.django_db  # the active signing key is read from the database
def test_a_new_worker_is_warmed_and_frozen_before_it_serves(settings, tmp_path):
    from certificates import glyphs, signing

    settings.KONBINI_SIGNING_DIR = tmp_path / "signing"
    signing._loaded_key_signer.cache_clear()
    config = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    try:
        config["post_worker_init"](None)
        # The fonts are parsed and the signer built: the first issuance does neither.
        assert glyphs._fonts is not None
        assert signing._loaded_key_signer.cache_info().currsize == 1
        # What the process holds by now is out of the collector's reach.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
        signing._loaded_key_signer.cache_clear()


def test_proxy_requires_terminal_certificates_on_the_api_and_hides_metrics():
    conf = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    assert "ssl_client_certificate /etc/nginx/tls/terminal-ca.crt;" in conf
    api = conf[conf.index("location /api/kiosk/") :]
    api = api[: api.index("proxy_pass")]
    assert "$ssl_client_verify != SUCCESS" in api and "return 403" in api
    assert "location = /metrics { return 404; }" in conf
    # gunicorn's sync workers rely on the proxy buffering slow clients (nginx's default).
    assert "proxy_buffering off" not in conf and "proxy_request_buffering off" not in conf
    assert "proxy_set_header X-Request-ID $request_id;" in conf
    assert "client_max_body_size 64k;" in conf


def _server_block(conf: str, server_name: str) -> str:
    """The text of the nginx ``server { ... }`` block that names ``server_name``."""
    start = conf.rindex("server {", 0, conf.index(f"server_name {server_name};"))
    depth = 0
    for position in range(start, len(conf)):
        depth += {"{": 1, "}": -1}.get(conf[position], 0)
        if depth == 0 and conf[position] == "}":
            return conf[start : position + 1]
    raise AssertionError(f"unbalanced server block for {server_name}")


def test_staff_pages_have_their_own_name_on_the_internal_network(compose):
    env = compose["services"]["web"]["environment"]
    public = "${KONBINI_HOST:-konbini.city.saga.lg.jp}"
    staff = "${KONBINI_STAFF_HOST:-konbini-admin.city.saga.lg.jp}"
    # The application: staff pages only on the staff name, which is an allowed host and origin.
    assert env["STAFF_HOSTS"] == staff
    assert env["DJANGO_ALLOWED_HOSTS"].split(",") == [public, staff]
    assert env["DJANGO_CSRF_TRUSTED_ORIGINS"].split(",") == [f"https://{public}", f"https://{staff}"]
    # The proxy gets the same two names, filled into its configuration at start.
    proxy = compose["services"]["proxy"]
    proxy_env = proxy["environment"]
    assert (proxy_env["KONBINI_HOST"], proxy_env["KONBINI_STAFF_HOST"]) == (public, staff)
    assert "./deploy/nginx.conf:/etc/nginx/templates/nginx.conf.template:ro" in proxy["volumes"]
    assert proxy_env["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"
    conf = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    # Only those names are substituted; nginx's own ${request_time} stays as it is.
    assert set(re.findall(r"\$\{([A-Z_]+)\}", conf)) == {"KONBINI_HOST", "KONBINI_STAFF_HOST"}
    assert re.match(proxy_env["NGINX_ENVSUBST_FILTER"], "KONBINI_HOST")
    assert not re.match(proxy_env["NGINX_ENVSUBST_FILTER"], "request_time")

    public_server = _server_block(conf, "${KONBINI_HOST}")
    assert "default_server" in public_server
    assert "location ~ ^/(admin|audit)(/|$) { return 404; }" in public_server  # defence in depth
    # The audit log's public face stays public: witnesses outside the city read it.
    assert "location ^~ /audit/transparency/ { proxy_pass http://konbini_web; }" in public_server
    staff_server = _server_block(conf, "${KONBINI_STAFF_HOST}")
    for path in ("/admin/", "/audit/", "/i18n/", "/static/"):
        assert f"location {path} {{ proxy_pass http://konbini_web; }}" in staff_server, path
    assert "location / { return 404; }" in staff_server and "/api/kiosk/" not in staff_server
    # The internal network only, and never Docker's own network (the gateway may stand in for anyone).
    rules = re.findall(r"^\s*(allow|deny)\s+(\S+);", staff_server, re.MULTILINE)
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert rules[0] == ("deny", subnet) and rules[-1] == ("deny", "all")
    assert {rule for rule, _ in rules[1:-1]} == {"allow"}


def test_the_web_healthcheck_asks_under_an_allowed_host(compose, client, settings):
    """Django answers a Host outside DJANGO_ALLOWED_HOSTS with 400: a probe under 127.0.0.1 would
    call every web replica unhealthy, and the proxy, which waits for a healthy web, would never start."""
    web = compose["services"]["web"]
    probe = " ".join(web["healthcheck"]["test"])
    host = re.search(r"'Host': '([^']+)'", probe)
    assert host is not None and "/healthz" in probe
    allowed = web["environment"]["DJANGO_ALLOWED_HOSTS"].split(",")
    assert host.group(1) == allowed[0]
    settings.ALLOWED_HOSTS = ["konbini.city.saga.lg.jp"]  # the compose file's default
    assert client.get("/healthz", HTTP_HOST="konbini.city.saga.lg.jp").status_code == 200
    assert client.get("/healthz", HTTP_HOST="127.0.0.1:8000").status_code == 400

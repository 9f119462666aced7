"""Live servers for the reliability tests: gunicorn instances (started with deploy/gunicorn.conf.py,
as in production) on the test database, kiosks with cards, and a client that gives up on an answer."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from django.db import connection

from audit.services import Actor
from certificates.signing import issuing_key
from kiosk_api.services import terminal_register
from residents.models import Resident
from simulators import jpki as jpki_sim
from simulators.kiosk_client import CardKey
from tests.certificates.factories import (
    ResidentFactory,
    SealRegistrationFactory,
    TaxAssessmentFactory,
    TaxPaymentFactory,
    member_of,
)
from tests.kiosk_api.cards import KeyPool, Pki

ROOT = Path(__file__).resolve().parents[2]
# Family names every font has, none a part of another, none in an address, a label or the mayor's
# name: a document that names anybody else's family shows it in its text.
FAMILY_NAMES = (
    "山田 田中 鈴木 高橋 伊藤 渡辺 中村 小林 加藤 吉田 山口 松本 井上 木村 清水 山崎 森本 池田 橋本 石川 "
    "前田 藤田 岡田 後藤 長谷川 村上 近藤 石井 斎藤 坂本 遠藤 青木 藤井 西村 福田 太田 三浦 藤原 岡本 松田"
).split()
REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("juminhyo", {"scope": "all", "show_relationship": True}),
    ("inkan", {}),
    ("shotoku_kazei", {"fiscal_year": 2026}),
]


def real_now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass
class Kiosk:
    """One terminal, its token, and the one resident who uses it (with their card)."""

    index: int
    token: str
    holder: Resident
    household_names: frozenset[str]
    card: CardKey


def kiosks_create(count: int, *, pki_dir: Path, settings: Any) -> list[Kiosk]:
    """``count`` terminals, each with its own holder (distinct family name) and a linked card.
    ``settings`` is pytest-django's fixture: the trust anchors are set for this test only."""
    assert count <= len(FAMILY_NAMES)
    ca = jpki_sim.test_ca_load_or_create(pki_dir=pki_dir)
    jpki_sim.crl_publish(ca=ca, now=real_now())
    # The smartphone CA exists for the fixture's shape; these kiosks use cards, so only the card's
    # CA is trusted.
    phone = jpki_sim.smartphone_ca_load_or_create(pki_dir=pki_dir)
    pki = Pki(ca=ca, phone=phone, other=jpki_sim.other_ca_load_or_create(pki_dir=pki_dir), keys=KeyPool())
    settings.KONBINI_PKI_DIR = pki_dir
    settings.KONBINI_TRUSTED_CA_FILES = [pki_dir / jpki_sim.CA_CERT_FILE]
    settings.KONBINI_CRL_SOURCES = [str(pki_dir / jpki_sim.CA_CRL_FILE)]
    pki.crl_load()  # by the refresh job, as in production: the app processes never fetch it inline
    today = real_now().date()
    kiosks = []
    for index in range(count):
        family = FAMILY_NAMES[index]
        holder = cast(Resident, ResidentFactory(family_name=family, family_name_kana="ヤマダ"))
        member_of(holder, family_name=family, family_name_kana="ヤマダ")
        SealRegistrationFactory(resident=holder)
        for year in (2025, 2026):
            TaxAssessmentFactory(resident=holder, fiscal_year=year)
            TaxPaymentFactory(resident=holder, fiscal_year=year)
        card = pki.card(holder, issued_on=today - timedelta(days=1))
        _terminal, token = terminal_register(
            name=f"{index + 1}号機", chain="lawson", store_code=f"L-{index}", actor=Actor.job("test")
        )
        names = frozenset(m.full_name for m in Resident.objects.filter(household_id=holder.household_id))
        kiosks.append(
            Kiosk(
                index=index,
                token=token,
                holder=holder,
                household_names=names,
                card=CardKey(certificate=card.certificate, private_key=card.key),
            )
        )
    return kiosks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url() -> str:
    db = connection.settings_dict
    auth = f"{db['USER']}:{db['PASSWORD']}" if db["PASSWORD"] else db["USER"]
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def app_environment(work: Path, settings: Any) -> dict[str, str]:
    """The settings of this test process, as environment for server processes."""
    issuing_key()  # created here, once, before two servers could race to create it
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "KONBINI_VAR_DIR": str(work / "var"),
        "KONBINI_SERVICE_HOURS": "00:00-24:00",
        "KONBINI_TRUSTED_CA_FILES": ",".join(str(p) for p in settings.KONBINI_TRUSTED_CA_FILES),
        "KONBINI_CRL_SOURCES": ",".join(settings.KONBINI_CRL_SOURCES),
        "KONBINI_SIGNING_DIR": str(settings.KONBINI_SIGNING_DIR),
        "KONBINI_DOCUMENT_KEYS": settings.KONBINI_DOCUMENT_KEYS,
        "MY_NUMBER_KEYS": settings.MY_NUMBER_KEYS,
        "KONBINI_TERMINAL_REQUESTS_PER_MINUTE": "1000000",
        "DJANGO_SECRET_KEY": "reliability-test-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SAGA_ENV": "development",
        "LOG_LEVEL": "WARNING",
        "GUNICORN_WORKERS": "4",
        "GUNICORN_TIMEOUT": "120",
    }


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def gunicorn_servers(count: int, env: dict[str, str], work: Path) -> Iterator[list[Server]]:
    """``count`` gunicorn instances (deploy/gunicorn.conf.py), each with its own metrics folder."""
    servers: list[Server] = []
    try:
        for number in range(count):
            port = free_port()
            metrics_dir = work / f"prometheus-{number}"
            metrics_dir.mkdir(parents=True, exist_ok=True)
            log = work / f"gunicorn-{number}.log"
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    "deploy/gunicorn.conf.py",
                    "saga_konbini.wsgi:application",
                ],
                env={
                    **env,
                    "GUNICORN_BIND": f"127.0.0.1:{port}",
                    "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                },
                cwd=ROOT,
                stdout=log.open("ab"),
                stderr=subprocess.STDOUT,
            )
            servers.append(Server(url=f"http://127.0.0.1:{port}", process=process, log=log))
        deadline = time.monotonic() + 120
        for server in servers:
            wait_until_up(server, deadline)
        yield servers
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
        for server in servers:
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(timeout=10)


def wait_until_up(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"gunicorn exited early with {server.process.returncode}: {tail}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{server.url} did not come up in time")


def abandon(
    url: str, method: str, path: str, *, token: str, body: Any = None, headers: dict[str, str] | None = None
) -> None:
    """Send the whole request, then close the connection without reading a byte of the answer:
    the kiosk's network dropped, or the kiosk timed out, after the server got the request."""
    parts = urllib.parse.urlsplit(url)
    data = json.dumps(body).encode() if body is not None else b""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port}",
        f"Authorization: Bearer {token}",
        "Connection: close",
        f"Content-Length: {len(data)}",
    ]
    if body is not None:
        lines.append("Content-Type: application/json")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
    # closed here: the answer, whenever it comes, goes nowhere


def metrics_of(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:  # noqa: S310
        return response.read().decode()


def today() -> date:
    return real_now().date()

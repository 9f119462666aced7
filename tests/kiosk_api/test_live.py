"""End to end over real HTTP: the kiosk command, many kiosks at once, two app processes.

In 2023, under load, one applicant's file was printed for another (Yokohama, Kawasaki), and a
program written for one server was deployed on several (Takamatsu). These tests run many kiosks at
the same instant against a live server on PostgreSQL, and two gunicorn processes sharing one
database, and check that every PDF names its own holder and nobody else.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection

from audit.services import Actor
from certificates.models import IssuanceRecord
from kiosk_api.models import KioskIssuance
from kiosk_api.services import terminal_register
from residents.models import Resident
from simulators import jpki as jpki_sim
from simulators.kiosk_client import CardKey, KioskApiError, KioskClient
from tests.kiosk_api.cards import Card, Pki
from tests.kiosk_api.live import FAMILY_NAMES, card_file, distinct_holder, pdf_text, printed_names

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("juminhyo", {"scope": "all", "show_relationship": True}),
    ("inkan", {}),
    ("shotoku_kazei", {"fiscal_year": 2026}),
]


def _token_file(directory: Path, name: str = "1号機") -> Path:
    _terminal, token = terminal_register(name=name, chain="lawson", store_code="L-1", actor=Actor.job("test"))
    path = directory / f"terminal-{name}.json"
    path.write_text(json.dumps({"token": token}), encoding="utf-8")
    return path


def test_kiosk_command_issues_and_saves_the_pdf(live_server, pki: Pki, tmp_path: Path):
    holder = distinct_holder(0)
    card = pki.card(holder)
    card_path = card_file(tmp_path, card, holder)
    out = tmp_path / "inkan.pdf"
    call_command(
        "kiosk",
        server=live_server.url,
        token_file=str(_token_file(tmp_path)),
        card=str(card_path),
        pin="1234",
        type="inkan",
        copies=2,
        out=str(out),
        outcome="printed",
    )
    assert holder.family_name in pdf_text(out.read_bytes())
    record = IssuanceRecord.objects.get()
    assert (record.status, record.copies, record.fee_total) == ("printed", 2, 400)


def test_kiosk_command_juminhyo_selected_member_by_name_and_failed_print(
    live_server, pki: Pki, tmp_path: Path
):
    holder = distinct_holder(1)
    spouse = Resident.objects.filter(household=holder.household).exclude(pk=holder.pk).get()
    card_path = card_file(tmp_path, pki.card(holder), holder)
    out = tmp_path / "juminhyo.pdf"
    call_command(
        "kiosk",
        server=live_server.url,
        token_file=str(_token_file(tmp_path)),
        card=str(card_path),
        pin="1234",
        type="juminhyo",
        option=[f"members={spouse.full_name}"],
        out=str(out),
        outcome="failed",
    )
    assert printed_names(out.read_bytes()) == {spouse.full_name}
    assert IssuanceRecord.objects.get().status == "voided"


def test_three_wrong_pins_lock_the_card_before_any_call(pki: Pki, tmp_path: Path, db):
    holder = distinct_holder(2)
    card_path = card_file(tmp_path, pki.card(holder), holder)
    token_file = _token_file(tmp_path)
    # Nothing listens on this port: a wrong PIN must fail before the kiosk talks to the server.
    for expected in ("あと2回", "あと1回", "ロックされました"):
        with pytest.raises(CommandError, match=expected):
            call_command(
                "kiosk",
                server="http://127.0.0.1:9",
                token_file=str(token_file),
                card=str(card_path),
                pin="0000",
            )
    assert json.loads(card_path.read_text(encoding="utf-8"))["locked"] is True
    with pytest.raises(CommandError, match="ロックされています"):
        call_command(
            "kiosk", server="http://127.0.0.1:9", token_file=str(token_file), card=str(card_path), pin="1234"
        )


def test_a_right_pin_resets_the_count(pki: Pki, tmp_path: Path, live_server):
    holder = distinct_holder(3)
    card_path = card_file(tmp_path, pki.card(holder), holder)
    token_file = _token_file(tmp_path)
    with pytest.raises(CommandError, match="あと2回"):
        call_command(
            "kiosk", server=live_server.url, token_file=str(token_file), card=str(card_path), pin="9999"
        )
    call_command(
        "kiosk",
        server=live_server.url,
        token_file=str(token_file),
        card=str(card_path),
        pin="1234",
        type="inkan",
        out=str(tmp_path / "x.pdf"),
        outcome="printed",
    )
    assert json.loads(card_path.read_text(encoding="utf-8"))["pin_failures"] == 0


def _kiosk_visit(
    client: KioskClient, card: Card, index: int, barrier: threading.Barrier | None
) -> dict[str, Any]:
    """One resident at one kiosk: start, card, issue, fetch, print, end."""
    key = CardKey(certificate=card.certificate, private_key=card.key)
    if barrier is not None:
        barrier.wait(timeout=60)
    session = client.session_start()
    client.authenticate(session["session_id"], key, session["challenge"])
    cert_type, options = REQUESTS[index % len(REQUESTS)]
    issuance = client.issue(session["session_id"], cert_type=cert_type, copies=1, options=options)
    pdf = client.document(issuance)
    status = client.complete(int(issuance["issuance_id"]), "printed")["status"]
    client.session_end(session["session_id"])
    return {"index": index, "type": cert_type, "pdf": pdf, "status": status, "issuance": issuance}


def _assert_each_pdf_names_only_its_own_holder(
    results: list[dict[str, Any]], holders: list[Resident]
) -> None:
    in_use = {h.family_name for h in holders}
    for result in results:
        holder = holders[result["index"]]
        names = printed_names(result["pdf"])
        text = pdf_text(result["pdf"])
        assert names, "every copy carries a verification payload"
        assert all(name.startswith(holder.family_name) for name in names), (result["index"], names)
        assert holder.family_name in text
        assert not (in_use - {holder.family_name}) & {n for n in FAMILY_NAMES if n in text}
        if result["type"] == "juminhyo":
            household = {m.full_name for m in Resident.objects.filter(household_id=holder.household_id)}
            assert names == household
        else:
            assert names == {holder.full_name}
        assert result["status"] == "printed"


def test_sixteen_kiosks_at_once_each_get_their_own_holders_document(
    live_server, pki: Pki, settings, tmp_path
):
    settings.KONBINI_TERMINAL_REQUESTS_PER_MINUTE = 10_000
    kiosks = 16
    holders = [distinct_holder(i) for i in range(kiosks)]
    cards = [pki.card(holder) for holder in holders]
    tokens = [
        terminal_register(name=f"{i + 1}号機", chain="familymart", store_code=f"F-{i}", actor=Actor.job("t"))[
            1
        ]
        for i in range(kiosks)
    ]
    barrier = threading.Barrier(kiosks)
    with ThreadPoolExecutor(max_workers=kiosks) as pool:
        futures = [
            pool.submit(
                _kiosk_visit, KioskClient(live_server.url, tokens[i], timeout=120), cards[i], i, barrier
            )
            for i in range(kiosks)
        ]
        results = [future.result(timeout=300) for future in futures]
    _assert_each_pdf_names_only_its_own_holder(results, holders)
    assert IssuanceRecord.objects.filter(status="printed").count() == kiosks
    printed = IssuanceRecord.objects.filter(status="printed").values("pk")
    assert KioskIssuance.objects.filter(issuance_record_id__in=printed).count() == kiosks


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited early with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up in time")


@pytest.fixture
def two_app_processes(pki: Pki, settings, tmp_path: Path) -> Iterator[list[str]]:
    """Two gunicorn processes on two ports, both on this test's database, stopped afterwards."""
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{host}:{port}/{db['NAME']}",
        "KONBINI_VAR_DIR": str(tmp_path / "var"),
        "KONBINI_SERVICE_HOURS": "00:00-24:00",
        "KONBINI_TRUSTED_CA_FILES": ",".join(str(p) for p in settings.KONBINI_TRUSTED_CA_FILES),
        "KONBINI_CRL_SOURCES": ",".join(settings.KONBINI_CRL_SOURCES),
        "KONBINI_SIGNING_DIR": str(settings.KONBINI_SIGNING_DIR),
        "KONBINI_DOCUMENT_KEYS": settings.KONBINI_DOCUMENT_KEYS,
        "MY_NUMBER_KEYS": django_settings.MY_NUMBER_KEYS,
        "KONBINI_TERMINAL_REQUESTS_PER_MINUTE": "100000",
        "DJANGO_SECRET_KEY": "two-process-test-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SAGA_ENV": "development",
        "LOG_LEVEL": "WARNING",
    }
    if db["PASSWORD"]:
        env["DATABASE_URL"] = env["DATABASE_URL"].replace(f"{db['USER']}@", f"{db['USER']}:{db['PASSWORD']}@")
    processes: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(2):
            port = _free_port()
            command = [
                sys.executable,
                "-m",
                "gunicorn",
                "saga_konbini.wsgi:application",
                f"--bind=127.0.0.1:{port}",
                "--workers=1",
                "--threads=4",
                "--timeout=120",
                "--graceful-timeout=5",
                # Several gunicorns run at once (this test, other tests, benches): no shared control socket.
                "--no-control-socket",
            ]
            processes.append(
                subprocess.Popen(
                    command,
                    env=env,
                    cwd=django_settings.BASE_DIR,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        for url, process in zip(urls, processes, strict=True):
            _wait_until_up(url, process, deadline)
        yield urls
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture
def real_clock(clock, pki: Pki) -> date:
    """The gunicorn processes run on the real clock: move this process there and republish the CRL."""
    real_now = datetime.fromtimestamp(time_machine.escape_hatch.time.time(), tz=UTC)
    clock.move_to(real_now)
    jpki_sim.crl_publish(ca=pki.ca, now=real_now)
    pki.crl_load()
    return real_now.date()


def test_two_app_processes_share_one_database(real_clock: date, two_app_processes: list[str], pki: Pki):
    a, b = two_app_processes
    kiosks = 8
    holders = [distinct_holder(i) for i in range(kiosks)]
    cards = [pki.card(h, issued_on=real_clock - timedelta(days=1)) for h in holders]
    tokens = [
        terminal_register(name=f"{i + 1}号機", chain="ministop", store_code=f"M-{i}", actor=Actor.job("t"))[1]
        for i in range(kiosks)
    ]

    def visit(index: int) -> dict[str, Any]:
        # Every step alternates between the two processes: nothing may live in one process's memory.
        first, second = (a, b) if index % 2 == 0 else (b, a)
        one, other = (
            KioskClient(first, tokens[index], timeout=120),
            KioskClient(second, tokens[index], timeout=120),
        )
        key = CardKey(certificate=cards[index].certificate, private_key=cards[index].key)
        session = one.session_start()
        other.authenticate(session["session_id"], key, session["challenge"])
        cert_type, options = REQUESTS[index % len(REQUESTS)]
        issuance = one.issue(
            session["session_id"], cert_type=cert_type, copies=1, options=options, key=f"k{index}"
        )
        again = other.issue(
            session["session_id"], cert_type=cert_type, copies=1, options=options, key=f"k{index}"
        )
        assert again == issuance  # the idempotency key holds across processes
        pdf = other.document(issuance)
        status = one.complete(int(issuance["issuance_id"]), "printed")["status"]
        with pytest.raises(KioskApiError) as gone:
            other.document(issuance)
        assert gone.value.code == "DOCUMENT_GONE"
        other.session_end(session["session_id"])
        return {"index": index, "type": cert_type, "pdf": pdf, "status": status}

    with ThreadPoolExecutor(max_workers=kiosks) as pool:
        results = [future.result(timeout=300) for future in [pool.submit(visit, i) for i in range(kiosks)]]
    _assert_each_pdf_names_only_its_own_holder(results, holders)
    assert IssuanceRecord.objects.filter(status="printed").count() == kiosks


def test_kiosk_command_interactive_session(live_server, pki: Pki, tmp_path: Path, monkeypatch):
    holder = distinct_holder(4)
    card_path = card_file(tmp_path, pki.card(holder), holder)
    answers = iter(["1", "9", "1", "2", "n", "y", "n", "y", "n", "n", "y", "y"])
    prompts: list[str] = []

    def fake_input(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", fake_input)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "1234")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    call_command(
        "kiosk",
        server=live_server.url,
        token_file=str(_token_file(tmp_path)),
        card=str(card_path),
        stdout=out,
    )
    screen = out.getvalue()
    assert "1. マイナンバーカード" in screen and "2. スマートフォン" in screen
    assert f"{holder.full_name} 様" in screen and "住民票の写し" in screen and "1通 200円" in screen
    # マイナンバーカード first; 9 is out of range and asked again; then 住民票, 2 copies, not everyone
    # but the holder only, 世帯主・続柄 yes, 本籍 no, 個人番号 no, confirm the fee, printed.
    assert "1〜4の数字を入力してください。" in screen
    record = IssuanceRecord.objects.get()
    assert (record.cert_type, record.copies, record.printed_resident_ids) == ("juminhyo", 2, [holder.pk])
    assert (record.options["show_relationship"], record.options["show_honseki"]) == (True, False)
    assert record.status == "printed"
    assert "手数料 400円" in screen
    assert list(tmp_path.glob("certificate-*.pdf"))

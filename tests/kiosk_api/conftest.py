"""Kiosk API fixtures: a test PKI per test (copied from one made per session), a terminal, cards.

Personas: the kiosk terminal (``api``), another store's terminal (``other_api``), an outsider
without a token (``anonymous``). The clock is frozen at a Japan weekday morning and ticks, so
expiry rules are tested by travelling, never by sleeping.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from rest_framework.test import APIClient

from audit.services import Actor
from certificates.signing import issuing_key
from kiosk_api.services import terminal_register
from simulators import jpki as jpki_sim
from tests.certificates.factories import signing_dir_for_tests
from tests.kiosk_api.cards import NOW, KeyPool, Pki


@pytest.fixture(scope="session")
def _pki_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki-master")
    jpki_sim.test_ca_load_or_create(pki_dir=folder)
    jpki_sim.smartphone_ca_load_or_create(pki_dir=folder)
    jpki_sim.other_ca_load_or_create(pki_dir=folder)
    return folder


@pytest.fixture(scope="session")
def key_pool() -> KeyPool:
    return KeyPool()


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def clock(_frozen_clock: Any) -> Any:
    return _frozen_clock


@pytest.fixture(autouse=True)
def _kiosk_settings(settings, tmp_path_factory):
    settings.KONBINI_SIGNING_DIR = signing_dir_for_tests(tmp_path_factory)
    settings.KONBINI_DOCUMENT_KEYS = "t1:" + "A" * 43 + "="
    settings.KONBINI_DOCUMENT_ACTIVE_KEY_ID = ""
    return settings


@pytest.fixture
def pki(settings, tmp_path: Path, _pki_master: Path, key_pool: KeyPool, db: None) -> Pki:
    folder = tmp_path / "pki"
    shutil.copytree(_pki_master, folder)
    settings.KONBINI_PKI_DIR = folder
    # Both CAs trusted, each with its own CRL: the My Number card's and the smartphone's.
    settings.KONBINI_TRUSTED_CA_FILES = [
        folder / jpki_sim.CA_CERT_FILE,
        folder / jpki_sim.SMARTPHONE_CA_CERT_FILE,
    ]
    settings.KONBINI_CRL_SOURCES = [
        str(folder / jpki_sim.CA_CRL_FILE),
        str(folder / jpki_sim.SMARTPHONE_CA_CRL_FILE),
    ]
    ca = jpki_sim.test_ca_load_or_create(pki_dir=folder)
    phone = jpki_sim.smartphone_ca_load_or_create(pki_dir=folder)
    # Published "now" in the frozen clock, so their next update lies 30 days after the test's today.
    jpki_sim.crl_publish(ca=ca, now=NOW)
    jpki_sim.crl_publish(ca=phone, now=NOW)
    loaded = Pki(ca=ca, phone=phone, other=jpki_sim.other_ca_load_or_create(pki_dir=folder), keys=key_pool)
    loaded.crl_load()  # as the periodic job would have done before the first kiosk call
    issuing_key()  # the signing key published, as on a deployed server, before the first issuance
    return loaded


def _client(token: str | None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def terminal_and_token(db):
    return terminal_register(name="1号機", chain="seven_eleven", store_code="S-0001", actor=Actor.job("test"))


@pytest.fixture
def terminal(terminal_and_token):
    return terminal_and_token[0]


@pytest.fixture
def api(terminal_and_token) -> APIClient:
    return _client(terminal_and_token[1])


@pytest.fixture
def other_api(db) -> APIClient:
    _terminal, token = terminal_register(
        name="2号機", chain="lawson", store_code="L-0002", actor=Actor.job("test")
    )
    return _client(token)


@pytest.fixture
def anonymous() -> APIClient:
    return _client(None)


# --- the web kiosk simulator -----------------------------------------------------------------------


@pytest.fixture
def cards(settings, tmp_path: Path) -> Path:
    folder = tmp_path / "cards"
    folder.mkdir()
    settings.KIOSK_SIMULATOR_CARDS_DIR = folder
    return folder


@pytest.fixture
def demo_terminal(cards: Path, db) -> None:
    _terminal, token = terminal_register(
        name="デモ端末", chain="familymart", store_code="F-0001", actor=Actor.job("test")
    )
    (cards / "terminal.json").write_text(json.dumps({"token": token}), encoding="utf-8")


@pytest.fixture
def live_api(settings, live_server) -> str:
    settings.KIOSK_SIMULATOR_API_BASE = live_server.url
    return str(live_server.url)

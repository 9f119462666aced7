"""The browser kiosk walks the real kiosk API: it needs the kiosk API tests' frozen clock, test PKI,
demo cards folder, demo terminal and live server, so it shares their fixtures."""

from tests.kiosk_api.conftest import (  # noqa: F401
    _frozen_clock,
    _kiosk_settings,
    _pki_master,
    cards,
    clock,
    demo_terminal,
    key_pool,
    live_api,
    pki,
    terminal_and_token,
)

"""Software My Number cards and smartphones for the kiosk API tests, issued by ``simulators.jpki``'s
test CAs (the card's and the smartphone's)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from rest_framework.test import APIClient

from kiosk_api.tasks import crl_refresh_task
from residents.models import CardLink, Resident
from simulators import jpki as jpki_sim
from tests.certificates.factories import (
    CardLinkFactory,
    ResidentFactory,
    SealRegistrationFactory,
    TaxAssessmentFactory,
    TaxPaymentFactory,
    jst,
    member_of,
)

NOW = jst(2026, 11, 26, 10, 0)  # a Thursday morning in Japan, inside 06:30-23:00
CARD_ISSUED_ON = date(2024, 4, 1)
BASE = "/api/kiosk/v1/"


@dataclass
class KeyPool:
    """RSA keys made once per test session: generating 2048-bit keys is the slow part of a card."""

    keys: list[rsa.RSAPrivateKey] = field(default_factory=list)
    cursor: int = 0

    def key(self) -> rsa.RSAPrivateKey:
        if len(self.keys) < 24:
            self.keys.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
            return self.keys[-1]
        self.cursor = (self.cursor + 1) % len(self.keys)
        return self.keys[self.cursor]


@dataclass
class Card:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def certificate_b64(self) -> str:
        return base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()

    def sign(self, challenge_b64: str) -> str:
        signature = self.key.sign(base64.b64decode(challenge_b64), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()


@dataclass
class Pki:
    ca: jpki_sim.TestCA
    phone: jpki_sim.TestCA  # the smartphone certificates' CA (スマホ用電子証明書)
    other: jpki_sim.TestCA
    keys: KeyPool

    def card(
        self,
        holder: Resident | None,
        *,
        ca: jpki_sim.TestCA | None = None,
        issued_on: date = CARD_ISSUED_ON,
        birth_date: date | None = None,
        link: bool = True,
        active_from: date = CARD_ISSUED_ON,
        credential: str = "card",
    ) -> Card:
        """A card (or, with ``credential="smartphone"``, a phone's certificate from the smartphone CA)
        for ``holder``, linked to them through the feed's card link unless ``link=False``."""
        key = self.keys.key()
        issuer_ca = ca or (self.phone if credential == "smartphone" else self.ca)
        certificate = jpki_sim.user_certificate_issue(
            ca=issuer_ca,
            public_key=key.public_key(),
            birth_date=birth_date or (holder.birth_date if holder else date(1980, 4, 2)),
            issued_on=issued_on,
        )
        if holder is not None and link:
            CardLinkFactory(
                issuer=certificate.issuer.rfc4514_string(),
                serial=jpki_sim.serial_hex(certificate.serial_number),
                resident=holder,
                active_from=active_from,
                credential=credential,
            )
        return Card(certificate=certificate, key=key)

    def revoke(self, card: Card) -> None:
        """Revoke at the CA that issued it, then let the server learn it the way it does: by the
        refresh job."""
        issuer = next(ca for ca in (self.ca, self.phone) if ca.certificate.subject == card.certificate.issuer)
        jpki_sim.certificate_revoke(ca=issuer, serial=card.certificate.serial_number, now=NOW)
        self.crl_load()

    def crl_load(self) -> None:
        """Load the CAs' published CRLs into the server through the periodic job: kiosk requests
        never fetch them themselves."""
        crl_refresh_task.apply(throw=True)


def ok_holder(**kwargs: Any) -> Resident:
    """SPEC §4 ``ok``: an adult in a household of two, an active seal, tax records for 2024–2026."""
    holder = cast(Resident, ResidentFactory(**kwargs))
    member_of(holder)
    SealRegistrationFactory(resident=holder)
    for year in (2024, 2025, 2026):
        TaxAssessmentFactory(resident=holder, fiscal_year=year)
        TaxPaymentFactory(resident=holder, fiscal_year=year)
    return holder


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def start(api: APIClient) -> dict[str, Any]:
    response = api.post(f"{BASE}sessions")
    assert response.status_code == 201, response.content
    return dict(response.json())


def authenticate(api: APIClient, card: Card, session: dict[str, Any] | None = None) -> Any:
    session = session or start(api)
    return api.post(
        f"{BASE}sessions/{session['session_id']}/authenticate",
        {"certificate": card.certificate_b64, "signature": card.sign(session["challenge"])},
        format="json",
    )


def signed_in(api: APIClient, card: Card) -> tuple[str, dict[str, Any]]:
    """A session authenticated with ``card``: (session id, the authenticate response's body)."""
    session = start(api)
    response = authenticate(api, card, session)
    assert response.status_code == 200, response.content
    return session["session_id"], dict(response.json())


def issue(api: APIClient, session_id: str, body: dict[str, Any], *, key: str = "key-1") -> Any:
    return api.post(f"{BASE}sessions/{session_id}/issuances", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def card_link_of(card: Card) -> CardLink:
    return CardLink.objects.get(serial=jpki_sim.serial_hex(card.certificate.serial_number))

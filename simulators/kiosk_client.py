"""A kiosk's side of the API (SPEC §3) over plain HTTP, for the simulator command and the bench.

Only the standard library (``urllib.request``): the simulator must behave like a real kiosk that
knows nothing of the server's internals. It imports no Django model and no database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.utils.translation import gettext

API_PREFIX = "/api/kiosk/v1/"


class KioskApiError(Exception):
    """The server answered with an error in the SPEC shape (or something else went wrong)."""

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body or {}


@dataclass(frozen=True)
class CardKey:
    """The decrypted user-authentication key and its certificate (the card, after the PIN)."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey

    @property
    def certificate_b64(self) -> str:
        return base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")

    def sign(self, challenge_b64: str) -> str:
        challenge = base64.b64decode(challenge_b64)
        signature = self.private_key.sign(challenge, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode("ascii")


class WrongPin(Exception):
    """The PIN does not decrypt the card's key."""


def card_key_unlock(card: dict[str, Any], pin: str) -> CardKey:
    """Decrypt the card's PKCS#8 key with the PIN (SPEC §4); WrongPin when it does not open."""
    try:
        key = serialization.load_pem_private_key(
            card["private_key"].encode("ascii"), password=pin.encode("utf-8")
        )
    except (ValueError, TypeError) as exc:
        raise WrongPin from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise WrongPin
    certificate = x509.load_pem_x509_certificate(card["certificate"].encode("ascii"))
    return CardKey(certificate=certificate, private_key=key)


class KioskClient:
    """One kiosk terminal talking to one server. Holds no resident data between calls."""

    def __init__(self, server: str, token: str, *, timeout: float = 30.0, language: str = "") -> None:
        self.base = server.rstrip("/") + API_PREFIX
        self.token = token
        self.timeout = timeout
        # Sent as Accept-Language when set: the API's messages come back in that language (SPEC §3).
        self.language = language

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, dict[str, str]]:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.language:
            request.add_header("Accept-Language", self.language)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload = json.loads(raw)
                error = payload["error"]
                raise KioskApiError(exc.code, error["code"], error["message"], error) from None
            except (ValueError, KeyError, TypeError):
                raise KioskApiError(exc.code, "HTTP_ERROR", raw[:200].decode("utf-8", "replace")) from None
        except urllib.error.URLError as exc:
            raise KioskApiError(
                0, "CONNECTION_FAILED", gettext("サーバに接続できません: %(reason)s") % {"reason": exc.reason}
            ) from None

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
        _status, raw, _headers = self._request(method, path, body, **kw)
        return json.loads(raw) if raw else None

    def session_start(self) -> dict[str, Any]:
        return dict(self._json("POST", "sessions"))

    def authenticate(self, session_id: str, card: CardKey, challenge_b64: str) -> dict[str, Any]:
        body = {"certificate": card.certificate_b64, "signature": card.sign(challenge_b64)}
        return dict(self._json("POST", f"sessions/{session_id}/authenticate", body))

    def issue(
        self, session_id: str, *, cert_type: str, copies: int, options: dict[str, Any], key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        body = {"type": cert_type, "copies": copies, "options": options}
        return dict(self._json("POST", f"sessions/{session_id}/issuances", body, headers=headers))

    def document(self, issuance: dict[str, Any]) -> bytes:
        """The PDF, checked against the SHA-256 the issuance announced."""
        url = str(issuance["document_url"])
        path = url.split(API_PREFIX, 1)[1] if API_PREFIX in url else url
        _status, pdf, _headers = self._request("GET", path)
        if hashlib.sha256(pdf).hexdigest() != issuance["sha256"]:
            raise KioskApiError(0, "DIGEST_MISMATCH", gettext("受け取った証明書データが壊れています。"))
        return pdf

    def complete(self, issuance_id: int, outcome: str) -> dict[str, Any]:
        return dict(self._json("POST", f"issuances/{issuance_id}/complete", {"outcome": outcome}))

    def session_end(self, session_id: str) -> None:
        self._request("DELETE", f"sessions/{session_id}")

    def access_history(self, session_id: str) -> list[dict[str, Any]]:
        return list(self._json("GET", f"sessions/{session_id}/access-history"))

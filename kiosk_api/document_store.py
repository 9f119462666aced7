"""Issued PDFs at rest until the kiosk prints them: AES-256-GCM, bound to their issuance.

The PDF is kept in the database (shared by every app process), never in process memory shared
between requests (DOMAIN.md, Yokohama 2023). The associated data names the issuance and the PDF's
SHA-256, so a ciphertext copied onto another issuance's row fails to decrypt instead of handing one
resident's document to another.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_NONCE_BYTES = 12


class DocumentDecryptionError(Exception):
    """A stored document could not be decrypted (wrong key, wrong row, or altered)."""


@dataclass(frozen=True)
class DocumentKeyring:
    keys: dict[str, AESGCM]
    active_key_id: str

    @classmethod
    def parse(cls, spec: str, active_key_id: str = "") -> DocumentKeyring:
        keys: dict[str, AESGCM] = {}
        for position, item in enumerate(part.strip() for part in spec.split(",") if part.strip()):
            key_id, sep, encoded = item.partition(":")
            if not sep or not key_id:
                raise ImproperlyConfigured(
                    f"KONBINI_DOCUMENT_KEYS entry {position + 1} is not 'kid:base64key'"
                )
            try:
                raw = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise ImproperlyConfigured(f"KONBINI_DOCUMENT_KEYS key {key_id!r} is not base64") from exc
            if len(raw) != 32:
                raise ImproperlyConfigured(f"KONBINI_DOCUMENT_KEYS key {key_id!r} must be 32 bytes")
            keys[key_id] = AESGCM(raw)
        if not keys:
            raise ImproperlyConfigured("KONBINI_DOCUMENT_KEYS holds no key")
        active = active_key_id or next(iter(keys))
        if active not in keys:
            raise ImproperlyConfigured(f"KONBINI_DOCUMENT_ACTIVE_KEY_ID {active!r} is not a listed key")
        return cls(keys=keys, active_key_id=active)


@lru_cache(maxsize=4)
def _keyring_for(spec: str, active_key_id: str) -> DocumentKeyring:
    # Immutable per configuration; parsed once per process (tests may override the settings).
    return DocumentKeyring.parse(spec, active_key_id)


def _keyring() -> DocumentKeyring:
    return _keyring_for(settings.KONBINI_DOCUMENT_KEYS, settings.KONBINI_DOCUMENT_ACTIVE_KEY_ID)


def _aad(issuance_id: int, sha256: str) -> bytes:
    return f"saga-konbini/kiosk-document/v1/issuance:{issuance_id}/sha256:{sha256}".encode()


def document_encrypt(pdf: bytes, *, issuance_id: int, sha256: str) -> tuple[str, bytes]:
    """Return (key id, nonce || ciphertext) for storing one issuance's PDF."""
    ring = _keyring()
    nonce = os.urandom(_NONCE_BYTES)
    sealed = ring.keys[ring.active_key_id].encrypt(nonce, pdf, _aad(issuance_id, sha256))
    return ring.active_key_id, nonce + sealed


def document_decrypt(blob: bytes, *, key_id: str, issuance_id: int, sha256: str) -> bytes:
    ring = _keyring()
    if key_id not in ring.keys:
        raise DocumentDecryptionError("unknown key id for a stored document")
    try:
        return ring.keys[key_id].decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad(issuance_id, sha256))
    except (InvalidTag, ValueError) as exc:
        raise DocumentDecryptionError("a stored document failed authentication") from exc

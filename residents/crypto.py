"""My Number encryption at rest: AES-256-GCM, each ciphertext bound to its resident.

Stored form: ``<key id>:<base64(nonce || ciphertext+tag)>``. The associated data is the resident
code, so a ciphertext copied onto another resident's row fails to decrypt. Keys come from the
MY_NUMBER_KEYS setting (never derived from SECRET_KEY); the active key encrypts, every listed key
decrypts, so keys can be rotated by re-encrypting rows at leisure.
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


class MyNumberDecryptionError(Exception):
    """A stored My Number could not be decrypted (wrong key, wrong row, or altered)."""


@dataclass(frozen=True)
class MyNumberKeyring:
    keys: dict[str, AESGCM]
    active_key_id: str

    @classmethod
    def parse(cls, spec: str, active_key_id: str = "") -> MyNumberKeyring:
        keys: dict[str, AESGCM] = {}
        for position, item in enumerate(part.strip() for part in spec.split(",") if part.strip()):
            key_id, sep, encoded = item.partition(":")
            if not sep or not key_id:
                raise ImproperlyConfigured(f"MY_NUMBER_KEYS entry {position + 1} is not 'kid:base64key'")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise ImproperlyConfigured(f"MY_NUMBER_KEYS key {key_id!r} is not base64") from exc
            if len(raw) != 32:
                raise ImproperlyConfigured(f"MY_NUMBER_KEYS key {key_id!r} must be 32 bytes (AES-256)")
            keys[key_id] = AESGCM(raw)
        if not keys:
            raise ImproperlyConfigured("MY_NUMBER_KEYS holds no key")
        active = active_key_id or next(iter(keys))
        if active not in keys:
            raise ImproperlyConfigured(f"MY_NUMBER_ACTIVE_KEY_ID {active!r} is not in MY_NUMBER_KEYS")
        return cls(keys=keys, active_key_id=active)

    def encrypt(self, my_number: str, *, resident_code: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self.keys[self.active_key_id].encrypt(nonce, my_number.encode("ascii"), _aad(resident_code))
        return f"{self.active_key_id}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, stored: str, *, resident_code: str) -> str:
        # Messages name neither the value nor the resident: they may reach logs.
        key_id, sep, encoded = stored.partition(":")
        if not sep or key_id not in self.keys:
            raise MyNumberDecryptionError("unknown key id for a stored My Number")
        try:
            blob = base64.b64decode(encoded, validate=True)
            plain = self.keys[key_id].decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad(resident_code))
        except (binascii.Error, InvalidTag, ValueError) as exc:
            raise MyNumberDecryptionError("a stored My Number failed authentication") from exc
        return plain.decode("ascii")


def _aad(resident_code: str) -> bytes:
    return f"saga-konbini/my-number/v1/resident:{resident_code}".encode()


@lru_cache(maxsize=4)
def _keyring_for(spec: str, active_key_id: str) -> MyNumberKeyring:
    return MyNumberKeyring.parse(spec, active_key_id)


def keyring() -> MyNumberKeyring:
    """The process's keyring, parsed once per distinct configuration (tests may override settings)."""
    return _keyring_for(settings.MY_NUMBER_KEYS, settings.MY_NUMBER_ACTIVE_KEY_ID)


def my_number_encrypt(my_number: str, *, resident_code: str) -> str:
    return keyring().encrypt(my_number, resident_code=resident_code)


def my_number_decrypt(stored: str, *, resident_code: str) -> str:
    return keyring().decrypt(stored, resident_code=resident_code)

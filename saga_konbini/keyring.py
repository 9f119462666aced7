"""AES-256-GCM keyrings for data at rest (My Numbers, PDFs awaiting their print).

A keyring is configured as ``kid:base64key,kid2:base64key``: the active key (by default the first)
encrypts, every listed key decrypts, so keys can be rotated by re-encrypting at leisure. Callers
bind each ciphertext to its row with associated data. Error messages never carry the values.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured

NONCE_BYTES = 12


class KeyringOpenError(Exception):
    """A ciphertext could not be opened: unknown key id, wrong associated data, or altered."""


@dataclass(frozen=True)
class AeadKeyring:
    keys: dict[str, AESGCM]
    active_key_id: str

    @classmethod
    def parse(cls, spec: str, active_key_id: str = "", *, setting: str) -> AeadKeyring:
        """Parse ``spec``; ``setting`` (e.g. MY_NUMBER_KEYS) names it in configuration errors."""
        active_setting = setting.removesuffix("_KEYS") + "_ACTIVE_KEY_ID"
        keys: dict[str, AESGCM] = {}
        for position, item in enumerate(part.strip() for part in spec.split(",") if part.strip()):
            key_id, sep, encoded = item.partition(":")
            if not sep or not key_id:
                raise ImproperlyConfigured(f"{setting} entry {position + 1} is not 'kid:base64key'")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise ImproperlyConfigured(f"{setting} key {key_id!r} is not base64") from exc
            if len(raw) != 32:
                raise ImproperlyConfigured(f"{setting} key {key_id!r} must be 32 bytes (AES-256)")
            keys[key_id] = AESGCM(raw)
        if not keys:
            raise ImproperlyConfigured(f"{setting} holds no key")
        active = active_key_id or next(iter(keys))
        if active not in keys:
            raise ImproperlyConfigured(f"{active_setting} {active!r} is not in {setting}")
        return cls(keys=keys, active_key_id=active)

    def seal(self, plaintext: bytes, *, aad: bytes) -> tuple[str, bytes]:
        """Encrypt with the active key: (key id, nonce || ciphertext and tag)."""
        nonce = os.urandom(NONCE_BYTES)
        return self.active_key_id, nonce + self.keys[self.active_key_id].encrypt(nonce, plaintext, aad)

    def open(self, key_id: str, blob: bytes, *, aad: bytes) -> bytes:
        if key_id not in self.keys:
            raise KeyringOpenError("unknown key id")
        try:
            return self.keys[key_id].decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except (InvalidTag, ValueError) as exc:
            raise KeyringOpenError("authentication failed") from exc


@lru_cache(maxsize=8)
def keyring_for(spec: str, active_key_id: str, setting: str) -> AeadKeyring:
    """Parsed once per process and configuration (immutable; tests may override the settings)."""
    return AeadKeyring.parse(spec, active_key_id, setting=setting)

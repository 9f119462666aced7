"""My Number encryption at rest: AES-256-GCM, each ciphertext bound to its resident.

Stored form: ``<key id>:<base64(nonce || ciphertext+tag)>``. The associated data is the resident
code, so a ciphertext copied onto another resident's row fails to decrypt. Keys come from the
MY_NUMBER_KEYS setting (never derived from SECRET_KEY); the active key encrypts, every listed key
decrypts, so keys can be rotated by re-encrypting rows at leisure (saga_konbini/keyring.py).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from django.conf import settings

from saga_konbini.keyring import AeadKeyring, KeyringOpenError, keyring_for


class MyNumberDecryptionError(Exception):
    """A stored My Number could not be decrypted (wrong key, wrong row, or altered)."""


@dataclass(frozen=True)
class MyNumberKeyring:
    ring: AeadKeyring

    @classmethod
    def parse(cls, spec: str, active_key_id: str = "") -> MyNumberKeyring:
        return cls(AeadKeyring.parse(spec, active_key_id, setting="MY_NUMBER_KEYS"))

    def encrypt(self, my_number: str, *, resident_code: str) -> str:
        key_id, blob = self.ring.seal(my_number.encode("ascii"), aad=_aad(resident_code))
        return f"{key_id}:{base64.b64encode(blob).decode('ascii')}"

    def decrypt(self, stored: str, *, resident_code: str) -> str:
        # Messages name neither the value nor the resident: they may reach logs.
        key_id, sep, encoded = stored.partition(":")
        if not sep:
            raise MyNumberDecryptionError("a stored My Number is not in the 'kid:base64' form")
        try:
            plain = self.ring.open(key_id, base64.b64decode(encoded, validate=True), aad=_aad(resident_code))
        except (binascii.Error, KeyringOpenError) as exc:
            raise MyNumberDecryptionError("a stored My Number failed authentication") from exc
        return plain.decode("ascii")


def _aad(resident_code: str) -> bytes:
    return f"saga-konbini/my-number/v1/resident:{resident_code}".encode()


def keyring() -> MyNumberKeyring:
    """The process's keyring, parsed once per distinct configuration."""
    return MyNumberKeyring(
        keyring_for(settings.MY_NUMBER_KEYS, settings.MY_NUMBER_ACTIVE_KEY_ID, "MY_NUMBER_KEYS")
    )


def my_number_encrypt(my_number: str, *, resident_code: str) -> str:
    return keyring().encrypt(my_number, resident_code=resident_code)


def my_number_decrypt(stored: str, *, resident_code: str) -> str:
    return keyring().decrypt(stored, resident_code=resident_code)

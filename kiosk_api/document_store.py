"""Issued PDFs at rest until the kiosk prints them: AES-256-GCM, bound to their issuance.

The PDF is kept in the database (shared by every app process), never in process memory shared
between requests (a shared print buffer once handed one applicant's file to another). The associated
data names the issuance and the PDF's SHA-256, so a ciphertext copied onto another issuance's row
fails to decrypt instead of handing one resident's document to another.
"""

from __future__ import annotations

from django.conf import settings

from saga_konbini.keyring import AeadKeyring, KeyringOpenError, keyring_for


class DocumentDecryptionError(Exception):
    """A stored document could not be decrypted (wrong key, wrong row, or altered)."""


def _keyring() -> AeadKeyring:
    return keyring_for(
        settings.KONBINI_DOCUMENT_KEYS, settings.KONBINI_DOCUMENT_ACTIVE_KEY_ID, "KONBINI_DOCUMENT_KEYS"
    )


def _aad(issuance_id: int, sha256: str) -> bytes:
    return f"saga-konbini/kiosk-document/v1/issuance:{issuance_id}/sha256:{sha256}".encode()


def document_encrypt(pdf: bytes, *, issuance_id: int, sha256: str) -> tuple[str, bytes]:
    """Return (key id, nonce || ciphertext) for storing one issuance's PDF."""
    return _keyring().seal(pdf, aad=_aad(issuance_id, sha256))


def document_decrypt(blob: bytes, *, key_id: str, issuance_id: int, sha256: str) -> bytes:
    try:
        return _keyring().open(key_id, blob, aad=_aad(issuance_id, sha256))
    except KeyringOpenError as exc:
        raise DocumentDecryptionError("a stored document failed authentication") from exc

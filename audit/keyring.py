"""The keys audit checkpoints may be signed with: retired keys and the current one (key rotation).

The city replaces its checkpoint key yearly, or at once when it leaks. Checkpoints signed before
the rotation must still verify, so the public keys of earlier signing keys are kept in
``AUDIT_RETIRED_PUBLIC_KEYS`` (PEM public keys, concatenated) or in the file named by
``AUDIT_RETIRED_PUBLIC_KEYS_FILE``, oldest first. The current verification key
(``checkpoint_public_key()``) comes last: it is the newest key.

Keys are used one after the other, never side by side, so their order is part of what is verified:
a retired key that signs after its successor took over can only be someone holding a leaked key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.exceptions import ImproperlyConfigured

from audit.checkpoints import checkpoint_public_key, key_id_for

_PEM_PUBLIC_KEY = re.compile(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", re.DOTALL)


@dataclass(frozen=True)
class CheckpointKeyring:
    """Trusted public keys by key_id, oldest first; the last one is the current key."""

    keys: dict[str, Ed25519PublicKey]

    @property
    def current_key_id(self) -> str:
        return next(reversed(self.keys))

    @property
    def retired_count(self) -> int:
        return len(self.keys) - 1

    def generation(self, key_id: str) -> int:
        """The key's place in the order of use (0 = oldest). The key_id must be trusted."""
        return list(self.keys).index(key_id)


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _retired_bundle() -> tuple[str, str]:
    """The bundle's PEM text and the name of the variable it came from (for error messages)."""
    if pem := os.environ.get("AUDIT_RETIRED_PUBLIC_KEYS", ""):
        return pem, "AUDIT_RETIRED_PUBLIC_KEYS"
    if path := os.environ.get("AUDIT_RETIRED_PUBLIC_KEYS_FILE"):
        try:
            return Path(path).read_text(encoding="utf-8"), "AUDIT_RETIRED_PUBLIC_KEYS_FILE"
        except (OSError, UnicodeDecodeError) as exc:
            raise ImproperlyConfigured("AUDIT_RETIRED_PUBLIC_KEYS_FILE points to an unreadable file") from exc
    return "", "AUDIT_RETIRED_PUBLIC_KEYS"


def _parse_bundle(pem: str, source: str) -> list[Ed25519PublicKey]:
    """The bundle's keys in order. Anything but PEM public keys and blank space is refused: a
    garbled or misplaced key (a private key pasted by mistake) must not be skipped silently."""
    blocks = list(_PEM_PUBLIC_KEY.finditer(pem))
    if _PEM_PUBLIC_KEY.sub("", pem).strip():
        raise ImproperlyConfigured(f"{source} must hold only PEM public keys (BEGIN PUBLIC KEY blocks)")
    keys: list[Ed25519PublicKey] = []
    for number, block in enumerate(blocks, start=1):
        try:
            key = serialization.load_pem_public_key(block.group(0).encode("ascii"))
        except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
            raise ImproperlyConfigured(f"{source}: key {number} is not a valid PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ImproperlyConfigured(f"{source}: key {number} must be an Ed25519 key")
        keys.append(key)
    return keys


def checkpoint_keyring() -> CheckpointKeyring:
    """The retired keys then the current verification key. A key listed twice is a configuration
    error: the order of use would be ambiguous, and the current key among the retired ones means
    the rotation was left half done."""
    pem, source = _retired_bundle()
    keys: dict[str, Ed25519PublicKey] = {}
    for number, key in enumerate(_parse_bundle(pem, source), start=1):
        key_id = key_id_for(key)
        if key_id in keys:
            raise ImproperlyConfigured(f"{source}: key {number} is listed twice (key_id {key_id})")
        keys[key_id] = key
    current = checkpoint_public_key()
    current_id = key_id_for(current)
    if current_id in keys:
        raise ImproperlyConfigured(
            f"{source} holds the current verification key (key_id {current_id}): "
            "set AUDIT_SIGNING_KEY (and AUDIT_PUBLIC_KEY, if used) to the new key"
        )
    keys[current_id] = current
    return CheckpointKeyring(keys)

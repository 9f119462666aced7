"""The name of the demo's test LGPKI root, under which production must never sign (SPEC §8).

The deploy check refuses a document-signing key whose chain ends in a root of this name; the demo's
test chain (simulators/lgpki.py) is created with it.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

# LGPKI's アプリケーション認証局 issues the 職責証明書 of a municipality's positions; marked as a test.
LGPKI_TEST_ROOT_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "LGPKI (TEST)"),
        x509.NameAttribute(NameOID.COMMON_NAME, "LGPKI アプリケーション認証局 (TEST)"),
    ]
)

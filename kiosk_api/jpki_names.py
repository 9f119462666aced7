"""The issuer name of the demo's test JPKI CA, which production must never trust (SPEC §4).

The deploy check refuses any trust anchor with this name; the demo's test CA is created with it.
No Django here: the demo's card workers import it in spawned processes.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

# SPEC §4: the issuer of the real JPKI user-authentication certificates, marked as a test.
JPKI_TEST_CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI (TEST)"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for user authentication"),
    ]
)

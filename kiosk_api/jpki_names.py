"""The issuer names of the demo's test JPKI CAs, which production must never trust (SPEC §4).

The deploy check refuses any trust anchor with one of these names; the demo's test CAs are created
with them.
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
# The issuer of the smartphone's user certificates (スマホ用電子証明書, 「JPKI スマホ用利用者証明用」):
# a CA of its own beside the card's, marked as a test.
JPKI_TEST_SMARTPHONE_CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI (TEST)"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for smartphone user authentication"),
    ]
)
JPKI_TEST_CA_NAMES = (JPKI_TEST_CA_NAME, JPKI_TEST_SMARTPHONE_CA_NAME)

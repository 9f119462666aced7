"""User certificate checks (SPEC §4): trust anchors, validity, key usage, revocation, signature.

Each check raises ``KioskError`` with the SPEC code and a machine reason for the audit log. The
trust anchors are read from ``settings.KONBINI_TRUSTED_CA_FILES`` and cached per process by
(path, modification time): immutable data, never request state. Several CAs may be trusted (the
My Number card's and the smartphone's, スマホ用電子証明書): ``issuing_anchor`` picks the one whose name
is the certificate's issuer and whose key signed it, and revocation is then checked against that
CA's own CRL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from kiosk_api.errors import KioskError


@dataclass(frozen=True)
class CardCertificate:
    certificate: x509.Certificate
    issuer: str  # RFC 4514, as card links spell it
    serial: str  # lowercase hex, no leading zeros
    fingerprint: str  # SHA-256 of the DER, for rate limits and audit (not personal data)


def serial_hex(serial: int) -> str:
    return format(serial, "x")


def certificate_parse(encoded: str) -> CardCertificate:
    """Decode base64 DER; anything else is CERTIFICATE_MALFORMED."""
    try:
        der = base64.b64decode(encoded, validate=True)
        certificate = x509.load_der_x509_certificate(der)
        issuer = certificate.issuer.rfc4514_string()
        serial = serial_hex(certificate.serial_number)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise KioskError("CERTIFICATE_MALFORMED", reason="certificate_malformed") from exc
    return CardCertificate(
        certificate=certificate, issuer=issuer, serial=serial, fingerprint=hashlib.sha256(der).hexdigest()
    )


@lru_cache(maxsize=8)
def _anchors_for(files: tuple[tuple[str, float], ...]) -> tuple[x509.Certificate, ...]:
    anchors: list[x509.Certificate] = []
    for name, _mtime in files:
        data = Path(name).read_bytes()
        if b"-----BEGIN" in data:
            anchors.extend(x509.load_pem_x509_certificates(data))
        else:
            anchors.append(x509.load_der_x509_certificate(data))
    return tuple(anchors)


def trust_anchors() -> tuple[x509.Certificate, ...]:
    """The configured CA certificates. A missing file trusts nothing (every card is refused)."""
    files: list[tuple[str, float]] = []
    for path in settings.KONBINI_TRUSTED_CA_FILES:
        candidate = Path(path)
        if candidate.is_file():
            files.append((str(candidate), candidate.stat().st_mtime))
    try:
        return _anchors_for(tuple(files))
    except ValueError as exc:
        raise ImproperlyConfigured("KONBINI_TRUSTED_CA_FILES holds a file that is not a certificate") from exc


def issuing_anchor(certificate: x509.Certificate, anchors: Sequence[x509.Certificate]) -> x509.Certificate:
    """The trust anchor that signed ``certificate``, or CERTIFICATE_UNTRUSTED."""
    for anchor in anchors:
        if anchor.subject != certificate.issuer:
            continue
        try:
            certificate.verify_directly_issued_by(anchor)
        except (InvalidSignature, ValueError, TypeError):
            # Same name, other key: a look-alike CA (SPEC §4 untrusted_cert). Try the next anchor.
            continue
        return anchor
    raise KioskError("CERTIFICATE_UNTRUSTED", reason="issuer_not_trusted")


def certificate_check_usable(certificate: x509.Certificate, *, now: datetime) -> None:
    """Validity dates and key usage of a user-authentication certificate."""
    if now < certificate.not_valid_before_utc:
        raise KioskError("CERTIFICATE_EXPIRED", reason="certificate_not_yet_valid")
    if now > certificate.not_valid_after_utc:
        raise KioskError("CERTIFICATE_EXPIRED", reason="certificate_expired")
    try:
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise KioskError("CERTIFICATE_UNTRUSTED", reason="key_usage_missing") from exc
    if not key_usage.digital_signature:
        raise KioskError("CERTIFICATE_UNTRUSTED", reason="key_usage_not_digital_signature")
    if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
        raise KioskError("CERTIFICATE_UNTRUSTED", reason="key_not_rsa")


def signature_check(certificate: x509.Certificate, *, signature_b64: str, challenge: bytes) -> None:
    """RSASSA-PKCS1-v1_5 with SHA-256 over the 32 challenge bytes (SPEC §3)."""
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)  # certificate_check_usable ran first
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        public_key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, InvalidSignature, ValueError) as exc:
        raise KioskError("SIGNATURE_INVALID", reason="signature_invalid") from exc


def crl_parse(data: bytes) -> x509.CertificateRevocationList:
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)

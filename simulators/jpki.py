"""A test PKI standing in for J-LIS's JPKI user-authentication CAs (SPEC §4).

Files under ``pki_dir`` (``settings.KONBINI_PKI_DIR``):

- ``jpki-test-ca.pem``  the trusted test CA certificate of My Number cards (PEM), in the default of
  ``settings.KONBINI_TRUSTED_CA_FILES``;
- ``jpki-test-ca.key``  its private key (PEM, PKCS#8, unencrypted, mode 0600);
- ``jpki-test-ca.crl``  its certificate revocation list, **DER** encoded (the usual form of a
  ``.crl`` published by a CA), in the default of ``settings.KONBINI_CRL_SOURCES``;
- ``jpki-test-smartphone-ca.pem`` / ``.key`` / ``.crl``  the same for the smartphone's certificates
  (スマホ用電子証明書, 「JPKI スマホ用利用者証明用 (TEST)」): a CA of its own, with its own CRL;
- ``other-ca.pem`` / ``other-ca.key``  a second, untrusted CA, for cards the server must refuse
  (scenario ``untrusted_cert``).

The CAs are created once and reused afterwards, so card files written by earlier runs stay valid.
The CRL itself is the revocation register: revoking a serial reads the published CRL, checks its
signature, adds the serial and publishes a new CRL with the next CRL number.

This module imports no Django: card generation runs it in worker processes (spawned, not forked,
so no database connection is shared with the parent).
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from kiosk_api.jpki_names import JPKI_TEST_CA_NAME, JPKI_TEST_SMARTPHONE_CA_NAME

JST = timezone(timedelta(hours=9), "JST")

CA_CERT_FILE = "jpki-test-ca.pem"
CA_KEY_FILE = "jpki-test-ca.key"
CA_CRL_FILE = "jpki-test-ca.crl"
SMARTPHONE_CA_CERT_FILE = "jpki-test-smartphone-ca.pem"
SMARTPHONE_CA_KEY_FILE = "jpki-test-smartphone-ca.key"
SMARTPHONE_CA_CRL_FILE = "jpki-test-smartphone-ca.crl"
OTHER_CA_CERT_FILE = "other-ca.pem"
OTHER_CA_KEY_FILE = "other-ca.key"

# A CA the server does not trust. Its name differs from the JPKI one: a certificate it signs is
# refused because no configured trust anchor issued it.
OTHER_CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Untrusted Test Issuer"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Not a JPKI CA"),
    ]
)

RSA_KEY_BITS = 2048
CA_VALIDITY_YEARS = 20
# How long a published CRL is current. The sync jobs refresh it; every revocation republishes.
CRL_VALIDITY = timedelta(days=30)


class PkiError(Exception):
    """The test PKI's files are inconsistent (a key that does not match its certificate, a CRL
    not signed by its CA)."""


@dataclass(frozen=True)
class TestCA:
    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey
    cert_path: Path
    key_path: Path
    crl_path: Path | None

    __test__ = False  # not a pytest test class, despite the name

    @property
    def issuer_rfc4514(self) -> str:
        """The issuer string of the certificates this CA signs, as card links carry it (SPEC §5)."""
        return self.certificate.subject.rfc4514_string()

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def private_key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _pki_lock(pki_dir: Path) -> Iterator[None]:
    """Serialises CA creation and CRL updates between processes (two commands run at once)."""
    pki_dir.mkdir(parents=True, exist_ok=True)
    with open(pki_dir / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _ca_build(*, name: x509.Name, now: datetime) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365 * CA_VALIDITY_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _ca_load_or_create(
    *, pki_dir: Path, name: x509.Name, cert_file: str, key_file: str, crl_file: str | None, now: datetime
) -> TestCA:
    cert_path, key_path = pki_dir / cert_file, pki_dir / key_file
    crl_path = pki_dir / crl_file if crl_file else None
    with _pki_lock(pki_dir):
        if cert_path.exists() and key_path.exists():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey) or key.public_key() != cert.public_key():
                raise PkiError(f"{key_path.name} does not match {cert_path.name}")
        else:
            cert, key = _ca_build(name=name, now=now)
            ca_tmp = TestCA(cert, key, cert_path, key_path, crl_path)
            _write_atomic(key_path, ca_tmp.private_key_pem(), mode=0o600)
            _write_atomic(cert_path, ca_tmp.certificate_pem())
        ca = TestCA(
            certificate=cert, private_key=key, cert_path=cert_path, key_path=key_path, crl_path=crl_path
        )
        if crl_path is not None and not crl_path.exists():
            _crl_write(ca=ca, revoked={}, crl_number=1, now=now)
    return ca


def test_ca_load_or_create(*, pki_dir: Path, now: datetime | None = None) -> TestCA:
    """The trusted test JPKI CA under ``pki_dir``, created (with an empty CRL) on first use."""
    return _ca_load_or_create(
        pki_dir=pki_dir,
        name=JPKI_TEST_CA_NAME,
        cert_file=CA_CERT_FILE,
        key_file=CA_KEY_FILE,
        crl_file=CA_CRL_FILE,
        now=now or datetime.now(UTC),
    )


test_ca_load_or_create.__test__ = False  # type: ignore[attr-defined]


def smartphone_ca_load_or_create(*, pki_dir: Path, now: datetime | None = None) -> TestCA:
    """The trusted test CA of smartphone certificates under ``pki_dir``, created (with an empty
    CRL) on first use."""
    return _ca_load_or_create(
        pki_dir=pki_dir,
        name=JPKI_TEST_SMARTPHONE_CA_NAME,
        cert_file=SMARTPHONE_CA_CERT_FILE,
        key_file=SMARTPHONE_CA_KEY_FILE,
        crl_file=SMARTPHONE_CA_CRL_FILE,
        now=now or datetime.now(UTC),
    )


def other_ca_load_or_create(*, pki_dir: Path, now: datetime | None = None) -> TestCA:
    """The untrusted second CA under ``pki_dir`` (no CRL: nobody relies on it)."""
    return _ca_load_or_create(
        pki_dir=pki_dir,
        name=OTHER_CA_NAME,
        cert_file=OTHER_CA_CERT_FILE,
        key_file=OTHER_CA_KEY_FILE,
        crl_file=None,
        now=now or datetime.now(UTC),
    )


def _birthday_in(year: int, birth_date: date) -> date:
    # Someone born on 29 February has their birthday on 28 February in common years.
    if birth_date.month == 2 and birth_date.day == 29:
        try:
            return date(year, 2, 29)
        except ValueError:
            return date(year, 2, 28)
    return birth_date.replace(year=year)


def certificate_expiry_date(*, birth_date: date, issued_on: date) -> date:
    """The holder's 5th birthday after the issue date: the last day of validity (SPEC §4)."""
    first = _birthday_in(issued_on.year, birth_date)
    if first <= issued_on:
        first = _birthday_in(issued_on.year + 1, birth_date)
    return _birthday_in(first.year + 4, birth_date)


def jst_start_of(day: date) -> datetime:
    return datetime.combine(day, time(0, 0, 0), tzinfo=JST)


def jst_end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=JST)


def user_certificate_issue(
    *,
    ca: TestCA,
    public_key: rsa.RSAPublicKey,
    birth_date: date,
    issued_on: date,
    serial: int | None = None,
    common_name: str | None = None,
) -> x509.Certificate:
    """A user-authentication certificate: subject ``C=JP`` and an opaque ``CN`` only, key usage
    digitalSignature (critical), valid from the issue day (JST) until the end of the holder's 5th
    birthday after issue."""
    serial = serial if serial is not None else x509.random_serial_number()
    if serial <= 0 or serial.bit_length() > 159:
        raise ValueError("a certificate serial must be positive and at most 20 octets")
    cn = common_name or secrets.token_hex(12).upper()
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )
    expiry = certificate_expiry_date(birth_date=birth_date, issued_on=issued_on)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(jst_start_of(issued_on).astimezone(UTC))
        .not_valid_after(jst_end_of(expiry).astimezone(UTC))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(ca.private_key, hashes.SHA256())
    )


def crl_load(*, ca: TestCA) -> x509.CertificateRevocationList:
    """The CA's published CRL, checked against the CA's key."""
    if ca.crl_path is None:
        raise PkiError("this CA publishes no CRL")
    crl = x509.load_der_x509_crl(ca.crl_path.read_bytes())
    if crl.issuer != ca.certificate.subject or not crl.is_signature_valid(ca.private_key.public_key()):
        raise PkiError(f"{ca.crl_path.name} is not signed by this CA")
    return crl


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        return 0


def _crl_write(*, ca: TestCA, revoked: dict[int, datetime], crl_number: int, now: datetime) -> None:
    assert ca.crl_path is not None
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(now)
        .next_update(now + CRL_VALIDITY)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()), critical=False
        )
    )
    for serial, revoked_at in sorted(revoked.items()):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at).build()
        )
    crl = builder.sign(ca.private_key, hashes.SHA256())
    _write_atomic(ca.crl_path, crl.public_bytes(serialization.Encoding.DER))


def crl_publish(
    *, ca: TestCA, revoke_serials: tuple[int, ...] = (), now: datetime | None = None
) -> x509.CertificateRevocationList:
    """Publish a fresh CRL: everything already revoked plus ``revoke_serials``, next CRL number."""
    now = now or datetime.now(UTC)
    if ca.crl_path is None:
        raise PkiError("this CA publishes no CRL")
    with _pki_lock(ca.crl_path.parent):
        revoked: dict[int, datetime] = {}
        number = 0
        if ca.crl_path.exists():
            current = crl_load(ca=ca)
            number = _crl_number(current)
            revoked = {entry.serial_number: entry.revocation_date_utc for entry in current}
        for serial in revoke_serials:
            revoked.setdefault(serial, now)
        _crl_write(ca=ca, revoked=revoked, crl_number=number + 1, now=now)
    return crl_load(ca=ca)


def certificate_revoke(
    *, ca: TestCA, serial: int, now: datetime | None = None
) -> x509.CertificateRevocationList:
    """Revoke one serial and republish the CRL (idempotent: a revoked serial keeps its date)."""
    return crl_publish(ca=ca, revoke_serials=(serial,), now=now)


def serial_hex(serial: int) -> str:
    """A serial as card links carry it: lowercase hex, no leading zeros (SPEC §5)."""
    return format(serial, "x")

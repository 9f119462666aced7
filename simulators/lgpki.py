"""A test LGPKI chain for the demo and the tests: a root CA standing in for LGPKI's アプリケーション認証局
and 職責証明書 for 佐賀市長 under it (the city's document-signing keys, SPEC §8).

A real city receives its 職責証明書 from LGPKI (地方公共団体組織認証基盤) and installs the key and its
chain as files (certificates/signing_keys.py reads them). Nothing here runs in production: the
certificates app names this module by string, in development only, to make the first key of an
empty signing folder and the next key of a rotation.

Files under ``folder`` (``settings.KONBINI_SIGNING_DIR``):

- ``test-root/root-key.pem``, ``test-root/root-cert.pem``: the test root, created once and reused, so
  that every issuing key of a demo chains to the same root;
- ``<name>/issuing-key.pem`` (PKCS#8, mode 0600), ``<name>/issuing-cert.pem``, ``<name>/chain.pem``:
  one issuing key, in the layout the city uses for the real ones.
"""

from __future__ import annotations

import fcntl
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certificates.lgpki_names import LGPKI_TEST_ROOT_NAME

# The installed key's files: the names of the real ones the city installs.
from certificates.signing_keys import CERT_FILE, CHAIN_FILE, KEY_FILE

TEST_ROOT_FOLDER = "test-root"
TEST_ROOT_KEY_FILE = "root-key.pem"
TEST_ROOT_CERT_FILE = "root-cert.pem"

MAYOR_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "佐賀県"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "佐賀市"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "佐賀市"),
        x509.NameAttribute(NameOID.TITLE, "市長"),
        x509.NameAttribute(NameOID.COMMON_NAME, "佐賀市長"),
    ]
)
# id-kp-documentSigning (RFC 9336): what the 職責証明書's key is for.
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
ROOT_YEARS = 20
# The root and the first key of a demo start in the past, so that tests and demos may issue with
# dates of the last few years; keys made by a rotation start now.
ROOT_YEARS_BACK = 5
ISSUING_YEARS = 3


def _pem_write(path: Path, data: bytes, *, private: bool = False) -> None:
    if private:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(path, 0o600)
    else:
        path.write_bytes(data)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _key_usage(*, sign_documents: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign_documents,
        content_commitment=sign_documents,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not sign_documents,
        crl_sign=not sign_documents,
        encipher_only=False,
        decipher_only=False,
    )


def lgpki_test_root_ensure(
    folder: Path, *, root_name: x509.Name = LGPKI_TEST_ROOT_NAME
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The demo's test root (created on first use, under a file lock so that two processes agree).

    ``root_name`` only names a root created now (CI's deploy check wants a root that is not the
    demo's, which production refuses).
    """
    root_dir = folder / TEST_ROOT_FOLDER
    root_dir.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = root_dir / TEST_ROOT_KEY_FILE, root_dir / TEST_ROOT_CERT_FILE
    with open(root_dir / ".lock", "a", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (key_path.exists() and cert_path.exists()):
            key = ec.generate_private_key(ec.SECP384R1())
            now = datetime.now(UTC) - timedelta(days=365 * ROOT_YEARS_BACK)
            certificate = (
                x509.CertificateBuilder()
                .subject_name(root_name)
                .issuer_name(root_name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=365 * ROOT_YEARS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(_key_usage(sign_documents=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA384())
            )
            _pem_write(key_path, _private_pem(key), private=True)
            cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    root_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    return root_key, x509.load_pem_x509_certificate(cert_path.read_bytes())


def lgpki_test_key_create(
    folder: Path,
    name: str,
    *,
    rotation: bool = False,
    valid_from: datetime | None = None,
    root_name: x509.Name = LGPKI_TEST_ROOT_NAME,
) -> Path:
    """A new 職責証明書 for 佐賀市長 under the test root, installed as ``folder/name`` (returned)."""
    root_key, root = lgpki_test_root_ensure(folder, root_name=root_name)
    target = folder / name
    target.mkdir(parents=True, exist_ok=False)
    key = ec.generate_private_key(ec.SECP256R1())
    start = valid_from or (datetime.now(UTC) - timedelta(days=1) if rotation else root.not_valid_before_utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(MAYOR_NAME)
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(
            min(max(start, datetime.now(UTC)) + timedelta(days=365 * ISSUING_YEARS), root.not_valid_after_utc)
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign_documents=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA384())
    )
    _pem_write(target / KEY_FILE, _private_pem(key), private=True)
    (target / CERT_FILE).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (target / CHAIN_FILE).write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return target


def lgpki_test_key_next_name(folder: Path) -> str:
    """A folder name for the next test key that sorts after the ones installed: ``test-key-NN``."""
    taken = [p.name for p in folder.glob("test-key-*") if p.is_dir()] if folder.exists() else []
    return f"test-key-{len(taken) + 1:02d}"


def test_key_install(*, directory: Path, rotation: bool, **_: object) -> Path:
    """``certificates.signing_keys.test_key_wanted`` receiver: a development server without a key."""
    return lgpki_test_key_create(directory, lgpki_test_key_next_name(directory), rotation=rotation)

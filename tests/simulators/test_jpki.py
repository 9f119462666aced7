"""The test PKI standing in for JPKI (SPEC §4)."""

from __future__ import annotations

import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from simulators.jpki import (
    CA_CERT_FILE,
    CA_CRL_FILE,
    CA_KEY_FILE,
    JST,
    SMARTPHONE_CA_CERT_FILE,
    SMARTPHONE_CA_CRL_FILE,
    PkiError,
    certificate_expiry_date,
    certificate_revoke,
    crl_load,
    other_ca_load_or_create,
    serial_hex,
    test_ca_load_or_create,
    user_certificate_issue,
)


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture(scope="module")
def user_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_ca_is_jpki_like_rsa_2048_sha256(pki_dir: Path) -> None:
    ca = test_ca_load_or_create(pki_dir=pki_dir)
    cert = ca.certificate
    assert cert.subject.rfc4514_string() == "OU=JPKI for user authentication,O=JPKI (TEST),C=JP"
    assert ca.issuer_rfc4514 == cert.subject.rfc4514_string()
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.key_size == 2048
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True


def test_ca_files_are_created_once_and_the_key_is_private(pki_dir: Path) -> None:
    first = test_ca_load_or_create(pki_dir=pki_dir)
    again = test_ca_load_or_create(pki_dir=pki_dir)
    assert again.certificate == first.certificate
    assert stat.S_IMODE((pki_dir / CA_KEY_FILE).stat().st_mode) == 0o600
    assert (pki_dir / CA_CERT_FILE).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    # The CRL is published in DER from the start (empty), so the server can load it at once.
    crl = x509.load_der_x509_crl((pki_dir / CA_CRL_FILE).read_bytes())
    assert crl.issuer == first.certificate.subject


def test_default_settings_point_at_the_test_ca_files(settings) -> None:
    # The card's CA and the smartphone's, each with its own CRL.
    pki_dir = Path(settings.KONBINI_PKI_DIR)
    assert [Path(p) for p in settings.KONBINI_TRUSTED_CA_FILES] == [
        pki_dir / CA_CERT_FILE,
        pki_dir / SMARTPHONE_CA_CERT_FILE,
    ]
    assert [Path(p) for p in settings.KONBINI_CRL_SOURCES] == [
        pki_dir / CA_CRL_FILE,
        pki_dir / SMARTPHONE_CA_CRL_FILE,
    ]


def test_a_key_that_does_not_match_its_certificate_is_refused(tmp_path: Path) -> None:
    test_ca_load_or_create(pki_dir=tmp_path)
    other_ca_load_or_create(pki_dir=tmp_path)
    (tmp_path / CA_KEY_FILE).write_bytes((tmp_path / "other-ca.key").read_bytes())
    with pytest.raises(PkiError):
        test_ca_load_or_create(pki_dir=tmp_path)


def test_user_certificate_holds_only_country_and_an_opaque_cn(
    pki_dir: Path, user_key: rsa.RSAPrivateKey
) -> None:
    ca = test_ca_load_or_create(pki_dir=pki_dir)
    cert = user_certificate_issue(
        ca=ca, public_key=user_key.public_key(), birth_date=date(1980, 6, 10), issued_on=date(2024, 3, 1)
    )
    oids = [attribute.oid for attribute in cert.subject]
    assert oids == [NameOID.COUNTRY_NAME, NameOID.COMMON_NAME]
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "JP"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical is True
    assert usage.value.digital_signature is True
    assert usage.value.key_cert_sign is False
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    cert.verify_directly_issued_by(ca.certificate)
    assert cert.serial_number > 0


def test_user_certificate_is_valid_until_the_fifth_birthday_after_issue(
    pki_dir: Path, user_key: rsa.RSAPrivateKey
) -> None:
    ca = test_ca_load_or_create(pki_dir=pki_dir)
    cert = user_certificate_issue(
        ca=ca, public_key=user_key.public_key(), birth_date=date(1980, 6, 10), issued_on=date(2024, 3, 1)
    )
    assert cert.not_valid_before_utc == datetime(2024, 3, 1, tzinfo=JST).astimezone(UTC)
    assert cert.not_valid_after_utc.astimezone(JST).date() == date(2028, 6, 10)
    assert cert.not_valid_after_utc.astimezone(JST).hour == 23


@pytest.mark.parametrize(
    ("birth", "issued", "expires"),
    [
        (date(1980, 6, 10), date(2024, 3, 1), date(2028, 6, 10)),  # birthday later in the issue year
        (date(1980, 1, 10), date(2024, 3, 1), date(2029, 1, 10)),  # birthday passed in the issue year
        (date(1980, 3, 1), date(2024, 3, 1), date(2029, 3, 1)),  # issued on the birthday itself
        (date(2000, 2, 29), date(2024, 3, 1), date(2029, 2, 28)),  # leap-day birth, common year
        (date(2000, 2, 29), date(2024, 1, 5), date(2028, 2, 29)),  # leap-day birth, leap year
    ],
)
def test_expiry_is_the_fifth_birthday_after_issue(birth: date, issued: date, expires: date) -> None:
    assert certificate_expiry_date(birth_date=birth, issued_on=issued) == expires


def test_revoked_serials_are_in_the_published_crl(tmp_path: Path, user_key: rsa.RSAPrivateKey) -> None:
    ca = test_ca_load_or_create(pki_dir=tmp_path)
    first = user_certificate_issue(
        ca=ca, public_key=user_key.public_key(), birth_date=date(1990, 1, 1), issued_on=date(2025, 1, 1)
    )
    second = user_certificate_issue(
        ca=ca, public_key=user_key.public_key(), birth_date=date(1990, 1, 1), issued_on=date(2025, 1, 1)
    )
    before = crl_load(ca=ca)
    certificate_revoke(ca=ca, serial=first.serial_number)
    crl = certificate_revoke(ca=ca, serial=second.serial_number)
    on_disk = x509.load_der_x509_crl((tmp_path / CA_CRL_FILE).read_bytes())
    revoked = {entry.serial_number for entry in on_disk}
    assert revoked == {first.serial_number, second.serial_number}
    assert on_disk.is_signature_valid(ca.certificate.public_key())  # type: ignore[arg-type]
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 2
    assert on_disk.next_update_utc is not None and on_disk.next_update_utc > on_disk.last_update_utc
    # Revoking again keeps the first revocation date.
    first_entry = on_disk.get_revoked_certificate_by_serial_number(first.serial_number)
    assert first_entry is not None
    again = certificate_revoke(ca=ca, serial=first.serial_number, now=datetime.now(UTC) + timedelta(days=1))
    again_entry = again.get_revoked_certificate_by_serial_number(first.serial_number)
    assert again_entry is not None
    assert again_entry.revocation_date_utc == first_entry.revocation_date_utc


def test_other_ca_is_a_different_issuer_whose_certificates_the_test_ca_did_not_sign(
    pki_dir: Path, user_key: rsa.RSAPrivateKey
) -> None:
    trusted = test_ca_load_or_create(pki_dir=pki_dir)
    other = other_ca_load_or_create(pki_dir=pki_dir)
    assert other.issuer_rfc4514 != trusted.issuer_rfc4514
    cert = user_certificate_issue(
        ca=other, public_key=user_key.public_key(), birth_date=date(1990, 1, 1), issued_on=date(2025, 1, 1)
    )
    with pytest.raises((ValueError, InvalidSignature)):
        cert.verify_directly_issued_by(trusted.certificate)
    with pytest.raises(InvalidSignature):
        trusted_key = trusted.certificate.public_key()
        assert isinstance(trusted_key, rsa.RSAPublicKey)
        trusted_key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256())


def test_serial_hex_is_lowercase_without_leading_zeros() -> None:
    assert serial_hex(0x0ABC) == "abc"
    assert serial_hex(255) == "ff"


def test_the_smartphone_ca_is_a_ca_of_its_own_with_its_own_crl(tmp_path: Path) -> None:
    from simulators.jpki import crl_publish, smartphone_ca_load_or_create

    card_ca = test_ca_load_or_create(pki_dir=tmp_path)
    phone_ca = smartphone_ca_load_or_create(pki_dir=tmp_path)
    assert phone_ca.certificate.subject != card_ca.certificate.subject
    assert phone_ca.certificate.public_key() != card_ca.certificate.public_key()
    assert phone_ca.issuer_rfc4514 == "OU=JPKI for smartphone user authentication,O=JPKI (TEST),C=JP"
    assert smartphone_ca_load_or_create(pki_dir=tmp_path).certificate == phone_ca.certificate
    assert stat.S_IMODE((tmp_path / "jpki-test-smartphone-ca.key").stat().st_mode) == 0o600
    # Revoking at the smartphone CA lists the serial in its CRL only.
    certificate_revoke(ca=phone_ca, serial=0xBEEF, now=datetime.now(UTC))
    crl_publish(ca=card_ca)
    assert [entry.serial_number for entry in crl_load(ca=phone_ca)] == [0xBEEF]
    assert list(crl_load(ca=card_ca)) == []
    assert crl_load(ca=phone_ca).issuer == phone_ca.certificate.subject

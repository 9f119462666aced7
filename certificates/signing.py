"""The city's issuing key (SPEC §8): the signed verification payload and the PDF signature (PAdES).

Key material. One ECDSA P-256 key and a self-signed certificate ("佐賀市長" / "Saga City") under
``settings.KONBINI_SIGNING_DIR``: ``issuing-key.pem`` (PKCS#8, mode 0600) and ``issuing-cert.pem``.
In development both are created on first use (under a file lock, so two processes starting together
agree on one key); in production they must be provided (a mounted secret) and are never generated.
The key is loaded once per process and configuration (``issuing_key()``): reading and parsing PEM
for every certificate would cost more than the signature itself.

The verification payload is ``SK1.<base64url(canonical JSON)>.<base64url(r || s)>``: ES256 over the
exact JSON bytes, with short keys to keep the 2D code small. Anyone holding the city's certificate
can check it offline (``payload_verify``).
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any

from asn1crypto import algos as asn1_algos
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from certificates.documents import (
    CertificateDocument,
    InkanContent,
    JuminhyoContent,
    NozeiContent,
    ShotokuKazeiContent,
)
from certificates.errors import PayloadInvalid

KEY_FILE = "issuing-key.pem"
CERT_FILE = "issuing-cert.pem"
PAYLOAD_PREFIX = "SK1"
_CMS_RESERVED = 8192
_P256_BYTES = 32
_MAX_TOKEN_LENGTH = 4096  # far above any real payload: a bound before any parsing


@dataclass(frozen=True)
class IssuingKey:
    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    # A MAC key for the short check codes, derived from the signing key with its own label, so
    # that the codes do not depend on SECRET_KEY and need no further secret to manage.
    check_code_key: bytes

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def issuing_key() -> IssuingKey:
    """The process's issuing key, loaded (or, in development, created) once per configuration."""
    return _issuing_key_for(str(settings.KONBINI_SIGNING_DIR), not settings.PRODUCTION)


@lru_cache(maxsize=4)
def _issuing_key_for(directory: str, may_create: bool) -> IssuingKey:
    folder = Path(directory)
    key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
    if may_create and not (key_path.exists() and cert_path.exists()):
        _create_key_files(folder)
    try:
        private_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"the issuing key and certificate must be readable PEM files {KEY_FILE}, {CERT_FILE} in {folder}"
        ) from exc
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or private_key.curve.name != "secp256r1":
        raise ImproperlyConfigured("the issuing key must be an ECDSA P-256 key")
    if certificate.public_key() != private_key.public_key():
        raise ImproperlyConfigured("the issuing certificate does not belong to the issuing key")
    scalar = private_key.private_numbers().private_value.to_bytes(_P256_BYTES, "big")
    check_code_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"saga-konbini/check-code/v1"
    ).derive(scalar)
    return IssuingKey(private_key=private_key, certificate=certificate, check_code_key=check_code_key)


def _create_key_files(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # An exclusive lock: two processes starting at once must not create two different keys.
    with open(folder / ".lock", "a", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
        if key_path.exists() and cert_path.exists():
            return
        key = ec.generate_private_key(ec.SECP256R1())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_pem)
        os.chmod(key_path, 0o600)
        cert_path.write_bytes(_self_signed_certificate(key).public_bytes(serialization.Encoding.PEM))


def _self_signed_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Saga"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Saga City"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Saga City"),
            x509.NameAttribute(NameOID.COMMON_NAME, "佐賀市長"),
        ]
    )
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


# --- verification payload ---------------------------------------------------------------------


def payload_facts(document: CertificateDocument) -> dict[str, Any]:
    """The printed key facts of SPEC §8, with short keys for the 2D code.

    ``n`` number, ``t`` type, ``d`` issue date, ``p`` persons as [name, birth date] (nozei prints no
    birth date, so it holds [name] only: the code shows nothing the paper does not), ``a`` address,
    ``r`` seal registration number, ``y`` fiscal year, ``s`` totals.
    """
    content = document.content
    facts: dict[str, Any] = {
        "v": 1,
        "n": document.certificate_number,
        "t": document.cert_type,
        "d": document.issued_on.isoformat(),
    }
    if isinstance(content, JuminhyoContent):
        facts["p"] = [[p.name, p.birth_date.isoformat()] for p in content.persons]
        facts["a"] = content.household_address
    elif isinstance(content, InkanContent):
        facts["p"] = [[content.holder.name, content.holder.birth_date.isoformat()]]
        facts["a"] = content.holder.address
        facts["r"] = content.registration_number
    elif isinstance(content, ShotokuKazeiContent):
        facts["p"] = [[content.holder.name, content.holder.birth_date.isoformat()]]
        facts["a"] = content.holder.address
        facts["y"] = content.fiscal_year
        facts["s"] = {"income": content.total_income, "tax": content.total_tax}
    elif isinstance(content, NozeiContent):
        facts["p"] = [[content.holder.name]]
        facts["a"] = content.holder.address
        facts["y"] = content.fiscal_year
        facts["s"] = {
            "assessed": content.total_assessed,
            "paid": content.total_paid,
            "unpaid": content.total_unpaid,
        }
    return facts


def _canonical(facts: dict[str, Any]) -> bytes:
    return json.dumps(facts, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or any(
        c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in text
    ):
        raise PayloadInvalid("payload is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise PayloadInvalid("payload is not base64url") from exc


def payload_sign(document: CertificateDocument) -> str:
    """The signed compact payload drawn as the 2D code of ``document`` (ASCII)."""
    body = _canonical(payload_facts(document))
    der = issuing_key().private_key.sign(body, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
    return f"{PAYLOAD_PREFIX}.{_b64(body)}.{_b64(raw)}"


def payload_verify(token: str, *, public_key: ec.EllipticCurvePublicKey | None = None) -> dict[str, Any]:
    """The facts of a payload whose signature holds; raises PayloadInvalid on any alteration.

    ``public_key`` defaults to the city's; ``verify_certificate`` passes the one from its
    certificate file so that it works offline without the private key.
    """
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH:
        raise PayloadInvalid("payload has the wrong form")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PAYLOAD_PREFIX:
        raise PayloadInvalid("payload has the wrong form")
    body, raw = _unb64(parts[1]), _unb64(parts[2])
    if len(raw) != 2 * _P256_BYTES:
        raise PayloadInvalid("payload signature has the wrong length")
    der = encode_dss_signature(
        int.from_bytes(raw[:_P256_BYTES], "big"), int.from_bytes(raw[_P256_BYTES:], "big")
    )
    key = public_key or issuing_key().public_key
    try:
        key.verify(der, body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise PayloadInvalid("payload signature does not match its content") from exc
    try:
        facts = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadInvalid("payload content is not JSON") from exc
    if not isinstance(facts, dict) or facts.get("v") != 1 or _canonical(facts) != body:
        raise PayloadInvalid("payload content is not in canonical form")
    return facts


def check_code_compute(certificate_number: str) -> str:
    """The short check code printed next to a certificate number (SPEC §8).

    6 characters of Crockford's base32 (no I, L, O, U: nothing to misread) from an HMAC-SHA256 of the
    number under a key derived from the issuing key: 30 bits, enough that guessing is hopeless
    under /verify/'s rate limit. Checking needs the server (it is a MAC, not a signature).
    """
    digest = hmac.new(
        issuing_key().check_code_key, certificate_number.encode("ascii"), hashlib.sha256
    ).digest()
    value = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(6):
        value, index = divmod(value, 32)
        chars.append(_CROCKFORD[index])
    return "".join(chars)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CONFUSABLE = str.maketrans("OIL", "011")


def check_code_normalise(text: str) -> str:
    """What a person typed, as a code: upper case, separators dropped, O→0 and I/L→1 (Crockford)."""
    cleaned = "".join(c for c in text.strip().upper() if c not in " -\u3000")
    return cleaned.translate(_CONFUSABLE)


def check_code_matches(certificate_number: str, typed: str) -> bool:
    return hmac.compare_digest(check_code_compute(certificate_number), check_code_normalise(typed))


# --- PDF signature (PAdES B-B) -------------------------------------------------------------------


def _asn1_certificate(key: IssuingKey) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(key.certificate.public_bytes(serialization.Encoding.DER))


def pdf_sign(pdf: bytes, *, issued_on: date | None = None) -> bytes:
    """The PDF with the city's PAdES B-B signature over the whole file (an incremental update)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    meta = signers.PdfSignatureMetadata(
        field_name="SagaCitySignature",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason="佐賀市 証明書コンビニ交付",
        location="佐賀市",
    )
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    # A fixed reservation for the CMS container (one P-256 certificate and signature, ~1 KB): pyHanko
    # otherwise signs once more in a dry run just to measure it.
    pdf_signer = signers.PdfSigner(meta, signer=_loaded_key_signer(issuing_key()))
    out = pdf_signer.sign_pdf(writer, bytes_reserved=_CMS_RESERVED)
    return out.getvalue()


@lru_cache(maxsize=4)
def _loaded_key_signer(key: IssuingKey) -> Any:
    """A pyHanko Signer for ``key``, one per process and key.

    It signs with the already-loaded key (pyHanko's SimpleSigner re-parses it per call) and, after
    its first signature, builds the CMS container from a template (certificates/cms_template.py).
    """
    from pyhanko.sign.signers import Signer
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    from certificates.cms_template import CmsTemplate

    cert = _asn1_certificate(key)

    class LoadedKeySigner(Signer):
        def __init__(self) -> None:
            super().__init__(
                signing_cert=cert,
                cert_registry=SimpleCertificateStore.from_certs([cert]),
                signature_mechanism=asn1_algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            )
            self.template: CmsTemplate | None = None
            self.template_tried = False

        async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
            if digest_algorithm != "sha256":
                raise ValueError("the issuing key signs with SHA-256 only")
            return key.private_key.sign(data, ec.ECDSA(hashes.SHA256()))

        async def async_sign(  # type: ignore[override]
            self, data_digest: bytes, digest_algorithm: str, dry_run: bool = False, **kwargs: Any
        ) -> asn1_cms.ContentInfo:
            if (
                self.template is not None
                and digest_algorithm == "sha256"
                and not dry_run
                and not kwargs.get("timestamper")
            ):
                signature = key.private_key.sign(
                    self.template.signed_attributes(data_digest), ec.ECDSA(hashes.SHA256())
                )
                return asn1_cms.ContentInfo.load(
                    self.template.assemble(digest=data_digest, signature=signature)
                )
            signed = await super().async_sign(data_digest, digest_algorithm, dry_run=dry_run, **kwargs)
            if not self.template_tried and not dry_run and digest_algorithm == "sha256":
                self.template_tried = True
                template = CmsTemplate.from_signature(signed, digest=data_digest)
                if template is not None and template.proves_itself(
                    signed, digest=data_digest, public_key=key.public_key
                ):
                    self.template = template
            return signed

    return LoadedKeySigner()


@dataclass(frozen=True)
class PdfSignatureCheck:
    valid: bool
    problem: str  # "" when valid; otherwise a short Japanese explanation


def pdf_signature_check(pdf: bytes, *, certificate: x509.Certificate) -> PdfSignatureCheck:
    """Check, offline, that ``pdf`` carries exactly one intact signature by ``certificate`` that
    covers the entire file (no incremental update after signing)."""
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    try:
        reader = PdfFileReader(BytesIO(pdf), strict=True)
        signatures = reader.embedded_signatures
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        return PdfSignatureCheck(False, f"PDFとして読み取れません ({type(exc).__name__})")
    if len(signatures) != 1:
        return PdfSignatureCheck(False, f"署名の数が正しくありません ({len(signatures)})")
    trust_root = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    context = ValidationContext(trust_roots=[trust_root], allow_fetching=False, revocation_mode="soft-fail")
    try:
        status = validate_pdf_signature(signatures[0], context)
    except Exception as exc:  # noqa: BLE001 - pyHanko raises many types on malformed input: all mean invalid
        return PdfSignatureCheck(False, f"署名を検証できません ({type(exc).__name__})")
    if not status.intact or not status.valid:
        return PdfSignatureCheck(False, "署名が文書の内容と一致しません(改ざん)")
    if not status.trusted:
        return PdfSignatureCheck(False, "佐賀市の発行用証明書による署名ではありません")
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return PdfSignatureCheck(False, "署名の後に文書が変更されています")
    return PdfSignatureCheck(True, "")

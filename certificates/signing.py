"""The city's issuing key (SPEC §8): the signed verification payload and the PDF signature (PAdES).

Key material: an ECDSA P-256 key whose certificate (a 職責証明書 for 佐賀市長) chains to an LGPKI
root, installed by the city and chosen by ``signing_key_rotate`` (certificates/signing_keys.py).
Every function that signs takes the key (``key=``); without one it signs with the active key.

The verification payload is ``SK1.<base64url(canonical JSON)>.<base64url(r || s)>``: ES256 over the
exact JSON bytes, with short keys to keep the 2D code small; ``k`` names the signing key's id. Anyone
holding the city's published keys (``GET /verify/keys``) can check it offline (``payload_verify``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from io import BytesIO
from typing import Any

from asn1crypto import algos as asn1_algos
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from certificates.documents import (
    CertificateDocument,
    InkanContent,
    JuminhyoContent,
    NozeiContent,
    ShotokuKazeiContent,
)
from certificates.errors import PayloadInvalid
from certificates.signing_keys import IssuingKey, PublishedKey, active_issuing_key, published_keys

PAYLOAD_PREFIX = "SK1"
_CMS_RESERVED = 8192
_P256_BYTES = 32
_MAX_TOKEN_LENGTH = 4096  # far above any real payload: a bound before any parsing


def issuing_key() -> IssuingKey:
    """The key that signs now (certificates/signing_keys.py). An issuance reads it once and passes it
    to every step, so that its check codes, 2D codes and PDF signature are one key's."""
    return active_issuing_key()


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


def payload_sign(document: CertificateDocument, *, key: IssuingKey | None = None) -> str:
    """The signed compact payload drawn as the 2D code of ``document`` (ASCII), naming its key."""
    signer = key or issuing_key()
    body = _canonical({**payload_facts(document), "k": signer.key_id})
    der = signer.private_key.sign(body, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
    return f"{PAYLOAD_PREFIX}.{_b64(body)}.{_b64(raw)}"


def payload_verify(
    token: str,
    *,
    public_key: ec.EllipticCurvePublicKey | None = None,
    keys: dict[str, PublishedKey] | None = None,
) -> dict[str, Any]:
    """The facts of a payload whose signature holds; raises PayloadInvalid on any alteration.

    The key is ``public_key`` when given (the issuance checks its own PDF with the key it signed
    with); otherwise the published key the payload names (``k``), from ``keys`` or the city's
    published keys. Whether that key may vouch for the document's date is ``payload_key_refusal``'s.
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
    try:
        facts = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadInvalid("payload content is not JSON") from exc
    if not isinstance(facts, dict) or facts.get("v") != 1 or _canonical(facts) != body:
        raise PayloadInvalid("payload content is not in canonical form")
    key = public_key or _named_key(facts, keys)
    try:
        key.verify(der, body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise PayloadInvalid("payload signature does not match its content") from exc
    return facts


def _named_key(facts: dict[str, Any], keys: dict[str, PublishedKey] | None) -> ec.EllipticCurvePublicKey:
    published = (keys if keys is not None else published_keys()).get(str(facts.get("k", "")))
    if published is None:
        raise PayloadInvalid("payload names no published key")
    public_key = published.certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise PayloadInvalid("payload names a key of the wrong kind")
    return public_key


def payload_key_refusal(facts: dict[str, Any], keys: dict[str, PublishedKey]) -> str:
    """ "" when the key named by verified ``facts`` may vouch for a document of its issue date; else
    why not (in Japanese)."""
    published = keys.get(str(facts.get("k", "")))
    if published is None:
        return "2次元コードの署名鍵は佐賀市が公開している鍵ではありません。"
    try:
        issued_on = date.fromisoformat(str(facts.get("d", "")))
    except ValueError:
        return "2次元コードの交付日が正しくありません。"
    return published.refusal(issued_on=issued_on)


def check_code_compute(certificate_number: str, *, key: IssuingKey | None = None) -> str:
    """The short check code printed next to a certificate number (SPEC §8).

    6 characters of Crockford's base32 (no I, L, O, U: nothing to misread) from an HMAC-SHA256 of the
    number under a key derived from the issuing key: 30 bits, enough that guessing is hopeless
    under /verify/'s rate limit. Checking needs the server (it is a MAC, not a signature).
    """
    digest = hmac.new(
        (key or issuing_key()).check_code_key, certificate_number.encode("ascii"), hashlib.sha256
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


def _asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def pdf_sign(pdf: bytes, *, key: IssuingKey | None = None) -> bytes:
    """The PDF with the city's PAdES B-B signature over the whole file (an incremental update); the
    CMS container carries the key's certificate and its chain up to the root."""
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
    pdf_signer = signers.PdfSigner(meta, signer=_loaded_key_signer(key or issuing_key()))
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

    cert = _asn1_certificate(key.certificate)
    # Embedded with the signer's certificate: a reader that trusts the root can build the path.
    chain = [_asn1_certificate(ca) for ca in key.chain]

    class LoadedKeySigner(Signer):
        def __init__(self) -> None:
            super().__init__(
                signing_cert=cert,
                cert_registry=SimpleCertificateStore.from_certs([cert, *chain]),
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
    signer: x509.Certificate | None = None
    signed_at: datetime | None = None  # the signing time the PDF states (covered by the signature)


def pdf_signature_check(pdf: bytes, *, trust_roots: list[x509.Certificate]) -> PdfSignatureCheck:
    """Check, offline, that ``pdf`` carries exactly one intact signature covering the entire file (no
    incremental update after signing), by a certificate whose chain leads to one of ``trust_roots``.

    The chain is judged at the signing time the PDF states (a key's certificate may have expired
    since; whether the key may vouch for that time is the published key's ``refusal``).
    """
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
    embedded = signatures[0]
    try:
        signed_at = embedded.self_reported_timestamp
        context = ValidationContext(
            trust_roots=[_asn1_certificate(root) for root in trust_roots],
            allow_fetching=False,
            revocation_mode="soft-fail",
            moment=signed_at,
        )
        status = validate_pdf_signature(embedded, context)
    except Exception as exc:  # noqa: BLE001 - pyHanko raises many types on malformed input: all mean invalid
        return PdfSignatureCheck(False, f"署名を検証できません ({type(exc).__name__})")
    if not status.intact or not status.valid:
        return PdfSignatureCheck(False, "署名が文書の内容と一致しません(改ざん)")
    if not status.trusted:
        return PdfSignatureCheck(False, "佐賀市の発行用鍵の証明書チェーンによる署名ではありません")
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return PdfSignatureCheck(False, "署名の後に文書が変更されています")
    signer = x509.load_der_x509_certificate(status.signing_cert.dump())
    return PdfSignatureCheck(True, "", signer=signer, signed_at=signed_at)

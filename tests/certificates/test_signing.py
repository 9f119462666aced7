"""The issuing key, the signed verification payload and the PDF signature (SPEC §8)."""

from __future__ import annotations

import base64
import json
import stat
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from certificates.documents import CertificateDocument, InkanContent, PrintedPerson
from certificates.errors import PayloadInvalid
from certificates.signing import (
    issuing_key,
    payload_sign,
    payload_verify,
    pdf_sign,
    pdf_signature_check,
)
from certificates.signing_keys import issuing_key_load
from simulators.lgpki import lgpki_test_key_create
from tests.certificates.factories import SEAL_PNG, signing_dir_for_tests

# Which key is active is a row of the published keys.
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _signing(settings, tmp_path_factory):
    settings.KONBINI_SIGNING_DIR = signing_dir_for_tests(tmp_path_factory)


def _document(number: str = "41201-2026-00000042") -> CertificateDocument:
    person = PrintedPerson(
        resident_id=7, name="佐賀　花子", name_kana="サガ　ハナコ", birth_date=date(1985, 3, 3), sex="女",
        relationship="", address="佐賀県佐賀市栄町1番1号", became_resident_on=date(1985, 3, 3),
        address_since=date(2010, 4, 1), previous_address="", honseki="", hittosha="", my_number=None,
    )  # fmt: skip
    return CertificateDocument(
        cert_type="inkan",
        certificate_number=number,
        check_code="ABC123",
        issued_on=date(2026, 11, 26),
        specimen=True,
        content=InkanContent(holder=person, registration_number="S0000123", seal_image_png=SEAL_PNG),
    )


def test_development_key_is_created_once_with_private_permissions(settings, tmp_path):
    settings.KONBINI_SIGNING_DIR = tmp_path / "signing"
    key = issuing_key()
    assert (
        isinstance(key.private_key, ec.EllipticCurvePrivateKey) and key.private_key.curve.name == "secp256r1"
    )
    assert stat.S_IMODE((tmp_path / "signing" / "test-key-01" / "issuing-key.pem").stat().st_mode) == 0o600
    assert "佐賀市長" in key.certificate.subject.rfc4514_string()
    # An issuing certificate under the test LGPKI root, not a self-signed one.
    assert key.certificate.issuer == key.chain[-1].subject != key.certificate.subject
    assert "LGPKI アプリケーション認証局 (TEST)" in key.chain[-1].subject.rfc4514_string()
    key.certificate.verify_directly_issued_by(key.chain[-1])
    assert issuing_key() is key  # loaded once per process


def test_production_never_creates_a_key(settings, tmp_path):
    from django.core.exceptions import ImproperlyConfigured

    settings.PRODUCTION = True
    settings.KONBINI_SIGNING_DIR = tmp_path / "missing"
    with pytest.raises(ImproperlyConfigured):
        issuing_key()
    assert not (tmp_path / "missing").exists()


def test_payload_round_trip_carries_the_key_facts_compactly():
    token = payload_sign(_document())
    assert token.isascii() and len(token) < 400
    facts = payload_verify(token)
    assert facts == {
        "v": 1,
        "k": issuing_key().key_id,
        "n": "41201-2026-00000042",
        "t": "inkan",
        "d": "2026-11-26",
        "p": [["佐賀　花子", "1985-03-03"]],
        "a": "佐賀県佐賀市栄町1番1号",
        "r": "S0000123",
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_edited_payload_is_rejected():
    prefix, body, signature = payload_sign(_document()).split(".")
    facts = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    facts["p"][0][0] = "佐賀　太郎"
    edited = json.dumps(facts, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(PayloadInvalid):
        payload_verify(f"{prefix}.{_b64(edited)}.{signature}")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature bits
        lambda t: t.replace("SK1.", "SK2.", 1),
        lambda t: t + ".x",
        lambda t: "",
        lambda t: t.split(".")[0] + ".." + t.split(".")[2],
    ],
)
def test_mangled_tokens_are_rejected(mangle):
    with pytest.raises(PayloadInvalid):
        payload_verify(mangle(payload_sign(_document())))


def _impostor(tmp_path):
    """A key with a chain of its own: same subject (佐賀市長), another root."""
    return issuing_key_load(str(lgpki_test_key_create(tmp_path / "impostor", "key")))


def test_payload_signed_by_another_key_is_rejected(tmp_path):
    token = payload_sign(_document())
    city_key = issuing_key().public_key
    impostor = _impostor(tmp_path)
    forged = payload_sign(_document(), key=impostor)
    with pytest.raises(PayloadInvalid):
        payload_verify(forged, public_key=city_key)
    with pytest.raises(PayloadInvalid, match="no published key"):
        payload_verify(forged)  # it names its own key, which the city never published
    # Claiming the city's key id does not help: the signature is checked with the key named.
    prefix, body, signature = forged.split(".")
    facts = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    facts["k"] = issuing_key().key_id
    claimed = json.dumps(facts, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(PayloadInvalid, match="does not match"):
        payload_verify(f"{prefix}.{_b64(claimed)}.{signature}")
    assert payload_verify(token)["n"] == "41201-2026-00000042"


def _minimal_pdf(text: str = "") -> bytes:
    import io

    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pageCompression=0)
    canvas.drawString(100, 700, "Saga City test")
    if text:
        canvas.drawString(100, 680, text)
    canvas.save()
    return buffer.getvalue()


def _roots():
    return [issuing_key().chain[-1]]


def test_pdf_signature_holds_and_any_change_breaks_it():
    roots = _roots()
    signed = pdf_sign(_minimal_pdf())
    check = pdf_signature_check(signed, trust_roots=roots)
    assert check.valid and check.signer == issuing_key().certificate and check.signed_at is not None
    # One byte of the signed content changed.
    index = signed.index(b"Saga City test")
    altered = signed[:index] + b"Saga Citv test" + signed[index + 14 :]
    check = pdf_signature_check(altered, trust_roots=roots)
    assert not check.valid and check.problem
    assert not pdf_signature_check(b"not a pdf", trust_roots=roots).valid
    assert not pdf_signature_check(_minimal_pdf(), trust_roots=roots).valid  # unsigned


def test_pdf_signed_by_another_key_is_not_trusted(tmp_path):
    impostor = _impostor(tmp_path)
    check = pdf_signature_check(pdf_sign(_minimal_pdf(), key=impostor), trust_roots=_roots())
    assert not check.valid and "佐賀市" in check.problem
    # Under its own root it is a good signature: trust is the root's, not the subject name's.
    assert pdf_signature_check(pdf_sign(_minimal_pdf(), key=impostor), trust_roots=[impostor.chain[-1]]).valid


# --- the CMS template (certificates/cms_template.py) ---------------------------------------------


def _signer():
    from certificates.signing import _loaded_key_signer

    return _loaded_key_signer(issuing_key())


def _pdf_sign_by_pyhanko(pdf: bytes) -> bytes:
    """Sign as pdf_sign does, with the template switched off: pyHanko builds the container."""
    signer = _signer()
    saved = signer.template, signer.template_tried
    signer.template, signer.template_tried = None, True
    try:
        return pdf_sign(pdf)
    finally:
        signer.template, signer.template_tried = saved


def _content_info(signed_pdf: bytes):
    """The CMS ContentInfo in the PDF's /Contents (without the zero padding of the reservation)."""
    from io import BytesIO

    from asn1crypto import cms
    from pyhanko.pdf_utils.reader import PdfFileReader

    embedded = PdfFileReader(BytesIO(signed_pdf)).embedded_signatures[0]
    return cms.ContentInfo.load(bytes(embedded.sig_object["/Contents"]), strict=False)


def _message_digest(content_info) -> bytes:
    signer_info = content_info["content"]["signer_infos"][0]
    return next(
        a["values"][0].native for a in signer_info["signed_attrs"] if a["type"].native == "message_digest"
    )


def test_later_signatures_come_from_the_template_and_validate():
    key = issuing_key()
    first = pdf_sign(_minimal_pdf("first"))  # made by pyHanko: it becomes the template
    assert _signer().template is not None
    for text in ("second", "third"):
        signed = pdf_sign(_minimal_pdf(text))
        assert pdf_signature_check(signed, trust_roots=[key.chain[-1]]).valid
        index = signed.index(text.encode())
        altered = signed[:index] + b"X" + signed[index + 1 :]
        assert not pdf_signature_check(altered, trust_roots=[key.chain[-1]]).valid
    assert pdf_signature_check(first, trust_roots=[key.chain[-1]]).valid


def test_template_rebuilds_pyhankos_own_container_for_another_document():
    from certificates.cms_template import CmsTemplate

    key = issuing_key()
    cut_from = _content_info(_pdf_sign_by_pyhanko(_minimal_pdf("a")))
    template = CmsTemplate.from_signature(cut_from, digest=_message_digest(cut_from))
    assert template is not None
    assert template.proves_itself(cut_from, digest=_message_digest(cut_from), public_key=key.public_key)
    other = _content_info(_pdf_sign_by_pyhanko(_minimal_pdf("a different document")))
    assert _message_digest(other) != _message_digest(cut_from)
    signature = other["content"]["signer_infos"][0]["signature"].native
    assert template.assemble(digest=_message_digest(other), signature=signature) == other.dump()
    # Cut around a digest the container does not hold: no template.
    assert CmsTemplate.from_signature(cut_from, digest=b"\0" * 32) is None


def test_a_template_that_does_not_rebuild_its_container_is_not_used():
    from certificates.cms_template import CmsTemplate

    key = issuing_key()
    cut_from = _content_info(_pdf_sign_by_pyhanko(_minimal_pdf("a")))
    digest = _message_digest(cut_from)
    template = CmsTemplate.from_signature(cut_from, digest=digest)
    assert template is not None
    broken = CmsTemplate(
        **{**template.__dict__, "signature_algorithm": template.signature_algorithm[:-1] + b"\1"}
    )
    assert not broken.proves_itself(cut_from, digest=digest, public_key=key.public_key)
    wrong_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert not template.proves_itself(cut_from, digest=digest, public_key=wrong_key)


def test_der_lengths_use_the_long_form_above_127():
    from certificates.cms_template import der_element, der_length

    assert der_length(5) == b"\x05"
    assert der_length(127) == b"\x7f"
    assert der_length(128) == b"\x81\x80"
    assert der_length(1000) == b"\x82\x03\xe8"
    assert der_element(0x04, b"ab") == b"\x04\x02ab"

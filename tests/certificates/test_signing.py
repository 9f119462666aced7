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
from tests.certificates.factories import SEAL_PNG, signing_dir_for_tests


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
    assert stat.S_IMODE((tmp_path / "signing" / "issuing-key.pem").stat().st_mode) == 0o600
    assert "佐賀市長" in key.certificate.subject.rfc4514_string()
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


def test_payload_signed_by_another_key_is_rejected(settings, tmp_path):
    token = payload_sign(_document())
    city_key = issuing_key().public_key
    settings.KONBINI_SIGNING_DIR = tmp_path / "impostor"
    forged = payload_sign(_document())
    with pytest.raises(PayloadInvalid):
        payload_verify(forged, public_key=city_key)
    assert payload_verify(token, public_key=city_key)["n"] == "41201-2026-00000042"


def _minimal_pdf() -> bytes:
    import io

    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pageCompression=0)
    canvas.drawString(100, 700, "Saga City test")
    canvas.save()
    return buffer.getvalue()


def test_pdf_signature_holds_and_any_change_breaks_it():
    certificate = issuing_key().certificate
    signed = pdf_sign(_minimal_pdf())
    assert pdf_signature_check(signed, certificate=certificate).valid
    # One byte of the signed content changed.
    index = signed.index(b"Saga City test")
    altered = signed[:index] + b"Saga Citv test" + signed[index + 14 :]
    check = pdf_signature_check(altered, certificate=certificate)
    assert not check.valid and check.problem
    assert not pdf_signature_check(b"not a pdf", certificate=certificate).valid
    assert not pdf_signature_check(_minimal_pdf(), certificate=certificate).valid  # unsigned


def test_pdf_signed_by_another_key_is_not_trusted(settings, tmp_path):
    certificate = issuing_key().certificate
    settings.KONBINI_SIGNING_DIR = tmp_path / "impostor"
    check = pdf_signature_check(pdf_sign(_minimal_pdf()), certificate=certificate)
    assert not check.valid and "佐賀市" in check.problem

"""The city's document-signing keys (SPEC §7 signing_key_rotate, §8 /verify/keys): a test LGPKI chain in
every signature, rotation that keeps earlier documents verifying, emergency revocation, --trust-root."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor
from certificates.checks import check_production_signing_keys
from certificates.key_rotation import RotationRefused, signing_key_rotate
from certificates.models import IssuanceRecord, IssuedCertificateNumber, SigningKey
from certificates.rendering import RenderCopy, read_verification_payloads, render_certificate_pdf
from certificates.services import IssueRequest, certificate_issue
from certificates.signing import issuing_key, payload_key_refusal, payload_sign, payload_verify, pdf_sign
from certificates.signing_keys import NoActiveSigningKey, PublishedKey, issuing_key_load, published_keys
from simulators.lgpki import lgpki_test_key_create
from tests.certificates.factories import ResidentFactory, SealRegistrationFactory

pytestmark = pytest.mark.django_db

ROOT_CN = "LGPKI アプリケーション認証局 (TEST)"


@pytest.fixture(autouse=True)
def _own_signing_dir(settings, tmp_path):
    # Rotations install keys: each test gets a signing folder (and test root) of its own.
    settings.KONBINI_SIGNING_DIR = tmp_path / "signing"


def _issue(now=None):
    holder = ResidentFactory.create()
    SealRegistrationFactory.create(resident=holder)
    return certificate_issue(
        holder=holder, request=IssueRequest(cert_type="inkan", copies=1),
        actor=Actor(kind="terminal", id="1", label="端末"), terminal_label="端末", now=now or timezone.now(),
    )  # fmt: skip


def _verify_file(tmp_path: Path, pdf: bytes, *args: str) -> str:
    path = tmp_path / f"certificate-{len(list(tmp_path.glob('certificate-*')))}.pdf"
    path.write_bytes(pdf)
    out = io.StringIO()
    call_command("verify_certificate", str(path), *args, stdout=out)
    return out.getvalue()


def _code(number: str) -> str:
    return IssuedCertificateNumber.objects.get(number=number).check_code


def _verify_page(client, number: str) -> str:
    response = client.post(
        "/verify/", {"number": number, "check_code": _code(number)}, REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code == 200
    return response.content.decode()


def _rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("signing_key_rotate", *args, stdout=out)
    return out.getvalue()


def _payload_ok(pdf: bytes) -> str:
    """The 2D code's key id, after checking it as a recipient's scanner would (published keys only)."""
    keys = published_keys()
    (token,) = read_verification_payloads(pdf)
    facts = payload_verify(token, keys=keys)
    assert payload_key_refusal(facts, keys) == ""
    return str(facts["k"])


def test_certificates_issued_before_and_after_a_rotation_both_verify(client, tmp_path):
    before = _issue()
    first_key = issuing_key().key_id
    printed = _rotate()
    second_key = issuing_key().key_id
    assert second_key != first_key and f"key_id={second_key}" in printed and first_key in printed
    after = _issue()

    assert before.issuance.signing_key_id == first_key
    assert after.issuance.signing_key_id == second_key
    for issued, key_id in ((before, first_key), (after, second_key)):
        assert _payload_ok(issued.pdf) == key_id  # the 2D code names the key that signed it
        text = _verify_file(tmp_path, issued.pdf)
        assert text.startswith("有効") and key_id in text and ROOT_CN in text
        assert "有効" in _verify_page(client, issued.certificate_numbers[0])

    event = AuditEvent.objects.get(action="certificate.signing_key_rotated")
    assert event.payload == {"key_id": second_key, "retired_key_id": first_key}


def test_published_keys_are_the_spec_json_with_their_periods_of_use(client):
    _issue()
    first_key = issuing_key().key_id
    _rotate()
    response = client.get("/verify/keys")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert [set(item) for item in body] == [
        {"key_id", "certificate", "chain", "status", "not_before", "not_after"}
    ] * 2
    retired, active = body
    assert (retired["key_id"], retired["status"], active["status"]) == (first_key, "retired", "active")
    # The retired key signed until the active one took over.
    assert retired["not_after"] == active["not_before"]
    for item in body:
        certificate = x509.load_pem_x509_certificate(item["certificate"].encode())
        chain = [x509.load_pem_x509_certificate(pem.encode()) for pem in item["chain"]]
        assert "佐賀市長" in certificate.subject.rfc4514_string()
        assert ROOT_CN in chain[-1].subject.rfc4514_string()  # up to the root
        certificate.verify_directly_issued_by(chain[-1])
        assert PublishedKey.from_json(item).key_id == item["key_id"]


def test_a_document_forged_with_a_retired_key_after_its_retirement_fails(tmp_path, client):
    _issue()
    retired_key = issuing_key()
    # Retired an hour ago: whoever still holds its file signs after the fact.
    signing_key_rotate(actor=Actor.job("test"), now=timezone.now() - timedelta(hours=1))
    assert SigningKey.objects.get(key_id=retired_key.key_id).status == "retired"
    document = _document_like(issued_on=timezone.localdate())

    forged_today = pdf_sign(
        render_certificate_pdf(
            copies=[
                RenderCopy(document=document, verification_payload=payload_sign(document, key=retired_key))
            ]
        ),
        key=retired_key,
    )
    with pytest.raises(CommandError, match=r"PDFの電子署名.*使用期間"):
        _verify_file(tmp_path, forged_today)

    tomorrow = _document_like(issued_on=timezone.localdate() + timedelta(days=1))
    payload = payload_sign(tomorrow, key=retired_key)
    keys = published_keys()
    assert "使用期間" in payload_key_refusal(payload_verify(payload, keys=keys), keys)
    # Its number was never issued: /verify/ knows nothing of it either.
    response = client.post("/verify/", {"number": document.certificate_number, "check_code": "ABCDEF"})
    assert "該当なし" in response.content.decode()


def _document_like(*, issued_on):
    """A 印鑑登録証明書 with a number of its own, as a forger would make it."""
    from datetime import date

    from certificates.documents import CertificateDocument, InkanContent, PrintedPerson
    from tests.certificates.factories import SEAL_PNG

    person = PrintedPerson(
        resident_id=1, name="佐賀　偽", name_kana="サガ　ニセ", birth_date=date(1970, 1, 1), sex="男",
        relationship="", address="佐賀県佐賀市栄町1番1号", became_resident_on=date(1970, 1, 1),
        address_since=date(1970, 1, 1), previous_address="", honseki="", hittosha="", my_number=None,
    )  # fmt: skip
    return CertificateDocument(
        cert_type="inkan", certificate_number="41201-2026-99999999", check_code="ABCDEF",
        issued_on=issued_on, specimen=True,
        content=InkanContent(holder=person, registration_number="S1", seal_image_png=SEAL_PNG),
    )  # fmt: skip


def test_an_emergency_revocation_makes_the_keys_documents_invalid_with_the_reason(client, tmp_path):
    issued = _issue()
    leaked = issuing_key().key_id
    printed = _rotate("--compromised", leaked, "--reason", "鍵ファイルの流出")
    assert f"鍵 {leaked} を失効させました" in printed and "使用を開始しました" in printed

    with pytest.raises(CommandError, match=r"漏えいのおそれにより失効.*取り直して"):
        _verify_file(tmp_path, issued.pdf)
    page = _verify_page(client, issued.certificate_numbers[0])
    assert "無効" in page and "漏えいのおそれにより失効しました" in page and "取り直して" in page
    assert "有効" not in page.split("照合結果", 1)[1].split("</section>", 1)[0]
    statuses = {item["key_id"]: item["status"] for item in client.get("/verify/keys").json()}
    assert statuses[leaked] == "compromised" and "active" in statuses.values()
    event = AuditEvent.objects.get(action="certificate.signing_key_compromised")
    assert event.payload == {"key_id": leaked, "was_active": True, "reason": "鍵ファイルの流出"}

    # Issuance goes on with the next key, and its documents verify.
    after = _issue()
    assert _verify_file(tmp_path, after.pdf).startswith("有効")
    assert "有効" in _verify_page(client, after.certificate_numbers[0])


def test_revoking_the_active_key_without_a_next_one_stops_issuance_in_production(settings):
    _issue()
    leaked = issuing_key().key_id
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match=r"コンビニ交付は停止しています.*issuing-key\.pem"):
        _rotate("--compromised", leaked, "--reason", "HSMの紛失")
    assert SigningKey.objects.get(key_id=leaked).status == "compromised"  # committed all the same
    with pytest.raises(NoActiveSigningKey):
        issuing_key()
    # Nothing was generated: production only ever uses the keys the city installs.
    assert [
        p.name for p in Path(settings.KONBINI_SIGNING_DIR).iterdir() if p.name.startswith("test-key")
    ] == ["test-key-01"]


def test_rotation_refuses_keys_it_cannot_use(settings, tmp_path):
    _issue()
    actor = Actor.job("test")
    outside = lgpki_test_key_create(tmp_path / "elsewhere", "key", rotation=True)
    with pytest.raises(RotationRefused, match="直下"):
        signing_key_rotate(actor=actor, now=timezone.now(), key_dir=outside)
    with pytest.raises(RotationRefused, match="公開済み"):
        signing_key_rotate(
            actor=actor, now=timezone.now(), key_dir=Path(settings.KONBINI_SIGNING_DIR) / "test-key-01"
        )
    directory = Path(settings.KONBINI_SIGNING_DIR)
    for name in ("a", "b"):
        lgpki_test_key_create(directory, name, rotation=True)
    with pytest.raises(RotationRefused, match="複数"):
        signing_key_rotate(actor=actor, now=timezone.now())
    rotation = signing_key_rotate(actor=actor, now=timezone.now(), key_dir=directory / "b")
    assert issuing_key().key_id == rotation.activated.key_id


# --- the chain, checked without pyHanko, and --trust-root ---------------------------------------


def _cms_and_signed_bytes(pdf: bytes) -> tuple[bytes, bytes]:
    """The signature's CMS (DER) and the bytes it covers, read from the PDF's /ByteRange by hand."""
    match = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert match is not None
    a, b, c, d = (int(x) for x in match.groups())
    assert c + d == len(pdf)  # the signature covers the whole file
    contents = pdf[a + b : c].strip(b"<>")
    cms = bytes.fromhex(contents.decode("ascii"))
    return cms, pdf[a : a + b] + pdf[c : c + d]


def _openssl_verify(tmp_path: Path, pdf: bytes, root_pem: bytes) -> subprocess.CompletedProcess[bytes]:
    cms, signed = _cms_and_signed_bytes(pdf)
    (tmp_path / "sig.der").write_bytes(cms)
    (tmp_path / "signed.bin").write_bytes(signed)
    (tmp_path / "root.pem").write_bytes(root_pem)
    command = [
        "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.der"),
        "-content", str(tmp_path / "signed.bin"), "-CAfile", str(tmp_path / "root.pem"),
        "-purpose", "any", "-out", "/dev/null",
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, timeout=60, check=False)


def test_the_pdf_signature_carries_the_chain_to_the_test_root_as_openssl_sees_it(tmp_path):
    from cryptography.hazmat.primitives.serialization import pkcs7

    pdf = _issue().pdf
    key = issuing_key()
    root = key.chain[-1]
    cms, _ = _cms_and_signed_bytes(pdf)
    embedded = pkcs7.load_der_pkcs7_certificates(cms.rstrip(b"\0"))
    assert set(embedded) == {key.certificate, root}  # the issuing certificate and its chain
    assert ROOT_CN in root.subject.rfc4514_string() and root.issuer == root.subject
    result = _openssl_verify(tmp_path, pdf, root.public_bytes(serialization.Encoding.PEM))
    assert result.returncode == 0 and b"Verification successful" in result.stderr, result.stderr

    # The same file does not verify against a root that did not issue the city's certificate.
    other = issuing_key_load(str(lgpki_test_key_create(tmp_path / "other", "key"))).chain[-1]
    result = _openssl_verify(tmp_path, pdf, other.public_bytes(serialization.Encoding.PEM))
    assert result.returncode != 0


def test_trust_root_decides_where_the_chain_must_lead(tmp_path):
    pdf = _issue().pdf
    city_root = tmp_path / "lgpki-root.pem"
    city_root.write_bytes(issuing_key().chain[-1].public_bytes(serialization.Encoding.PEM))
    assert _verify_file(tmp_path, pdf, "--trust-root", str(city_root)).startswith("有効")

    impostor = issuing_key_load(str(lgpki_test_key_create(tmp_path / "impostor", "key")))
    impostor_root = tmp_path / "impostor-root.pem"
    impostor_root.write_bytes(impostor.chain[-1].public_bytes(serialization.Encoding.PEM))
    with pytest.raises(CommandError, match="証明書チェーン"):
        _verify_file(tmp_path, pdf, "--trust-root", str(impostor_root))
    # A 佐賀市長 certificate under the root given is still not one of the city's published keys.
    (token,) = read_verification_payloads(pdf)
    forged = pdf_sign(
        render_certificate_pdf(
            copies=[
                RenderCopy(
                    document=_document_like(issued_on=timezone.localdate()), verification_payload=token
                )
            ]
        ),
        key=impostor,
    )
    with pytest.raises(CommandError, match="公開している発行用鍵ではありません"):
        _verify_file(tmp_path, forged, "--trust-root", str(impostor_root))


# --- production -----------------------------------------------------------------------------------


def test_production_deploy_check_wants_installed_keys_not_the_test_root(settings, tmp_path):
    settings.PRODUCTION = True
    settings.KONBINI_SIGNING_DIR = tmp_path / "empty"
    assert [e.id for e in check_production_signing_keys(None)] == ["certificates.E001"]
    settings.KONBINI_SIGNING_DIR = tmp_path / "demo"
    lgpki_test_key_create(tmp_path / "demo", "key")
    assert [e.id for e in check_production_signing_keys(None)] == ["certificates.E003"]
    (lgpki_test_key_create(tmp_path / "demo", "broken") / "issuing-key.pem").unlink()
    assert "certificates.E002" in [e.id for e in check_production_signing_keys(None)]
    settings.PRODUCTION = False
    assert check_production_signing_keys(None) == []


def test_records_from_before_key_rotation_answer_for_the_key_then_active(client):
    issued = _issue()
    IssuanceRecord.objects.filter(pk=issued.issuance.pk).update(signing_key_id="")  # as migrated
    assert "有効" in _verify_page(client, issued.certificate_numbers[0])
    _rotate("--compromised", issuing_key().key_id, "--reason", "鍵ファイルの流出")
    assert "漏えいのおそれにより失効しました" in _verify_page(client, issued.certificate_numbers[0])


def test_key_ids_never_look_like_a_my_number(tmp_path):
    # The audit log refuses any run of twelve digits; a hex digest has one about once in fifty keys.
    from certificates.signing_keys import key_id_for

    certificate = issuing_key_load(str(lgpki_test_key_create(tmp_path, "k"))).certificate
    key_id = key_id_for(certificate)
    assert re.fullmatch(r"[0-9a-f]{4}(-[0-9a-f]{4}){3}", key_id)

"""manage.py verify_certificate (SPEC §7, §8): valid files pass; any alteration exits non-zero."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from pypdf import PdfWriter

from audit.services import Actor
from certificates.options import IssueRequest
from certificates.rendering import RenderCopy, read_verification_payloads, render_certificate_pdf
from certificates.services import certificate_issue
from certificates.signing import pdf_sign
from tests.certificates.factories import (
    ResidentFactory,
    SealRegistrationFactory,
    jst,
    member_of,
    signing_dir_for_tests,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _signing(settings, tmp_path_factory):
    settings.KONBINI_SIGNING_DIR = signing_dir_for_tests(tmp_path_factory)


@pytest.fixture
def issued():
    holder = ResidentFactory.create(family_name="嬉野", given_name="光")
    member_of(holder, family_name="嬉野", given_name="空")
    SealRegistrationFactory.create(resident=holder)
    return certificate_issue(
        holder=holder, request=IssueRequest(cert_type="juminhyo", copies=2),
        actor=Actor(kind="terminal", id="1", label="端末"), terminal_label="端末", now=jst(2026, 11, 26),
    )  # fmt: skip


def _write(tmp_path: Path, pdf: bytes) -> Path:
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf)
    return path


def test_valid_certificate_passes_and_prints_its_facts(issued, tmp_path):
    out = io.StringIO()
    call_command("verify_certificate", str(_write(tmp_path, issued.pdf)), stdout=out)
    text = out.getvalue()
    assert text.startswith("有効")
    for number in issued.certificate_numbers:
        assert number in text
    assert "嬉野　光" in text and "嬉野　空" in text and "住民票の写し" in text and "2026-11-26" in text


def test_one_changed_byte_is_rejected(issued, tmp_path):
    pdf = bytearray(issued.pdf)
    # A byte inside the first revision (the signed content), away from the signature itself.
    pdf[len(pdf) // 4] ^= 0x01
    with pytest.raises(CommandError, match="無効"):
        call_command("verify_certificate", str(_write(tmp_path, bytes(pdf))), stdout=io.StringIO())


def test_incremental_update_after_signing_is_rejected(issued, tmp_path):
    writer = PdfWriter(io.BytesIO(issued.pdf), incremental=True)
    writer.add_metadata({"/Title": "書き換え"})
    buffer = io.BytesIO()
    writer.write(buffer)
    assert buffer.getvalue().startswith(issued.pdf)  # really an appended revision
    with pytest.raises(CommandError, match="署名の後に文書が変更されています"):
        call_command("verify_certificate", str(_write(tmp_path, buffer.getvalue())), stdout=io.StringIO())


def test_edited_payload_is_rejected_even_in_a_freshly_signed_file(issued, tmp_path):
    # Someone with the PDF signing key but not honest payloads: the payload check stands on its own.
    token = read_verification_payloads(issued.pdf)[0]
    prefix, body, signature = token.split(".")
    forged = f"{prefix}.{body[:-4]}{'AAAA' if not body.endswith('AAAA') else 'BBBB'}.{signature}"
    dummy = _a_document()
    pdf = pdf_sign(render_certificate_pdf(copies=[RenderCopy(document=dummy, verification_payload=forged)]))
    with pytest.raises(CommandError, match="2次元コード"):
        call_command("verify_certificate", str(_write(tmp_path, pdf)), stdout=io.StringIO())


def _a_document():
    from datetime import date

    from certificates.documents import CertificateDocument, InkanContent, PrintedPerson
    from tests.certificates.factories import SEAL_PNG

    person = PrintedPerson(
        resident_id=1, name="佐賀　一", name_kana="サガ　ハジメ", birth_date=date(1970, 1, 1), sex="男",
        relationship="", address="佐賀県佐賀市栄町1番1号", became_resident_on=date(1970, 1, 1),
        address_since=date(1970, 1, 1), previous_address="", honseki="", hittosha="", my_number=None,
    )  # fmt: skip
    return CertificateDocument(
        cert_type="inkan", certificate_number="41201-2026-99999999", check_code="ABCDEF",
        issued_on=date(2026, 11, 26), specimen=True,
        content=InkanContent(holder=person, registration_number="S1", seal_image_png=SEAL_PNG),
    )  # fmt: skip


def test_certificate_of_another_key_is_rejected(issued, tmp_path):
    from certificates.signing_keys import issuing_key_load
    from simulators.lgpki import lgpki_test_key_create

    # The same subject (佐賀市長) and layout, under a root of its own: re-signed by it, the file is
    # not the city's, whatever its name says.
    impostor = issuing_key_load(str(lgpki_test_key_create(tmp_path / "impostor", "key")))
    pdf = pdf_sign(
        render_certificate_pdf(copies=[RenderCopy(document=_a_document(), verification_payload="x")]),
        key=impostor,
    )
    with pytest.raises(CommandError, match="佐賀市"):
        call_command("verify_certificate", str(_write(tmp_path, pdf)), stdout=io.StringIO())


def test_command_line_exits_non_zero_on_an_altered_file(issued, tmp_path, client):
    broken = bytearray(issued.pdf)
    broken[len(broken) // 3] ^= 0x01
    path = _write(tmp_path, bytes(broken))
    # Offline: the published keys as /verify/keys answers them, no database.
    keys = tmp_path / "keys.json"
    keys.write_bytes(client.get("/verify/keys").content)
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    command = [sys.executable, str(manage), "verify_certificate", str(path), "--keys", str(keys)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0 and "無効" in result.stderr
    command[3] = str(_write(tmp_path, issued.pdf))
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.startswith("有効"), result.stderr

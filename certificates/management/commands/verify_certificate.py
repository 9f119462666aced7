"""manage.py verify_certificate FILE.pdf: check an issued certificate offline (SPEC §7, §8).

Needs only the city's certificate (``issuing-cert.pem``, public), never the private key or the
database: the PAdES signature must cover the entire file (no byte changed, no incremental update
after signing), and every embedded verification payload must carry a valid signature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from certificates.errors import PayloadInvalid
from certificates.models import CertType
from certificates.rendering import read_verification_payloads
from certificates.signing import CERT_FILE, payload_verify, pdf_signature_check


class Command(BaseCommand):
    help = "交付された証明書PDFの電子署名と2次元コードの署名をオフラインで検証します。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pdf", type=Path, help="検証する証明書のPDFファイル")
        parser.add_argument(
            "--certificate",
            type=Path,
            default=None,
            help=f"佐賀市の発行用証明書(PEM)。既定は KONBINI_SIGNING_DIR/{CERT_FILE}",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        certificate = self._certificate(options["certificate"])
        try:
            pdf = Path(options["pdf"]).read_bytes()
        except OSError as exc:
            raise CommandError(f"PDFファイルを読み込めません: {options['pdf']}") from exc

        check = pdf_signature_check(pdf, certificate=certificate)
        if not check.valid:
            raise CommandError(f"無効: PDFの電子署名を確認できません。{check.problem}")
        try:
            payloads = read_verification_payloads(pdf)
        except ValueError as exc:
            raise CommandError("無効: 2次元コードのデータを読み取れません。") from exc
        if not payloads:
            raise CommandError("無効: 2次元コードのデータがありません。")

        public_key = certificate.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        seen: set[str] = set()
        lines = []
        for index, token in enumerate(payloads, start=1):
            try:
                facts = payload_verify(token, public_key=public_key)
            except PayloadInvalid as exc:
                raise CommandError(
                    f"無効: {index}通目の2次元コードの署名が内容と一致しません(改ざん)。"
                ) from exc
            number = str(facts.get("n", ""))
            if not number or number in seen:
                raise CommandError(f"無効: {index}通目の交付番号が不正です。")
            seen.add(number)
            lines.append(self._describe(index, facts))

        self.stdout.write("有効: PDFの電子署名と全ての2次元コードの署名を確認しました。")
        for line in lines:
            self.stdout.write(line)

    def _certificate(self, path: Path | None) -> x509.Certificate:
        path = path or Path(settings.KONBINI_SIGNING_DIR) / CERT_FILE
        try:
            certificate = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise CommandError(f"佐賀市の発行用証明書を読み込めません: {path}") from exc
        if not isinstance(certificate.public_key(), ec.EllipticCurvePublicKey):
            raise CommandError("佐賀市の発行用証明書の鍵の種類が正しくありません。")
        return certificate

    @staticmethod
    def _describe(index: int, facts: dict[str, Any]) -> str:
        cert_type = str(facts.get("t", ""))
        label = str(CertType(cert_type).label) if cert_type in CertType.values else cert_type
        names = "、".join(str(person[0]) for person in facts.get("p", []) if person)
        parts = [
            f"{index}通目",
            f"交付番号 {facts.get('n')}",
            label,
            f"交付日 {facts.get('d')}",
            f"氏名 {names}",
        ]
        if "y" in facts:
            parts.append(f"{facts['y']}年度")
        return " / ".join(parts)

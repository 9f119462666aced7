"""manage.py verify_certificate FILE.pdf [--trust-root ROOT.pem]: check an issued certificate (SPEC §7, §8).

Needs only public data, never a private key: the city's published keys (as ``GET /verify/keys``
answers them: from the database by default, or from a saved copy of that answer with ``--keys``).
The PAdES signature must cover the entire file (no byte changed, no incremental update after
signing) and be made by a published key through its certificate chain; every embedded 2D-code
payload must carry a valid signature of the published key it names; and each key must vouch for
the document's date: a retired key only for documents of its period of use, a compromised key for
none. The chain must lead to the published chains' roots, or with ``--trust-root`` to that root (a
recipient who trusts LGPKI's root, not the city's word).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from certificates.errors import PayloadInvalid
from certificates.models import CertType
from certificates.rendering import read_verification_payloads
from certificates.signing import payload_key_refusal, payload_verify, pdf_signature_check
from certificates.signing_keys import PublishedKey, key_id_for, published_keys


class Command(BaseCommand):
    help = "交付された証明書PDFの電子署名と2次元コードの署名を、佐賀市が公開している発行用鍵で検証します。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pdf", type=Path, help="検証する証明書のPDFファイル")
        parser.add_argument(
            "--trust-root",
            type=Path,
            default=None,
            help="信頼するルート証明書(PEM)。署名の証明書チェーンはこのルートに至らなければなりません。"
            "既定は佐賀市が公開している証明書チェーンのルート",
        )
        parser.add_argument(
            "--keys",
            type=Path,
            default=None,
            help="/verify/keys の応答を保存したJSONファイル(データベースのない端末で検証するとき)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        keys = self._published(options["keys"])
        roots = self._trust_roots(options["trust_root"], keys)
        try:
            pdf = Path(options["pdf"]).read_bytes()
        except OSError as exc:
            raise CommandError(f"PDFファイルを読み込めません: {options['pdf']}") from exc

        check = pdf_signature_check(pdf, trust_roots=roots)
        if not check.valid or check.signer is None:
            raise CommandError(f"無効: PDFの電子署名を確認できません。{check.problem}")
        signer = keys.get(key_id_for(check.signer))
        if signer is None or signer.certificate != check.signer:
            raise CommandError("無効: PDFの署名鍵は佐賀市が公開している発行用鍵ではありません。")
        refusal = signer.refusal(signed_at=check.signed_at)
        if refusal:
            raise CommandError(f"無効: PDFの電子署名: {refusal}")
        try:
            payloads = read_verification_payloads(pdf)
        except ValueError as exc:
            raise CommandError("無効: 2次元コードのデータを読み取れません。") from exc
        if not payloads:
            raise CommandError("無効: 2次元コードのデータがありません。")

        seen: set[str] = set()
        lines = []
        for index, token in enumerate(payloads, start=1):
            try:
                facts = payload_verify(token, keys=keys)
            except PayloadInvalid as exc:
                raise CommandError(
                    f"無効: {index}通目の2次元コードの署名が内容と一致しません(改ざん)。"
                ) from exc
            refusal = payload_key_refusal(facts, keys)
            if refusal:
                raise CommandError(f"無効: {index}通目の2次元コード: {refusal}")
            number = str(facts.get("n", ""))
            if not number or number in seen:
                raise CommandError(f"無効: {index}通目の交付番号が不正です。")
            seen.add(number)
            lines.append(self._describe(index, facts))

        self.stdout.write("有効: PDFの電子署名と全ての2次元コードの署名を確認しました。")
        root = signer.root.subject.rfc4514_string()
        self.stdout.write(f"署名鍵 {signer.key_id} ({signer.status}) / 証明書チェーンのルート {root}")
        for line in lines:
            self.stdout.write(line)

    @staticmethod
    def _published(path: Path | None) -> dict[str, PublishedKey]:
        if path is None:
            try:
                keys = published_keys()
            except DatabaseError as exc:
                raise CommandError(
                    "公開鍵の一覧を読めません。/verify/keys の応答を保存して --keys で指定してください。"
                ) from exc
        else:
            try:
                items = json.loads(path.read_bytes())
                keys = {key.key_id: key for key in map(PublishedKey.from_json, items)}
            except (OSError, ValueError, TypeError) as exc:
                raise CommandError(f"公開鍵の一覧(/verify/keys のJSON)を読み込めません: {path}") from exc
        if not keys:
            raise CommandError("佐賀市の発行用鍵が公開されていません。")
        return keys

    @staticmethod
    def _trust_roots(path: Path | None, keys: dict[str, PublishedKey]) -> list[x509.Certificate]:
        if path is None:
            roots: dict[bytes, x509.Certificate] = {}
            for key in keys.values():
                roots.setdefault(key.root.fingerprint(hashes.SHA256()), key.root)
            return list(roots.values())
        try:
            return x509.load_pem_x509_certificates(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise CommandError(f"ルート証明書を読み込めません: {path}") from exc

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

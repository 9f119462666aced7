"""Assembles one PDF from the copies of a request: shared forms, one renderer per copy, payloads."""

from __future__ import annotations

import io
import json
from typing import Any

from django.conf import settings
from reportlab.pdfbase.pdfdoc import PDFDate, PDFDictionary, PDFInfo, PDFString
from reportlab.pdfgen.canvas import Canvas

from certificates.documents import document_printable_text
from certificates.glyphs import MINCHO, ensure_printable, fonts_ready
from certificates.rendering import PAYLOADS_INFO_KEY, RenderCopy
from certificates.rendering.base import CertificateRenderer
from certificates.rendering.frame import (
    PAGE_H,
    PAGE_W,
    PageFrame,
    define_ground_form,
    define_qr_form,
    define_seal_form,
)
from certificates.rendering.inkan import InkanRenderer
from certificates.rendering.juminhyo import JuminhyoRenderer
from certificates.rendering.nozei import NozeiRenderer
from certificates.rendering.shotoku_kazei import ShotokuKazeiRenderer

RENDERERS: dict[str, type[CertificateRenderer]] = {
    "juminhyo": JuminhyoRenderer,
    "inkan": InkanRenderer,
    "shotoku_kazei": ShotokuKazeiRenderer,
    "nozei": NozeiRenderer,
}


class _PayloadInfo(PDFInfo):
    """The document information dictionary plus the copies' verification payloads (a JSON list).

    ReportLab's PDFInfo writes a fixed set of keys; this writes the same ones plus ours. The payloads
    are ASCII, so PDFString keeps them byte-for-byte.
    """

    def __init__(self, payloads: list[str]) -> None:
        super().__init__()
        self.payloads_json = json.dumps(payloads, separators=(",", ":"))

    def format(self, document: Any) -> bytes:
        entries: dict[str, Any] = {
            "CreationDate": PDFDate(
                ts=document._timeStamp,
                dateFormatter=self._dateFormatter,  # type: ignore[attr-defined]
            ),
            "Title": PDFString(self.title),
            "Author": PDFString(self.author),
            "Producer": PDFString(self.producer),
            "Creator": PDFString(self.creator),
            "Subject": PDFString(self.subject),
            PAYLOADS_INFO_KEY.lstrip("/"): PDFString(self.payloads_json),
        }
        formatted: bytes = PDFDictionary(entries).format(document)
        return formatted


class CertificatePdf:
    """One request's PDF; built and thrown away per request (no state shared between requests)."""

    def __init__(self, *, copies: tuple[RenderCopy, ...]) -> None:
        self.copies = copies

    def _check_printable(self) -> None:
        # The one 外字 check of an issuance: everything data-dependent, before the first page is
        # drawn (SPEC §2: refuse, never substitute). The fixed labels are checked by a test.
        texts: list[str] = [settings.MAYOR_NAME]
        for copy in self.copies:
            texts += document_printable_text(copy.document)
        ensure_printable(texts)

    def render(self) -> bytes:
        fonts_ready()
        self._check_printable()
        buffer = io.BytesIO()
        # The initial font is ours: otherwise ReportLab's preamble references Helvetica, a font that
        # would not be embedded.
        c = Canvas(
            buffer,
            pagesize=(PAGE_W, PAGE_H),
            pageCompression=1,
            initialFontName=MINCHO,  # type: ignore[arg-type]  # the stubs mistype it as a float
            initialFontSize=10,
        )
        # ReportLab has no public hook for extra document information keys.
        payloads = [copy.verification_payload for copy in self.copies]
        c._doc.info = _PayloadInfo(payloads)  # type: ignore[attr-defined]
        c.setTitle(self._title())
        c.setAuthor("佐賀市")
        c.setCreator("佐賀市証明書コンビニ交付")
        c.setSubject("証明書")
        frame = PageFrame(c, mayor_name=settings.MAYOR_NAME)
        define_ground_form(c)
        define_seal_form(c)
        for index, copy in enumerate(self.copies):
            qr_form = f"sagaQr{index}"
            define_qr_form(c, qr_form, copy.verification_payload)
            renderer = RENDERERS[copy.document.cert_type](frame, copy.document, qr_form=qr_form)
            renderer.render()
        c.save()
        return buffer.getvalue()

    def _title(self) -> str:
        titles = {cls_type: cls.title for cls_type, cls in RENDERERS.items()}
        return "・".join(dict.fromkeys(titles[copy.document.cert_type] for copy in self.copies))

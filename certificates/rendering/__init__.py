"""Certificate PDFs (SPEC §2, §8): one renderer per type on a shared page frame.

``render_certificate_pdf`` draws every copy of a request into one PDF, in order, and embeds the copies'
verification payloads in the document information dictionary (``/SagaKonbiniPayloads``, a JSON list),
so that the issuing service can read back from the finished file exactly what was printed.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

from certificates.documents import CertificateDocument

PAYLOADS_INFO_KEY = "/SagaKonbiniPayloads"


@dataclass(frozen=True)
class RenderCopy:
    document: CertificateDocument
    verification_payload: str  # the signed compact payload (ASCII), drawn as the 2D code on every page

    def __post_init__(self) -> None:
        if not self.verification_payload or not self.verification_payload.isascii():
            raise ValueError("the verification payload must be non-empty ASCII")


def render_certificate_pdf(*, copies: Sequence[RenderCopy]) -> bytes:
    """One PDF holding every copy in order.

    Raises certificates.glyphs.UnprintableCharacterError, before anything is drawn, if any character
    to be printed is missing from the embedded fonts (外字).
    """
    # Imported here so that importing RenderCopy (the contract's dataclass) stays light.
    from certificates.rendering.pdf import CertificatePdf

    if not copies:
        raise ValueError("nothing to render")
    return CertificatePdf(copies=tuple(copies)).render()


def read_verification_payloads(pdf: bytes) -> list[str]:
    """The payloads embedded in ``pdf`` (one per copy, in order); [] when the file carries none."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    info = reader.trailer.get("/Info")
    if info is None:
        return []
    raw = info.get_object().get(PAYLOADS_INFO_KEY)
    if raw is None:
        return []
    payloads = json.loads(str(raw))
    if not isinstance(payloads, list) or not all(isinstance(p, str) for p in payloads):
        raise ValueError("the embedded verification payloads are malformed")
    return payloads


__all__ = ["PAYLOADS_INFO_KEY", "RenderCopy", "read_verification_payloads", "render_certificate_pdf"]

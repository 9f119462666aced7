"""Rendering cost per certificate type, against a bare baseline measured in the same run.

    KONBINI_VAR_DIR=$(mktemp -d) .venv/bin/python bench/render.py [--rounds 40]

The baseline draws exactly the strings the certificate draws (recorded from a real rendering, with
their fonts and sizes) with plain ``drawString`` on blank pages, the same number of pages, into a
compressed PDF: the cost of the text and the font subsets alone. The certificate's extra cost is the
frame (地紋, 公印, QR code, rules, cells). Target: at most 2× the baseline. When the issuing side's
``certificates.signing.pdf_sign`` is available, render+sign of a 4-person 住民票 is reported too
(target < 60 ms).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saga_konbini.settings")
# Measured as deployed: with DEBUG on, Django records every SQL statement it runs.
os.environ.setdefault("DJANGO_DEBUG", "0")

Drawn = tuple[int, str, float, str]  # page index, font name, size, text


def _record_strings(render: Callable[[], bytes]) -> tuple[list[Drawn], int]:
    """Run ``render`` once while recording every string drawn, by page."""
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.pdfgen.textobject import PDFTextObject

    drawn: list[Drawn] = []
    page = [0]
    originals: dict[str, Any] = {}

    def recorder(name: str) -> Callable[..., Any]:
        original = getattr(Canvas, name)
        originals[name] = original

        def record(self: Canvas, x: float, y: float, text: str, *args: Any, **kwargs: Any) -> Any:
            drawn.append((page[0], self._fontname, self._fontsize, text))  # type: ignore[attr-defined]
            return original(self, x, y, text, *args, **kwargs)

        return record

    original_show_page = Canvas.showPage
    original_text_out = PDFTextObject.textOut

    def show_page(self: Canvas) -> None:
        page[0] += 1
        original_show_page(self)

    def text_out(self: PDFTextObject, text: str) -> Any:
        drawn.append((page[0], self._fontname, self._fontsize, text))  # type: ignore[attr-defined]
        return original_text_out(self, text)

    patched = {name: recorder(name) for name in ("drawString", "drawRightString", "drawCentredString")}
    try:
        for name, function in patched.items():
            setattr(Canvas, name, function)
        Canvas.showPage = show_page  # type: ignore[method-assign]
        PDFTextObject.textOut = text_out  # type: ignore[method-assign]
        render()
    finally:
        for name, function in originals.items():
            setattr(Canvas, name, function)
        Canvas.showPage = original_show_page  # type: ignore[method-assign]
        PDFTextObject.textOut = original_text_out  # type: ignore[method-assign]
    return drawn, page[0]


def _baseline(drawn: list[Drawn], pages: int) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    from certificates.glyphs import MINCHO

    buffer = io.BytesIO()
    c = Canvas(buffer, pagesize=A4, pageCompression=1, initialFontName=MINCHO)  # type: ignore[arg-type]
    y = 800.0
    for index in range(pages):
        for page, font, size, text in drawn:
            if page == index:
                c.setFont(font, size)
                c.drawString(40, y, text)
                y = y - 9 if y > 60 else 800.0
        c.showPage()
    c.save()
    return buffer.getvalue()


def _timed_ms(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1000


def _compare_ms(
    subject: Callable[[], object], baseline: Callable[[], object], rounds: int
) -> tuple[float, float, float]:
    """(subject ms, baseline ms, median ratio), alternating the two so that load from other processes
    on a shared machine hits both alike; each figure is the fastest round (the least disturbed)."""
    subject()  # warm-up: fonts, imports
    baseline()
    subject_ms, baseline_ms, ratios = [], [], []
    for _ in range(rounds):
        s, b = _timed_ms(subject), _timed_ms(baseline)
        subject_ms.append(s)
        baseline_ms.append(b)
        ratios.append(s / b)
    return min(subject_ms), min(baseline_ms), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    import django

    django.setup()
    from certificates.rendering import RenderCopy, render_certificate_pdf
    from certificates.rendering.samples import (
        SAMPLE_HOUSEHOLD,
        sample_inkan,
        sample_juminhyo,
        sample_nozei,
        sample_payload,
        sample_shotoku_kazei,
    )

    cases = {
        "住民票 4人 (全項目)": sample_juminhyo(),
        "住民票 6人 (2枚)": sample_juminhyo(persons=SAMPLE_HOUSEHOLD),
        "印鑑登録証明書": sample_inkan(),
        "所得課税証明書": sample_shotoku_kazei(),
        "納税証明書": sample_nozei(),
    }
    print("fastest of the rounds; ratio = median of the per-round ratios (target ≤ 2.0)")
    print(f"{'certificate':<22}{'pages':>6}{'render ms':>11}{'baseline ms':>13}{'ratio':>8}")
    for label, document in cases.items():
        copies = [RenderCopy(document=document, verification_payload=sample_payload(document))]

        def render(copies: list[RenderCopy] = copies) -> bytes:
            return render_certificate_pdf(copies=copies)

        drawn, pages = _record_strings(render)

        def baseline(drawn: list[Drawn] = drawn, pages: int = pages) -> bytes:
            return _baseline(drawn, pages)

        render_ms, baseline_ms, ratio = _compare_ms(render, baseline, args.rounds)
        print(f"{label:<22}{pages:>6}{render_ms:>11.1f}{baseline_ms:>13.1f}{ratio:>8.2f}")

    try:
        from certificates.signing import payload_sign, pdf_sign
    except ImportError:
        print("render+sign: certificates.signing.pdf_sign is not available")
        return
    import tempfile

    from certificates.signing_keys import issuing_key_load
    from simulators.lgpki import lgpki_test_key_create

    # A test key with its chain (as production signs: the chain rides in every signature), loaded
    # from its files: which key is active is a database row the benchmark does not need.
    key = issuing_key_load(str(lgpki_test_key_create(Path(tempfile.mkdtemp(prefix="bench-signing-")), "key")))
    document = sample_juminhyo()
    signed_copies = [RenderCopy(document=document, verification_payload=payload_sign(document, key=key))]

    def render_only() -> bytes:
        return render_certificate_pdf(copies=signed_copies)

    sign_ms, render_ms, _ = _compare_ms(lambda: pdf_sign(render_only(), key=key), render_only, args.rounds)
    print(f"render+sign 住民票 4人: {sign_ms:.1f} ms, of which render {render_ms:.1f} ms (target < 60 ms)")


if __name__ == "__main__":
    main()

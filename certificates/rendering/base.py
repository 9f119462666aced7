"""The renderer skeleton: pages, the shared frame around each page's body, and table cells."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from certificates.documents import CertificateDocument
from certificates.glyphs import GOTHIC, MINCHO
from certificates.rendering.frame import INK, LABEL_FILL, LINE_INK, PageFrame, PageInfo
from saga_konbini.wareki import wareki_date


class CertificateRenderer(ABC):
    """One copy of one certificate type; subclasses draw the body with small ``_draw_*`` methods."""

    title: ClassVar[str]
    label_size: ClassVar[float] = 7.5
    value_size: ClassVar[float] = 10.0

    def __init__(self, frame: PageFrame, document: CertificateDocument, *, qr_form: str) -> None:
        self.frame = frame
        self.c = frame.c
        self.document = document
        self.qr_form = qr_form

    def page_count(self) -> int:
        return 1

    @abstractmethod
    def statement(self) -> str:
        """The 認証文 of this certificate."""

    @abstractmethod
    def draw_body(self, page: int, pages: int) -> None:
        """Draw this certificate's own items on ``page`` of ``pages``."""

    def render(self) -> None:
        """Draw every page of this copy; the certification closes the last page only."""
        pages = self.page_count()
        document = self.document
        for page in range(1, pages + 1):
            self.frame.draw_background()
            self.frame.draw_header(
                self.title,
                PageInfo(
                    certificate_number=document.certificate_number,
                    check_code=document.check_code,
                    page=page,
                    pages=pages,
                ),
            )
            self.draw_body(page, pages)
            if page == pages:
                self.frame.draw_certification(self.statement(), wareki_date(document.issued_on))
            else:
                self.frame.draw_continued()
            self.frame.draw_footer(self.qr_form)
            if document.specimen:
                self.frame.draw_specimen()
            self.c.showPage()

    # --- cells ------------------------------------------------------------------------------------

    def _label_cell(self, x: float, top: float, w: float, h: float, label: str) -> None:
        c = self.c
        c.setFillColorRGB(*LABEL_FILL)
        c.setStrokeColorRGB(*LINE_INK)
        c.setLineWidth(0.5)
        c.rect(x, top - h, w, h, stroke=1, fill=1)
        c.setFillColorRGB(*INK)
        size = self.frame.fitted_size(label, font=GOTHIC, size=self.label_size, width=w - 6)
        self.frame.text(x + w / 2, top - h / 2 - size * 0.36, label, size=size, font=GOTHIC, align="centre")

    def _value_cell(
        self,
        x: float,
        top: float,
        w: float,
        h: float,
        value: str,
        *,
        size: float | None = None,
        align: str = "left",
        font: str = MINCHO,
    ) -> None:
        c = self.c
        c.setStrokeColorRGB(*LINE_INK)
        c.setLineWidth(0.5)
        c.rect(x, top - h, w, h, stroke=1, fill=0)
        if not value:
            return
        c.setFillColorRGB(*INK)
        base = size or self.value_size
        natural = c.stringWidth(value, font, base)
        if natural > w - 12 and align == "left" and self._wrapped(x, top, w, h, value, base, font, natural):
            return
        size = min(base, base * (w - 12) / natural)  # never wider than the cell
        y = top - h / 2 - size * 0.36
        if align == "right":
            self.frame.text(x + w - 7, y, value, size=size, font=font, align="right")
        elif align == "centre":
            self.frame.text(x + w / 2, y, value, size=size, font=font, align="centre")
        else:
            self.frame.text(x + 5, y, value, size=size, font=font)

    def _wrapped(
        self, x: float, top: float, w: float, h: float, value: str, base: float, font: str, natural: float
    ) -> bool:
        """Draw a long value (an address) on two lines when that prints larger than one line would;
        False when one line is better."""
        one_line = base * (w - 12) / natural
        if one_line >= 7.5:
            return False
        c = self.c
        # Split where the two halves are closest to equal width.
        widths = [c.stringWidth(value[:i], font, base) for i in range(1, len(value))]
        cut = min(range(len(widths)), key=lambda i: abs(widths[i] - natural / 2)) + 1
        lines = (value[:cut], value[cut:])
        widest = max(c.stringWidth(line, font, base) for line in lines)
        two_lines = min(base, base * (w - 12) / widest, (h - 3) / 2.1)
        if two_lines <= one_line:
            return False
        for index, line in enumerate(lines):
            y = top - h / 2 + (0.55 - index * 1.1) * two_lines - two_lines * 0.36
            self.frame.text(x + 5, y, line, size=two_lines, font=font)
        return True

    def _pair(
        self,
        x: float,
        top: float,
        h: float,
        widths: tuple[float, float],
        label: str,
        value: str,
        *,
        size: float | None = None,
        align: str = "left",
    ) -> float:
        """A label cell and its value cell side by side; returns the x after them."""
        label_w, value_w = widths
        self._label_cell(x, top, label_w, h, label)
        self._value_cell(x + label_w, top, value_w, h, value, size=size, align=align)
        return x + label_w + value_w

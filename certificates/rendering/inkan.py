"""印鑑登録証明書 (A4 portrait): the registered 印影 in its box, 登録番号, 氏名, 生年月日, 住所."""

from __future__ import annotations

import io
from typing import cast

from PIL import Image

from certificates.documents import InkanContent
from certificates.rendering.base import CertificateRenderer
from certificates.rendering.frame import BODY_TOP, CONTENT_W, INK, LEFT
from certificates.rendering.images import draw_rgb_image
from saga_konbini.wareki import wareki_date

SEAL_BOX = 150.0  # 印影 box, about 53 mm: room for the largest registrable seal (25 mm) with margin
ROW_H = 30.0
LABEL_W = 70.0


def _on_white(png: bytes) -> Image.Image:
    """The 印影 flattened onto the white of its box: the same picture on paper, but a PDF image
    without a transparency mask, which halves the work of embedding it."""
    with Image.open(io.BytesIO(png)) as source:
        if "A" not in source.getbands() and "transparency" not in source.info:
            return source.convert("RGB")
        rgba = source.convert("RGBA")
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


class InkanRenderer(CertificateRenderer):
    title = "印鑑登録証明書"
    value_size = 12.0

    @property
    def content(self) -> InkanContent:
        return cast(InkanContent, self.document.content)

    def statement(self) -> str:
        return "この写しは、登録されている印影と相違ないことを証明する。"

    def draw_body(self, page: int, pages: int) -> None:
        top = BODY_TOP - 20
        self._draw_seal_impression(LEFT, top)
        self._draw_particulars(LEFT + SEAL_BOX + 24, top)

    def _draw_seal_impression(self, x: float, top: float) -> None:
        c = self.c
        self._label_cell(x, top, SEAL_BOX, 20, "印影")
        box_top = top - 20
        c.setLineWidth(0.9)
        c.setFillColorRGB(1, 1, 1)
        c.rect(x, box_top - SEAL_BOX, SEAL_BOX, SEAL_BOX, stroke=1, fill=1)
        inner = SEAL_BOX - 24
        draw_rgb_image(
            c,
            _on_white(self.content.seal_image_png),
            source=self.content.seal_image_png,
            x=x + 12,
            y=box_top - SEAL_BOX + 12,
            width=inner,
            height=inner,
        )

    def _draw_particulars(self, x: float, top: float) -> None:
        content = self.content
        holder = content.holder
        value_w = LEFT + CONTENT_W - x - LABEL_W
        rows = (
            ("登録番号", content.registration_number),
            ("氏名", holder.name),
            ("生年月日", wareki_date(holder.birth_date)),
            ("住所", holder.address),
        )
        for label, value in rows:
            self._pair(x, top, ROW_H, (LABEL_W, value_w), label, value)
            top -= ROW_H
        self.c.setFillColorRGB(*INK)
        self.frame.text(x, top - 18, "以下余白", size=10)

"""納税証明書: one fiscal year, one row per tax item (税目, 課税額, 納付額, 未納額), the totals, and
the remarks on what the amounts include (NozeiContent.notes)."""

from __future__ import annotations

from typing import cast

from certificates.documents import NozeiContent, yen
from certificates.glyphs import GOTHIC
from certificates.rendering.base import CertificateRenderer
from certificates.rendering.frame import BODY_BOTTOM, BODY_TOP, CONTENT_W, INK, LEFT, TITLE_Y
from saga_konbini.wareki import wareki_year_label

ROW_H = 22.0
NOTE_H = 16.0
LABEL_W = 100.0
ITEM_W = 163.0
AMOUNT_W = (CONTENT_W - ITEM_W) / 3


class NozeiRenderer(CertificateRenderer):
    title = "納税証明書"

    @property
    def content(self) -> NozeiContent:
        return cast(NozeiContent, self.document.content)

    def statement(self) -> str:
        return "上記のとおり証明します。"

    def draw_body(self, page: int, pages: int) -> None:
        self.c.setFillColorRGB(*INK)
        self.frame.text(
            LEFT + CONTENT_W / 2,
            TITLE_Y - 34,
            f"{wareki_year_label(self.content.fiscal_year)}年度",
            size=11,
            font=GOTHIC,
            align="centre",
        )
        top = self._draw_holder(BODY_TOP - 20)
        self._draw_items(top - 16)

    def _draw_holder(self, top: float) -> float:
        holder = self.content.holder
        wide = (LABEL_W, CONTENT_W - LABEL_W)
        self._pair(LEFT, top, ROW_H, wide, "住所", holder.address)
        top -= ROW_H
        self._pair(LEFT, top, ROW_H, wide, "氏名", holder.name)
        return top - ROW_H

    def _draw_items(self, top: float) -> None:
        content = self.content
        headings = ("税目", "課税額", "納付額", "未納額")
        x = LEFT
        for index, heading in enumerate(headings):
            w = ITEM_W if index == 0 else AMOUNT_W
            self._label_cell(x, top, w, ROW_H, heading)
            x += w
        top -= ROW_H
        notes = content.notes
        room = top - BODY_BOTTOM - ROW_H - 30 - NOTE_H * len(notes)
        row_h = min(ROW_H, room / max(len(content.lines), 1))
        for line in content.lines:
            self._line(top, row_h, line.tax_item, (line.assessed, line.paid, line.unpaid), label=False)
            top -= row_h
        self._line(
            top, ROW_H, "合計", (content.total_assessed, content.total_paid, content.total_unpaid), label=True
        )
        self.c.setFillColorRGB(*INK)
        top -= ROW_H
        for note in notes:
            self.frame.text(LEFT, top - 14, f"※ {note}", size=9)
            top -= NOTE_H
        self.frame.text(LEFT, top - 18, "以下余白", size=10)

    def _line(self, top: float, h: float, item: str, amounts: tuple[int, int, int], *, label: bool) -> None:
        size = min(self.value_size, h * 0.6)
        if label:
            self._label_cell(LEFT, top, ITEM_W, h, item)
        else:
            self._value_cell(LEFT, top, ITEM_W, h, item, size=size)
        x = LEFT + ITEM_W
        for amount in amounts:
            self._value_cell(x, top, AMOUNT_W, h, yen(amount), size=size, align="right")
            x += AMOUNT_W

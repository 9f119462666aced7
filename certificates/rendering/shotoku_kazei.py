"""所得課税証明書: fiscal year N, income of year N−1, address as of 1 January N (DOMAIN)."""

from __future__ import annotations

from typing import cast

from certificates.documents import AmountLine, ShotokuKazeiContent, yen
from certificates.glyphs import GOTHIC
from certificates.rendering.base import CertificateRenderer
from certificates.rendering.frame import BODY_BOTTOM, BODY_TOP, CONTENT_W, INK, LEFT, TITLE_Y
from saga_konbini.wareki import wareki_date, wareki_year_label

ROW_H = 19.0
LABEL_W = 120.0
TABLE_GAP = 12.0
HALF_W = (CONTENT_W - TABLE_GAP) / 2
AMOUNT_W = 96.0


class ShotokuKazeiRenderer(CertificateRenderer):
    title = "所得課税証明書"

    @property
    def content(self) -> ShotokuKazeiContent:
        return cast(ShotokuKazeiContent, self.document.content)

    def statement(self) -> str:
        return "上記のとおり証明します。"

    def draw_body(self, page: int, pages: int) -> None:
        content = self.content
        self.c.setFillColorRGB(*INK)
        self.frame.text(
            LEFT + CONTENT_W / 2,
            TITLE_Y - 34,
            f"{wareki_year_label(content.fiscal_year)}年度（{wareki_year_label(content.income_year)}年分所得）",
            size=11,
            font=GOTHIC,
            align="centre",
        )
        top = self._draw_holder(BODY_TOP - 20)
        top = self._draw_breakdowns(top - 12)
        self._draw_tax(top - 12)

    def _draw_holder(self, top: float) -> float:
        holder = self.content.holder
        wide = (LABEL_W, CONTENT_W - LABEL_W)
        jan1 = f"住所（{wareki_year_label(self.content.fiscal_year)}年1月1日現在）"
        self._pair(LEFT, top, ROW_H, wide, jan1, holder.address)
        top -= ROW_H
        self._pair(LEFT, top, ROW_H, wide, "氏名", holder.name)
        top -= ROW_H
        x = self._pair(LEFT, top, ROW_H, (LABEL_W, 190.0), "生年月日", wareki_date(holder.birth_date))
        self._pair(x, top, ROW_H, (60.0, LEFT + CONTENT_W - x - 60.0), "性別", holder.sex, align="centre")
        return top - ROW_H

    def _draw_breakdowns(self, top: float) -> float:
        content = self.content
        tax_block = 5 * ROW_H + 12
        longest = max(len(content.incomes), len(content.deductions))
        # Rows shrink rather than run into the tax table when a resident has many deduction kinds.
        row_h = min(16.0, (top - BODY_BOTTOM - tax_block - 2 * ROW_H) / max(longest, 1))
        left_end = self._draw_amount_table(
            LEFT,
            top,
            row_h,
            ("所得の種類", "所得金額"),
            content.incomes,
            ("合計所得金額", content.total_income),
        )
        right_end = self._draw_amount_table(
            LEFT + HALF_W + TABLE_GAP,
            top,
            row_h,
            ("所得控除の種類", "控除額"),
            content.deductions,
            ("所得控除合計", content.total_deductions),
        )
        return min(left_end, right_end)

    def _draw_amount_table(
        self,
        x: float,
        top: float,
        row_h: float,
        headings: tuple[str, str],
        lines: tuple[AmountLine, ...],
        total: tuple[str, int],
    ) -> float:
        kind_w = HALF_W - AMOUNT_W
        self._label_cell(x, top, kind_w, ROW_H, headings[0])
        self._label_cell(x + kind_w, top, AMOUNT_W, ROW_H, headings[1])
        top -= ROW_H
        for line in lines:
            self._value_cell(x, top, kind_w, row_h, line.label, size=min(9.5, row_h * 0.62))
            self._value_cell(
                x + kind_w, top, AMOUNT_W, row_h, yen(line.amount), size=min(9.5, row_h * 0.62), align="right"
            )
            top -= row_h
        if not lines:
            self._value_cell(x, top, kind_w, row_h, "該当なし", size=min(9.5, row_h * 0.62))
            self._value_cell(x + kind_w, top, AMOUNT_W, row_h, "")
            top -= row_h
        self._label_cell(x, top, kind_w, ROW_H, total[0])
        self._value_cell(x + kind_w, top, AMOUNT_W, ROW_H, yen(total[1]), align="right")
        return top - ROW_H

    def _draw_tax(self, top: float) -> None:
        content = self.content
        self._pair(
            LEFT, top, ROW_H, (LABEL_W, 150.0), "課税標準額", yen(content.taxable_income), align="right"
        )
        top -= ROW_H + 8
        col_w = (CONTENT_W - LABEL_W) / 3
        headings = ("区分", "市民税", "県民税", "合計")
        x = LEFT
        for index, heading in enumerate(headings):
            w = LABEL_W if index == 0 else col_w
            self._label_cell(x, top, w, ROW_H, heading)
            x += w
        top -= ROW_H
        rows = (
            ("所得割額", content.municipal_income_levy, content.prefectural_income_levy),
            ("均等割額", content.municipal_per_capita, content.prefectural_per_capita),
        )
        for label, municipal, prefectural in rows:
            self._label_cell(LEFT, top, LABEL_W, ROW_H, label)
            self._amount_cells(top, col_w, (municipal, prefectural, municipal + prefectural))
            top -= ROW_H
        municipal_total = content.municipal_income_levy + content.municipal_per_capita
        prefectural_total = content.prefectural_income_levy + content.prefectural_per_capita
        self._label_cell(LEFT, top, LABEL_W, ROW_H, "年税額")
        self._amount_cells(top, col_w, (municipal_total, prefectural_total, content.total_tax))
        self.c.setFillColorRGB(*INK)
        self.frame.text(LEFT, top - ROW_H - 18, "以下余白", size=10)

    def _amount_cells(self, top: float, col_w: float, amounts: tuple[int, int, int]) -> None:
        x = LEFT + LABEL_W
        for amount in amounts:
            self._value_cell(x, top, col_w, ROW_H, yen(amount), align="right")
            x += col_w

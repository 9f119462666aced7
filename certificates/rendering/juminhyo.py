"""住民票の写し, 世帯連記式 (SPEC §2; DOMAIN "national standard layouts"): up to four persons a sheet.

Each person is a block of rows: 氏名 (with the フリガナ small above), 生年月日, 性別; 住民となった年月日,
住所を定めた年月日; 届出日, 続柄; 本籍; 筆頭者, 個人番号; 転入前住所. Items not requested stay blank, as
on the counter's certificates. The 住民票コード is never printed (it is not even in the document).
"""

from __future__ import annotations

from typing import cast

from certificates.documents import JuminhyoContent, PrintedPerson, format_my_number
from certificates.glyphs import MINCHO
from certificates.rendering.base import CertificateRenderer
from certificates.rendering.frame import BODY_BOTTOM, BODY_TOP, CONTENT_W, INK, LEFT, RIGHT
from saga_konbini.wareki import wareki_date

PERSONS_PER_PAGE = 4
ROW_H = 16.0
NAME_ROW_H = 30.0
HOUSEHOLD_ROW_H = 20.0
PERSON_H = NAME_ROW_H + 5 * ROW_H
INDEX_W = 16.0
LABEL_W = 86.0
BLOCK_W = CONTENT_W - INDEX_W
HALF_VALUE_W = BLOCK_W / 2 - LABEL_W
WIDE_VALUE_W = BLOCK_W - LABEL_W


class JuminhyoRenderer(CertificateRenderer):
    title = "住民票の写し"

    @property
    def content(self) -> JuminhyoContent:
        return cast(JuminhyoContent, self.document.content)

    def page_count(self) -> int:
        return max(1, -(-len(self.content.persons) // PERSONS_PER_PAGE))

    def statement(self) -> str:
        if self.content.scope == "all":
            return "この写しは、世帯全員の住民票の原本と相違ないことを証明する。"
        return "この写しは、世帯の一部の住民票の原本と相違ないことを証明する。"

    def draw_body(self, page: int, pages: int) -> None:
        top = self._draw_household(BODY_TOP)
        persons = self.content.persons
        first = (page - 1) * PERSONS_PER_PAGE
        on_page = persons[first : first + PERSONS_PER_PAGE]
        gap = (top - 6 - BODY_BOTTOM - PERSONS_PER_PAGE * PERSON_H) / PERSONS_PER_PAGE
        top -= 6
        for offset, person in enumerate(on_page):
            self._draw_person(top, first + offset + 1, person)
            top -= PERSON_H + gap
        if page == pages:
            # 以下余白: nothing may be added below the last person.
            self.c.setFillColorRGB(*INK)
            self.frame.text(LEFT + CONTENT_W / 2, top + gap - 11, "以下余白", size=9, align="centre")

    def _draw_household(self, top: float) -> float:
        content = self.content
        self._pair(
            LEFT, top, HOUSEHOLD_ROW_H, (LABEL_W, CONTENT_W - LABEL_W), "住所", content.household_address
        )
        top -= HOUSEHOLD_ROW_H
        self._pair(LEFT, top, HOUSEHOLD_ROW_H, (LABEL_W, CONTENT_W - LABEL_W), "世帯主", content.head_name)
        return top - HOUSEHOLD_ROW_H

    def _draw_person(self, top: float, index: int, person: PrintedPerson) -> None:
        self._draw_index(top, index)
        x0 = LEFT + INDEX_W
        self._draw_name_row(x0, top, person)
        top -= NAME_ROW_H
        half = (LABEL_W, HALF_VALUE_W)
        wide = (LABEL_W, WIDE_VALUE_W)
        x = self._pair(x0, top, ROW_H, half, "住民となった年月日", wareki_date(person.became_resident_on))
        self._pair(x, top, ROW_H, half, "住所を定めた年月日", wareki_date(person.address_since))
        top -= ROW_H
        # The feed carries no separate 届出日; the core system records the address date as filed.
        x = self._pair(x0, top, ROW_H, half, "届出日", wareki_date(person.address_since))
        self._pair(x, top, ROW_H, half, "続柄", person.relationship)
        top -= ROW_H
        self._pair(x0, top, ROW_H, wide, "本籍", person.honseki)
        top -= ROW_H
        my_number = format_my_number(person.my_number) if person.my_number is not None else ""
        x = self._pair(x0, top, ROW_H, half, "筆頭者", person.hittosha)
        self._pair(x, top, ROW_H, half, "個人番号", my_number)
        top -= ROW_H
        self._pair(x0, top, ROW_H, wide, "転入前住所", person.previous_address)

    def _draw_index(self, top: float, index: int) -> None:
        c = self.c
        c.setLineWidth(0.9)
        c.rect(LEFT, top - PERSON_H, INDEX_W, PERSON_H, stroke=1, fill=0)
        c.setFillColorRGB(*INK)
        self.frame.text(LEFT + INDEX_W / 2, top - PERSON_H / 2 - 4, str(index), size=11, align="centre")

    def _draw_name_row(self, x: float, top: float, person: PrintedPerson) -> None:
        name_w = 200.0
        self._label_cell(x, top, 48.0, NAME_ROW_H, "氏名")
        x += 48.0
        self._value_cell(x, top, name_w, NAME_ROW_H, "")
        self.c.setFillColorRGB(*INK)
        self.frame.fitted_text(x + 6, top - 9, person.name_kana, width=name_w - 12, size=6.5, font=MINCHO)
        self.frame.fitted_text(x + 6, top - 24, person.name, width=name_w - 12, size=13, font=MINCHO)
        x += name_w
        x = self._pair(x, top, NAME_ROW_H, (52.0, 125.0), "生年月日", wareki_date(person.birth_date))
        self._pair(x, top, NAME_ROW_H, (34.0, RIGHT - x - 34.0), "性別", person.sex, align="centre")

"""The page frame every certificate shares: A4 portrait, header with the 交付番号 on every page, the
地紋 with the けん制文字「複写」, microtext rules, the 2D code, the 認証文 with the mayor's name and
the electronic 公印, the 「見本」 mark, and the kiosk footer.

The expensive, identical-for-every-page drawings (地紋, microtext, 公印) are Form XObjects, defined
once per PDF and placed with ``doForm``; their path operators are computed once per process as
immutable strings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import zxingcpp
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from certificates.glyphs import GOTHIC, MINCHO

PAGE_W, PAGE_H = A4
MARGIN = 36.0
LEFT = MARGIN
RIGHT = PAGE_W - MARGIN
CONTENT_W = RIGHT - LEFT

# Vertical layout (points from the bottom of the page).
TITLE_Y = 792.0
HEADER_RULE_Y = 774.0  # microtext rule under the header
BODY_TOP = 762.0
BODY_BOTTOM = 262.0  # the body never draws below this; the certification block sits under it
CERT_TEXT_Y = 234.0
FOOTER_RULE_Y = 146.0  # microtext rule above the footer
QR_X, QR_Y, QR_SIZE = LEFT + 2.0, 40.0, 96.0
SEAL_SIZE = 62.0

INK = (0.08, 0.08, 0.1)
LINE_INK = (0.25, 0.25, 0.3)
LABEL_FILL = (0.93, 0.95, 0.96)
SEAL_RED = (0.84, 0.11, 0.12)
GROUND_INK = (0.80, 0.89, 0.93)  # 地紋: pale enough that the printed text stays the darkest thing
GROUND_LATENT_INK = (0.78, 0.88, 0.92)  # the woven 「複写」: same hue, denser lines, barely visible

MICROTEXT_UNIT = "SAGACITY41201"
MICROTEXT_SIZE = 1.7

FORM_GROUND = "sagaGround"
FORM_SEAL = "sagaSeal"

KIOSK_NOTES = (
    "この証明書は、コンビニエンスストア等に設置された端末で交付したものです（コンビニ交付）。",
    "偽造防止のため用紙に地紋を施しています。複写すると「複写」の文字が浮き出ます。",
    "上部の交付番号と照合番号、または左の二次元コード（佐賀市の電子署名付き）で記載内容を確認できます。",
)

FOOTER_NOTE_X = QR_X + QR_SIZE + 12.0


def _hatch(*, line_width: float, spacing: float, angle: int) -> str:
    """Parallel lines over the whole page in one PDF path: a single line as wide as the page's
    diagonal, stroked with a dash pattern, draws its dashes as stripes across its width. A few
    dozen bytes instead of a thousand separate lines (ReportLab compresses every form per PDF)."""
    diagonal = math.hypot(PAGE_W, PAGE_H)
    rad = math.radians(angle)
    dx, dy = math.cos(rad) * diagonal / 2, math.sin(rad) * diagonal / 2
    cx, cy = PAGE_W / 2, PAGE_H / 2
    return (
        f"q 0 J [{line_width:.2f} {spacing - line_width:.2f}] 0 d {diagonal:.0f} w "
        f"{cx - dx:.1f} {cy - dy:.1f} m {cx + dx:.1f} {cy + dy:.1f} l S Q"
    )


def _waves(top: float, bottom: float, count: int) -> str:
    """A band of interlaced sine waves (彩紋), the guilloche look of security paper."""
    parts: list[str] = []
    gap = (top - bottom) / max(count - 1, 1)
    for k in range(count):
        base = bottom + k * gap
        phase = k * 0.9
        points = [
            (x, base + 2.2 * math.sin(x / 9.0 + phase))
            for x in [LEFT + j * 3.0 for j in range(int(CONTENT_W / 3) + 1)]
        ]
        parts.append(f"{points[0][0]:.0f} {points[0][1]:.1f} m")
        parts.extend(f"{x:.0f} {y:.1f} l" for x, y in points[1:])
    parts.append("S")
    return "\n".join(parts)


# Computed once per process; immutable strings, shared read-only between requests.
# The stripes run across the stroked line: a line at -45° draws stripes rising at +45°.
_HATCH_BACKGROUND = _hatch(line_width=0.22, spacing=2.6, angle=-45)
_HATCH_LATENT = _hatch(line_width=0.24, spacing=1.8, angle=45)
_WAVES_TOP = _waves(PAGE_H - 16.0, PAGE_H - 28.0, 4)
_WAVES_BOTTOM = _waves(28.0, 16.0, 4)
_MICROTEXT_LINE = MICROTEXT_UNIT * 48


@dataclass(frozen=True)
class PageInfo:
    certificate_number: str
    check_code: str
    page: int  # 1-based
    pages: int


def define_ground_form(c: Canvas) -> None:
    """The 地紋: fine hatching, the けん制文字「複写」 woven in, guilloche bands and microtext rules."""
    c.beginForm(FORM_GROUND)
    c.saveState()
    c.setStrokeColorRGB(*GROUND_INK)
    c.addLiteral(_HATCH_BACKGROUND)
    # The latent 「複写」: large characters used as a clipping path (text render mode 7), filled
    # with denser hatching at the opposite angle, so that they are woven into the ground.
    c.saveState()
    text = c.beginText()
    text.setTextRenderMode(7)
    text.setFont(GOTHIC, 72)
    for row in range(6):
        for col in range(3):
            text.setTextOrigin(LEFT + 6 + col * 181, 90 + row * 128)
            text.textOut("複写")
    c.drawText(text)
    c.setStrokeColorRGB(*GROUND_LATENT_INK)
    c.addLiteral(_HATCH_LATENT)
    c.restoreState()
    c.setStrokeColorRGB(0.62, 0.78, 0.84)
    c.setLineWidth(0.35)
    c.addLiteral(_WAVES_TOP)
    c.addLiteral(_WAVES_BOTTOM)
    # Microtext rules: read as a line by eye and by a copier, as text under a loupe.
    c.setFillColorRGB(0.2, 0.35, 0.45)
    c.setFont(GOTHIC, MICROTEXT_SIZE)
    for y in (HEADER_RULE_Y, FOOTER_RULE_Y):
        c.drawString(LEFT, y, _MICROTEXT_LINE[: int(CONTENT_W / (MICROTEXT_SIZE * 0.5)) + 1])
    c.restoreState()
    c.endForm()


def define_seal_form(c: Canvas) -> None:
    """The electronic 公印 「佐賀市長之印」: a red square seal, read top to bottom, right to left."""
    c.beginForm(FORM_SEAL, 0, 0, SEAL_SIZE, SEAL_SIZE)
    c.saveState()
    c.setStrokeColorRGB(*SEAL_RED)
    c.setFillColorRGB(*SEAL_RED)
    # Opaque: ReportLab does not give a form its own ExtGState resources, so no alpha here. The
    # mayor's name is drawn after the seal instead, and shows through as on a stamped paper.
    c.setLineWidth(3.2)
    c.roundRect(1.6, 1.6, SEAL_SIZE - 3.2, SEAL_SIZE - 3.2, 3.0, stroke=1, fill=0)
    c.setLineWidth(0.7)
    c.rect(5.5, 5.5, SEAL_SIZE - 11.0, SEAL_SIZE - 11.0, stroke=1, fill=0)
    columns = ("佐賀", "市長", "之印")  # right to left
    inner = SEAL_SIZE - 14.0
    col_w = inner / 3
    size = 21.0
    text = c.beginText()
    text.setTextRenderMode(2)  # fill and stroke: the heavier strokes of a carved seal
    text.setFont(MINCHO, size)
    text.setHorizScale(78)
    c.setLineWidth(0.55)
    for index, chars in enumerate(columns):
        x = SEAL_SIZE - 7.0 - (index + 1) * col_w + (col_w - size * 0.78) / 2
        for row, char in enumerate(chars):
            text.setTextOrigin(x, SEAL_SIZE - 7.0 - (row + 1) * (inner / 2) + 4.2)
            text.textOut(char)
    c.drawText(text)
    c.restoreState()
    c.endForm()


_DARK_RUN = re.compile(rb"\x00+")


def qr_modules(payload: str) -> list[bytes]:
    """The QR code (error correction M) of ``payload`` as rows of modules, b"\x00" dark, b"\xff" light.

    zxing-cpp encodes in C++: segno, in pure Python, took 35 ms for a 4-person payload (version 17),
    more than the whole certificate may cost.
    """
    barcode = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = barcode.to_image(scale=1, add_quiet_zones=False)
    rows, cols = image.shape
    # The Image supports the buffer protocol, which its type stubs do not declare.
    data = memoryview(image).tobytes()  # type: ignore[arg-type]
    return [data[row * cols : (row + 1) * cols] for row in range(rows)]


def define_qr_form(c: Canvas, name: str, payload: str) -> None:
    """The 2D code holding the signed verification payload (SPEC §8), with its white quiet zone."""
    rows = qr_modules(payload)
    quiet = 4
    module = QR_SIZE / (len(rows) + 2 * quiet)
    c.beginForm(name, 0, 0, QR_SIZE, QR_SIZE)
    c.saveState()
    # A white quiet zone: the 地紋 under a QR code would defeat the scanner.
    c.setFillColorRGB(1, 1, 1)
    c.rect(0, 0, QR_SIZE, QR_SIZE, stroke=0, fill=1)
    c.setFillColorRGB(0, 0, 0)
    # Module units, rows counted downwards from the top: integer coordinates format fast and short.
    c.transform(module, 0, 0, -module, quiet * module, QR_SIZE - quiet * module)
    # One rectangle per horizontal run of dark modules, found by the regex engine, not per module.
    ops = [
        f"{run.start()} {row_index} {run.end() - run.start()} 1 re"
        for row_index, row in enumerate(rows)
        for run in _DARK_RUN.finditer(row)
    ]
    ops.append("f")
    c.addLiteral("\n".join(ops))
    c.restoreState()
    c.endForm()


class PageFrame:
    """Draws the shared parts of one page; a renderer calls it around its body."""

    def __init__(self, c: Canvas, *, mayor_name: str) -> None:
        self.c = c
        self.mayor_line = f"佐賀市長　{mayor_name}"

    # --- text helpers (the 外字 check of every data string ran before the first page was drawn) ---

    def text(
        self, x: float, y: float, s: str, *, size: float, font: str = MINCHO, align: str = "left"
    ) -> None:
        if not s:
            return
        c = self.c
        c.setFont(font, size)
        if align == "left":
            c.drawString(x, y, s)
        elif align == "right":
            c.drawRightString(x, y, s)
        else:
            c.drawCentredString(x, y, s)

    def fitted_size(self, s: str, *, font: str, size: float, width: float) -> float:
        """The largest size up to ``size`` at which ``s`` fits in ``width``: a long name prints
        smaller, never across a rule or cut off."""
        natural = self.c.stringWidth(s, font, size)
        if natural <= width:
            return size
        return size * width / natural

    def fitted_text(
        self,
        x: float,
        y: float,
        s: str,
        *,
        width: float,
        size: float,
        font: str = MINCHO,
        align: str = "left",
    ) -> None:
        fitted = self.fitted_size(s, font=font, size=size, width=width)
        self.text(x, y, s, size=fitted, font=font, align=align)

    def spaced_title(self, s: str, *, y: float, size: float) -> None:
        """A title with letter spacing, centred, as certificate titles are set."""
        c = self.c
        spacing = size * 0.35
        width = c.stringWidth(s, GOTHIC, size) + spacing * (len(s) - 1)
        # Character spacing (Tc) belongs to the graphics state and outlives the text object.
        c.saveState()
        text = c.beginText()
        text.setFont(GOTHIC, size)
        text.setCharSpace(spacing)
        text.setTextOrigin((PAGE_W - width) / 2, y)
        text.textOut(s)
        c.drawText(text)
        c.restoreState()

    # --- the frame ------------------------------------------------------------------------------

    def draw_background(self) -> None:
        self.c.doForm(FORM_GROUND)

    def draw_header(self, title: str, info: PageInfo) -> None:
        c = self.c
        c.setFillColorRGB(*INK)
        self.spaced_title(title, y=TITLE_Y, size=20)
        # コンビニ交付 tag, top left.
        c.setStrokeColorRGB(*LINE_INK)
        c.setLineWidth(0.6)
        c.rect(LEFT, TITLE_Y - 4, 70, 18, stroke=1, fill=0)
        self.text(LEFT + 35, TITLE_Y + 1.5, "コンビニ交付", size=9, font=GOTHIC, align="centre")
        # 交付番号 and 照合番号 on every page, with the page number (SPEC §8).
        box_x, box_w = RIGHT - 150, 150
        c.rect(box_x, TITLE_Y - 10, box_w, 36, stroke=1, fill=0)
        self.text(box_x + 5, TITLE_Y + 14, "交付番号", size=6.5, font=GOTHIC)
        self.fitted_text(
            box_x + 38, TITLE_Y + 13, info.certificate_number, width=box_w - 42, size=9, font=GOTHIC
        )
        self.text(box_x + 5, TITLE_Y + 2, "照合番号", size=6.5, font=GOTHIC)
        self.text(box_x + 38, TITLE_Y + 1, info.check_code, size=9, font=GOTHIC)
        self.text(
            box_x + box_w - 5, TITLE_Y - 7, f"{info.page}/{info.pages}", size=7.5, font=GOTHIC, align="right"
        )
        self.text(box_x + 5, TITLE_Y - 7, "頁", size=6.5, font=GOTHIC)

    def draw_footer(self, qr_form: str) -> None:
        c = self.c
        c.saveState()
        c.translate(QR_X, QR_Y)
        c.doForm(qr_form)
        c.restoreState()
        c.setFillColorRGB(*INK)
        y = QR_Y + QR_SIZE - 14
        for note in KIOSK_NOTES:
            self.fitted_text(FOOTER_NOTE_X, y, note, width=RIGHT - FOOTER_NOTE_X, size=7.2)
            y -= 12.5
        self.text(FOOTER_NOTE_X, QR_Y + 4, "佐賀市（市町村コード 412015）", size=7.2, font=GOTHIC)

    def draw_certification(self, statement: str, issued_on_text: str) -> None:
        """認証文, 交付年月日, 「佐賀市長　氏名」 and the 公印 over the end of the name."""
        c = self.c
        c.setFillColorRGB(*INK)
        self.text(LEFT + 28, CERT_TEXT_Y, statement, size=11.5)
        self.text(LEFT + 28, CERT_TEXT_Y - 26, issued_on_text, size=11.5)
        name_right = RIGHT - 50
        name_y = CERT_TEXT_Y - 58
        # The 公印 sits over the end of the name (印影は氏名の末尾にかけて押す).
        c.saveState()
        c.translate(name_right - SEAL_SIZE / 2 + 18, name_y - SEAL_SIZE / 2 + 5)
        c.doForm(FORM_SEAL)
        c.restoreState()
        c.setFillColorRGB(*INK)
        self.text(name_right, name_y, self.mayor_line, size=15, align="right")

    def draw_continued(self) -> None:
        self.text(RIGHT, BODY_BOTTOM - 14, "（次葉に続く）", size=10, align="right")

    def draw_specimen(self) -> None:
        c = self.c
        c.saveState()
        c.setFillColorRGB(0.85, 0.05, 0.05)
        c.setFillAlpha(0.22)
        c.translate(PAGE_W / 2, PAGE_H / 2)
        c.rotate(35)
        c.setFont(GOTHIC, 210)
        c.drawCentredString(0, -75, "見本")
        c.restoreState()

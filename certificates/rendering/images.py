"""An RGB picture in the PDF, compressed for speed (the 印影 of the 印鑑登録証明書).

ReportLab's ``drawImage`` compresses pixels at zlib's default level and first hashes them to name the
image. For a 300×300 seal that was the largest cost that only the 印鑑登録証明書 has (bench/render.py):
level 1 compresses the same pixels (losslessly) in less than half the time, and the PNG's own
digest names the image. The image is registered and drawn exactly as ``drawImage`` does it, through
ReportLab's document API (pinned version; tests read the pixels back from the PDF).
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any, cast

from PIL import Image
from reportlab import rl_config
from reportlab.lib.boxstuff import aspectRatioFix
from reportlab.pdfbase.pdfdoc import PDFImageXObject
from reportlab.pdfgen.canvas import Canvas


class _FastFlateImage(PDFImageXObject):
    def __init__(self, name: str, image: Image.Image) -> None:
        super().__init__(name)
        self.width, self.height = image.size
        self.bitsPerComponent = 8
        self.colorSpace = "DeviceRGB"
        # The stubs say str; ReportLab writes bytes as they are.
        self.streamContent = cast(Any, zlib.compress(image.tobytes(), 1))
        self._filters = ("FlateDecode",)


def draw_rgb_image(
    canvas: Canvas, image: Image.Image, *, source: bytes, x: float, y: float, width: float, height: float
) -> None:
    """Draw ``image`` (mode RGB) centred in the box, keeping its aspect ratio. ``source`` (the encoded
    file it came from) names it, so that the copies of one PDF share one image object."""
    if image.mode != "RGB":
        raise ValueError("draw_rgb_image draws RGB images only")
    if rl_config.useA85:  # a configuration this project does not use: ReportLab's own path
        canvas.drawImage(image, x, y, width=width, height=height, preserveAspectRatio=True, anchor="c")
        return
    pdf: Any = canvas  # ReportLab's document internals, as drawImage uses them (no public API)
    document = pdf._doc
    name = "Img" + hashlib.sha256(source).hexdigest()[:24]
    registered = document.getXObjectName(name)
    if document.idToObject.get(registered) is None:
        picture = _FastFlateImage(name, image)
        pdf._setXObjects(picture)
        document.Reference(picture, registered)
        document.addForm(name, picture)
    pdf._currentPageHasImages = 1
    x, y, width, height, _scaled = aspectRatioFix(True, "c", x, y, width, height, *image.size)
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(width, height)
    pdf._code.append(f"/{registered} Do")
    canvas.restoreState()
    pdf._formsinuse.append(name)  # the page's resources list the image

"""Regenerate docs/samples/*.png: each certificate type rendered from synthetic data (no database).

    .venv/bin/python scripts/render_samples.py     (needs pdftoppm from poppler-utils)

The pictures are what a clerk reviews when the layout changes; the PDFs are written next to them
only in a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saga_konbini.settings")


def main() -> None:
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

    samples = {
        "juminhyo_4persons": sample_juminhyo(),
        "juminhyo_6persons": sample_juminhyo(
            persons=SAMPLE_HOUSEHOLD, show_all_options=False, specimen=False
        ),
        "inkan": sample_inkan(),
        "shotoku_kazei": sample_shotoku_kazei(),
        "nozei": sample_nozei(),
    }
    out_dir = ROOT / "docs" / "samples"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, document in samples.items():
            pdf = render_certificate_pdf(
                copies=[RenderCopy(document=document, verification_payload=sample_payload(document))]
            )
            pdf_path = Path(tmp) / f"{name}.pdf"
            pdf_path.write_bytes(pdf)
            subprocess.run(
                ["pdftoppm", "-r", "100", "-png", str(pdf_path), str(out_dir / name)],
                check=True,
            )
            print(f"{name}: {len(pdf):,} bytes")
    for png in sorted(out_dir.glob("*.png")):
        _shrink(png)
        print(f"{png.name}: {png.stat().st_size:,} bytes")


def _shrink(png: Path) -> None:
    """A 64-colour palette keeps each picture small enough for the repository (< 400 KB)."""
    from PIL import Image

    with Image.open(png) as image:
        reduced = image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    reduced.save(png, optimize=True)


if __name__ == "__main__":
    main()

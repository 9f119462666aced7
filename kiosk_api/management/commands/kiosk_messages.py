"""makemessages for the languages residents may choose at the kiosk, over the texts residents see.

English (locale/en) covers the whole project. The other languages of settings.LANGUAGES cover only
what a resident reads: the kiosk API's messages, the offers' certificate names, the access history's
labels, the browser and command-line kiosks. Their catalogues sit in each of those apps' own
locale/ folder (Django merges them at run time), made by Django's makemessages restricted to the
files in RESIDENT_FACING, so that they can be complete while the admin and the audit screens stay
Japanese and English (saga_konbini/languages.py).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.commands import makemessages
from django.utils.translation import to_locale

# Paths from the project root (fnmatch patterns): the files whose texts residents see.
RESIDENT_FACING = (
    "kiosk_api/errors.py",
    "kiosk_api/exception_handler.py",
    "kiosk_api/labels.py",
    "kiosk_api/middleware.py",
    "kiosk_api/services/*.py",
    "audit/access_history.py",
    "simulators/kiosk_browser/*.py",
    "simulators/kiosk_client.py",
    "simulators/kiosk_texts.py",
    "simulators/management/commands/kiosk.py",
    "simulators/templates/kiosk_simulator/*.html",
)


def resident_languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES if code not in settings.STAFF_LANGUAGES]


def is_resident_facing(path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in RESIDENT_FACING)


class Command(makemessages.Command):
    help = "Collect the resident-facing texts into <app>/locale/<lang>/ for every kiosk-only language."

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.set_defaults(no_obsolete=True)

    def handle(self, *args: Any, **options: Any) -> None:
        root = Path(settings.BASE_DIR)
        # Each app's locale/ folder must exist before the walk, or its texts would go to locale/.
        for app in sorted({pattern.split("/", 1)[0] for pattern in RESIDENT_FACING}):
            if (root / app).is_dir():
                (root / app / "locale").mkdir(exist_ok=True)
        if not options["locale"]:
            options["locale"] = [to_locale(code) for code in resident_languages()]
        options["ignore_patterns"] = [*options["ignore_patterns"], ".venv", "var", "tests", "bench", "docs"]
        super().handle(*args, **options)

    def find_files(self, root: str) -> list[Any]:
        return [
            found
            for found in super().find_files(root)
            if is_resident_facing(str(Path(found.dirpath, found.file).relative_to(".")))
        ]

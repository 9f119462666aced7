"""Write docs/roles.md from the permission matrix in staff/roles.py (``--check``: only compare)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from staff import roles


def roles_doc_path() -> Path:
    return Path(settings.BASE_DIR) / "docs" / "roles.md"


class Command(BaseCommand):
    help = "権限表(staff/roles.py)から docs/roles.md を生成します。--check は差分の有無だけを確認します。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="exit non-zero when docs/roles.md is stale")

    def handle(self, *args: Any, **options: Any) -> None:
        path = roles_doc_path()
        text = roles.matrix_markdown()
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if options["check"]:
            if current != text:
                raise CommandError(f"{path} is stale: run manage.py roles_matrix")
            self.stdout.write(f"{path}: up to date")
            return
        path.write_text(text, encoding="utf-8")
        self.stdout.write(f"{path}: written")

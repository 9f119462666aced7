"""``manage.py setup_roles --app-role NAME --auditor-role NAME`` (SPEC §7), run as the owner.

Connects through ``DATABASE_OWNER_URL`` (the ``owner`` alias) whatever ``DATABASE_URL`` says, and
grants the application's and the auditors' roles exactly what ``audit/database_roles.py`` lists.
Run it after every ``migrate --database owner``: tables a migration adds get no rights until then.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext

from audit.database_roles import RoleSetupError, roles_setup


class Command(BaseCommand):
    help = "アプリケーションと監査のデータベースロールに必要な権限だけを付与します(所有者として実行)。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--app-role", required=True, help="アプリケーションが接続するロール")
        parser.add_argument("--auditor-role", required=True, help="監査の読み取り専用ロール")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            plan = roles_setup(app_role=options["app_role"], auditor_role=options["auditor_role"])
        except RoleSetupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(gettext("ロールの権限を設定しました(%(count)s 件の付与)。") % {"count": len(plan)})

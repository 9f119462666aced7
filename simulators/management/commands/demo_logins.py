"""Create the demo staff accounts, one per role (used by `make run`; never in production)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from staff import roles

# user name -> (role group or None for the superuser, display name)
DEMO_ACCOUNTS = {
    "admin": (None, "システム管理者"),
    "clerk": (roles.CLERK, "窓口職員"),
    "supervisor": (roles.SUPERVISOR, "係長"),
    "auditor": (roles.AUDITOR, "監査担当"),
}


class Command(BaseCommand):
    help = "デモ用の職員アカウント(役割ごとに1つ)を作成します。本番環境では使えません。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--passwords-json", required=True, help='{"admin": "...", "clerk": "...", ...}')

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("demo_logins is for the demo only, not for production")
        passwords = json.loads(options["passwords_json"])
        missing = set(DEMO_ACCOUNTS) - set(passwords)
        if missing:
            raise CommandError(f"passwords missing for: {', '.join(sorted(missing))}")
        user_model = get_user_model()
        with transaction.atomic():
            groups = roles.roles_ensure()
            for username, (role, display) in DEMO_ACCOUNTS.items():
                user, _ = user_model.objects.get_or_create(username=username)
                user.first_name = display
                # Everybody signs in through the admin's login page (/audit/ sends auditors there too);
                # auditors hold no admin permission, so the admin shows them nothing (staff/roles.py).
                user.is_staff = True
                user.is_superuser = role is None
                user.set_password(passwords[username])
                user.save()
                user.groups.set([groups[role]] if role else [])
        self.stdout.write(self.style.SUCCESS(f"{len(DEMO_ACCOUNTS)} demo accounts ready"))

"""SPEC §7: ``create_staff --username U --role clerk|supervisor|auditor|admin``."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import Actor
from staff.services import ROLE_GROUPS, StaffExistsError, staff_create


class Command(BaseCommand):
    help = (
        "職員アカウントを作成し、生成したパスワードとTOTPシークレットを最終行にJSONで表示します。"
        " / Creates a staff account; prints the generated password and TOTP secret as JSON on the last line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", required=True, choices=sorted(ROLE_GROUPS))

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"].strip()
        if not username:
            raise CommandError("ユーザー名が空です / the user name is empty")
        try:
            created = staff_create(username=username, role=options["role"], actor=Actor.job("create_staff"))
        except StaffExistsError as error:
            raise CommandError(
                f"ユーザー名 {username} は既に使われています。既存のアカウントは変更しません"
                f" / the user name {username} is already taken; the existing account is left unchanged"
            ) from error
        except ValidationError as error:
            raise CommandError(
                f"ユーザー名が正しくありません / invalid user name: {' '.join(error.messages)}"
            ) from error
        self.stdout.write(
            "職員アカウントを作成しました。パスワードとTOTPシークレット(認証アプリに登録)はこの一度だけ表示されます"
            " / Staff account created. The password and the TOTP secret (for the authenticator app) are"
            " shown this once only"
        )
        self.stdout.write(
            json.dumps(
                {"username": username, "password": created.password, "totp_secret": created.totp_secret},
                ensure_ascii=False,
            )
        )

"""``manage.py register_terminal --name NAME --chain CHAIN --store CODE`` (SPEC §7).

Prints the new token on its last line, once: it is stored only as a hash.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import Actor
from kiosk_api.models import Terminal
from kiosk_api.services import terminal_register


def _chain_value(raw: str) -> str:
    """Accept the code (``lawson``) or the Japanese label (``ローソン``)."""
    for value, label in Terminal.Chain.choices:
        if raw in (value, label):
            return value
    return raw


class Command(BaseCommand):
    help = "キオスク端末を登録し、端末トークンを最終行に一度だけ表示します。"

    def add_arguments(self, parser: CommandParser) -> None:
        chains = ", ".join(f"{value} ({label})" for value, label in Terminal.Chain.choices)
        parser.add_argument("--name", required=True, help="端末名")
        parser.add_argument("--chain", required=True, help=f"チェーン: {chains}")
        parser.add_argument("--store", required=True, help="店舗コード")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            terminal, token = terminal_register(
                name=options["name"],
                chain=_chain_value(options["chain"]),
                store_code=options["store"],
                actor=Actor.job("register_terminal"),
            )
        except ValidationError as exc:
            messages = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.message_dict.items())
            raise CommandError(f"端末を登録できません: {messages}") from exc
        self.stdout.write(
            f"端末を登録しました: {terminal} (ID {terminal.pk}, 識別子 {terminal.token_prefix})"
        )
        self.stdout.write("次の端末トークンは今回だけ表示されます。端末に設定してください。")
        self.stdout.write(token)

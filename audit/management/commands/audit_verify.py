"""``manage.py audit_verify`` (SPEC §7): exit 0 when the chain and its checkpoints hold.

Otherwise it prints the first break (the event's seq and what is wrong) and exits with status 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation
from django.utils.translation import gettext

from audit.keyring import checkpoint_keyring
from audit.verification import chain_verify


class Command(BaseCommand):
    help = "監査ログのハッシュチェーンと署名付きチェックポイントをすべて検証します。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoint-dir",
            type=Path,
            default=None,
            help="チェックポイントファイルの場所(既定: AUDIT_CHECKPOINT_DIR)",
        )
        parser.add_argument("--chunk-size", type=int, default=5000, help="一度に読むイベント数")

    def handle(self, *args: Any, **options: Any) -> None:
        # In the site's language (Japanese), whatever language the caller left active: Django runs
        # a command in the active one, and a process that served an English request keeps it.
        with translation.override(settings.LANGUAGE_CODE):
            self._verify(options)

    def _verify(self, options: dict[str, Any]) -> None:
        if options["chunk_size"] < 1:
            raise CommandError(gettext("--chunk-size は 1 以上にしてください"))
        try:
            keyring = checkpoint_keyring()
        except ImproperlyConfigured as exc:
            # A bad key bundle is the operator's to fix: say which setting, without a traceback.
            raise CommandError(str(exc)) from exc
        report = chain_verify(checkpoint_dir=options["checkpoint_dir"], chunk_size=options["chunk_size"])
        summary = gettext(
            "検証したイベント: %(events)s 件 / チェックポイント: %(checkpoints)s 件"
            " / 未連結(連結待ち): %(pending)s 件"
        ) % {
            "events": report.events_checked,
            "checkpoints": report.checkpoints_checked,
            "pending": report.pending,
        }
        keys = gettext(
            "現在の署名鍵: %(key_id)s / 信頼する退役鍵: %(retired)s 個 / チェックポイントの署名鍵: %(seen)s"
        ) % {
            "key_id": keyring.current_key_id,
            "retired": keyring.retired_count,
            "seen": " → ".join(report.key_ids) or "—",
        }
        if report.first_break is not None:
            problem = report.first_break
            self.stderr.write(summary)
            self.stderr.write(keys)
            where = f"seq={problem.seq}" if problem.seq is not None else f"event_id={problem.event_id}"
            raise CommandError(
                gettext("監査ログの検証に失敗しました [%(code)s] %(where)s: %(message)s")
                % {"code": problem.code, "where": where, "message": problem.message}
            )
        self.stdout.write(summary)
        self.stdout.write(keys)
        self.stdout.write(
            self.style.SUCCESS(gettext("監査ログは完全です(チェーンとチェックポイントを確認しました)。"))
        )

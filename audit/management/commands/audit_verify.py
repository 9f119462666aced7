"""``manage.py audit_verify`` (SPEC §7): exit 0 when the chain and its checkpoints hold.

Otherwise it prints the first break (the event's seq and what is wrong) and exits with status 1.

``--since-last`` reads only what was added after the newest checkpoint that an earlier run of this
command proved (kept in ``--state-dir``, outside the database: the database's owner must not be able
to move it), joined to it by the RFC 6962 consistency proof: a daily run costs the day's events,
not the whole log. Every successful run, full or not, keeps the newest checkpoint it proved there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation
from django.utils.translation import gettext

from audit.checkpoints import json_file_write_atomic
from audit.keyring import checkpoint_keyring
from audit.verification import VerifiedPoint, chain_verify

STATE_FILE = "verified-checkpoint.json"


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
        parser.add_argument(
            "--since-last",
            action="store_true",
            help="前回この検証で確認したチェックポイント以降だけを読み、整合性証明でつなぐ",
        )
        parser.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help="確認済みチェックポイントの保存先(既定: AUDIT_VERIFY_STATE_DIR)",
        )

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
        state_dir = options["state_dir"] or settings.AUDIT_VERIFY_STATE_DIR
        state = Path(state_dir) / STATE_FILE if state_dir else None
        if options["since_last"] and state is None:
            raise CommandError(
                gettext(
                    "--since-last には、アプリケーションが書き込めない保存先"
                    "(AUDIT_VERIFY_STATE_DIR または --state-dir)が必要です"
                )
            )
        since = _read_state(state) if options["since_last"] and state is not None else None
        if options["since_last"] and since is None:
            self.stdout.write(gettext("前回の検証記録がないため、全件を検証します。"))
        report = chain_verify(
            checkpoint_dir=options["checkpoint_dir"], chunk_size=options["chunk_size"], since=since
        )
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
        if report.verified_point is not None and state is not None:
            _write_state(state, report.verified_point)
        if since is not None:
            self.stdout.write(
                gettext("件数 %(size)s のチェックポイント(前回確認済み)以降を検証しました。")
                % {"size": since.tree_size}
            )
        self.stdout.write(summary)
        self.stdout.write(keys)
        self.stdout.write(
            self.style.SUCCESS(gettext("監査ログは完全です(チェーンとチェックポイントを確認しました)。"))
        )


def _read_state(path: Path) -> VerifiedPoint | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CommandError(f"{path}: {exc.__class__.__name__}") from None
    try:
        return VerifiedPoint.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError):
        # Never fall back silently to trusting less: the operator removes the file for a full run.
        raise CommandError(
            gettext("%(path)s は検証記録として読めません(全件を検証するには削除してください)")
            % {"path": path}
        ) from None


def _write_state(path: Path, point: VerifiedPoint) -> None:
    json_file_write_atomic(path, point.as_json())

"""``manage.py sync_run``: apply every pending batch now, as the periodic job does (SPEC §7)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sync.errors import Misconfigured, RetryLater
from sync.services import sync_run

# Exit codes, so that an operator's script can tell why the line stopped.
EXIT_STOPPED = 2  # gap or rejected batch
EXIT_OUTAGE = 3  # inbox unavailable
EXIT_MISCONFIGURED = 4


class Command(BaseCommand):
    help = (
        "受信フォルダの未処理の連携バッチをすべて番号順に適用します / "
        "Apply every pending core-system batch now. "
        f"Exit 0 when the line is caught up, {EXIT_STOPPED} when it stops at a gap or a rejected batch, "
        f"{EXIT_OUTAGE} when the inbox is unavailable, {EXIT_MISCONFIGURED} when misconfigured."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = sync_run()
        except RetryLater as exc:
            raise CommandError(
                f"受信フォルダに接続できません / inbox unavailable: {exc.message}", returncode=EXIT_OUTAGE
            ) from exc
        except Misconfigured as exc:
            raise CommandError(
                f"設定の誤り / misconfigured: {exc.message}", returncode=EXIT_MISCONFIGURED
            ) from exc
        for outcome in result.outcomes:
            if outcome.status == "applied":
                self.stdout.write(
                    f"適用 / applied      {outcome.number:010d} ({outcome.kind}): "
                    f"{outcome.records_applied} 件適用 / applied, "
                    f"{outcome.records_quarantined} 件保留 / quarantined"
                )
            elif outcome.status == "rejected":
                self.stdout.write(
                    f"受付拒否 / rejected {outcome.number:010d}: [{outcome.reason_code}] {outcome.reason}"
                )
            else:
                self.stdout.write(
                    f"再保管 / archived leftover {outcome.number:010d} (適用済み / already applied)"
                )
        if not result.outcomes:
            self.stdout.write("適用した連携はありません / nothing applied.")
        if result.line_stopped:
            raise CommandError(
                f"連携は停止しています / the line is stopped ({result.stopped}): {result.message}",
                returncode=EXIT_STOPPED,
            )
        if result.message:
            self.stdout.write(result.message)

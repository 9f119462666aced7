"""``manage.py seed_demo``: a synthetic Saga City, its cards and a full batch, applied (SPEC §7)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit.services import Actor
from simulators.city.population import OTHER, SCENARIOS
from simulators.city.seeding import SeedError, demo_seed

SCENARIO_LABELS_JA = {
    "ok": "全種類交付可",
    "ok_single": "単身世帯",
    "no_seal": "印鑑登録なし",
    "seal_abolished": "印鑑登録廃止",
    "moving_out": "転出予定",
    "moved_out": "転出済",
    "deceased": "死亡",
    "support_measure": "支援措置",
    "clerk_stop": "交付停止",
    "pending_change": "異動中",
    "household_pending_change": "世帯員が異動中",
    "no_tax_record": "課税・納税情報なし",
    "under_15": "15歳未満",
    "adult_ward": "成年被後見人",
    "gaiji": "外字",
    "linked_today": "本日紐付け",
    "expired_cert": "証明書期限切れ",
    "revoked_cert": "証明書失効",
    "unlinked_cert": "紐付けなし",
    "untrusted_cert": "信頼されない認証局",
    "smartphone_ok": "スマホ交付可",
    "smartphone_revoked": "スマホ失効(カード可)",
    OTHER: "その他",
}


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(
            f"--today は YYYY-MM-DD 形式で指定してください / --today must be YYYY-MM-DD: {value}"
        ) from exc


class Command(BaseCommand):
    help = (
        "佐賀市の合成住民データ・テスト認証局・カードファイルを作成し、全件連携バッチを適用します / "
        "Seed a synthetic Saga City: population, test CA, card files, a full batch applied."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--residents", type=int, required=True, help="住民数の目安 / number of residents")
        parser.add_argument(
            "--cards", type=Path, required=True, help="カードファイルの出力先 / card files folder"
        )
        parser.add_argument("--seed", type=int, default=41201, help="乱数の種 / random seed (default 41201)")
        parser.add_argument("--today", type=str, default="", help="基準日 / the simulated today (YYYY-MM-DD)")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            # Synthetic residents in the real mirror, a test CA and a demo terminal with a live token.
            raise CommandError(
                "seed_demo はデモ専用です。本番環境では使えません / "
                "seed_demo is for demos only, not for production"
            )
        residents: int = options["residents"]
        if residents < 1:
            raise CommandError("--residents は1以上で指定してください / --residents must be at least 1")
        today = _day(options["today"]) if options["today"] else timezone.localdate()
        cards_dir: Path = options["cards"].resolve()
        started = time.monotonic()
        self.stdout.write(
            f"住民データを生成します / generating about {residents} residents "
            f"(seed {options['seed']}, today {today.isoformat()})"
        )

        def progress(done: int, total: int) -> None:
            if done == total or done % 200 == 0:
                self.stdout.write(f"  カード作成 / cards {done}/{total}")

        try:
            result = demo_seed(
                residents=residents,
                seed=options["seed"],
                today=today,
                cards_dir=cards_dir,
                inbox=Path(settings.SYNC_INBOX_DIR),
                pki_dir=Path(settings.KONBINI_PKI_DIR),
                actor=Actor.job("seed_demo"),
                progress=progress,
            )
        except SeedError as exc:
            raise CommandError(str(exc)) from exc
        world = result.world
        sync = result.sync
        applied = next(o for o in sync.applied if o.number == result.batch.number) if sync else None
        self.stdout.write(
            f"世帯 / households {len(world.households)}, 住民 / residents {len(world.residents())}, "
            f"印鑑登録 / seals {len(world.seals)}, 課税 / assessments {len(world.tax_records)}, "
            f"納税 / payments {len(world.payments)}, カード / cards {len(world.cards)}"
        )
        if result.cards_removed:
            self.stdout.write(f"以前のカードファイルを削除 / old card files removed: {result.cards_removed}")
        self.stdout.write(f"カードファイル / card files: {cards_dir} ({len(result.card_files)})")
        self.stdout.write(
            f"テスト認証局(カード・スマホ) / test CAs (card, smartphone): {settings.KONBINI_PKI_DIR}"
        )
        if result.crl_loaded:
            self.stdout.write("失効リストを取り込みました / CRLs loaded")
        else:
            self.stdout.write(
                "失効リストを取り込めませんでした(定期処理で再試行します) / "
                "CRLs not loaded (the periodic job retries): check KONBINI_TRUSTED_CA_FILES"
            )
        if applied is not None:
            self.stdout.write(
                f"連携バッチ / batch {result.batch.number:010d} (full): "
                f"{applied.records_applied} 件適用 / applied, "
                f"{applied.records_quarantined} 件保留 / quarantined"
            )
        self.stdout.write(f"交付停止 / clerk stops set: {result.stops_created}")
        self.stdout.write(f"デモ端末のトークン / demo terminal token: {result.terminal_file}")
        self.stdout.write("シナリオ別カード数 / cards per scenario:")
        counts = world.scenario_counts()
        for label in (*SCENARIOS, OTHER):
            self.stdout.write(f"  {label:<26} {SCENARIO_LABELS_JA[label]:<12} {counts.get(label, 0):>6}")
        phases = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in result.seconds.items())
        self.stdout.write(f"所要時間 / elapsed {time.monotonic() - started:.1f} s ({phases})")

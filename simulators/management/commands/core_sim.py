"""``manage.py core_sim``: the core-system simulator (SPEC §7).

- ``core_sim changes --count K [--seed S] [--today YYYY-MM-DD] [--cards DIR]``: a realistic delta
  batch into the inbox, consistent with the current mirror (new card files into DIR when given;
  holders of scenario-labelled cards in DIR are left untouched).
- ``core_sim revoke --serial HEX [--credential card|smartphone]``: revoke a certificate at the test CA
  that issued it (the card's, or the smartphone's) and republish that CA's CRL.
- ``core_sim crl``: republish both test CAs' CRLs (a fresh next-update date).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from simulators.core_system import EVENT_WEIGHTS, changes_write
from simulators.jpki import (
    certificate_revoke,
    crl_publish,
    serial_hex,
    smartphone_ca_load_or_create,
    test_ca_load_or_create,
)

EVENT_LABELS_JA = {
    "birth": "出生",
    "death": "死亡",
    "move_in": "転入",
    "move_out": "転出(予定・確定)",
    "move_within": "転居",
    "marriage": "婚姻",
    "seal_register": "印鑑登録",
    "seal_abolish": "印鑑登録廃止",
    "tax_late_return": "期限後申告",
    "tax_payment": "納付",
    "new_card": "カード新規交付",
}


class Command(BaseCommand):
    help = (
        "基幹系システムのシミュレータ: 異動の差分連携バッチを作成します / "
        "Core-system simulator: write a delta batch of realistic changes, or revoke a card."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        changes = sub.add_parser("changes", help="差分バッチを受信フォルダへ / write a delta batch")
        changes.add_argument("--count", type=int, required=True, help="異動の件数 / number of events")
        changes.add_argument("--seed", type=int, default=None, help="乱数の種 / random seed")
        changes.add_argument("--today", type=str, default="", help="基準日 / simulated today (YYYY-MM-DD)")
        changes.add_argument(
            "--cards", type=Path, default=None, help="カードファイルの出力先 / card files folder"
        )
        revoke = sub.add_parser("revoke", help="証明書を失効させる / revoke a card certificate")
        revoke.add_argument("--serial", type=str, required=True, help="シリアル番号(16進) / serial (hex)")
        revoke.add_argument(
            "--credential",
            choices=["card", "smartphone"],
            default="card",
            help="マイナンバーカード(card)かスマートフォン(smartphone)か / whose CA revokes it",
        )
        sub.add_parser("crl", help="失効リストを再発行 / republish the CRLs")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            # Its batches would be applied to the real mirror by the periodic sync; its CA is the test CA.
            raise CommandError(
                "core_sim はデモ専用です。本番環境では使えません / "
                "core_sim is for demos only, not for production"
            )
        pki_dir = Path(settings.KONBINI_PKI_DIR)
        action = options["action"]
        if action == "revoke":
            try:
                serial = int(options["serial"], 16)
            except ValueError as exc:
                raise CommandError(
                    "--serial は16進数で指定してください / --serial must be hexadecimal"
                ) from exc
            if serial <= 0:
                raise CommandError("--serial は正の値です / --serial must be positive")
            load = (
                smartphone_ca_load_or_create
                if options["credential"] == "smartphone"
                else test_ca_load_or_create
            )
            certificate_revoke(ca=load(pki_dir=pki_dir), serial=serial)
            self.stdout.write(f"失効しました / revoked {serial_hex(serial)} ({options['credential']})")
            return
        if action == "crl":
            for credential, load in (
                ("card", test_ca_load_or_create),
                ("smartphone", smartphone_ca_load_or_create),
            ):
                crl = crl_publish(ca=load(pki_dir=pki_dir))
                self.stdout.write(
                    f"失効リストを発行しました / CRL published ({credential}, {len(list(crl))} revoked)"
                )
            return
        count: int = options["count"]
        if count < 0:
            raise CommandError("--count は0以上で指定してください / --count must not be negative")
        if options["today"]:
            try:
                today = date.fromisoformat(options["today"])
            except ValueError as exc:
                raise CommandError("--today は YYYY-MM-DD 形式です / --today must be YYYY-MM-DD") from exc
        else:
            today = timezone.localdate()
        # Without --seed every run differs (a new day's changes); with it, runs are reproducible.
        seed = options["seed"] if options["seed"] is not None else int(timezone.now().timestamp())
        result = changes_write(
            count=count,
            seed=seed,
            today=today,
            inbox=Path(settings.SYNC_INBOX_DIR),
            pki_dir=pki_dir,
            cards_dir=options["cards"].resolve() if options["cards"] else None,
        )
        events = result.changes.events
        self.stdout.write(
            f"差分バッチ / delta batch {result.batch.number:010d}: {result.batch.records} 件 / records "
            f"({sum(events.values())} 件の異動 / events)"
        )
        for kind in EVENT_WEIGHTS:
            if events.get(kind):
                self.stdout.write(f"  {kind:<16} {EVENT_LABELS_JA[kind]:<12} {events[kind]:>5}")
        if result.card_files:
            self.stdout.write(f"カードファイル / new card files: {len(result.card_files)}")

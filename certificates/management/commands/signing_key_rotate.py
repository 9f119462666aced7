"""manage.py signing_key_rotate [--key-dir DIR] | --compromised KEYID --reason TEXT (SPEC §7).

Without options: the one installed key not yet published becomes active and the active key is
retired (it keeps verifying the documents it signed). ``--compromised``: the key is revoked at once
(its documents answer 無効); if it was the active key, the next installed key becomes active in the
same run, and without one kiosk issuance stops until a key is installed and this command is run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit.services import Actor
from certificates.key_rotation import RotationRefused, signing_key_compromise, signing_key_rotate


class Command(BaseCommand):
    help = (
        "証明書の発行用署名鍵を切り替えます(次の鍵を使用開始し、前の鍵は検証用に公開したまま使用を終えます)。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--key-dir",
            type=Path,
            default=None,
            help="使用を始める鍵のフォルダ(KONBINI_SIGNING_DIR の直下)。未公開の鍵が一つなら省略できます",
        )
        parser.add_argument(
            "--compromised",
            metavar="KEYID",
            default=None,
            help="漏えいした鍵を直ちに失効させます(その鍵で署名された証明書はすべて無効になります)",
        )
        parser.add_argument("--reason", default="", help="失効の理由(--compromised のとき必須)")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.job("signing_key_rotate")
        try:
            if options["compromised"]:
                self._compromise(options, actor)
                return
            self._rotate(options["key_dir"], actor)
        except RotationRefused as exc:
            raise CommandError(str(exc)) from exc

    def _compromise(self, options: dict[str, Any], actor: Actor) -> None:
        key_id = options["compromised"]
        was_active = signing_key_compromise(
            key_id=key_id, reason=options["reason"], actor=actor, now=timezone.now()
        )
        self.stdout.write(
            f"鍵 {key_id} を失効させました。この鍵で署名された証明書は、照合で無効と表示されます。"
        )
        if not was_active:
            return
        try:
            self._rotate(options["key_dir"], actor)
        except RotationRefused as exc:
            raise CommandError(f"使用中の鍵を失効させたため、コンビニ交付は停止しています。{exc}") from exc

    def _rotate(self, key_dir: Path | None, actor: Actor) -> None:
        rotation = signing_key_rotate(actor=actor, now=timezone.now(), key_dir=key_dir)
        key = rotation.activated
        root = key.chain[-1].subject.rfc4514_string()
        self.stdout.write(f"鍵 {key.key_id} の使用を開始しました(証明書チェーンのルート: {root})。")
        if rotation.retired_key_id:
            self.stdout.write(
                f"鍵 {rotation.retired_key_id} の使用を終えました。検証用に /verify/keys で公開を続けます。"
            )
        self.stdout.write(f"key_id={key.key_id}")

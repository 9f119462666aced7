"""``manage.py audit_key_new --out PATH``: the next audit checkpoint key, for a rotation.

Writes a new Ed25519 private key (PKCS#8 PEM) to PATH, readable by its owner only, and prints only
its public key and key_id with the steps of the rotation (docs/operations.md). The private key
never reaches the terminal, where scrollback and session logs would keep it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation
from django.utils.translation import gettext

from audit.checkpoints import key_id_for, private_key_pem
from audit.keyring import public_key_pem


class Command(BaseCommand):
    help = "監査チェックポイントの次の署名鍵(Ed25519)を作成します(鍵の更新用)。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--out",
            type=Path,
            required=True,
            help="新しい秘密鍵を書き出すファイル(既存のファイルは上書きしません)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Japanese whatever language the caller left active, like audit_verify.
        with translation.override(settings.LANGUAGE_CODE):
            self._create(options["out"])

    def _create(self, path: Path) -> None:
        key = Ed25519PrivateKey.generate()
        _write_new_file(path, private_key_pem(key))
        public_key = key.public_key()
        key_id = key_id_for(public_key)
        self.stdout.write(gettext("新しい署名鍵を %(path)s に書き出しました(権限 0600)。") % {"path": path})
        self.stdout.write(gettext("鍵ID: %(key_id)s") % {"key_id": key_id})
        self.stdout.write(gettext("公開鍵:"))
        self.stdout.write(public_key_pem(public_key).rstrip("\n"))
        self.stdout.write(gettext("鍵の更新の手順:"))
        for step in (
            gettext(
                "1. 現在の署名鍵の公開鍵(openssl pkey -in 現在の鍵 -pubout)を"
                " AUDIT_RETIRED_PUBLIC_KEYS(または AUDIT_RETIRED_PUBLIC_KEYS_FILE)の末尾に追加する"
            ),
            gettext(
                "2. AUDIT_SIGNING_KEY(または AUDIT_SIGNING_KEY_FILE)をこの新しい鍵にする。"
                "AUDIT_PUBLIC_KEY を使うホストでは上の公開鍵に替える"
            ),
            gettext("3. web・worker・beat をすべて再起動する"),
            gettext(
                "4. manage.py audit_verify を実行し、現在の署名鍵が %(key_id)s であることと、"
                "検証が成功することを確かめる"
            )
            % {"key_id": key_id},
        ):
            self.stdout.write(step)


def _write_new_file(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only; never replace a file (it may be the key in use)."""
    try:
        # O_EXCL also refuses a symlink planted at the path; the mode is set at creation, so the key
        # is never readable by others, not even for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise CommandError(gettext("%(path)s は既にあります。上書きはしません") % {"path": path}) from exc
    except OSError as exc:
        raise CommandError(
            gettext("%(path)s を作成できません: %(reason)s") % {"path": path, "reason": exc.strerror}
        ) from exc
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
    except OSError as exc:
        # A partial key file must not be mistaken for a key later.
        path.unlink(missing_ok=True)
        raise CommandError(
            gettext("%(path)s を作成できません: %(reason)s") % {"path": path, "reason": exc.strerror}
        ) from exc

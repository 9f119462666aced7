"""``manage.py audit_checkpoint`` (SPEC §7): seal pending audit events and sign a checkpoint now.

What the periodic job does (``audit.tasks.audit_checkpoint_task``), for an operator on the host that
holds the checkpoint key (in production, the audit-signer's). Exit 0 whether or not the chain grew;
non-zero, naming the first broken link, when the events added since the last checkpoint do not hold.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from audit.chain import ChainBroken
from audit.checkpoints import CheckpointUntrusted
from audit.signing import checkpoint_sign


class Command(BaseCommand):
    help = "監査ログのチェックポイントに署名して保存します (sign an audit checkpoint now)"

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            checkpoint = checkpoint_sign()
        except (ImproperlyConfigured, CheckpointUntrusted) as exc:
            raise CommandError(str(exc)) from exc
        except ChainBroken as broken:
            problem = broken.problem
            raise CommandError(
                f"チェーンが壊れています / the chain does not hold [{problem.code}] seq={problem.seq}"
            ) from None
        if checkpoint is None:
            self.stdout.write("新しい記録はありません / nothing new to sign: the log has not grown")
            return
        self.stdout.write(
            f"チェックポイントに署名しました / checkpoint signed: tree size {checkpoint.tree_size}, "
            f"root {checkpoint.root_hash[:16]}…, key {checkpoint.key_id}"
        )

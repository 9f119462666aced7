"""Audit events (SPEC §6): who accessed which residents' data, when, from where, and the outcome.

Events are written only through ``audit.services.audit_record``, in the same transaction as the
act they record. Residents are referenced by internal id as plain integers (no foreign keys): the
log must outlive any change to the mirror and must never cascade.

The log is append-only twice over: on PostgreSQL, triggers (migration 0002) refuse UPDATE, DELETE
and TRUNCATE on every table below except the chain head (a lock row) and the pending queue; on
any database, the models and querysets here refuse updates and deletes, so a programming error
fails loudly in tests on SQLite too. The hash chain (``AuditChainLink``) and the signed checkpoints
(``AuditCheckpoint``) make an edit behind the application's back visible to ``audit_verify``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from audit.chain import ChainBreak


class AuditLogImmutableError(RuntimeError):
    """Someone tried to change or remove a row of the audit log."""


class AppendOnlyQuerySet(models.QuerySet):
    """A queryset that can read and insert but never update or delete."""

    def update(self, **kwargs: Any) -> int:
        raise AuditLogImmutableError(f"{self.model._meta.label}: the audit log cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditLogImmutableError(f"{self.model._meta.label}: the audit log cannot be deleted from")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        raise AuditLogImmutableError(f"{self.model._meta.label}: the audit log cannot be updated")

    def update_or_create(self, *args: Any, **kwargs: Any) -> Any:
        raise AuditLogImmutableError(f"{self.model._meta.label}: the audit log cannot be updated")


class AppendOnlyModel(models.Model):
    """Rows are inserted once and never saved again nor deleted."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditLogImmutableError(f"{self._meta.label}: the audit log cannot be updated")
        # force_insert: a preset primary key must never turn an insert into an UPDATE.
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditLogImmutableError(f"{self._meta.label}: the audit log cannot be deleted from")


class AuditEvent(AppendOnlyModel):
    class ActorKind(models.TextChoices):
        TERMINAL = "terminal", _("キオスク端末")
        CLERK = "clerk", _("職員")
        AUDITOR = "auditor", _("監査担当")
        JOB = "job", _("バッチ処理")
        PUBLIC = "public", _("一般(照合ページ)")
        SYSTEM = "system", _("システム")

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("成功")
        REFUSED = "refused", _("拒否")
        FAILURE = "failure", _("失敗")

    occurred_at = models.DateTimeField(_("日時"), db_index=True)
    actor_kind = models.CharField(_("実行者種別"), max_length=10, choices=ActorKind.choices)
    actor_id = models.CharField(_("実行者ID"), max_length=64)
    actor_label = models.CharField(_("実行者"), max_length=200)
    action = models.CharField(_("操作"), max_length=64, db_index=True)
    outcome = models.CharField(_("結果"), max_length=8, choices=Outcome.choices)
    reason = models.CharField(_("理由"), max_length=64, blank=True)
    resident_ids = models.JSONField(_("対象住民(内部ID)"), default=list)
    certificate_numbers = models.JSONField(_("交付番号"), default=list)
    source = models.CharField(_("接続元"), max_length=64, blank=True)
    request_id = models.CharField(_("リクエストID"), max_length=64, blank=True)
    payload = models.JSONField(_("詳細"), default=dict)

    class Meta:
        verbose_name = _("監査ログ")
        verbose_name_plural = _("監査ログ")
        indexes = [models.Index(fields=["actor_kind", "actor_id"], name="audit_actor_idx")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action}"


class AuditEventResident(AppendOnlyModel):
    """One row per (event, resident) so that "who saw this resident" is an indexed lookup."""

    event = models.ForeignKey(AuditEvent, on_delete=models.PROTECT, related_name="subjects")
    resident_id = models.BigIntegerField(_("住民(内部ID)"), db_index=True)

    class Meta:
        verbose_name = _("監査対象住民")
        verbose_name_plural = _("監査対象住民")
        constraints = [models.UniqueConstraint(fields=["event", "resident_id"], name="audit_subject_unique")]
        # A resident's access history and the auditors' resident search read newest first.
        indexes = [models.Index(fields=["resident_id", "-event"], name="audit_subject_history_idx")]

    def __str__(self) -> str:
        return f"{self.event_id}:{self.resident_id}"


class AuditPending(models.Model):
    """Events committed but not yet chained: the sealer's work queue (see audit/chain.py).

    Not part of the log itself: the sealer deletes a row when it chains its event. An event that
    is neither chained nor pending is reported by ``audit_verify`` as a break.
    """

    event = models.OneToOneField(AuditEvent, on_delete=models.PROTECT, primary_key=True, related_name="+")

    class Meta:
        verbose_name = _("未連結の監査ログ")
        verbose_name_plural = _("未連結の監査ログ")

    def __str__(self) -> str:
        return f"pending {self.event_id}"


class AuditChainLink(AppendOnlyModel):
    """The event's place in the hash chain: ``seq`` 1, 2, 3... without gaps (audit/chain.py)."""

    seq = models.BigIntegerField(_("連番"), primary_key=True)
    event = models.OneToOneField(
        AuditEvent, on_delete=models.PROTECT, related_name="link", verbose_name=_("監査ログ")
    )
    prev_hash = models.CharField(_("直前のハッシュ"), max_length=64)
    hash = models.CharField(_("ハッシュ"), max_length=64)
    sealed_at = models.DateTimeField(_("連結日時"))

    class Meta:
        verbose_name = _("ハッシュチェーン")
        verbose_name_plural = _("ハッシュチェーン")

    def __str__(self) -> str:
        return f"#{self.seq} {self.hash[:12]}"


class AuditChainHead(models.Model):
    """The single row whose lock serialises sealing; it caches the last link (seq, hash)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(_("最終連番"), default=0)
    hash = models.CharField(_("最終ハッシュ"), max_length=64)

    class Meta:
        verbose_name = _("チェーン先頭")
        verbose_name_plural = _("チェーン先頭")

    def __str__(self) -> str:
        return f"head #{self.seq}"


class AuditCheckpoint(AppendOnlyModel):
    """A signed statement of the Merkle root over the first ``tree_size`` chained events."""

    tree_size = models.BigIntegerField(_("件数"), unique=True)
    root_hash = models.CharField(_("Merkleルート"), max_length=64)
    chain_hash = models.CharField(_("最終イベントのハッシュ"), max_length=64)
    created_at = models.DateTimeField(_("作成日時"))
    key_id = models.CharField(_("署名鍵ID"), max_length=64)
    signature = models.CharField(_("署名(base64)"), max_length=200)
    # The right edge of the Merkle tree (hashes of its perfect subtrees, largest first), so the
    # next checkpoint adds only the new leaves. Not trusted by audit_verify, which recomputes.
    frontier = models.JSONField(_("Merkle右端"), default=list)

    class Meta:
        verbose_name = _("署名付きチェックポイント")
        verbose_name_plural = _("署名付きチェックポイント")

    def __str__(self) -> str:
        return f"checkpoint {self.tree_size} {self.root_hash[:12]}"


class AuditMerkleNode(AppendOnlyModel):
    """The hash of one perfect, aligned subtree of the RFC 6962 tree over the chained events:
    leaves [index·2^level, (index+1)·2^level). Written by the checkpoint job as the tree grows, so
    that a consistency proof between any two checkpointed sizes is a few reads, not a rehash of
    the log (audit/transparency.py). Only levels from ``STORED_FROM_LEVEL`` up are kept: the
    subtrees below cover at most 2^level events, cheap to rehash from their chain links, and
    skipping them keeps this table at about a sixteenth of the events' count.

    Not trusted by ``audit_verify``, which recomputes every node it checks from the links.
    """

    STORED_FROM_LEVEL = 4

    level = models.PositiveSmallIntegerField(_("高さ"))
    index = models.BigIntegerField(_("位置"))
    hash = models.CharField(_("ハッシュ"), max_length=64)

    class Meta:
        verbose_name = _("Merkle部分木")
        verbose_name_plural = _("Merkle部分木")
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="audit_merkle_node_unique")]

    def __str__(self) -> str:
        return f"node {self.level}:{self.index}"


class AuditVerificationRun(models.Model):
    """One verification asked for on the auditors' chain page, run by ``audit_verify_task``.

    Not part of the log: it tracks the job so the page can show its progress and result. The
    outcome is also recorded in the log itself, as the ``audit.verify`` event.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("待機中")
        RUNNING = "running", _("実行中")
        OK = "ok", _("異常なし")
        BROKEN = "broken", _("異常あり")
        ERROR = "error", _("エラー")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("依頼者")
    )
    requested_at = models.DateTimeField(_("依頼日時"), auto_now_add=True)
    started_at = models.DateTimeField(_("開始日時"), null=True, blank=True)
    finished_at = models.DateTimeField(_("終了日時"), null=True, blank=True)
    status = models.CharField(_("状態"), max_length=8, choices=Status.choices, default=Status.QUEUED)
    # The break's message is worded in the language of the auditor who asked.
    language = models.CharField(_("言語"), max_length=16)
    events_checked = models.BigIntegerField(_("確認した記録"), default=0)
    checkpoints_checked = models.IntegerField(_("確認したチェックポイント"), default=0)
    pending = models.BigIntegerField(_("連結待ち"), default=0)
    key_ids = models.JSONField(_("署名鍵ID"), default=list)
    break_code = models.CharField(_("異常の種別"), max_length=64, blank=True)
    break_seq = models.BigIntegerField(_("異常の連番"), null=True, blank=True)
    break_event_id = models.BigIntegerField(_("異常のイベントID"), null=True, blank=True)
    break_message = models.TextField(_("異常の内容"), blank=True)

    class Meta:
        verbose_name = _("改ざん検証の実行")
        verbose_name_plural = _("改ざん検証の実行")

    def __str__(self) -> str:
        return f"verification {self.pk} {self.status}"

    # ``ok`` and ``first_break`` make a finished run read like a VerificationReport, so the chain
    # page shows both the same way.
    @property
    def ok(self) -> bool:
        return self.status == self.Status.OK

    @property
    def first_break(self) -> ChainBreak | None:
        from audit.chain import ChainBreak

        if self.status != self.Status.BROKEN:
            return None
        return ChainBreak(self.break_code, self.break_message, self.break_seq, self.break_event_id)
